"""Event-sourced aggregates: one `SyncItem` per item and user, one `UserLedger` per user.

Events are pydantic models (serialised with orjson by `engine.store`). Each event's `apply`
folds it into the aggregate's immutable state with the pure functions of `engine.state` and
`engine.guard`, so the same code rebuilds the state on replay.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from eventsourcing.domain import BaseAggregate, CanInitAggregate, CanMutateAggregate
from pydantic import BaseModel, ConfigDict

from engine import state as st
from engine.guard import DeletionGuard
from engine.model import ItemKind
from engine.observation import STREAM_NAMESPACE, Observation, Trigger
from engine.options import SyncOptions


class Event(BaseModel, CanMutateAggregate[uuid.UUID]):
    model_config = ConfigDict(frozen=True, extra="forbid")

    originator_id: uuid.UUID
    originator_version: int
    timestamp: datetime


# ---- SyncItem ---------------------------------------------------------------------------------


class ItemStarted(Event, CanInitAggregate[uuid.UUID]):
    originator_topic: str
    user: str
    kind: ItemKind


class Observed(Event):
    observation: Observation

    def apply(self, aggregate: Any) -> None:
        known = aggregate.__dict__.pop("_observed_state", None)
        if known is not None and known[0] is self.observation:
            aggregate.state = known[1]  # computed by the decision just now: the same function
        else:
            aggregate.state = st.observe(aggregate.state, self.observation)


class Triggered(Event):
    """A reason to decide again (retry due, scope change, release); it changes no state itself."""

    trigger: Trigger

    def apply(self, aggregate: Any) -> None:
        pass


class Decided(Event):
    decision: st.Decision

    def apply(self, aggregate: Any) -> None:
        aggregate.state = st.decided(aggregate.state, self.decision)


class Written(Event):
    outcome: st.WriteDone

    def apply(self, aggregate: Any) -> None:
        aggregate.state = st.write_done(aggregate.state, self.outcome)


class WriteFailedEvent(Event):
    outcome: st.WriteFailed

    def apply(self, aggregate: Any) -> None:
        aggregate.state = st.write_failed(aggregate.state, self.outcome)


class EventClock:
    """Event timestamps that never repeat or go back within a process: the order in which one
    user's events across its streams were made, which replay follows (the deletion guard of
    R17 counts in that order). The store writes a batch aggregate by aggregate."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = datetime.min.replace(tzinfo=UTC)

    def __call__(self, event_class: Any) -> datetime:
        now: datetime = event_class.create_timestamp()
        with self._lock:
            if now <= self._last:
                now = self._last + timedelta(microseconds=1)
            self._last = now
        return now


event_clock = EventClock()


class Aggregate(BaseAggregate[uuid.UUID]):
    """eventsourcing's aggregate, triggering events without validating them again: they are
    built here from values that are already validated models (it saves a third of the cost
    of recording an event)."""

    def trigger_event(self, event_class: Any, **kwargs: Any) -> None:
        event = event_class.model_construct(
            originator_id=self.id,
            originator_version=self.version + 1,
            timestamp=event_clock(event_class),
            **kwargs,
        )
        event.mutate(self)
        self.pending_events.append(event)


class SyncItem(Aggregate):
    """The event stream of one item of one user, identified by its stable stream id."""

    def __init__(self, user: str, kind: ItemKind) -> None:
        self.state = st.new_state(self.id, user, kind)

    @classmethod
    def start(cls, stream_id: uuid.UUID, user: str, kind: ItemKind) -> SyncItem:
        return cls._create(ItemStarted, id=stream_id, user=user, kind=kind)

    def observed(self, observation: Observation, state: st.ItemState | None = None) -> None:
        """Record an observation; `state` is the item with it folded in, if already known."""
        if state is not None:
            self._observed_state = (observation, state)
        self.trigger_event(Observed, observation=observation)

    def triggered(self, trigger: Trigger) -> None:
        self.trigger_event(Triggered, trigger=trigger)

    def decided(self, decision: st.Decision) -> None:
        self.trigger_event(Decided, decision=decision)

    def written(self, outcome: st.WriteDone) -> None:
        self.trigger_event(Written, outcome=outcome)

    def write_failed(self, outcome: st.WriteFailed) -> None:
        self.trigger_event(WriteFailedEvent, outcome=outcome)


class StateSnapshot(Event):
    """An item's state as of its event `originator_version`, kept in the store's snapshot table
    (never in the log that replay and the read models read): an item is read again from its
    latest snapshot and the events after it, not from its whole history. The state is the fold
    of those events (a test restores every item of a recorded store both ways)."""

    created_on: datetime
    state: st.ItemState

    def mutate(self, aggregate: Any) -> Any:
        item = object.__new__(SyncItem)
        item.__dict__.update(
            _id=self.originator_id,
            _version=self.originator_version,
            _created_on=self.created_on,
            _modified_on=self.timestamp,
            _pending_events=[],
            state=self.state,
        )
        return item

    @classmethod
    def of(cls, item: SyncItem) -> StateSnapshot:
        return cls.model_construct(
            originator_id=item.id,
            originator_version=item.version,
            timestamp=item.modified_on,
            created_on=item.created_on,
            state=item.state,
        )


def snapshot_of(aggregate: BaseAggregate[uuid.UUID]) -> Event | None:
    """The snapshot of an item or a user's ledger as it stands now (None: another aggregate)."""
    if isinstance(aggregate, SyncItem):
        return StateSnapshot.of(aggregate)
    if isinstance(aggregate, UserLedger):
        return LedgerSnapshot.of(aggregate)
    return None


# ---- UserLedger -------------------------------------------------------------------------------


def ledger_id(user: str) -> uuid.UUID:
    return uuid.uuid5(STREAM_NAMESPACE, f"user\x1f{user.lower()}")


class LedgerStarted(Event, CanInitAggregate[uuid.UUID]):
    originator_topic: str
    user: str


class LedgerEvent(Event):
    user: str


class SetUp(LedgerEvent):
    """Sync was set up for the user: what existed before stays put until touched (R5)."""

    at: datetime
    erp_position: int

    def apply(self, aggregate: Any) -> None:
        aggregate.set_up_at = self.at


class ScopeChanged(LedgerEvent):
    eligible: bool
    reason: str
    at: datetime
    mailbox: str | None = None  # the mailbox R9 names (None: none; older events: unknown)
    reachable: bool = True  # whether Exchange let the engine into it (R12)

    def apply(self, aggregate: Any) -> None:
        aggregate.eligible = self.eligible
        aggregate.reason = self.reason
        aggregate.mailbox = self.mailbox


class SubscriptionChanged(LedgerEvent):
    """Whether the user's mailbox is watched for changes now, and why not (R12)."""

    alive: bool
    reason: str = ""
    mode: str = ""  # streaming | pull | delta
    at: datetime

    def apply(self, aggregate: Any) -> None:
        aggregate.subscription = (self.alive, self.reason, self.mode)


class DeletionCounted(LedgerEvent):
    at: datetime
    window_s: int

    def apply(self, aggregate: Any) -> None:
        aggregate.guard = aggregate.guard.with_deletion(self.at, self.window_s)


class DeletionsPaused(LedgerEvent):
    """A burst of deletions: the user's deletions are held until released (R17)."""

    at: datetime
    count: int

    def apply(self, aggregate: Any) -> None:
        aggregate.guard = aggregate.guard.paused_by(self.at, self.count)


class DeletionsReleased(LedgerEvent):
    at: datetime
    by: str

    def apply(self, aggregate: Any) -> None:
        aggregate.guard = aggregate.guard.release()


class UserLedger(Aggregate):
    """Per-user facts across items: setup time, scope, and the deletion guard `decide` is
    asked with (folded from the counts its decisions reported, and the releases)."""

    def __init__(self, user: str) -> None:
        self.user = user
        self.set_up_at: datetime | None = None
        self.eligible = False
        self.reason = ""
        self.mailbox: str | None = None
        self.subscription: tuple[bool, str, str] | None = None  # alive, reason, mode
        self.guard = DeletionGuard()

    @classmethod
    def start(cls, user: str) -> UserLedger:
        return cls._create(LedgerStarted, id=ledger_id(user), user=user)

    def set_up(self, at: datetime, erp_position: int) -> None:
        self.trigger_event(SetUp, user=self.user, at=at, erp_position=erp_position)

    def scope_changed(
        self,
        eligible: bool,
        reason: str,
        at: datetime,
        *,
        mailbox: str | None = None,
        reachable: bool = True,
    ) -> None:
        self.trigger_event(
            ScopeChanged,
            user=self.user,
            eligible=eligible,
            reason=reason,
            at=at,
            mailbox=mailbox,
            reachable=reachable,
        )

    def subscription_changed(self, alive: bool, reason: str, mode: str, at: datetime) -> None:
        self.trigger_event(
            SubscriptionChanged, user=self.user, alive=alive, reason=reason, mode=mode, at=at
        )

    def count_deletion(self, at: datetime, options: SyncOptions) -> bool:
        """Record a deletion `decide` counted (R17, `Decision.deletion_counted`) with the same
        `DeletionGuard.count` it used; True if deletions are (now) paused."""
        if self.guard.paused:
            return True
        counted = self.guard.count(at, options)
        if counted.paused:
            self.trigger_event(DeletionsPaused, user=self.user, at=at, count=counted.paused_count)
        else:
            self.trigger_event(
                DeletionCounted, user=self.user, at=at, window_s=options.deletion_burst_window_s
            )
        return counted.paused

    def release_deletions(self, at: datetime, by: str) -> None:
        self.trigger_event(DeletionsReleased, user=self.user, at=at, by=by)


class LedgerSnapshot(Event):
    """A user's ledger as of its event `originator_version` (as `StateSnapshot` for items): the
    subscription changes and counted deletions of years are not read again at every start."""

    created_on: datetime
    user: str
    set_up_at: datetime | None = None
    eligible: bool = False
    reason: str = ""
    mailbox: str | None = None
    subscription: tuple[bool, str, str] | None = None
    guard: DeletionGuard = DeletionGuard()

    def mutate(self, aggregate: Any) -> Any:
        ledger = object.__new__(UserLedger)
        ledger.__dict__.update(
            _id=self.originator_id,
            _version=self.originator_version,
            _created_on=self.created_on,
            _modified_on=self.timestamp,
            _pending_events=[],
            **{name: getattr(self, name) for name in _LEDGER_FIELDS},
        )
        return ledger

    @classmethod
    def of(cls, ledger: UserLedger) -> LedgerSnapshot:
        return cls.model_construct(
            originator_id=ledger.id,
            originator_version=ledger.version,
            timestamp=ledger.modified_on,
            created_on=ledger.created_on,
            **{name: getattr(ledger, name) for name in _LEDGER_FIELDS},
        )


_LEDGER_FIELDS = ("user", "set_up_at", "eligible", "reason", "mailbox", "subscription", "guard")
