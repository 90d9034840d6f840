"""The imperative shell: observe → record → decide → act → save → project, one tick at a time.

A tick reads what changed on both sides, runs every observation through `decide`, executes the
writes through the ports, records the outcomes, and saves all touched aggregates together with
the source positions in one transaction (DESIGN §3). Transient failures are retried with
backoff; permanent ones park the item. Nothing here decides a sync rule.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from eventsourcing.domain import BaseAggregate

from engine.aggregates import SyncItem, UserLedger
from engine.eligibility import MailboxIdentity, sync_scope
from engine.errors import NotFound, SideError, VersionConflict
from engine.lifecycle import deliberate
from engine.model import ItemKind, Side, User
from engine.observation import Change, Observation, Trigger, UserChange
from engine.options import SyncOptions
from engine.ports import ErpPort, ExchangePort, ItemIndex, Write, WriteResult
from engine.state import Decision, ItemState, Status, WriteDone, WriteFailed, comparable
from engine.store import EventStore

log = logging.getLogger("einklang.engine")
# Every decision with its reason, at DEBUG: the extended diagnostics level (R13).
decisions_log = logging.getLogger("einklang.decisions")

ERP_FEED = "erp:feed"


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
    """Exponential backoff for transient failures; the server's hint wins when it gives one."""

    first_s: float = 5.0
    max_s: float = 3600.0
    max_attempts: int = 12

    def next_at(self, attempt: int, now: datetime, hint_s: float | None) -> datetime | None:
        if attempt >= self.max_attempts:
            return None
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
class _Tick:
    touched: dict[uuid.UUID, BaseAggregate[uuid.UUID]] = field(default_factory=dict)
    checkpoints: dict[str, str] = field(default_factory=dict)
    to_act: dict[uuid.UUID, SyncItem] = field(default_factory=dict)
    report: TickReport = field(default_factory=TickReport)


IN_FLIGHT = (Status.EXPORTING, Status.IMPORTING, Status.CONFLICT)


class Engine:
    """Runs the sync for every eligible user of one ERP against their mailboxes."""

    def __init__(
        self,
        store: EventStore,
        erp: ErpPort,
        exchange: ExchangePort,
        options: SyncOptions,
        *,
        index: ItemIndex,
        clock: Callable[[], datetime] = utc_now,
        retry: RetryPolicy = RetryPolicy(),
        erp_batch: int = 1000,
        exchange_rounds: int = 4,
        project_every: int = 5000,
        mailbox_recheck: timedelta = timedelta(minutes=15),
        identity: MailboxIdentity | None = None,
    ) -> None:
        self.store = store
        self.erp = erp
        self.exchange = exchange
        self.options = options
        self.stamp = options.stamp()
        self.index = index
        self.clock = clock
        self.retry = retry
        self.erp_batch = erp_batch
        self.exchange_rounds = exchange_rounds
        self.project_every = project_every
        self.mailbox_recheck = mailbox_recheck
        self.identity = identity or MailboxIdentity()
        self._mailboxes_checked_at = datetime.min.replace(tzinfo=UTC)
        self.scopes: dict[str, UserScope] = {}
        self.checkpoints: dict[str, str] = {}
        self._tick = _Tick()
        self._started = False
        self._checked_on = date.min
        # The runtime's own indexes (rebuilt from the read models at start, then kept here, so
        # that the read models may lag behind a busy engine):
        self._known: set[uuid.UUID] = set()  # every item stream in the store
        self._exchange_ids: dict[tuple[str, str], uuid.UUID] = {}  # (user, ItemId) → stream
        self._retry_at: dict[uuid.UUID, datetime] = {}  # failed items waiting for a retry
        self._unprojected = 0

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Resume from the stored positions (R15) and re-check every user (R8)."""
        tune_garbage_collector()
        self.index.run()
        self._known = self.index.stream_ids()
        self._exchange_ids = self.index.exchange_ids()
        self._retry_at = self.index.retries()
        self.checkpoints = self.store.checkpoints()
        if ERP_FEED not in self.checkpoints:
            # A new installation starts at the end of the feed: older changes predate setup (R5).
            self.checkpoints[ERP_FEED] = str(self.erp.feed_position())
            self._tick.checkpoints[ERP_FEED] = self.checkpoints[ERP_FEED]
        for user in self.erp.users():
            self._user_seen(user)
        self._checked_on = self.clock().date()
        # Writes decided before a crash and not known to be done are done now (idempotently).
        for stream_id in self.index.streams_in_flight():
            item = self._item(stream_id)
            if item is not None and item.state.status in IN_FLIGHT and item.state.pending:
                self._tick.to_act[item.id] = item
        self._settle()
        self._started = True

    def tick(self) -> TickReport:
        """One round: ERP feed, each eligible mailbox, due retries; then act, save, project."""
        if not self._started:
            self.start()
        self.observe()
        return self._settle()

    def observe(self) -> None:
        """Read both sides and decide on everything seen (nothing is written yet)."""
        now = self.clock()
        if now.date() != self._checked_on:
            # Validity periods start and end with the date, not with a saved user row (R8).
            self._checked_on = now.date()
            for user in self.erp.users():
                self._user_seen(user)
        elif now - self._mailboxes_checked_at >= self.mailbox_recheck:
            # Rights granted in Exchange change no ERP row: look at unreachable mailboxes again.
            self._mailboxes_checked_at = now
            for scope in list(self.scopes.values()):
                if not scope.mailbox_reachable:
                    self._user_seen(scope.user)
        self._read_erp()
        for scope in list(self.scopes.values()):
            if scope.eligible:
                for kind in self._kinds():
                    self._read_exchange(scope.user, kind)
        self._retry_due()

    def save(self) -> None:
        """Make the decisions so far durable (with the source positions they came from)."""
        tick = self._tick
        tick.report.events += self.store.save_batch(tick.touched.values(), tick.checkpoints)
        tick.checkpoints.clear()

    def act(self) -> None:
        """Carry out the saved decisions' writes and record their outcomes."""
        due, self._tick.to_act = self._tick.to_act, {}
        for item in due.values():
            if item.state.status in IN_FLIGHT and item.state.pending:
                self._act(item)

    def run(self, stop: threading.Event, *, poll_s: float = 5.0) -> None:
        """Sync until `stop` is set. A committed ERP change wakes the engine at once (R3); the
        mailboxes are read on every tick, at the latest every `poll_s` seconds."""
        while not stop.is_set():
            try:
                report = self.tick()  # starts the engine on the first round
                if not (report.observations or report.decisions or report.users_changed):
                    self._wait_for_erp(stop, poll_s)  # quiet, or a side away
            except Exception:  # a broken round must not end the sync for everyone
                log.exception("a sync round failed; it is repeated from the saved positions")
                self._abandon_tick()
                stop.wait(poll_s)

    def _wait_for_erp(self, stop: threading.Event, poll_s: float) -> None:
        """Sleep until the ERP commits a change, at most `poll_s`, looking at `stop` each second."""
        position = int(self.checkpoints.get(ERP_FEED, "0"))
        deadline = time.monotonic() + poll_s
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0 or self.erp.wait_for_changes(position, timeout_s=min(left, 1.0)):
                return

    def _abandon_tick(self) -> None:
        """Forget what the failed round decided but did not save; read it again next round."""
        cache = self.store.repository.cache
        if cache is not None:
            for stream_id in self._tick.touched:
                with contextlib.suppress(KeyError):
                    cache.get(stream_id, evict=True)
        self._tick = _Tick()
        self.checkpoints = self.store.checkpoints()

    def run_until_quiet(self, max_ticks: int = 50) -> int:
        """Tick until a tick finds nothing to do (for tests, the demo and one-shot runs)."""
        for count in range(1, max_ticks + 1):
            if self.tick().idle:
                return count
        raise RuntimeError(f"still busy after {max_ticks} ticks")

    # ---- users (R8, R11, R12) -------------------------------------------------------------

    def _kinds(self) -> list[ItemKind]:
        return [k for k in ItemKind if self.options.kind_enabled(k)]

    def _user_seen(self, user: User, *, deleted: bool = False) -> None:
        now = self.clock()
        scope = sync_scope(user, now.date(), self.identity)
        # The ports act in the mailbox R9 names, never in one an adapter makes up.
        user = user.model_copy(update={"mailbox": scope.mailbox})
        eligible, reason = scope.eligible, scope.reason
        if deleted:
            eligible, reason = False, "the user was deleted in the ERP"
        reachable = True
        if eligible and self.options.automatic_sync:
            status = self.exchange.check_mailbox(user)
            reachable = status.reachable
            if not reachable:
                eligible, reason = False, f"the mailbox cannot be reached: {status.reason}"
        elif not self.options.automatic_sync:
            eligible, reason = False, "automatic synchronisation is switched off"
        key = user.login.lower()
        before = self.scopes.get(key)
        self.scopes[key] = UserScope(
            user=user, eligible=eligible, reason=reason, mailbox_reachable=reachable
        )
        ledger = self._ledger(user.login)
        if ledger.eligible != eligible or ledger.reason != reason:
            ledger.scope_changed(eligible, reason, now)
            self._touch(ledger)
        if eligible and ledger.set_up_at is None:
            self._set_up(user, ledger, now)
        elif ledger.set_up_at is not None and (before is None or before.eligible != eligible):
            self._scope_changed(user, eligible, reason, now)

    def _set_up(self, user: User, ledger: UserLedger, now: datetime) -> None:
        """First time eligible: everything that exists now is pre-existing (R5)."""
        log.info("setting up sync for %s", user.login)
        ledger.set_up(now, int(self.checkpoints.get(ERP_FEED, "0")))
        self._touch(ledger)
        kinds = self._kinds()
        for obs in self.erp.baseline(user.login, kinds):
            self._handle(obs)
        for kind in kinds:
            self._read_exchange(user, kind)

    def _scope_changed(self, user: User, eligible: bool, reason: str, now: datetime) -> None:
        name = "scope_entered" if eligible else "scope_left"
        self.save()
        self.index.run()
        for stream_id in self.index.streams_of_user(user.login):
            item = self._item(stream_id)
            if item is None:
                continue
            if not eligible and item.state.status in (Status.DELETED, Status.OUT_OF_SCOPE):
                continue
            if eligible and item.state.status is not Status.OUT_OF_SCOPE:
                continue
            self._decide(
                item,
                Trigger(
                    name=name, at=now, reason=reason, user_eligible=eligible, user_reason=reason
                ),
            )

    def release_deletions(self, login: str, by: str) -> int:
        """An administrator releases a user's held deletions (R17); returns how many proceed."""
        now = self.clock()
        ledger = self._ledger(login)
        ledger.release_deletions(now, by)
        self._touch(ledger)
        count = 0
        scope = self.scopes.get(login.lower())
        self.save()
        self.index.run()
        for stream_id in self.index.streams_of_user(login, status=Status.HELD):
            item = self._item(stream_id)
            if item is not None and item.state.status is Status.HELD:
                eligible = scope.eligible if scope else True
                self._decide(
                    item,
                    Trigger(
                        name="deletions_released",
                        at=now,
                        reason=f"released by {by}",
                        user_eligible=eligible,
                    ),
                )
                count += 1
        self._settle()
        return count

    # ---- reading --------------------------------------------------------------------------

    def _read_erp(self) -> None:
        position = int(self.checkpoints.get(ERP_FEED, "0"))
        try:
            batch = self.erp.read_changes(position, self.erp_batch)
        except SideError as error:  # the ERP database is away: read again next round
            log.warning("reading the ERP change feed failed: %s", error)
            self._tick.report.unread_sources += 1
            return
        except Exception:  # an adapter bug: the feed stays where it is, the mailboxes go on
            log.exception("reading the ERP change feed failed unexpectedly")
            self._tick.report.unread_sources += 1
            return
        for change in batch.changes:
            if isinstance(change, UserChange):
                self._tick.report.users_changed += 1
                self._user_seen(change.user, deleted=change.deleted)
            else:
                self._handle(change)
        if batch.position != position:
            self.checkpoints[ERP_FEED] = str(batch.position)
            self._tick.checkpoints[ERP_FEED] = str(batch.position)

    def _read_exchange(self, user: User, kind: ItemKind) -> None:
        key = exchange_checkpoint(user.login, kind)
        for _ in range(self.exchange_rounds):
            try:
                batch = self.exchange.read_changes(user, kind, self.checkpoints.get(key))
            except SideError as error:
                log.warning("reading %s of %s failed: %s", kind.value, user.login, error)
                self._tick.report.unread_sources += 1
                return
            except Exception:  # an adapter bug in one mailbox must not stop the others
                log.exception("reading %s of %s failed unexpectedly", kind.value, user.login)
                self._tick.report.unread_sources += 1
                return
            for obs in batch.observations:
                self._handle(obs)
            self.checkpoints[key] = batch.checkpoint
            self._tick.checkpoints[key] = batch.checkpoint
            if not batch.more:
                return

    # ---- deciding and acting --------------------------------------------------------------

    def _handle(self, obs: Observation) -> None:
        self._tick.report.observations += 1
        item = self._item_for(obs)
        scope = self.scopes.get(obs.user.lower())
        eligible, reason = (
            (scope.eligible, scope.reason) if scope else (False, "the user is unknown to the ERP")
        )
        obs = obs.model_copy(
            update={
                "user_eligible": eligible,
                "user_reason": reason,
                "deletions_paused": self._deletions_paused(item.state, obs),
            }
        )
        self._decide(item, obs)

    def _item_for(self, obs: Observation) -> SyncItem:
        """The item's stream: named on the item itself, else derived from its native id."""
        stream_id = obs.sync_id
        if stream_id is None and obs.side is Side.EXCHANGE and obs.change is Change.DELETED:
            # A deleted Exchange item no longer shows the stream id we wrote on it.
            stream_id = self._exchange_ids.get((obs.user.lower(), obs.native_id))
        item = self._item(stream_id or obs.stream_id)
        if item is not None and obs.sync_id is not None:
            known = item.state.view(obs.side)
            if known.native_id not in (None, obs.native_id) and not known.deleted:
                # A copy (made in Outlook, say) carries our stream id too: it is an item of its own.
                own = obs.model_copy(update={"sync_id": None})
                return self._item(own.stream_id) or SyncItem.start(
                    own.stream_id, obs.user, obs.kind
                )
        return item or SyncItem.start(stream_id or obs.stream_id, obs.user, obs.kind)

    def _deletions_paused(self, item: ItemState, obs: Observation) -> bool:
        if obs.change is not Change.DELETED or not item.linked:
            return False
        counterpart = item.view(obs.side.other)
        if not counterpart.exists or item.view(obs.side).deleted:
            return False
        if comparable(obs.side.other, counterpart.current) != comparable(obs.side.other, item.base):
            return False  # an edit on the other side beats the delete (R16): no deletion
        ledger = self._ledger(obs.user)
        paused = ledger.count_deletion(obs.observed_at, self.options)
        self._touch(ledger)
        if paused and ledger.guard.paused_at == obs.observed_at:
            log.warning(
                "deletion burst for %s: %d deletions within %d s; deletions paused until released",
                obs.user,
                ledger.guard.paused_count,
                self.options.deletion_burst_window_s,
            )
        return paused

    def _decide(self, item: SyncItem, event: Observation | Trigger) -> Decision:
        after, decision = deliberate(item.state, event, self.options, self.stamp)
        if isinstance(event, Observation):
            item.observed(event, after)
            if event.side is Side.EXCHANGE:
                self._exchange_ids[(event.user.lower(), event.native_id)] = item.id
        else:
            item.triggered(event)
        item.decided(decision)
        if decisions_log.isEnabledFor(logging.DEBUG):
            decisions_log.debug(
                "%s %s %s: %s", item.id, decision.verdict.value, decision.reason, decision.sentence
            )
        self._touch(item)
        self._tick.report.decisions += 1
        if decision.writes:
            self._tick.to_act[item.id] = item
        return decision

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
                # race (or a lock held there) is never a reason to give the item up.
                self._write_failed(
                    item,
                    write,
                    "VersionConflict",
                    str(conflict),
                    now,
                    transient=True,
                    hint=None,
                    give_up=False,
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
        give_up: bool = True,
    ) -> None:
        attempt = item.state.attempts + 1
        next_at = self.retry.next_at(attempt, now, hint) if transient else None
        if next_at is None and transient and not give_up:
            next_at = now + timedelta(seconds=self.retry.max_s)
        item.write_failed(
            WriteFailed(
                side=write.side,
                operation=write.operation,
                error_class=error_class,
                message=message[:500],
                attempt=attempt,
                transient=next_at is not None,
                next_retry_at=next_at,
                at=now,
            )
        )
        if next_at is not None:
            self._retry_at[item.id] = next_at
        self._tick.report.failures += 1
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
        if view.native_id is None:
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
        if item.state.attempts <= 3:
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

    # ---- persistence ----------------------------------------------------------------------

    def _item(self, stream_id: uuid.UUID) -> SyncItem | None:
        touched = self._tick.touched.get(stream_id)
        if isinstance(touched, SyncItem):
            return touched
        if stream_id not in self._known:
            return None  # a new item: no need to ask the store
        return self.store.item(stream_id)

    def _ledger(self, user: str) -> UserLedger:
        from engine.aggregates import ledger_id

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

    def _settle(self, rounds: int = 4) -> TickReport:
        """Save decisions, then act on them, until no write is left (re-reads after conflicts
        may decide again); a decision is always durable before its writes are made."""
        for _ in range(rounds):
            self.save()
            if not self._tick.to_act:
                break
            self.act()
        self.save()
        tick, self._tick = self._tick, _Tick(to_act=self._tick.to_act)
        self._unprojected += tick.report.events
        if tick.report.idle or self._unprojected >= self.project_every:
            # Read models catch up when the engine is quiet or far enough behind: projecting
            # in bigger steps costs less per event, and the runtime does not read them.
            self.index.run()
            self._unprojected = 0
        return tick.report

    def user_scopes(self) -> Iterable[UserScope]:
        return self.scopes.values()
