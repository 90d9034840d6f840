"""Pull and streaming subscriptions, by mailbox address and folder name: the store resolves
them and hands over to its `NotificationHub` (`sim.events`), which shares its lock.
"""

from __future__ import annotations

from collections.abc import Sequence

from sim.events import EventType, Notification, StreamHandle
from sim.store.mailboxes import StorePartMailboxes
from sim.store.records import MailboxRecord


class StorePartSubscriptions(StorePartMailboxes):
    """Subscriptions by mailbox address and folder names, kept by the hub."""

    def _folder_ids(
        self, mailbox: MailboxRecord, folders: Sequence[str] | None
    ) -> list[str] | None:
        if folders is None:
            return None
        return [self._folder(mailbox, folder).folder_id for folder in folders]

    def subscribe_pull(
        self,
        mailbox: str,
        folders: Sequence[str] | None,
        event_types: Sequence[EventType | str],
        timeout_minutes: int = 30,
        watermark: str | None = None,
        owner: str | None = None,
    ) -> tuple[str, str]:
        """A pull subscription on `folders` (None: all folders); returns (id, watermark)."""
        with self._lock:
            box = self._mailbox(mailbox)
            return self.notifications.subscribe_pull(
                box.number,
                self._folder_ids(box, folders),
                [EventType(kind) for kind in event_types],
                timeout_minutes,
                watermark,
                owner,
            )

    def subscribe_streaming(
        self,
        mailbox: str,
        folders: Sequence[str] | None,
        event_types: Sequence[EventType | str],
        owner: str | None = None,
    ) -> str:
        with self._lock:
            box = self._mailbox(mailbox)
            return self.notifications.subscribe_streaming(
                box.number,
                self._folder_ids(box, folders),
                [EventType(kind) for kind in event_types],
                owner,
            )

    def get_events(
        self, mailbox: str, subscription_id: str, watermark: str, owner: str | None = None
    ) -> Notification:
        with self._lock:
            box = self._mailbox(mailbox)
            return self.notifications.get_events(box.number, subscription_id, watermark, owner)

    def unsubscribe(self, mailbox: str, subscription_id: str, owner: str | None = None) -> None:
        with self._lock:
            box = self._mailbox(mailbox)
            self.notifications.unsubscribe(box.number, subscription_id, owner)

    def expire_subscription(self, subscription_id: str) -> None:
        """Test hook: the server forgets a subscription as if it had timed out."""
        with self._lock:
            self.notifications.expire(subscription_id)

    def open_stream(
        self, mailbox: str, subscription_ids: Sequence[str], owner: str | None = None
    ) -> StreamHandle:
        with self._lock:
            box = self._mailbox(mailbox)
            return self.notifications.open_stream(box.number, subscription_ids, owner)

    def take_streamed(self, handle: StreamHandle) -> tuple[list[Notification], int]:
        """New events for an open stream (pending until `confirm_streamed`), and the generation
        to wait from."""
        with self._lock:
            return self.notifications.take_streamed(handle)

    def confirm_streamed(self, handle: StreamHandle) -> None:
        """The events last taken for `handle` reached its client (until then they stay pending)."""
        with self._lock:
            self.notifications.confirm_streamed(handle)

    def wait_for_events(self, timeout: float, since: int) -> None:
        """Block until the store publishes an event after generation `since` (or is woken),
        at most `timeout` seconds."""
        with self._lock:
            self.notifications.wait(timeout, since)

    def close_stream(self, handle: StreamHandle) -> None:
        with self._lock:
            self.notifications.close_stream(handle)

    def wake_streams(self) -> None:
        with self._lock:
            self.notifications.wake()
