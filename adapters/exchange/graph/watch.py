"""Change signals by delta polling: the Graph implementation of `engine.ports.ChangeSignals`.

Webhooks need a public HTTPS endpoint the engine does not have by default, so each watched
mailbox is polled every `poll_interval_s` (5 s): one delta round per folder (calendarView/delta
in the adapter's window, tasks/delta of the default To Do list) on a delta chain of the watcher's
own — the engine's checkpoints are not touched; a round with any entry signals its folder, and
the engine reads what changed from its own checkpoint. A folder is also signalled when news may
have been missed: when the mailbox is first watched and when its delta token expired (410).

A mailbox that cannot be polled (Application Access Policy denial, missing user, errors that
outlived the client's retries) gets a status with the reason and is tried again after a growing,
capped back-off; the other mailboxes go on (R12).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from adapters.exchange.graph import reading
from adapters.exchange.graph.client import DeltaExpired, GraphClient, MailboxDenied
from adapters.exchange.graph.settings import GraphSettings
from engine.errors import SideError
from engine.model import ItemKind, User
from engine.ports import SubscriptionStatus

log = logging.getLogger(__name__)

NOT_WATCHED = SubscriptionStatus(alive=False, reason="not watched")
KINDS = (ItemKind.APPOINTMENT, ItemKind.TASK)


@dataclass
class _Watched:
    login: str
    mailbox: str
    status: SubscriptionStatus = field(
        default_factory=lambda: SubscriptionStatus(alive=False, reason="starting", mode="pull")
    )
    links: dict[ItemKind, str] = field(default_factory=dict)  # the watcher's deltaLinks
    list_id: str | None = None
    failures: int = 0
    next_poll: float = 0.0


class GraphWatcher:
    """Polls every watched mailbox's folders for news; thread-safe."""

    def __init__(
        self,
        client: GraphClient,
        settings: GraphSettings,
        *,
        workers: int = 4,
        retry_initial_s: float = 30.0,
        retry_max_s: float = 900.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        kinds: Sequence[ItemKind] = KINDS,
    ) -> None:
        self.client = client
        self.kinds = tuple(kinds)  # the folders synchronised (R10: tasks may be off)
        self.settings = settings
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.clock = clock
        self._watched: dict[str, _Watched] = {}
        self._news: set[tuple[str, ItemKind]] = set()
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="graph-poll")
        self._thread = threading.Thread(target=self._run, name="graph-watch", daemon=True)
        self._thread.start()

    # ---- ChangeSignals ----------------------------------------------------------------------

    def watch(self, users: Sequence[User]) -> None:
        wanted: dict[str, str] = {}
        for user in users:
            mailbox = self.settings.mailbox_of(user)
            if mailbox is not None:
                wanted[user.login] = mailbox
        with self._changed:
            for login in list(self._watched):
                if wanted.get(login, "").lower() != self._watched[login].mailbox.lower():
                    del self._watched[login]  # R11: no longer watched (or moved)
            for login, mailbox in wanted.items():
                if login not in self._watched:
                    self._watched[login] = _Watched(login, mailbox)
                    self._news.update((login, kind) for kind in self.kinds)  # catch up first
            self._changed.notify_all()

    def wait(self, timeout_s: float) -> set[tuple[str, ItemKind]]:
        with self._changed:
            if not self._news:
                self._changed.wait(timeout_s)
            news, self._news = self._news, set()
            return news

    def status(self, login: str) -> SubscriptionStatus:
        with self._changed:
            watched = self._watched.get(login)
            return NOT_WATCHED if watched is None else watched.status

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._pool.shutdown(wait=True, cancel_futures=True)

    # ---- polling ----------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            with self._changed:
                due = [w for w in self._watched.values() if w.next_poll <= now]
                for watched in due:
                    watched.next_poll = now + self.settings.poll_interval_s
            for outcome in [self._pool.submit(self._poll, w) for w in due]:
                try:
                    outcome.result()
                except Exception:  # never let one mailbox stop the others
                    log.exception("polling a mailbox failed")
            self._stop.wait(min(1.0, self.settings.poll_interval_s / 5))

    def _poll(self, watched: _Watched) -> None:
        if watched.failures:  # back after a failure: news may have been missed
            self._signal(watched, self.kinds)
        try:
            for kind in self.kinds:
                if self._stop.is_set():
                    return
                if self._round(watched, kind):
                    self._signal(watched, (kind,))
        except SideError as error:
            self._failed(watched, error)
            return
        with self._changed:
            watched.failures = 0
            watched.status = SubscriptionStatus(alive=True, mode="pull")

    def _round(self, watched: _Watched, kind: ItemKind) -> bool:
        """One delta round of the folder; whether it had news (or may have missed some)."""
        url = watched.links.get(kind)
        news = False
        if url is None:
            url = self._first(watched, kind)
            first = True
        else:
            first = False
        while True:
            try:
                page = reading.delta_page(self.client, watched.mailbox, url, 200)
            except DeltaExpired:
                watched.links.pop(kind, None)
                url, first, news = self._first(watched, kind), True, True
                continue
            if page.get("value") and not first:
                news = True
            link = page.get("@odata.deltaLink")
            if link:
                watched.links[kind] = str(link)
                return news
            url = str(page.get("@odata.nextLink") or "")
            if not url:
                return news

    def _signal(self, watched: _Watched, kinds: Sequence[ItemKind]) -> None:
        with self._changed:
            if self._watched.get(watched.login) is watched:
                self._news.update((watched.login, kind) for kind in kinds)
                self._changed.notify_all()

    def _first(self, watched: _Watched, kind: ItemKind) -> str:
        if kind is ItemKind.TASK and watched.list_id is None:
            watched.list_id = reading.default_list(self.client, watched.mailbox)
        return reading.first_delta(
            watched.mailbox,
            kind,
            watched.list_id or "",
            self.clock(),
            self.settings.window_past_days,
            self.settings.window_future_days,
        )

    def _failed(self, watched: _Watched, error: SideError) -> None:
        delay = min(self.retry_max_s, self.retry_initial_s * 2.0**watched.failures)
        reason = error.code if isinstance(error, MailboxDenied) else str(error)
        with self._changed:
            watched.failures += 1
            watched.next_poll = time.monotonic() + delay
            watched.status = SubscriptionStatus(
                alive=False,
                reason=reason,
                mode="pull",
                retry_at=self.clock() + timedelta(seconds=delay),
            )
