"""EWS subscriptions of one mailbox (calendar and tasks in one subscription), with affinity.

Microsoft's "Maintain affinity between a group of subscriptions and the Mailbox server": every
Subscribe of a connection group carries `X-AnchorMailbox` = the group's first mailbox and
`X-PreferServerAffinity: true`; the first answer's `X-BackEndOverrideCookie` goes with the
group's later Subscribe requests and its GetStreamingEvents, which carries the subscriptions of
all the group's mailboxes. exchangelib 5.6.0 sends the account's own address as X-AnchorMailbox
and keeps the cookie per account, so the services here set the headers from the group (the one
place where we change exchangelib's requests for subscriptions).

Pull subscriptions are made without a watermark: exchangelib 5.6.0 sends `m:Watermark` where the
schema wants `t:Watermark`, and after ErrorInvalidWatermark / ErrorExpiredSubscription Microsoft
says to subscribe anew anyway and catch up with SyncFolderItems. `Folder.get_events()` re-sends
its first watermark while MoreEvents is true (it never ends with more than one page), so
`read_events` pages with the GetEvents service and the last event's watermark.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from exchangelib import Account
from exchangelib.folders import DistinguishedFolderId
from exchangelib.properties import FolderId, Mailbox, Notification
from exchangelib.services import (
    GetEvents,
    GetFolder,
    GetStreamingEvents,
    SubscribeToPull,
    SubscribeToStreaming,
    Unsubscribe,
)
from exchangelib.util import MNS, get_xml_attrs

from engine.model import ItemKind

EVENT_TYPES = ["CreatedEvent", "DeletedEvent", "ModifiedEvent", "MovedEvent", "CopiedEvent"]
DISTINGUISHED = {ItemKind.APPOINTMENT: "calendar", ItemKind.TASK: "tasks"}


@dataclass
class Affinity:
    """A connection group's routing: its anchor mailbox and the backend cookie."""

    anchor: str
    cookie: str | None = None


class _WithAffinity:
    """Mixin for exchangelib's account services: the group's affinity headers."""

    affinity: Affinity | None = None
    account: Account

    def _extra_headers(self) -> dict[str, str]:
        headers: dict[str, str] = super()._extra_headers()  # type: ignore[misc]
        if self.affinity is not None:
            headers["X-AnchorMailbox"] = self.affinity.anchor
            headers["X-PreferServerAffinity"] = "True"
            cookie = self.affinity.cookie
            if cookie:
                headers["X-BackEndOverrideCookie"] = cookie
            else:
                headers.pop("X-BackEndOverrideCookie", None)
            # Pooled sessions are shared by all groups, and their cookie jars remember the last
            # group's cookie: an explicit Cookie header keeps it off this group's requests.
            headers["Cookie"] = f"X-BackEndOverrideCookie={cookie}" if cookie else ""
        return headers

    def _handle_response_cookies(self, session: Any) -> None:
        super()._handle_response_cookies(session)  # type: ignore[misc]
        if self.affinity is not None and self.affinity.cookie is None:
            for cookie in session.cookies:
                if cookie.name == "X-BackEndOverrideCookie":
                    self.affinity.cookie = cookie.value
                    break


class _SubscribeToStreaming(_WithAffinity, SubscribeToStreaming):  # type: ignore[misc]
    pass


class _SubscribeToPull(_WithAffinity, SubscribeToPull):  # type: ignore[misc]
    pass


class _GetStreamingEvents(_WithAffinity, GetStreamingEvents):  # type: ignore[misc]
    """Ends the connection after the envelope being read when `stop` is set (the group's
    members changed): at an envelope boundary, so no notification is cut in half."""

    stop: threading.Event | None = None

    def _get_element_container(self, message: Any, name: Any = None) -> Any:
        try:
            result = super()._get_element_container(message, name)
        except Exception as error:
            # exchangelib 5.6.0 only appends ErrorSubscriptionIds to the message: keep them
            # apart, so that the group knows which of its subscriptions failed.
            listed = message.find(f"{{{MNS}}}ErrorSubscriptionIds")
            ids = [] if listed is None else get_xml_attrs(listed, f"{{{MNS}}}SubscriptionId")
            error.failed_subscription_ids = frozenset(ids)  # type: ignore[attr-defined]
            raise
        if self.stop is not None and self.stop.is_set():
            self.connection_status = self.CLOSED  # exchangelib then closes the response
        return result


class _GetEvents(_WithAffinity, GetEvents):  # type: ignore[misc]
    pass


class _Unsubscribe(_WithAffinity, Unsubscribe):  # type: ignore[misc]
    pass


class _FolderIds(GetFolder):  # type: ignore[misc]
    """GetFolder of distinguished folders, answering just their FolderIds."""

    def _elems_to_objs(self, elems: Any) -> Iterator[Any]:
        for elem in elems:
            if isinstance(elem, Exception):
                yield elem
                continue
            yield FolderId.from_xml(elem.find(FolderId.response_tag()), account=None)


@dataclass
class MailboxFolders:
    """A mailbox's watched folders: folder id → kind."""

    kinds: dict[str, ItemKind] = field(default_factory=dict)

    def kind_of(self, *folder_ids: str | None) -> ItemKind | None:
        for folder_id in folder_ids:
            if folder_id is not None and folder_id in self.kinds:
                return self.kinds[folder_id]
        return None


def folder_ids(account: Account, kinds: Sequence[ItemKind]) -> MailboxFolders:
    """One GetFolder for the distinguished folders of `kinds`; raises the first error."""
    requested = [
        DistinguishedFolderId(
            id=DISTINGUISHED[kind], mailbox=Mailbox(email_address=account.primary_smtp_address)
        )
        for kind in kinds
    ]
    found = list(
        _FolderIds(account=account).call(folders=requested, additional_fields=[], shape="IdOnly")
    )
    result = MailboxFolders()
    for kind, folder in zip(kinds, found, strict=True):
        if isinstance(folder, Exception):
            raise folder
        result.kinds[folder.id] = kind
    return result


def _first(results: Iterator[Any]) -> Any:
    [result] = list(results)
    if isinstance(result, Exception):
        raise result
    return result


def _folder_refs(folders: MailboxFolders) -> list[FolderId]:
    return [FolderId(id=folder_id) for folder_id in folders.kinds]


def subscribe_streaming(account: Account, folders: MailboxFolders, affinity: Affinity) -> str:
    service = _SubscribeToStreaming(account=account)
    service.affinity = affinity
    return str(_first(service.call(folders=_folder_refs(folders), event_types=EVENT_TYPES)))


def subscribe_pull(
    account: Account, folders: MailboxFolders, timeout_min: int, affinity: Affinity
) -> tuple[str, str]:
    service = _SubscribeToPull(account=account)
    service.affinity = affinity
    subscription_id, watermark = _first(
        service.call(
            folders=_folder_refs(folders),
            event_types=EVENT_TYPES,
            watermark=None,  # see the module docstring: never resubscribe with a watermark
            timeout=timeout_min,
        )
    )
    return str(subscription_id), str(watermark)


def unsubscribe(account: Account, subscription_id: str, affinity: Affinity | None) -> None:
    service = _Unsubscribe(account=account)
    service.affinity = affinity
    _first(service.call(subscription_id=subscription_id))


def read_events(
    account: Account, subscription_id: str, watermark: str, affinity: Affinity
) -> tuple[list[Any], str]:
    """All events after `watermark`, page by page; and the watermark to poll from next."""
    events: list[Any] = []
    while True:
        service = _GetEvents(account=account)
        service.affinity = affinity
        notification: Notification = _first(
            service.call(subscription_id=subscription_id, watermark=watermark)
        )
        for event in notification.events:
            if getattr(event, "watermark", None):
                watermark = event.watermark
            if type(event).__name__ != "StatusEvent":
                events.append(event)
        if not notification.more_events:
            return events, watermark


def stream_events(
    account: Account,
    subscription_ids: Sequence[str],
    connection_timeout_min: int,
    affinity: Affinity,
    stop: threading.Event,
) -> Iterator[Notification]:
    """One GetStreamingEvents connection over a group's subscriptions, notification by
    notification; ends when the server closes it (ConnectionTimeout) or after the envelope
    that arrives once `stop` is set."""
    service = _GetStreamingEvents(account=account)
    service.affinity = affinity
    service.stop = stop
    for result in service.call(
        subscription_ids=list(subscription_ids), connection_timeout=connection_timeout_min
    ):
        if isinstance(result, Exception):
            raise result
        yield result


def failed_subscription_ids(error: BaseException) -> frozenset[str]:
    """The subscriptions a GetStreamingEvents error names as failed (empty: not said)."""
    ids: object = getattr(error, "failed_subscription_ids", None)
    return ids if isinstance(ids, frozenset) else frozenset()
