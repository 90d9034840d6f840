"""Pull subscriptions, the fallback to streaming: GetEvents every poll interval per mailbox.

Each mailbox has one pull subscription (calendar and tasks) and the last watermark it was given.
A thread polls the due mailboxes through the watcher's worker pool every `poll_interval_s`;
events become signals for their folders. A lost subscription or an invalid watermark
(ErrorSubscriptionNotFound, ErrorExpiredSubscription, ErrorInvalidWatermark) sends the mailbox
back to the watcher, which subscribes anew without the old watermark and reports its folders
for a catch-up. Busy and transient errors are retried (tenacity) and then left to the next
poll; other errors go to the watcher as the mailbox's failure.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

from exchangelib import Account

from adapters.exchange.ews.errors import Failure, Retrier, classify, reason
from adapters.exchange.ews.settings import EwsSettings
from adapters.exchange.ews.streaming import GroupSink, Member
from adapters.exchange.ews.subscriptions import Affinity, read_events

log = logging.getLogger(__name__)


@dataclass
class PullMember:
    member: Member
    watermark: str
    affinity: Affinity
    busy: bool = False


class PullPoller:
    def __init__(
        self,
        settings: EwsSettings,
        account_of: Callable[[str], Account],
        retrier: Retrier,
        executor: Executor,
        sink: GroupSink,
        stopping: threading.Event,
    ) -> None:
        self.settings = settings
        self.account_of = account_of
        self.retrier = retrier
        self.executor = executor
        self.sink = sink
        self.stopping = stopping
        self._members: dict[str, PullMember] = {}
        self._lock = threading.Lock()
        self.polls = 0
        self._thread = threading.Thread(target=self._run, name="ews-pull", daemon=True)
        self._thread.start()

    def __len__(self) -> int:
        with self._lock:
            return len(self._members)

    def logins(self) -> list[str]:
        with self._lock:
            return list(self._members)

    def add(self, member: Member, watermark: str, affinity: Affinity) -> None:
        with self._lock:
            self._members[member.login] = PullMember(member, watermark, affinity)

    def remove(self, login: str) -> Member | None:
        with self._lock:
            entry = self._members.pop(login, None)
        return None if entry is None else entry.member

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        interval = self.settings.poll_interval_s
        while not self.stopping.wait(interval):
            started = time.monotonic()
            with self._lock:
                due = [entry for entry in self._members.values() if not entry.busy]
                for entry in due:
                    entry.busy = True
            for entry in due:
                try:
                    self.executor.submit(self._poll, entry)
                except RuntimeError:  # the pool is shut down: the watcher is closing
                    return
            # The interval counts from the start of a round; a slow round is not doubled.
            interval = max(0.0, self.settings.poll_interval_s - (time.monotonic() - started))

    def _poll(self, entry: PullMember) -> None:
        member = entry.member
        try:
            events, watermark = self.retrier.call(
                lambda: read_events(
                    self.account_of(member.address),
                    member.subscription_id,
                    entry.watermark,
                    entry.affinity,
                )
            )
        except Exception as error:
            entry.busy = False
            self._failed(entry, error)
            return
        self.polls += 1
        entry.watermark = watermark
        entry.busy = False
        for event in events:
            kind = member.folders.kind_of(
                getattr(event, "parent_folder_id", None) and event.parent_folder_id.id,
                getattr(event, "old_parent_folder_id", None) and event.old_parent_folder_id.id,
            )
            for signalled in [kind] if kind else list(member.folders.kinds.values()):
                self.sink.signal(member.login, signalled)

    def _failed(self, entry: PullMember, error: BaseException) -> None:
        failure = classify(error, oauth2=self.settings.auth == "oauth2")
        log.warning("pull %s: %s", entry.member.login, reason(error))
        if failure.retried_in_place or failure is Failure.TOKEN:
            return  # tried again at the next poll; the watermark still holds
        if self.remove(entry.member.login) is None:
            return  # unwatched meanwhile
        if failure is Failure.SUBSCRIPTION:
            self.sink.subscriptions_lost([entry.member], reason(error))
        else:
            self.sink.mailbox_failed(entry.member, error)
