"""Mailbox event logs and notification subscriptions (pull and streaming), as Exchange keeps them.

Every change in a mailbox appends an event (CreatedEvent, ModifiedEvent, DeletedEvent,
MovedEvent) to that mailbox's log, numbered by the store's change sequence. A subscription is a
filter over the log (folders, event types):

- pull: the client passes a watermark to GetEvents and receives the matching events after it,
  each with its own watermark, or a StatusEvent when there are none. A pull subscription expires
  when it is not polled within its timeout (1-1440 minutes): ErrorExpiredSubscription.
- streaming: the subscription keeps its own cursor; an open GetStreamingEvents connection
  receives the events as they happen. The cursor moves only once the events were written to a
  client still connected, so events that happen between connections, or that a connection whose
  client had gone could not deliver, are delivered on the next one. Without any open connection for 30 minutes the subscription expires.
  One connection may carry the subscriptions of several mailboxes, as long as its caller made
  them all (Exchange's connection groups: up to 200 mailboxes on one hanging connection).

Watermarks are sealed (tamper-evident) tokens naming the mailbox, the position in its log and the
time they were issued. They stop being valid when older than the watermark lifetime or when the
events after them have been pruned from the log: ErrorInvalidWatermark.

The hub shares the store's lock; all methods expect to be called by the store.
"""

from __future__ import annotations

import itertools
import secrets
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sim.clock import Clock
from sim.errors import (
    SUBSCRIPTION_ID_BYTES,
    EwsError,
    ResponseCode,
    stream_failure,
    unknown_subscription,
)
from sim.ids import TokenSeal


class EventType(StrEnum):
    COPIED = "CopiedEvent"
    CREATED = "CreatedEvent"
    DELETED = "DeletedEvent"
    MODIFIED = "ModifiedEvent"
    MOVED = "MovedEvent"
    NEW_MAIL = "NewMailEvent"
    FREE_BUSY_CHANGED = "FreeBusyChangedEvent"
    STATUS = "StatusEvent"


SUBSCRIBABLE_EVENT_TYPES = frozenset(EventType) - {EventType.STATUS}


class SubscriptionKind(StrEnum):
    PULL = "pull"
    STREAMING = "streaming"


@dataclass(frozen=True)
class MailboxEvent:
    """One entry in a mailbox's event log; either an item event or a folder event."""

    seq: int
    event_type: EventType
    timestamp: datetime
    parent_folder_id: str
    item_id: str | None = None
    change_key: str | None = None
    folder_id: str | None = None
    old_item_id: str | None = None
    old_parent_folder_id: str | None = None
    unread_count: int | None = None

    def concerns(self, folder_ids: frozenset[str] | None) -> bool:
        if folder_ids is None:
            return True
        return self.parent_folder_id in folder_ids or self.old_parent_folder_id in folder_ids


@dataclass(frozen=True)
class DeliveredEvent:
    """An event as delivered to one subscription, with the watermark that follows it.

    Streaming notifications carry no watermarks (as in Exchange's own streaming responses).
    """

    event: MailboxEvent
    watermark: str | None


@dataclass(frozen=True)
class Notification:
    """What GetEvents returns, or one subscription's part of a streaming envelope.

    `events` is empty when nothing happened; GetEvents then reports a StatusEvent carrying
    `status_watermark`. Streamed notifications have no previous watermark and no MoreEvents.
    """

    subscription_id: str
    previous_watermark: str | None
    more_events: bool | None
    events: tuple[DeliveredEvent, ...]
    status_watermark: str | None = None


@dataclass(frozen=True)
class NotificationSettings:
    max_subscriptions_per_mailbox: int = 20
    max_events_per_get: int = 50
    watermark_lifetime: timedelta = timedelta(days=30)
    event_retention: timedelta = timedelta(days=30)
    streaming_idle_expiry: timedelta = timedelta(minutes=30)


@dataclass
class _Subscription:
    subscription_id: str
    kind: SubscriptionKind
    mailbox_number: int
    folder_ids: frozenset[str] | None
    event_types: frozenset[EventType]
    timeout: timedelta
    last_activity: datetime
    cursor: int
    owner: str | None
    open_streams: int = 0
    expired: bool = False

    def wants(self, event: MailboxEvent) -> bool:
        return event.event_type in self.event_types and event.concerns(self.folder_ids)


@dataclass
class _EventLog:
    events: list[MailboxEvent] = field(default_factory=list)
    head: int = 0  # seq of the newest event, kept when pruning empties the list
    pruned_through: int = 0


@dataclass
class StreamHandle:
    """An open GetStreamingEvents connection over some subscriptions of one mailbox."""

    mailbox_number: int
    subscription_ids: tuple[str, ...]
    closed: bool = False
    # Per subscription, the newest event handed to this connection but not yet confirmed as
    # written to its client (the subscription's cursor moves only on confirmation).
    offered: dict[str, int] = field(default_factory=dict)


class NotificationHub:
    """Event logs and subscriptions of all mailboxes; guarded by the store's lock."""

    def __init__(
        self,
        lock: threading.RLock,
        clock: Clock,
        seal: TokenSeal,
        settings: NotificationSettings,
        next_seq: Callable[[], int],
    ) -> None:
        self._changed = threading.Condition(lock)
        self._clock = clock
        self._seal = seal
        self.settings = settings
        self._next_seq = next_seq
        self._logs: dict[int, _EventLog] = {}
        self._subscriptions: dict[str, _Subscription] = {}
        self._generation = itertools.count(1)
        self._wake_generation = 0

    # --- publishing -------------------------------------------------------------------------

    def publish(
        self,
        mailbox_number: int,
        event_type: EventType,
        parent_folder_id: str,
        *,
        item_id: str | None = None,
        change_key: str | None = None,
        folder_id: str | None = None,
        old_item_id: str | None = None,
        old_parent_folder_id: str | None = None,
        unread_count: int | None = None,
    ) -> MailboxEvent:
        now = self._clock.now()
        event = MailboxEvent(
            seq=self._next_seq(),
            event_type=event_type,
            timestamp=now,
            parent_folder_id=parent_folder_id,
            item_id=item_id,
            change_key=change_key,
            folder_id=folder_id,
            old_item_id=old_item_id,
            old_parent_folder_id=old_parent_folder_id,
            unread_count=unread_count,
        )
        log = self._logs.setdefault(mailbox_number, _EventLog())
        log.events.append(event)
        log.head = event.seq
        self._prune(log, now)
        self.wake()
        return event

    def wake(self) -> None:
        """Wake waiting streaming connections (new events, unsubscribe, shutdown)."""
        self._wake_generation = next(self._generation)
        self._changed.notify_all()

    def _prune(self, log: _EventLog, now: datetime) -> None:
        horizon = now - self.settings.event_retention
        keep_from = 0
        while keep_from < len(log.events) and log.events[keep_from].timestamp < horizon:
            log.pruned_through = log.events[keep_from].seq
            keep_from += 1
        if keep_from:
            del log.events[:keep_from]

    def head(self, mailbox_number: int) -> int:
        log = self._logs.get(mailbox_number)
        return 0 if log is None else log.head

    # --- watermarks -------------------------------------------------------------------------

    def watermark(self, mailbox_number: int, seq: int) -> str:
        issued = self._clock.now().timestamp()
        return self._seal.seal("watermark", {"m": mailbox_number, "s": seq, "t": issued})

    def _watermark_position(self, mailbox_number: int, watermark: str) -> int:
        payload = self._seal.open("watermark", watermark)
        invalid = EwsError(ResponseCode.INVALID_WATERMARK, "The watermark is invalid.")
        if payload is None or payload.get("m") != mailbox_number:
            raise invalid
        issued = datetime.fromtimestamp(float(payload["t"]), UTC)
        if self._clock.now() - issued > self.settings.watermark_lifetime:
            raise invalid
        seq = int(payload["s"])
        log = self._logs.get(mailbox_number, _EventLog())
        if seq < log.pruned_through:
            raise invalid
        return seq

    # --- subscriptions ----------------------------------------------------------------------

    def _active_count(self, mailbox_number: int) -> int:
        return sum(
            1
            for sub in self._subscriptions.values()
            if sub.mailbox_number == mailbox_number and not self._check_expiry(sub)
        )

    def _new_subscription(
        self,
        kind: SubscriptionKind,
        mailbox_number: int,
        folder_ids: Iterable[str] | None,
        event_types: Iterable[EventType],
        timeout: timedelta,
        cursor: int,
        owner: str | None,
    ) -> _Subscription:
        types = frozenset(event_types)
        if not types or not types <= SUBSCRIBABLE_EVENT_TYPES:
            raise EwsError(
                ResponseCode.INVALID_SUBSCRIPTION_REQUEST,
                "EventTypes must name subscribable events.",
            )
        if self._active_count(mailbox_number) >= self.settings.max_subscriptions_per_mailbox:
            raise EwsError(
                ResponseCode.EXCEEDED_SUBSCRIPTION_COUNT,
                "You have exceeded the available subscriptions for your account.",
            )
        sub = _Subscription(
            subscription_id=secrets.token_urlsafe(SUBSCRIPTION_ID_BYTES),
            kind=kind,
            mailbox_number=mailbox_number,
            folder_ids=None if folder_ids is None else frozenset(folder_ids),
            event_types=types,
            timeout=timeout,
            last_activity=self._clock.now(),
            cursor=cursor,
            owner=owner,
        )
        self._subscriptions[sub.subscription_id] = sub
        return sub

    def subscribe_pull(
        self,
        mailbox_number: int,
        folder_ids: Iterable[str] | None,
        event_types: Iterable[EventType],
        timeout_minutes: int,
        watermark: str | None,
        owner: str | None,
    ) -> tuple[str, str]:
        if not 1 <= timeout_minutes <= 1440:
            raise EwsError(
                ResponseCode.INVALID_SUBSCRIPTION_REQUEST, "Timeout must be between 1 and 1440."
            )
        start = (
            self.head(mailbox_number)
            if watermark is None
            else self._watermark_position(mailbox_number, watermark)
        )
        sub = self._new_subscription(
            SubscriptionKind.PULL,
            mailbox_number,
            folder_ids,
            event_types,
            timedelta(minutes=timeout_minutes),
            start,
            owner,
        )
        return sub.subscription_id, watermark or self.watermark(mailbox_number, start)

    def subscribe_streaming(
        self,
        mailbox_number: int,
        folder_ids: Iterable[str] | None,
        event_types: Iterable[EventType],
        owner: str | None,
    ) -> str:
        sub = self._new_subscription(
            SubscriptionKind.STREAMING,
            mailbox_number,
            folder_ids,
            event_types,
            self.settings.streaming_idle_expiry,
            self.head(mailbox_number),
            owner,
        )
        return sub.subscription_id

    def _check_expiry(self, sub: _Subscription) -> bool:
        """Mark `sub` expired if its time is up; return whether it is expired."""
        idle = sub.kind is SubscriptionKind.PULL or sub.open_streams == 0
        if not sub.expired and idle and self._clock.now() - sub.last_activity > sub.timeout:
            sub.expired = True
        return sub.expired

    def expire(self, subscription_id: str) -> None:
        """Expire a subscription now, as the server does when it gives up on a client."""
        sub = self._subscriptions.get(subscription_id)
        if sub is None:
            raise unknown_subscription(subscription_id)
        sub.expired = True
        self.wake()

    def _find(
        self,
        mailbox_number: int,
        subscription_id: str,
        owner: str | None,
        *,
        grouped: bool = False,
    ) -> _Subscription:
        """The subscription, if the caller may use it. `grouped`: a streaming connection may
        carry the subscriptions of other mailboxes that the same caller made (Exchange's
        connection groups of up to 200 mailboxes)."""
        sub = self._subscriptions.get(subscription_id)
        if sub is None:
            raise unknown_subscription(subscription_id)
        same_owner = owner is not None and sub.owner == owner
        other_mailbox = sub.mailbox_number != mailbox_number and not (grouped and same_owner)
        if other_mailbox or (owner is not None and sub.owner is not None and owner != sub.owner):
            raise EwsError(
                ResponseCode.SUBSCRIPTION_ACCESS_DENIED,
                "Only the subscription owner may access the subscription.",
            )
        return sub

    def _lookup(
        self, mailbox_number: int, subscription_id: str, owner: str | None, *, grouped: bool = False
    ) -> _Subscription:
        sub = self._find(mailbox_number, subscription_id, owner, grouped=grouped)
        if self._check_expiry(sub):
            raise EwsError(ResponseCode.EXPIRED_SUBSCRIPTION, "The subscription has expired.")
        return sub

    def unsubscribe(self, mailbox_number: int, subscription_id: str, owner: str | None) -> None:
        self._find(mailbox_number, subscription_id, owner)
        del self._subscriptions[subscription_id]
        self.wake()

    def _matching(self, sub: _Subscription, after: int) -> list[MailboxEvent]:
        log = self._logs.get(sub.mailbox_number, _EventLog())
        return [event for event in log.events if event.seq > after and sub.wants(event)]

    def get_events(
        self, mailbox_number: int, subscription_id: str, watermark: str, owner: str | None
    ) -> Notification:
        sub = self._lookup(mailbox_number, subscription_id, owner)
        if sub.kind is not SubscriptionKind.PULL:
            raise EwsError(
                ResponseCode.INVALID_PULL_SUBSCRIPTION_ID,
                "The subscription is not a pull subscription.",
            )
        position = self._watermark_position(mailbox_number, watermark)
        sub.last_activity = self._clock.now()
        matching = self._matching(sub, position)
        page = matching[: self.settings.max_events_per_get]
        delivered = tuple(
            DeliveredEvent(event, self.watermark(mailbox_number, event.seq)) for event in page
        )
        status = None if page else self.watermark(mailbox_number, self.head(mailbox_number))
        return Notification(
            subscription_id=subscription_id,
            previous_watermark=watermark,
            more_events=len(matching) > len(page),
            events=delivered,
            status_watermark=status,
        )

    # --- streaming --------------------------------------------------------------------------

    def open_stream(
        self, mailbox_number: int, subscription_ids: Sequence[str], owner: str | None
    ) -> StreamHandle:
        for subscription_id in subscription_ids:
            sub = self._lookup(mailbox_number, subscription_id, owner, grouped=True)
            if sub.kind is not SubscriptionKind.STREAMING:
                raise EwsError(
                    ResponseCode.INVALID_SUBSCRIPTION,
                    "The subscription is not a streaming subscription.",
                )
        for subscription_id in subscription_ids:
            sub = self._subscriptions[subscription_id]
            sub.open_streams += 1
            sub.last_activity = self._clock.now()
        return StreamHandle(mailbox_number, tuple(subscription_ids))

    def close_stream(self, handle: StreamHandle) -> None:
        if handle.closed:
            return
        handle.closed = True
        for subscription_id in handle.subscription_ids:
            sub = self._subscriptions.get(subscription_id)
            if sub is not None:
                sub.open_streams -= 1
                sub.last_activity = self._clock.now()

    def take_streamed(self, handle: StreamHandle) -> tuple[list[Notification], int]:
        """Events of the stream's subscriptions not yet offered to this connection, and the
        wake generation they were read at (pass it to `wait` so no event slips in between).

        They stay pending for the subscription until `confirm_streamed`: a connection whose
        client has gone leaves them to the next one."""
        notifications = []
        subs = {i: self._subscriptions.get(i) for i in handle.subscription_ids}
        if failed := [i for i, sub in subs.items() if sub is None or sub.expired]:
            raise stream_failure(failed, expired=subs[failed[0]] is not None)
        for subscription_id in handle.subscription_ids:
            sub = self._subscriptions[subscription_id]
            sub.last_activity = self._clock.now()
            events = self._matching(sub, max(sub.cursor, handle.offered.get(subscription_id, 0)))
            if not events:
                continue
            handle.offered[subscription_id] = events[-1].seq
            notifications.append(
                Notification(
                    subscription_id=subscription_id,
                    previous_watermark=None,
                    more_events=None,
                    events=tuple(DeliveredEvent(event, None) for event in events),
                )
            )
        return notifications, self._wake_generation

    def confirm_streamed(self, handle: StreamHandle) -> None:
        """What `take_streamed` offered this connection has reached its client: consumed."""
        for subscription_id, seq in handle.offered.items():
            sub = self._subscriptions.get(subscription_id)
            if sub is not None:
                sub.cursor = max(sub.cursor, seq)

    def wait(self, timeout: float, since: int) -> None:
        """Block until something was published (or `wake` called) after generation `since`,
        at most `timeout` seconds."""
        self._changed.wait_for(lambda: self._wake_generation != since, timeout=max(timeout, 0))
