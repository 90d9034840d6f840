"""What every stage of the runtime shares: the tick being worked on, the engine's own indexes,
and the aggregates it loads and touches (the base the runtime's parts are composed on, as
Radicale composes its storage backend of parts).

The runtime reads (engine/reading.py), asks `decide` (engine/deciding.py), acts
(engine/acting.py), and loops (engine/runtime.py). Nothing here decides a sync rule.
"""

from __future__ import annotations

import gc
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from eventsourcing.domain import BaseAggregate

from engine.aggregates import SyncItem, UserLedger, ledger_id
from engine.eligibility import MailboxIdentity
from engine.model import ItemKind, User
from engine.observation import Observation, Trigger
from engine.options import OptionsStamp, SyncOptions
from engine.ports import ErpPort, ExchangePort, ItemIndex
from engine.state import Decision, Status
from engine.store import EventStore

ERP_FEED = "erp:feed"
IN_FLIGHT = (Status.EXPORTING, Status.IMPORTING, Status.CONFLICT)


def utc_now() -> datetime:
    return datetime.now(UTC)


def exchange_checkpoint(user: str, kind: ItemKind) -> str:
    return f"exchange:{user.lower()}:{kind.value}"


def tune_garbage_collector() -> None:
    """Collect young objects less often.

    Every change allocates thousands of short-lived objects while the aggregate cache keeps a
    large, long-lived heap; at Python's default threshold (700) the collector runs so often
    that it costs a quarter of the engine's time (bench/core_throughput.py). Nothing here
    builds reference cycles on the hot path, so fewer collections lose no memory.
    """
    if gc.get_threshold()[0] < 50_000:
        gc.set_threshold(50_000, 20, 20)


@dataclass(frozen=True)
class RetryPolicy:
    """When to try a failed write again: exponential backoff, the server's hint winning when it
    gives one. (Whether to try again at all is a rule: `SyncOptions.max_attempts`, in decide.)

    `rereads`: a write that failed because the item changed or vanished there is followed at
    once by a fresh read of that side, at most this often in a row; later ones wait for their
    retry. This is about when to read, not what to decide: what is not re-read now reaches
    `decide` through that side's change feed all the same."""

    first_s: float = 5.0
    max_s: float = 3600.0
    rereads: int = 3

    def next_at(self, attempt: int, now: datetime, hint_s: float | None) -> datetime:
        delay = hint_s if hint_s is not None else min(self.first_s * 2 ** (attempt - 1), self.max_s)
        return now + timedelta(seconds=delay)


@dataclass
class TickReport:
    observations: int = 0
    decisions: int = 0
    writes: int = 0
    failures: int = 0
    events: int = 0
    users_changed: int = 0
    unread_sources: int = 0  # sides that could not be read this round
    # For the operators' figures: decisions that transfer, by (direction, reason); failed or
    # parked items, by reason.
    transfers: Counter[tuple[str, str]] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)

    @property
    def idle(self) -> bool:
        return (
            self.observations == 0
            and self.decisions == 0
            and self.users_changed == 0
            and self.unread_sources == 0
        )


@dataclass
class UserScope:
    user: User
    eligible: bool
    reason: str
    mailbox_reachable: bool = True


@dataclass
class Tick:
    touched: dict[uuid.UUID, BaseAggregate[uuid.UUID]] = field(default_factory=dict)
    checkpoints: dict[str, str] = field(default_factory=dict)
    to_act: dict[uuid.UUID, SyncItem] = field(default_factory=dict)
    report: TickReport = field(default_factory=TickReport)


class EngineBase:
    """The state the runtime's stages share, and the aggregates they load and touch."""

    store: EventStore
    erp: ErpPort
    exchange: ExchangePort
    options: SyncOptions
    stamp: OptionsStamp
    index: ItemIndex
    clock: Callable[[], datetime]
    retry: RetryPolicy
    erp_batch: int
    exchange_rounds: int
    identity: MailboxIdentity
    scopes: dict[str, UserScope]
    checkpoints: dict[str, str]
    _tick: Tick
    _checked_on: date
    # The runtime's own indexes (rebuilt from the read models at start, then kept here, so
    # that the read models may lag behind a busy engine):
    _known: set[uuid.UUID]  # every item stream in the store
    _exchange_ids: dict[tuple[str, str], uuid.UUID]  # (user, ItemId) → stream
    _erp_rows: dict[tuple[ItemKind, str], uuid.UUID]  # (kind, ERP row id) → stream holding it
    _retry_at: dict[uuid.UUID, datetime]  # failed items waiting for a retry

    # ---- the stages, as the others call them ---------------------------------------------

    def _handle(self, obs: Observation) -> None:
        raise NotImplementedError  # engine/deciding.py

    def _decide(self, item: SyncItem, event: Observation | Trigger) -> Decision:
        raise NotImplementedError  # engine/deciding.py

    def _read_exchange(self, user: User, kind: ItemKind) -> None:
        raise NotImplementedError  # engine/reading.py

    def save(self) -> None:
        raise NotImplementedError  # engine/runtime.py

    def _settle(self, rounds: int = 4) -> TickReport:
        raise NotImplementedError  # engine/runtime.py

    # ---- aggregates --------------------------------------------------------------------------

    def _kinds(self) -> list[ItemKind]:
        return [k for k in ItemKind if self.options.kind_enabled(k)]

    def _item(self, stream_id: uuid.UUID) -> SyncItem | None:
        touched = self._tick.touched.get(stream_id)
        if isinstance(touched, SyncItem):
            return touched
        # Writes carried into this tick: that object is the item, even once the bounded cache
        # has let it go (a copy read again would record versions the other one records too).
        waiting = self._tick.to_act.get(stream_id)
        if waiting is not None:
            return waiting
        if stream_id not in self._known:
            return None  # a new item: no need to ask the store
        return self.store.item(stream_id)

    def _ledger(self, user: str) -> UserLedger:
        touched = self._tick.touched.get(ledger_id(user))
        if isinstance(touched, UserLedger):
            return touched
        return self.store.ledger(user) or UserLedger.start(user)

    def _touch(self, aggregate: BaseAggregate[uuid.UUID]) -> None:
        self._tick.touched[aggregate.id] = aggregate
        self._known.add(aggregate.id)

    def _user(self, login: str) -> User:
        scope = self.scopes.get(login.lower())
        return scope.user if scope else User(login=login)
