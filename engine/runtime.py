"""The imperative shell: observe → record → decide → act → save → project, one tick at a time.

A tick reads what changed on both sides (engine/reading.py), asks `decide` about every
observation and records question and answer (engine/deciding.py), carries out the writes and
records their outcomes (engine/acting.py), and saves all touched aggregates together with the
source positions in one transaction (DESIGN §3). This module is the loop that runs them. The
runtime only reads, asks and acts: every sync rule is decided in `engine.lifecycle`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta

from engine.acting import Acting
from engine.deciding import Deciding
from engine.eligibility import MailboxIdentity
from engine.model import ItemKind, User
from engine.options import SyncOptions
from engine.ports import ErpPort, ExchangePort, ItemIndex, SubscriptionStatus
from engine.reading import Reading
from engine.store import EventStore
from engine.tick import (
    ERP_FEED,
    IN_FLIGHT,
    RetryPolicy,
    Tick,
    TickReport,
    UserScope,
    exchange_checkpoint,
    tune_garbage_collector,
    utc_now,
)

__all__ = [
    "ERP_FEED",
    "Engine",
    "RetryPolicy",
    "TickReport",
    "UserScope",
    "exchange_checkpoint",
    "tune_garbage_collector",
    "utc_now",
]

log = logging.getLogger("einklang.engine")
DEFAULT_RETRY = RetryPolicy()


class Engine(Reading, Deciding, Acting):
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
        retry: RetryPolicy = DEFAULT_RETRY,
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
        self.scopes = {}
        self.checkpoints = {}
        self._tick = Tick()
        self._started = False
        self._checked_on = date.min
        self._known = set()
        self._exchange_ids = {}
        self._erp_rows = {}
        self._retry_at = {}
        self._unprojected = 0

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Resume from the stored positions (R15) and re-check every user (R8)."""
        tune_garbage_collector()
        self.index.run()
        self._known = self.index.stream_ids()
        self._exchange_ids = self.index.exchange_ids()
        self._erp_rows = self.index.erp_ids()
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

    def tick(self, folders: Collection[tuple[str, ItemKind]] | None = None) -> TickReport:
        """One round: ERP feed, the eligible mailboxes' folders (only `folders`, by login and
        kind, when given: those a notification named), due retries; then act, save, project."""
        if not self._started:
            self.start()
        self.observe(folders)
        return self._settle()

    def observe(self, folders: Collection[tuple[str, ItemKind]] | None = None) -> None:
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
        named = None if folders is None else {(login.lower(), kind) for login, kind in folders}
        for scope in list(self.scopes.values()):
            if scope.eligible:
                for kind in self._kinds():
                    if named is None or (scope.user.login.lower(), kind) in named:
                        self._read_exchange(scope.user, kind)
        self._retry_due()

    def save(self) -> None:
        """Make the decisions so far durable (with the source positions they came from)."""
        tick = self._tick
        tick.report.events += self.store.save_batch(tick.touched.values(), tick.checkpoints)
        tick.checkpoints.clear()

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
                self.abandon_tick()
                stop.wait(poll_s)

    def _wait_for_erp(self, stop: threading.Event, poll_s: float) -> None:
        """Sleep until the ERP commits a change, at most `poll_s`, looking at `stop` each second."""
        position = int(self.checkpoints.get(ERP_FEED, "0"))
        deadline = time.monotonic() + poll_s
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0 or self.erp.wait_for_changes(position, timeout_s=min(left, 1.0)):
                return

    def abandon_tick(self) -> None:
        """Forget what the failed round decided but did not save; read it again next round."""
        cache = self.store.repository.cache
        if cache is not None:
            for stream_id in self._tick.touched:
                with contextlib.suppress(KeyError):
                    cache.get(stream_id, evict=True)
        self._tick = Tick()
        self.checkpoints = self.store.checkpoints()

    def run_until_quiet(self, max_ticks: int = 50) -> int:
        """Tick until a tick finds nothing to do (for tests, the demo and one-shot runs)."""
        for count in range(1, max_ticks + 1):
            if self.tick().idle:
                return count
        raise RuntimeError(f"still busy after {max_ticks} ticks")

    def _settle(self, rounds: int = 4) -> TickReport:
        """Save decisions, then act on them, until no write is left (re-reads after conflicts
        may decide again); a decision is always durable before its writes are made."""
        for _ in range(rounds):
            self.save()
            if not self._tick.to_act:
                break
            self.act()
        self.save()
        tick, self._tick = self._tick, Tick(to_act=self._tick.to_act)
        self._unprojected += tick.report.events
        if tick.report.idle or self._unprojected >= self.project_every:
            # Read models catch up when the engine is quiet or far enough behind: projecting
            # in bigger steps costs less per event, and the runtime does not read them.
            self.index.run()
            self._unprojected = 0
        return tick.report

    def queue_depth(self) -> int:
        """Items waiting for a write or a retry (for the operators' figures)."""
        return len(self._retry_at) + len(self._tick.to_act)

    def watched_users(self) -> list[User]:
        """The users whose mailboxes are to be watched for changes: those the ERP lets sync,
        reachable or not yet (an unreachable one is retried by the watcher, R12)."""
        return [
            scope.user
            for scope in self.scopes.values()
            if scope.eligible or (not scope.mailbox_reachable and scope.user.mailbox)
        ]

    def subscriptions_seen(self, statuses: Mapping[str, SubscriptionStatus]) -> None:
        """Record each user's subscription state where it changed (R12: `einklang status`)."""
        now = self.clock()
        for login, status in statuses.items():
            ledger = self._ledger(login)
            seen = (status.alive, status.reason, status.mode)
            if ledger.subscription != seen:
                ledger.subscription_changed(status.alive, status.reason, status.mode, now)
                self._touch(ledger)
        self.save()

    def user_scopes(self) -> Iterable[UserScope]:
        return self.scopes.values()
