"""One streaming connection group: up to 200 mailboxes' subscriptions on one hanging connection.

A thread per group keeps one GetStreamingEvents connection open over the subscriptions of its
members and turns each event into a signal for the member's folder. The connection asks for
`connection_timeout_min` and is opened again as soon as the server closes it, long before the
subscriptions could expire (30 minutes without a connection). A renewal after the server's
`Closed` needs no catch-up: the subscriptions keep what happens in between and the next
connection delivers it. Any other end — a dropped connection, an error, a change of members
(the connection is ended after the envelope being read) — may have lost an event that was on
its way, so every member of that connection is reported for a catch-up. A mailbox that joins
while the connection is open is carried from the next connection on (the current one ends after
the envelope being read, at the latest with the next keep-alive); its subscription keeps its
events until then, and it was reported for a catch-up when it was subscribed.

Errors: a lost subscription (ErrorSubscriptionNotFound, ErrorExpiredSubscription, …) sends the
members whose subscriptions the error names (ErrorSubscriptionIds; all, when it names none) back
to the watcher to subscribe anew, and the others reconnect with a catch-up — a member removed
from the group is unsubscribed at once, which ends the open connection with that error, and
must not cost the others their subscriptions; a refused OAuth2 token is renewed;
busy and transient errors reconnect after ErrorServerBusy's back-off or an exponential one with
jitter; a mailbox that may no longer be impersonated leaves the group. Nothing here raises.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from exchangelib import Account

from adapters.exchange.ews.errors import Failure, classify, delay_for, reason
from adapters.exchange.ews.settings import EwsSettings
from adapters.exchange.ews.subscriptions import (
    Affinity,
    MailboxFolders,
    failed_subscription_ids,
    stream_events,
)
from engine.model import ItemKind

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Member:
    login: str
    address: str
    subscription_id: str
    folders: MailboxFolders


class GroupSink(Protocol):
    """What a group reports to its watcher (called from the group's thread)."""

    def signal(self, login: str, kind: ItemKind) -> None: ...

    def catch_up(self, logins: Sequence[str]) -> None: ...

    def subscriptions_lost(self, members: Sequence[Member], why: str) -> None: ...

    def mailbox_failed(self, member: Member, error: BaseException) -> None: ...

    def group_status(self, members: Sequence[Member], alive: bool, why: str) -> None: ...


class StreamingGroup:
    def __init__(
        self,
        number: int,
        settings: EwsSettings,
        account_of: Callable[[str], Account],
        renew_token: Callable[[], None],
        sink: GroupSink,
        stopping: threading.Event,
    ) -> None:
        self.number = number
        self.settings = settings
        self.account_of = account_of
        self.renew_token = renew_token
        self.sink = sink
        self.stopping = stopping
        self.affinity: Affinity | None = None
        self._members: dict[str, Member] = {}  # by login
        self._lock = threading.Lock()
        self._changed = threading.Event()  # members changed: end the connection, reopen
        self._wake = threading.Event()
        self.connections_opened = 0
        self.connected = False
        self._thread = threading.Thread(
            target=self._run, name=f"ews-streaming-{number}", daemon=True
        )
        self._thread.start()

    # --- members (called by the watcher) ----------------------------------------------------

    def __len__(self) -> int:
        with self._lock:
            return len(self._members)

    def logins(self) -> list[str]:
        with self._lock:
            return list(self._members)

    def members(self) -> list[Member]:
        with self._lock:
            return list(self._members.values())

    def affinity_for(self, address: str) -> Affinity:
        """The group's affinity; the first mailbox to join is its anchor."""
        with self._lock:
            if self.affinity is None:
                self.affinity = Affinity(anchor=address)
            return self.affinity

    def add(self, member: Member) -> None:
        with self._lock:
            self._members[member.login] = member
        self._changed.set()
        self._wake.set()

    def remove(self, login: str) -> Member | None:
        with self._lock:
            member = self._members.pop(login, None)
        if member is not None:
            self._changed.set()
            self._wake.set()
        return member

    def stop(self) -> None:
        self._changed.set()
        self._wake.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    # --- the connection ---------------------------------------------------------------------

    def _run(self) -> None:
        attempt = 0
        while not self.stopping.is_set():
            with self._lock:
                members = list(self._members.values())
                affinity = self.affinity
            self._changed.clear()
            if not members or affinity is None:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            error = self._connect(members, affinity)
            if error is None:
                attempt = 0
                continue
            with self._lock:  # those removed meanwhile were unsubscribed on purpose
                left = [m for m in members if self._members.get(m.login) != m]
                members = [m for m in members if self._members.get(m.login) == m]
            if self.stopping.is_set() or not members:
                continue
            try:
                delay = self._handle(error, members, attempt, left)
            except Exception as failure:  # e.g. msal has no token: back off, keep the thread
                self.sink.group_status(members, False, reason(failure))
                delay = self._backoff(failure, attempt)
            attempt += 1
            if delay:
                self.stopping.wait(delay)

    def _connect(self, members: list[Member], affinity: Affinity) -> BaseException | None:
        """One connection; None when it ended normally (renewal or change of members)."""
        by_subscription = {member.subscription_id: member for member in members}
        # The connection acts as the anchor while it is a member (routing), else as any member.
        speaker = next((m for m in members if m.address == affinity.anchor), members[0])
        self.connections_opened += 1
        self.connected = True
        self.sink.group_status(members, True, "")
        try:
            for notification in stream_events(
                self.account_of(speaker.address),
                list(by_subscription),
                self.settings.connection_timeout_min,
                affinity,
                self._changed,
            ):
                member = by_subscription.get(notification.subscription_id)
                if member is None:
                    continue
                for event in notification.events:
                    kind = member.folders.kind_of(
                        getattr(event, "parent_folder_id", None) and event.parent_folder_id.id,
                        getattr(event, "old_parent_folder_id", None)
                        and event.old_parent_folder_id.id,
                    )
                    for signalled in [kind] if kind else list(member.folders.kinds.values()):
                        self.sink.signal(member.login, signalled)
        except Exception as error:
            return error
        finally:
            self.connected = False
        if self._changed.is_set() or self.stopping.is_set():
            # Ended by us after an envelope: one on its way may be lost with the connection.
            self.sink.catch_up([member.login for member in members])
        return None

    def _handle(
        self, error: BaseException, members: list[Member], attempt: int, left: list[Member]
    ) -> float:
        """React to a failed connection of `members` (and of `left`, who were removed from
        the group and unsubscribed meanwhile); the delay before the next one."""
        oauth2 = self.settings.auth == "oauth2"
        failure = classify(error, oauth2=oauth2)
        why = reason(error)
        if failure is Failure.SUBSCRIPTION:
            lost = self._lost(error, members, left)
            if lost:
                log.warning("streaming group %d: %s", self.number, why)
                for member in lost:
                    self.remove(member.login)
                self.sink.subscriptions_lost(lost, why)
            else:
                log.info("streaming group %d: ended by an unsubscribe: %s", self.number, why)
            # The others' subscriptions go on; an event on its way may be lost with the connection.
            self.sink.catch_up([member.login for member in members if member not in lost])
            return 0.0
        log.warning("streaming group %d: %s", self.number, why)
        if failure is Failure.TOKEN:
            self.renew_token()
            self.sink.catch_up([member.login for member in members])
            return 0.0 if attempt == 0 else self._backoff(error, attempt)
        if not failure.retried_in_place and self.affinity is not None:  # the mailbox's
            speaker = next((m for m in members if m.address == self.affinity.anchor), members[0])
            self.remove(speaker.login)
            self.sink.mailbox_failed(speaker, error)
            self.sink.catch_up([m.login for m in members if m is not speaker])
            return 0.0
        self.sink.group_status(members, False, why)
        self.sink.catch_up([member.login for member in members])
        return self._backoff(error, attempt)

    @staticmethod
    def _lost(error: BaseException, members: list[Member], left: list[Member]) -> list[Member]:
        """The members whose subscriptions the error says are gone: those it names; when it
        names none, all of them — unless someone was unsubscribed meanwhile, which explains
        the error (a member truly lost as well fails the next connection, and goes then)."""
        named = failed_subscription_ids(error)
        if named:
            return [member for member in members if member.subscription_id in named]
        return [] if left else list(members)

    def _backoff(self, error: BaseException, attempt: int) -> float:
        settings = self.settings
        return delay_for(error, attempt, settings.transient_initial_s, settings.transient_max_s)
