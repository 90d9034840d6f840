"""Acting: carry out the writes `decide` asked for, record each outcome, and hand due retries
back to `decide` (which also decides when a write has failed too often, `max_attempts`).

A write that fails because the item changed or vanished there is followed by a fresh read of
that side, so that `decide` sees what is really there now (`RetryPolicy.rereads` bounds how
often in a row: after that the retry waits for its backoff).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from engine.aggregates import SyncItem
from engine.errors import NotFound, SideError, VersionConflict
from engine.model import Side, User
from engine.observation import Change, Trigger
from engine.ports import Write, WriteResult
from engine.state import Status, WriteDone, WriteFailed
from engine.tick import IN_FLIGHT, EngineBase

log = logging.getLogger("einklang.engine")


class Acting(EngineBase):
    def act(self) -> None:
        """Carry out the saved decisions' writes and record their outcomes."""
        due, self._tick.to_act = self._tick.to_act, {}
        for item in due.values():
            if item.state.status in IN_FLIGHT and item.state.pending:
                self._act(item)

    def _act(self, item: SyncItem) -> None:
        user = self._user(item.state.user)
        for write in item.state.pending:
            now = self.clock()
            try:
                result = self._apply(user, item.id, write)
            except NotFound:
                if write.operation == "delete":
                    result = WriteResult(native_id=write.native_id or "")
                else:
                    self._write_failed(
                        item,
                        write,
                        "NotFound",
                        "the item no longer exists there",
                        now,
                        transient=True,
                        hint=0,
                    )
                    self._refresh(item, write.side)
                    return
            except VersionConflict as conflict:
                # Changed there since we read it: record, re-read that side, decide again. A
                # race (or a lock held there) is never a reason to give the item up (decide
                # knows it by its reason, reasons.RACE).
                self._write_failed(
                    item, write, "VersionConflict", str(conflict), now, transient=True, hint=None
                )
                self._refresh(item, write.side, unless_at=write.expected_version)
                return
            except SideError as error:
                self._write_failed(
                    item,
                    write,
                    type(error).__name__,
                    str(error),
                    now,
                    transient=error.transient,
                    hint=error.retry_after_s,
                )
                return
            except Exception as error:  # an adapter bug must not stop everyone else's sync
                log.exception("write to %s failed unexpectedly", write.side.value)
                self._write_failed(
                    item, write, type(error).__name__, str(error), now, transient=False, hint=None
                )
                return
            if write.side is Side.EXCHANGE:
                self._exchange_ids[(item.state.user.lower(), result.native_id)] = item.id
            elif write.operation == "create":
                self._erp_rows[(item.state.kind, result.native_id)] = item.id
            item.written(
                WriteDone(
                    side=write.side,
                    operation=write.operation,
                    native_id=result.native_id,
                    native_version=result.native_version,
                    at=now,
                )
            )
            self._tick.report.writes += 1

    def _apply(self, user: User, stream_id: uuid.UUID, write: Write) -> WriteResult:
        if write.side is Side.ERP:
            return self.erp.apply(user.login, stream_id, write)
        return self.exchange.apply(user, stream_id, write)

    def _write_failed(
        self,
        item: SyncItem,
        write: Write,
        error_class: str,
        message: str,
        now: datetime,
        *,
        transient: bool,
        hint: float | None,
    ) -> None:
        attempt = item.state.attempts + 1
        next_at = self.retry.next_at(attempt, now, hint) if transient else None
        item.write_failed(
            WriteFailed(
                side=write.side,
                operation=write.operation,
                error_class=error_class,
                message=message[:500],
                attempt=attempt,
                transient=transient,
                next_retry_at=next_at,
                at=now,
            )
        )
        if next_at is not None:
            self._retry_at[item.id] = next_at
        self._tick.report.failures += 1
        self._tick.report.failed[f"WRITE_FAILED:{error_class}"] += 1
        log.warning(
            "write to %s for %s failed (%s, attempt %d): %s",
            write.side.value,
            item.id,
            error_class,
            attempt,
            message[:200],
        )

    def _refresh(self, item: SyncItem, side: Side, *, unless_at: str | None = None) -> None:
        """Read the item again from one side and decide on what is really there now (unless it
        is still at version `unless_at`, the one the write expected: then the write lost to a
        lock there, not to a change, and waits for its retry)."""
        view = item.state.view(side)
        if view.native_id is None or item.state.attempts > self.retry.rereads:
            return
        user = self._user(item.state.user)
        try:
            if side is Side.ERP:
                obs = self.erp.fetch(user.login, item.state.kind, view.native_id)
            else:
                obs = self.exchange.fetch(user, item.state.kind, view.native_id)
        except SideError as error:
            log.warning("re-reading %s from %s failed: %s", item.id, side.value, error)
            return
        obs = obs.model_copy(update={"sync_id": item.id})
        if (
            unless_at is not None
            and obs.change is Change.CHANGED
            and obs.native_version == unless_at
        ):
            return
        self._handle(obs)

    def _retry_due(self) -> None:
        now = self.clock()
        for stream_id in [s for s, at in self._retry_at.items() if at <= now]:
            del self._retry_at[stream_id]
            item = self._item(stream_id)
            if (
                item is None
                or item.state.status is not Status.FAILED
                or item.state.next_retry_at is None
            ):
                continue
            if item.state.next_retry_at > now:
                continue
            scope = self.scopes.get(item.state.user.lower())
            self._decide(
                item,
                Trigger(
                    name="retry",
                    at=now,
                    reason=f"attempt {item.state.attempts + 1}",
                    user_eligible=scope.eligible if scope else False,
                    user_reason=scope.reason if scope else "",
                ),
            )
