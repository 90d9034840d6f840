"""Change signals from the users' mailboxes: the EWS implementation of `engine.ports.ChangeSignals`.

`watch(users)` names the mailboxes to watch; a scheduler thread subscribes each (one GetFolder
for its calendar and tasks folder ids, one Subscribe for both folders) through a small worker
pool, and unsubscribes those no longer named (R11). Streaming mailboxes join connection groups
of up to 200 (`streaming.StreamingGroup`, one hanging connection each, at most 10); beyond
that, or with `notifications = "pull"`, they are polled (`pull.PullPoller`).

`wait(timeout_s)` hands the engine the folders with news. A folder is also reported when a
notification may have been missed: once its subscription is made (start-up, a new user, a
subscription made anew after it was lost) and after a connection ended other than by the
server's planned close. The engine then reads the folder from its stored sync state.

A mailbox that cannot be subscribed (denied, missing, unreachable after the retries of its
transient errors) gets a status with the reason and is tried again after a growing, capped
back-off with jitter — never a crash, never a retry storm, and the other mailboxes go on (R12).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from exchangelib import Account

from adapters.exchange.ews.connection import EwsConnection
from adapters.exchange.ews.errors import Retrier, jittered, reason
from adapters.exchange.ews.pull import PullPoller
from adapters.exchange.ews.streaming import Member, StreamingGroup
from adapters.exchange.ews.subscriptions import (
    Affinity,
    MailboxFolders,
    folder_ids,
    subscribe_pull,
    subscribe_streaming,
    unsubscribe,
)
from engine.model import ItemKind, User
from engine.ports import SubscriptionStatus

log = logging.getLogger(__name__)

NOT_WATCHED = SubscriptionStatus(alive=False, reason="not watched")


@dataclass
class _Watched:
    login: str
    address: str | None
    status: SubscriptionStatus = field(
        default_factory=lambda: SubscriptionStatus(alive=False, reason="subscribing")
    )
    folders: MailboxFolders | None = None
    pending: bool = True  # waits for a subscription
    in_flight: bool = False
    failures: int = 0
    retry_at: float = 0.0  # monotonic


class ExchangeWatcher:
    """Streaming (or pull) subscriptions for a changing set of mailboxes; thread-safe."""

    def __init__(
        self,
        connection: EwsConnection,
        kinds: Sequence[ItemKind] = (ItemKind.APPOINTMENT, ItemKind.TASK),
    ) -> None:
        self.connection = connection
        self.settings = settings = connection.settings
        self.kinds = tuple(kinds)
        self.stopping = threading.Event()
        self.retrier = Retrier(settings, connection.renew_token, self.stopping)
        self.executor = ThreadPoolExecutor(settings.workers, thread_name_prefix="ews-watch")
        self._lock = threading.Condition()
        self._signals: set[tuple[str, ItemKind]] = set()
        self._watched: dict[str, _Watched] = {}
        self.groups: list[StreamingGroup] = []
        self._reserved: dict[int, int] = {}  # group number → subscriptions being made for it
        self.poller = PullPoller(
            settings, connection.account, self.retrier, self.executor, self, self.stopping
        )
        self._scheduler = threading.Thread(target=self._schedule, name="ews-watch", daemon=True)
        self._scheduler.start()

    # --- ChangeSignals ----------------------------------------------------------------------

    def watch(self, users: Sequence[User]) -> None:
        wanted = {user.login: self.settings.mailbox_of(user) for user in users}
        with self._lock:
            for login in list(self._watched):
                entry = self._watched[login]
                if login not in wanted or wanted[login] != entry.address:
                    del self._watched[login]
                    self._release(entry)
            for login, address in wanted.items():
                if login not in self._watched:
                    self._watched[login] = _Watched(login, address)
            self._lock.notify_all()

    def wait(self, timeout_s: float) -> set[tuple[str, ItemKind]]:
        with self._lock:
            self._lock.wait_for(lambda: bool(self._signals), timeout=max(timeout_s, 0.0))
            signals, self._signals = self._signals, set()
            return signals

    def status(self, login: str) -> SubscriptionStatus:
        with self._lock:
            entry = self._watched.get(login)
            return NOT_WATCHED if entry is None else entry.status

    def close(self, *, unsubscribe_all: bool = True) -> None:
        """Stop watching; the subscriptions are ended too unless told otherwise (they expire
        on the server by themselves, but count against its 20 per mailbox until then)."""
        if self.stopping.is_set():
            return  # closed already: a second close must not unsubscribe what the first kept
        if unsubscribe_all:
            self.watch([])
        self.stopping.set()
        with self._lock:
            self._lock.notify_all()
        for group in self.groups:
            group.stop()
        self.executor.shutdown(wait=True, cancel_futures=False)
        # A streaming thread notices the stop at its connection's next envelope (a heartbeat may
        # be half a minute away); the threads are daemons, so all of them share one short grace
        # period rather than five seconds each (SIGTERM must end the process within seconds).
        deadline = time.monotonic() + 2
        for group in self.groups:
            group.join(timeout=max(0.0, deadline - time.monotonic()))
        self.poller.join(timeout=max(0.0, deadline - time.monotonic()))
        self._scheduler.join(timeout=max(0.0, deadline - time.monotonic()))

    # --- figures for tests and the benchmark ------------------------------------------------

    def streaming_connections(self) -> int:
        return sum(1 for group in self.groups if group.connected)

    def subscribed(self) -> int:
        with self._lock:
            return sum(1 for entry in self._watched.values() if entry.status.alive)

    # --- subscribing ------------------------------------------------------------------------

    def _schedule(self) -> None:
        while not self.stopping.is_set():
            with self._lock:
                now = time.monotonic()
                due = [
                    entry
                    for entry in self._watched.values()
                    if entry.pending and not entry.in_flight and entry.retry_at <= now
                ]
                for entry in due:
                    entry.in_flight = True
                later = [
                    entry.retry_at
                    for entry in self._watched.values()
                    if entry.pending and not entry.in_flight
                ]
            for entry in due:
                try:
                    self.executor.submit(self._subscribe, entry)
                except RuntimeError:
                    return  # shut down
            with self._lock:
                if not self.stopping.is_set():
                    pause = min(later, default=now + 1.0) - time.monotonic()
                    self._lock.wait(min(max(pause, 0.0), 1.0) if due or later else 1.0)

    def _subscribe(self, entry: _Watched) -> None:
        try:
            self._subscribe_one(entry)
        except Exception as error:
            self._failed(entry, error)
        finally:
            with self._lock:
                entry.in_flight = False
                self._lock.notify_all()

    def _subscribe_one(self, entry: _Watched) -> None:
        if entry.address is None:
            why = (
                "no mailbox stored on the ERP user"
                if self.settings.use_exchange_mailboxes
                else "no mail domain configured"
            )
            raise LookupError(why)
        address = entry.address
        account = self.connection.account(address)
        folders = entry.folders or self.retrier.call(lambda: folder_ids(account, self.kinds))
        entry.folders = folders
        group = self._reserve_group()
        try:
            self._subscribe_in(entry, address, account, folders, group)
        finally:
            if group is not None:  # released once the member is in: the group never overfills
                with self._lock:
                    self._reserved[group.number] -= 1

    def _subscribe_in(
        self,
        entry: _Watched,
        address: str,
        account: Account,
        folders: MailboxFolders,
        group: StreamingGroup | None,
    ) -> None:
        watermark = ""
        if group is not None:
            affinity = group.affinity_for(address)
            subscription_id = self.retrier.call(
                lambda: subscribe_streaming(account, folders, affinity)
            )
        else:
            affinity = Affinity(anchor=address)
            subscription_id, watermark = self.retrier.call(
                lambda: subscribe_pull(account, folders, self.settings.pull_timeout_min, affinity)
            )
        member = Member(entry.login, address, subscription_id, folders)
        with self._lock:
            still_wanted = self._watched.get(entry.login) is entry
            if still_wanted:
                entry.pending = False
                entry.failures = 0
                mode = "streaming" if group is not None else "pull"
                entry.status = SubscriptionStatus(alive=True, mode=mode)
                self._signals.update((entry.login, kind) for kind in folders.kinds.values())
                self._lock.notify_all()
        if not still_wanted:
            self._end_subscription(address, subscription_id, affinity)
        elif group is not None:
            group.add(member)
        else:
            self.poller.add(member, watermark, affinity)

    def _reserve_group(self) -> StreamingGroup | None:
        """A group with room for one more mailbox (a new one while there may be more), or
        None: then the mailbox is polled."""
        if self.settings.notifications == "pull":
            return None
        with self._lock:
            for group in self.groups:
                if len(group) + self._reserved[group.number] < self.settings.mailboxes_per_group:
                    self._reserved[group.number] += 1
                    return group
            if len(self.groups) >= self.settings.max_streaming_connections:
                return None
            group = StreamingGroup(
                len(self.groups),
                self.settings,
                self.connection.account,
                self.connection.renew_token,
                self,
                self.stopping,
            )
            self.groups.append(group)
            self._reserved[group.number] = 1
            return group

    def _failed(self, entry: _Watched, error: BaseException) -> None:
        why = reason(error)
        log.warning("mailbox of %s not watched: %s", entry.login, why)
        with self._lock:
            entry.failures += 1
            delay = jittered(
                entry.failures - 1, self.settings.retry_initial_s, self.settings.retry_max_s
            )
            entry.retry_at = time.monotonic() + delay
            entry.pending = True
            entry.status = SubscriptionStatus(
                alive=False, reason=why, retry_at=datetime.now(UTC) + timedelta(seconds=delay)
            )

    # --- unsubscribing ----------------------------------------------------------------------

    def _release(self, entry: _Watched) -> None:
        """Take a mailbox out of its group or the poller and end its subscription (behind)."""
        login = entry.login
        for group in self.groups:
            member = group.remove(login)
            if member is not None and group.affinity is not None:
                self._submit_unsubscribe(member, group.affinity)
                return
        member = self.poller.remove(login)
        if member is not None:
            self._submit_unsubscribe(member, Affinity(anchor=member.address))

    def _submit_unsubscribe(self, member: Member, affinity: Affinity) -> None:
        with contextlib.suppress(RuntimeError):  # shut down: it expires on the server
            self.executor.submit(
                self._end_subscription, member.address, member.subscription_id, affinity
            )

    def _end_subscription(self, address: str, subscription_id: str, affinity: Affinity) -> None:
        try:
            unsubscribe(self.connection.account(address), subscription_id, affinity)
        except Exception as error:  # it expires on the server by itself
            log.info("unsubscribing %s: %s", address, reason(error))

    # --- GroupSink: reports from the streaming groups and the poller ------------------------

    def signal(self, login: str, kind: ItemKind) -> None:
        with self._lock:
            if login in self._watched:
                self._signals.add((login, kind))
                self._lock.notify_all()

    def catch_up(self, logins: Sequence[str]) -> None:
        with self._lock:
            for login in logins:
                entry = self._watched.get(login)
                if entry is not None and entry.folders is not None:
                    self._signals.update((login, kind) for kind in entry.folders.kinds.values())
            self._lock.notify_all()

    def subscriptions_lost(self, members: Sequence[Member], why: str) -> None:
        with self._lock:
            for member in members:
                entry = self._watched.get(member.login)
                if entry is not None and entry.address == member.address:
                    entry.pending, entry.retry_at = True, 0.0
                    entry.status = SubscriptionStatus(
                        alive=False, reason=f"subscribing anew: {why}"
                    )
            self._lock.notify_all()

    def mailbox_failed(self, member: Member, error: BaseException) -> None:
        with self._lock:
            entry = self._watched.get(member.login)
        if entry is not None and entry.address == member.address:
            self._failed(entry, error)
            with self._lock:
                self._lock.notify_all()

    def group_status(self, members: Sequence[Member], alive: bool, why: str) -> None:
        with self._lock:
            for member in members:
                entry = self._watched.get(member.login)
                if entry is not None and not entry.pending:
                    entry.status = (
                        SubscriptionStatus(alive=True, mode="streaming")
                        if alive
                        else SubscriptionStatus(
                            alive=False, reason=f"reconnecting: {why}", mode="streaming"
                        )
                    )
