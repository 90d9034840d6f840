"""`einklang run`: the long-running engine process.

One loop drives the item pipeline, so that changes to one item apply in order: it ticks whenever
the ERP commits (its change feed wakes it) or a mailbox reports news (the watcher's streaming or
pull notifications), reading only the folders that were signalled, and reads every folder at
least every `full_read_every_s` as a safety net. After every round it hands the watcher the set of
eligible users (R11: live), records each user's subscription state (R12), updates the metrics,
and now and then prunes the ERP change feed it has consumed. SIGTERM or SIGINT end it after the
round in flight: its writes are done and saved, nothing is cut off.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

from engine.model import ItemKind
from engine.runtime import ERP_FEED, TickReport
from service.health import Metrics
from service.wiring import Process

log = logging.getLogger("einklang.process")
Folder = tuple[str, ItemKind]


class EngineLoop:
    """The engine's rounds, driven by the ERP feed and the mailboxes' notifications."""

    def __init__(
        self,
        process: Process,
        metrics: Metrics,
        *,
        idle_s: float = 5.0,
        full_read_every_s: float = 600.0,
        prune_every_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.process = process
        self.metrics = metrics
        self.idle_s = idle_s
        self.full_read_every_s = full_read_every_s
        self.prune_every_s = prune_every_s
        self.clock = clock
        self._last_full = float("-inf")
        self._last_prune = clock()
        self._watched: list[str] = []

    def run(self, stop: threading.Event) -> None:
        engine = self.process.engine
        engine.start()
        self._rewatch()
        folders: set[Folder] = set()
        while not stop.is_set():
            try:
                full = self.clock() - self._last_full >= self.full_read_every_s
                if full:
                    self._last_full = self.clock()
                report = engine.tick(folders=None if full else folders)
                folders = set()
                self._after_round(report)
                if report.idle:
                    folders = self._wait(stop)
            except Exception:  # a broken round must not end the sync for everyone
                log.exception("a sync round failed; it is repeated from the saved positions")
                engine.abandon_tick()
                stop.wait(self.idle_s)
                folders = set()
        self.process.stop_watching()  # EWS subscriptions outlive a restart

    def _wait(self, stop: threading.Event) -> set[Folder]:
        """Until the ERP commits, a mailbox reports news, or `idle_s` passes."""
        erp, watcher = self.process.erp, self.process.watcher
        position = int(self.process.engine.checkpoints.get(ERP_FEED, "0"))
        deadline = self.clock() + self.idle_s
        while not stop.is_set() and self.clock() < deadline:
            news = watcher.wait(0.1)
            if news:
                return news
            if erp.wait_for_changes(position, timeout_s=0.1):
                return set()
        return set()

    def _after_round(self, report: TickReport) -> None:
        engine = self.process.engine
        if report.users_changed or not self._watched:
            self._rewatch()
            # Every known user, so that one no longer watched (R11: not allowed, locked — also
            # while the engine was down) is recorded as not subscribed, not left "alive" (R12).
            known = [scope.user.login for scope in engine.user_scopes()]
            logins = list(dict.fromkeys([*self._watched, *known]))
        else:
            logins = self._watched
        statuses = {login: self.process.watcher.status(login) for login in logins}
        engine.subscriptions_seen(statuses)
        self.metrics.subscriptions_alive.set(sum(statuses[login].alive for login in self._watched))
        for (direction, reason), count in report.transfers.items():
            self.metrics.transfers.labels(direction=direction, reason=reason).inc(count)
        for reason, count in report.failed.items():
            self.metrics.failures.labels(reason=reason).inc(count)
        self.metrics.queue_depth.set(engine.queue_depth())
        self.metrics.users_eligible.set(len(self._watched))
        self.metrics.round_done()
        if self.clock() - self._last_prune >= self.prune_every_s:
            self._last_prune = self.clock()
            position = self.process.store.checkpoints().get(ERP_FEED)
            if position is not None:
                pruned = self.process.erp.prune_feed(int(position))
                if pruned:
                    log.info("pruned %d consumed ERP change-feed entries", pruned)

    def _rewatch(self) -> None:
        users = self.process.engine.watched_users()
        self._watched = [user.login for user in users]
        self.process.watcher.watch(users)


def stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM and SIGINT end the loop after the round in flight."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("%s received: finishing the round in flight", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
