"""Acting: carry out the writes `decide` asked for, record each outcome, and hand due retries
back to `decide` (which also decides when a write has failed too often, `max_attempts`).

A write that fails because the item changed or vanished there is followed by a fresh read of
that side, so that `decide` sees what is really there now (`RetryPolicy.rereads` bounds how
often in a row: after that the retry waits for its backoff).

Several items' writes for one mailbox in a round (an ERP bulk import) go to the Exchange port's
`apply_many` when it has one (`engine.ports.BatchWrites`): one request for many items, one
outcome per item; one bad item fails alone (R18).
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from datetime import datetime
from typing import Final

from engine.aggregates import SyncItem
from engine.errors import NotFound, SideError, VersionConflict
from engine.model import Side, User
from engine.observation import Change, Trigger
from engine.ports import Write, WriteResult
from engine.state import Status, WriteDone, WriteFailed
from engine.tick import IN_FLIGHT, EngineBase

log = logging.getLogger("einklang.engine")
# Fewer writes for one mailbox in a round go one by one: a batch saves nothing there.
MIN_BATCH: Final = 2


class Acting(EngineBase):
    def act(self) -> None:
        """Carry out the saved decisions' writes and record their outcomes."""
        due, self._tick.to_act = self._tick.to_act, {}
        items = [
            item for item in due.values() if item.state.status in IN_FLIGHT and item.state.pending
        ]
        batched = self._act_in_batches(items)
        for item in items:
            if item.id not in batched:
                self._act(item)

    def _act_in_batches(self, items: list[SyncItem]) -> set[uuid.UUID]:
        """The items whose one write goes to a mailbox with others of its user's: made with
        `apply_many` when the Exchange port has it (an ERP bulk import: a few requests instead
        of one per item). Outcomes are recorded per item, exactly as `_act` records them."""
        apply_many = getattr(self.exchange, "apply_many", None)
        if apply_many is None:
            return set()
        by_user: dict[str, list[SyncItem]] = defaultdict(list)
        for item in items:
            [*others, write] = item.state.pending
            if not others and write.side is Side.EXCHANGE:
                by_user[item.state.user.lower()].append(item)
        done: set[uuid.UUID] = set()
        for group in by_user.values():
            if len(group) < MIN_BATCH:
                continue
            user = self._user(group[0].state.user)
            writes = [(item.id, item.state.pending[0]) for item in group]
            now = self.clock()
            outcomes: list[WriteResult | BaseException]
            try:
                outcomes = list(apply_many(user, writes))
                if len(outcomes) != len(writes):
                    raise RuntimeError(f"{len(outcomes)} results for {len(writes)} writes")
            except Exception as error:  # fails them all: each records it
                outcomes = [error] * len(writes)
            for item, (_, write), outcome in zip(group, writes, outcomes, strict=True):
                self._record(item, write, outcome, now)
                done.add(item.id)
        return done

    def _act(self, item: SyncItem) -> None:
        user = self._user(item.state.user)
        for write in item.state.pending:
            now = self.clock()
            outcome: WriteResult | BaseException
            try:
                outcome = self._apply(user, item.id, write)
            except Exception as error:  # recorded below; an adapter bug stops no one else
                outcome = error
            if not self._record(item, write, outcome, now):
                return

    def _record(
        self, item: SyncItem, write: Write, outcome: WriteResult | BaseException, now: datetime
    ) -> bool:
        """Record one write's outcome; whether the item's next write may follow."""
        if isinstance(outcome, NotFound) and write.operation == "delete":
            outcome = WriteResult(native_id=write.native_id or "")  # gone already
        if isinstance(outcome, NotFound):
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
            return False
        if isinstance(outcome, VersionConflict):
            # Changed there since we read it: record, re-read that side, decide again. A
            # race (or a lock held there) is never a reason to give the item up (decide
            # knows it by its reason, reasons.RACE).
            self._write_failed(
                item, write, "VersionConflict", str(outcome), now, transient=True, hint=None
            )
            self._refresh(item, write.side, unless_at=write.expected_version)
            return False
        if isinstance(outcome, SideError):
            self._write_failed(
                item,
                write,
                type(outcome).__name__,
                str(outcome),
                now,
                transient=outcome.transient,
                hint=outcome.retry_after_s,
            )
            return False
        if isinstance(outcome, BaseException):
            log.error("write to %s failed unexpectedly", write.side.value, exc_info=outcome)
            self._write_failed(
                item, write, type(outcome).__name__, str(outcome), now, transient=False, hint=None
            )
            return False
        if write.side is Side.EXCHANGE:
            self._exchange_ids[(item.state.user.lower(), outcome.native_id)] = item.id
        elif write.operation == "create":
            self._erp_rows[(item.state.kind, outcome.native_id)] = item.id
        item.written(
            WriteDone(
                side=write.side,
                operation=write.operation,
                native_id=outcome.native_id,
                native_version=outcome.native_version,
                at=now,
            )
        )
        self._tick.report.writes += 1
        return True

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
