"""The least Exchange a throughput run needs — not a model of Exchange.

It keeps what it is given, hands out a new ChangeKey on every write and reports each write back
as a change (the echo every real write produces), so that the benchmark measures the engine and
not a simulator. It knows nothing of series, sync-state expiry or any other Exchange rule: those
live in the simulator's store (sim/), which the tests use through adapters/exchange/.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from datetime import datetime

from engine.errors import NotFound, VersionConflict
from engine.model import Appointment, ItemKind, Side, Task, User
from engine.observation import Change, Observation
from engine.ports import ExchangeBatch, MailboxStatus, Write, WriteResult


class StandInExchange:
    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self._items: dict[str, tuple[str, str, ItemKind, Appointment | Task, uuid.UUID]] = {}
        self._log: dict[tuple[str, ItemKind], list[tuple[int, str]]] = {}
        self._by_stream: dict[uuid.UUID, str] = {}
        self._counter = itertools.count(1)

    def check_mailbox(self, user: User) -> MailboxStatus:
        return MailboxStatus(reachable=True)

    def read_changes(self, user: User, kind: ItemKind, checkpoint: str | None) -> ExchangeBatch:
        log = self._log.setdefault((user.login, kind), [])
        after = int(checkpoint) if checkpoint else 0
        start = next((i for i in range(len(log) - 1, -1, -1) if log[i][0] <= after), -1) + 1
        latest: dict[str, int] = {item_id: seq for seq, item_id in log[start:]}
        change = Change.BASELINE if checkpoint is None else Change.CHANGED
        observations = tuple(self.fetch(user, kind, item_id, change) for item_id in latest)
        return ExchangeBatch(
            observations=observations, checkpoint=str(log[-1][0] if log else after)
        )

    def fetch(
        self, user: User, kind: ItemKind, native_id: str, change: Change = Change.CHANGED
    ) -> Observation:
        found = self._items.get(native_id)
        if found is None:
            return Observation(
                side=Side.EXCHANGE,
                kind=kind,
                user=user.login,
                native_id=native_id,
                change=Change.DELETED,
                observed_at=self.clock(),
            )
        _, change_key, _, content, stream = found
        return Observation(
            side=Side.EXCHANGE,
            kind=kind,
            user=user.login,
            native_id=native_id,
            native_version=change_key,
            change=change,
            snapshot=content,
            sync_id=stream,
            observed_at=self.clock(),
        )

    def apply(self, user: User, stream_id: uuid.UUID, write: Write) -> WriteResult:
        item_id = self._by_stream.get(stream_id) if write.operation == "create" else write.native_id
        if write.operation != "create" and (item_id is None or item_id not in self._items):
            raise NotFound(f"item {item_id} does not exist")
        if item_id is not None and write.expected_version not in (None, self._items[item_id][1]):
            raise VersionConflict(f"item {item_id} changed since it was read")
        seq = next(self._counter)
        item_id = item_id or f"STANDIN{seq:08d}"
        self._log.setdefault((user.login, write.kind), []).append((seq, item_id))
        if write.operation == "delete":
            del self._items[item_id]
            return WriteResult(native_id=item_id)
        assert write.snapshot is not None
        change_key = f"CK{seq:08d}"
        self._items[item_id] = (user.login, change_key, write.kind, write.snapshot, stream_id)
        self._by_stream[stream_id] = item_id
        return WriteResult(native_id=item_id, native_version=change_key)

    def find_by_stream_id(self, user: User, kind: ItemKind, stream_id: uuid.UUID) -> str | None:
        return self._by_stream.get(stream_id)

    def count(self, login: str, kind: ItemKind) -> int:
        return sum(1 for owner, _, k, _, _ in self._items.values() if owner == login and k is kind)
