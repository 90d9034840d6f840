"""What the engine knows about one synchronised item, and how each recorded event changes it.

`ItemState` is immutable; `observe`, `decided`, `write_done` and `write_failed` fold one recorded
event each into it (a trigger changes nothing by itself). Replaying an item's events through
them gives back exactly the state the decisions were made on — no rule runs, no adapters, no
clock. `Progress` is the part of it the read models keep. `SideView.is_stale` is the one place
that says a report is about another native item.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Literal, NamedTuple

from engine import reasons
from engine.model import Appointment, Frozen, ItemKind, ItemSnapshot, Side, Task, interned
from engine.observation import Change, ItemError, Observation
from engine.options import OptionsStamp
from engine.ports import Operation, Write


class Status(StrEnum):
    NEW = "new"  # seen, nothing transferred yet
    PREEXISTING = "preexisting"  # existed before setup, untouched since (R5)
    IN_SYNC = "in_sync"
    EXPORTING = "exporting"
    IMPORTING = "importing"
    CONFLICT = "conflict"  # both sides changed; the merge is being written (R16)
    FAILED = "failed"  # a write failed (retry due) or the input is invalid (parked)
    HELD = "held"  # a deletion is held by the user's burst guard (R17)
    OUT_OF_SCOPE = "out_of_scope"  # user or type left the sync scope: not a deletion (R17)
    MOVED = "moved"  # the ERP gave the row to another user: that user's stream carries it on
    DELETED = "deleted"


class Verdict(StrEnum):
    EXPORT = "export"
    IMPORT = "import"
    CONFLICT = "conflict"
    SKIP = "skip"
    ECHO = "echo"
    FAIL = "fail"
    HOLD = "hold"


class SideView(NamedTuple):
    """One side's copy of the item as last observed or written (derived state, never stored)."""

    native_id: str | None = None
    version: str | None = None
    current: ItemSnapshot | None = None
    deleted: bool = False
    invalid: ItemError | None = None
    written_version: str | None = None  # the version our last write produced (echo by version)
    written_hash: str | None = None  # the content our last write produced (echo by content)
    # When its content last really changed, by that side's own clock where it says (newest_wins)
    changed_at: datetime | None = None

    @property
    def exists(self) -> bool:
        return self.native_id is not None and not self.deleted

    def is_stale(self, native_id: str) -> bool:
        """Whether a report about `native_id` is about another native item than this side's: a
        row we replaced, or a copy carrying our sync id. (The one place this is decided.)"""
        return self.native_id not in (None, native_id) and not self.deleted


class FieldConflict(Frozen):
    """A field both sides changed differently, with both versions and the winner (R16)."""

    field: str
    erp_value: object = None
    exchange_value: object = None
    winner: Side


class ItemRef(Frozen):
    """Which item a decision is about, so that the decision alone answers "what and why"."""

    user: str
    kind: ItemKind
    erp_id: str | None = None
    exchange_id: str | None = None
    subject: str | None = None


class Decision(Frozen):
    item: ItemRef
    trigger: str
    verdict: Verdict
    reason: str  # machine-readable reason code (R18)
    sentence: str  # for people (R18)
    status: Status  # status right after the decision
    settled: Status  # status once all writes are done
    writes: tuple[Write, ...] = ()
    base_changed: bool = False  # most decisions keep the agreed content as it was ...
    base: ItemSnapshot | None = None  # ... the others set it to this, once the writes are done
    direction: Literal["erp_to_exchange", "exchange_to_erp", "both", "none"] = "none"
    operation: Operation | Literal["none"] = "none"
    changed_fields: tuple[str, ...] = ()
    conflicts: tuple[FieldConflict, ...] = ()
    dropped_occurrences: tuple[datetime, ...] = ()
    # The deletion went through the user's burst guard (R17): propagated or held, it counts.
    deletion_counted: bool = False
    options: OptionsStamp
    # When it was decided: the time its observation or trigger carries (the injected clock),
    # so that the transfer log and a rebuild of it show the same time. None in decisions
    # recorded before the field existed: the projection takes the event's timestamp then.
    at: datetime | None = None


class WriteDone(Frozen):
    """A pending write succeeded; that side now holds the write's snapshot (none after a delete)."""

    side: Side
    operation: Operation
    native_id: str
    native_version: str | None = None
    at: datetime


class WriteFailed(Frozen):
    side: Side
    operation: Operation
    error_class: str
    message: str
    attempt: int
    transient: bool
    next_retry_at: datetime | None = None
    at: datetime


class ItemState(NamedTuple):
    """What the engine knows about one item: the fold of its events (never stored itself).

    A named tuple: immutable, and copied with a change (`_replace`) faster than any model or
    dataclass — this happens several times for every event applied."""

    stream_id: uuid.UUID
    user: str
    kind: ItemKind
    status: Status = Status.NEW
    erp: SideView = SideView()
    exchange: SideView = SideView()
    base: ItemSnapshot | None = None  # last agreed content (ERP view, info text included)
    linked: bool = False  # a transfer connected the two sides at least once
    baseline_at: datetime | None = None  # when it was first seen as pre-existing (R5)
    pending: tuple[Write, ...] = ()
    pending_settled: Status | None = None
    pending_base: ItemSnapshot | None = None
    attempts: int = 0
    next_retry_at: datetime | None = None
    reason: str = ""
    sentence: str = ""

    def view(self, side: Side) -> SideView:
        return self.erp if side is Side.ERP else self.exchange

    def with_view(self, side: Side, view: SideView) -> ItemState:
        return self._replace(erp=view) if side is Side.ERP else self._replace(exchange=view)


def comparable(side: Side, snapshot: Appointment | Task | None) -> str | None:
    """The hash that says whether a side's content changed: the ERP's info text counts, the
    Exchange body does not (it is never imported, R6)."""
    if snapshot is None:
        return None
    return snapshot.content_hash if side is Side.ERP else snapshot.sync_hash


def new_state(stream_id: uuid.UUID, user: str, kind: ItemKind) -> ItemState:
    return ItemState(stream_id=stream_id, user=user, kind=kind)


def observe(state: ItemState, obs: Observation) -> ItemState:
    """Fold an observation into what we know of that side."""
    view = state.view(obs.side)
    if view.is_stale(obs.native_id):
        return state  # about a native item that no longer stands for this one
    if obs.change is Change.DELETED:
        view = view._replace(
            deleted=True,
            current=None,
            version=obs.native_version,
            invalid=None,
            native_id=view.native_id or obs.native_id,
            changed_at=obs.changed_at,
        )
    elif obs.change is Change.INVALID or obs.snapshot is None:
        # Unreadable now (or already at setup): keep the last good content, note the error.
        view = view._replace(
            native_id=obs.native_id,
            version=obs.native_version,
            invalid=obs.error,
            deleted=False,
        )
    else:
        changed = comparable(obs.side, obs.snapshot) != comparable(obs.side, view.current)
        view = view._replace(
            native_id=obs.native_id,
            version=obs.native_version,
            current=interned(obs.snapshot),
            deleted=False,
            invalid=None,
            changed_at=obs.changed_at if changed or view.changed_at is None else view.changed_at,
        )
    state = state.with_view(obs.side, view)
    if obs.change is Change.BASELINE and state.baseline_at is None:
        state = state._replace(baseline_at=obs.observed_at)
    return state


def decided(state: ItemState, decision: Decision) -> ItemState:
    base = interned(decision.base) if decision.base_changed and not decision.writes else state.base
    if keeps_pending(decision.verdict):
        return state._replace(
            status=decision.status,
            reason=decision.reason,
            sentence=decision.sentence,
            base=base,
        )
    return state._replace(
        status=decision.status,
        reason=decision.reason,
        sentence=decision.sentence,
        base=base,
        pending=decision.writes,
        pending_settled=decision.settled if decision.writes else None,
        pending_base=(interned(decision.base) if decision.base_changed else state.base)
        if decision.writes
        else None,
        next_retry_at=None,
        attempts=state.attempts
        if decision.verdict is Verdict.FAIL or decision.trigger == "retry"
        else 0,
    )


def write_done(state: ItemState, done: WriteDone) -> ItemState:
    view = state.view(done.side)
    write = next((w for w in state.pending if w.side is done.side), None)
    snapshot = write.snapshot if write is not None and done.operation != "delete" else None
    view = view._replace(
        native_id=done.native_id,
        version=done.native_version,
        written_version=done.native_version,
        written_hash=comparable(done.side, snapshot),
        current=interned(snapshot),
        deleted=done.operation == "delete",
        invalid=None,
    )
    pending = tuple(w for w in state.pending if w.side is not done.side)
    state = state.with_view(done.side, view)._replace(pending=pending)
    if pending:
        return state
    settled = state.pending_settled or Status.IN_SYNC
    return state._replace(
        status=settled,
        base=state.pending_base,
        linked=state.linked or settled is Status.IN_SYNC,
        pending_settled=None,
        pending_base=None,
        attempts=0,
        next_retry_at=None,
    )


def write_failed(state: ItemState, failed: WriteFailed) -> ItemState:
    return state._replace(
        status=Status.FAILED,
        attempts=failed.attempt,
        next_retry_at=failed.next_retry_at if failed.transient else None,
        reason=failure_reason(failed.error_class),
        sentence=failed.message,
    )


# ---- Progress: where an item's writes stand, the part of its state a read model keeps -------


class Progress(NamedTuple):
    """An item's status and why, which sides still wait for a write of its last transfer, the
    status it settles in then, whether a transfer ever linked the sides, and when a failed
    write is retried. Folded by `progress_decided`, `progress_written` and `progress_failed`,
    the same rules as `decided`, `write_done` and `write_failed` above: the projections fold it
    from the recorded events without reading the snapshots that `ItemState` carries."""

    status: Status = Status.NEW
    reason: str = ""
    sentence: str = ""
    pending: frozenset[Side] = frozenset()
    settled: Status | None = None
    linked: bool = False
    next_retry_at: datetime | None = None


def progress(state: ItemState) -> Progress:
    """The progress part of what the engine knows about an item."""
    return Progress(
        status=state.status,
        reason=state.reason,
        sentence=state.sentence,
        pending=frozenset(w.side for w in state.pending),
        settled=state.pending_settled,
        linked=state.linked,
        next_retry_at=state.next_retry_at,
    )


def keeps_pending(verdict: Verdict) -> bool:
    """A skip or an echo changes no write: a transfer still pending (or its retry) stays so."""
    return verdict in (Verdict.SKIP, Verdict.ECHO)


def progress_decided(
    p: Progress,
    verdict: Verdict,
    status: Status,
    settled: Status,
    sides: frozenset[Side],
    reason: str,
    sentence: str,
) -> Progress:
    """A decision (`decided`): its writes, to `sides`, replace any pending ones."""
    if keeps_pending(verdict):
        return Progress(status, reason, sentence, p.pending, p.settled, p.linked, p.next_retry_at)
    return Progress(status, reason, sentence, sides, settled if sides else None, p.linked, None)


def progress_written(p: Progress, side: Side) -> Progress:
    """A write done (`write_done`): the last one settles the item, and links it when in sync."""
    pending = p.pending - {side}
    if pending:
        return p._replace(pending=pending)
    status = p.settled or Status.IN_SYNC
    return Progress(
        status, p.reason, p.sentence, pending, None, p.linked or status is Status.IN_SYNC
    )


def progress_failed(
    p: Progress, error_class: str, message: str, transient: bool, next_retry_at: datetime | None
) -> Progress:
    """A write failed (`write_failed`): its writes stay pending; a transient failure is retried
    at `next_retry_at`, a permanent one parks the item."""
    return p._replace(
        status=Status.FAILED,
        reason=failure_reason(error_class),
        sentence=message,
        next_retry_at=next_retry_at if transient else None,
    )


def failure_reason(error_class: str) -> str:
    return f"{reasons.WRITE_FAILED}:{error_class}"
