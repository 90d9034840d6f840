"""The per-user deletion burst guard (R17), as a pure value.

A mass deletion is far more often an accident (a wiped folder, a broken import, a mailbox moved)
than intent. When more deletions than the threshold arrive for one user within the window, the
guard pauses that user's deletions until an administrator releases them; every held deletion is
logged with its reason.

`decide` takes the user's guard as an input and says in its decision whether the deletion was
counted (`Decision.deletion_counted`); the runtime then records the count on the user's ledger
and replay folds the guard again from the decisions it re-derives, under the options replayed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from engine.model import Frozen
from engine.options import SyncOptions


class DeletionGuard(Frozen):
    recent: tuple[datetime, ...] = ()  # times of propagated deletions inside the window
    paused: bool = False
    paused_at: datetime | None = None
    paused_count: int = 0

    def count(self, at: datetime, options: SyncOptions) -> DeletionGuard:
        """Count one deletion about to propagate; pause when it would exceed the threshold."""
        if self.paused:
            return self
        counted = self.with_deletion(at, options.deletion_burst_window_s)
        if len(counted.recent) > options.deletion_burst_threshold:
            return self.paused_by(at, len(counted.recent))
        return counted

    def with_deletion(self, at: datetime, window_s: int) -> DeletionGuard:
        start = at - timedelta(seconds=window_s)
        return DeletionGuard(recent=(*(t for t in self.recent if t > start), at))

    def paused_by(self, at: datetime, count: int) -> DeletionGuard:
        return DeletionGuard(paused=True, paused_at=at, paused_count=count)

    def release(self) -> DeletionGuard:
        return DeletionGuard()


NO_GUARD = DeletionGuard()  # nothing counted, nothing paused
