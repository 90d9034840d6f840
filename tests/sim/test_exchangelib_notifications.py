"""Pull and streaming subscriptions through the real exchangelib, fed by "Outlook" changes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol

import pytest
import requests
from exchangelib import Account
from exchangelib.errors import (
    ErrorExpiredSubscription,
    ErrorInvalidWatermark,
    ErrorSchemaValidation,
    ErrorSubscriptionNotFound,
)
from exchangelib.properties import (
    CreatedEvent,
    DeletedEvent,
    ModifiedEvent,
    MovedEvent,
    StatusEvent,
)
from exchangelib.services import GetEvents

from sim.clock import ManualClock
from sim.errors import EwsError
from sim.model import CalendarFields, TaskFields
from sim.server import EwsServer
from sim.store import MailboxStore
from tests.sim.support import ADMIN, ALICE, AccountFactory


def appointment(subject: str, day: int = 10) -> CalendarFields:
    start = dt.datetime(2026, 3, day, 9, tzinfo=dt.UTC)
    return CalendarFields(subject=subject, start=start, end=start + dt.timedelta(hours=1))


class ItemIdLike(Protocol):
    id: str


class ItemEvent(Protocol):
    """What these tests read of exchangelib's notification events (it has no type information)."""

    item_id: ItemIdLike


def kinds_and_ids(events: Sequence[ItemEvent]) -> list[tuple[str, str]]:
    return [(type(event).__name__, event.item_id.id) for event in events]


def test_pull_subscription_delivers_created_modified_deleted(
    alice: Account, store: MailboxStore
) -> None:
    subscription_id, watermark = alice.calendar.subscribe_to_pull()
    first = store.create_calendar_item(ALICE, appointment("first")).item_id
    store.update_item(first, subject="first, edited")
    second = store.create_calendar_item(ALICE, appointment("second")).item_id
    store.delete_item(first)
    store.create_task(ALICE, TaskFields(subject="not in the calendar"))

    notifications = list(alice.calendar.get_events(subscription_id, watermark))
    events = [event for notification in notifications for event in notification.events]

    assert kinds_and_ids(events) == [
        ("CreatedEvent", first),
        ("ModifiedEvent", first),
        ("CreatedEvent", second),
        ("DeletedEvent", first),
    ]
    assert notifications[0].previous_watermark == watermark
    [quiet] = list(alice.calendar.get_events(subscription_id, events[-1].watermark))
    assert [type(event) for event in quiet.events] == [StatusEvent]


def test_get_events_pages_with_more_events(alice: Account, store: MailboxStore) -> None:
    subscription_id, watermark = alice.calendar.subscribe_to_pull()
    for number in range(store.notifications.settings.max_events_per_get + 5):
        store.create_calendar_item(ALICE, appointment(f"item {number}"))
    # Folder.get_events() would loop forever here: it re-sends the first watermark on every
    # call while MoreEvents is true. Clients must page with the last event's watermark.
    service = GetEvents(account=alice)

    first = service.get(subscription_id=subscription_id, watermark=watermark)
    second = service.get(subscription_id=subscription_id, watermark=first.events[-1].watermark)

    assert (first.more_events, len(first.events)) == (True, 50)
    assert (second.more_events, len(second.events)) == (False, 5)


def test_move_to_deleted_items_is_a_moved_event(alice: Account, store: MailboxStore) -> None:
    item_id = store.create_calendar_item(ALICE, appointment("to trash")).item_id
    subscription_id, watermark = alice.calendar.subscribe_to_pull()
    alice.calendar.get(id=item_id).move_to_trash()

    [notification] = list(alice.calendar.get_events(subscription_id, watermark))

    [moved] = notification.events
    assert isinstance(moved, MovedEvent) and moved.old_item_id.id == item_id
    assert moved.old_parent_folder_id.id == alice.calendar.id


def test_unsubscribed_pull_subscription_is_gone(alice: Account) -> None:
    subscription_id, watermark = alice.calendar.subscribe_to_pull()
    alice.calendar.unsubscribe(subscription_id)

    with pytest.raises(ErrorSubscriptionNotFound):
        list(alice.calendar.get_events(subscription_id, watermark))


def test_pull_subscription_expires_when_not_polled_within_its_timeout(
    alice: Account, clock: ManualClock
) -> None:
    subscription_id, watermark = alice.calendar.subscribe_to_pull(timeout=5)
    list(alice.calendar.get_events(subscription_id, watermark))
    clock.advance(dt.timedelta(minutes=6))

    with pytest.raises(ErrorExpiredSubscription):
        list(alice.calendar.get_events(subscription_id, watermark))


def test_exchangelib_resubscribing_with_a_watermark_fails_schema_validation(
    alice: Account, server: EwsServer
) -> None:
    _, watermark = alice.calendar.subscribe_to_pull()

    # exchangelib 5.6 sends m:Watermark where the schema (and Exchange) want t:Watermark.
    with pytest.raises(ErrorSchemaValidation):
        alice.calendar.subscribe_to_pull(watermark=watermark)

    [violation] = server.take_violations()
    assert violation.operation == "Subscribe" and "Watermark" in str(violation)


def test_resubscribing_with_an_old_watermark_replays_events_until_it_expires(
    alice: Account, store: MailboxStore, clock: ManualClock
) -> None:
    _, watermark = alice.calendar.subscribe_to_pull()
    item_id = store.create_calendar_item(ALICE, appointment("while away")).item_id

    resumed_id, resumed_watermark = store.subscribe_pull(
        ALICE, [alice.calendar.id], ["CreatedEvent"], watermark=watermark
    )
    [notification] = list(alice.calendar.get_events(resumed_id, resumed_watermark))
    assert kinds_and_ids(notification.events) == [("CreatedEvent", item_id)]

    clock.advance(dt.timedelta(days=31))
    with pytest.raises(EwsError) as expired:
        store.subscribe_pull(ALICE, [alice.calendar.id], ["CreatedEvent"], watermark=watermark)
    assert expired.value.code == ErrorInvalidWatermark.__name__


def test_streaming_delivers_events_as_they_happen_while_other_requests_are_served(
    alice: Account, account_for: AccountFactory, store: MailboxStore
) -> None:
    subscription_id = alice.calendar.subscribe_to_streaming()
    item_id = store.create_calendar_item(ALICE, appointment("streamed")).item_id
    other_client = account_for(ALICE)
    received: list[ItemEvent] = []
    answered_during_stream = None

    for notification in alice.calendar.get_streaming_events(subscription_id, connection_timeout=1):
        received.extend(notification.events)
        if len(received) == 1:
            # The connection is open and blocking; the server must still answer other requests.
            answered_during_stream = other_client.calendar.get(id=item_id).subject
            store.update_item(item_id, subject="streamed, edited")
        elif len(received) == 2:
            store.delete_item(item_id)

    assert [type(event) for event in received] == [CreatedEvent, ModifiedEvent, DeletedEvent]
    assert {event.item_id.id for event in received} == {item_id}
    assert answered_during_stream == "streamed"


def test_streaming_body_is_several_envelopes_ending_with_connection_closed(
    alice: Account, server: EwsServer, store: MailboxStore
) -> None:
    subscription_id = alice.calendar.subscribe_to_streaming()
    store.create_calendar_item(ALICE, appointment("one"))
    body = f"""<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"
  xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"
  xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
  <s:Header><t:RequestServerVersion Version="Exchange2016"/>
    <t:ExchangeImpersonation><t:ConnectingSID><t:SmtpAddress>{ALICE}</t:SmtpAddress>
    </t:ConnectingSID></t:ExchangeImpersonation></s:Header>
  <s:Body><m:GetStreamingEvents><m:SubscriptionIds><t:SubscriptionId>{subscription_id}</t:SubscriptionId>
  </m:SubscriptionIds><m:ConnectionTimeout>1</m:ConnectionTimeout></m:GetStreamingEvents></s:Body>
</s:Envelope>"""

    response = requests.post(
        server.url, data=body.encode(), auth=(ADMIN.username, ADMIN.password), timeout=30
    )
    envelopes = response.content.count(b"</s:Envelope>")

    assert response.headers["Transfer-Encoding"] == "chunked"
    # The notification, at least one keep-alive (0.2 s heartbeat in a 0.6 s "minute"), Closed.
    assert envelopes >= 3
    assert response.content.count(b"<m:ConnectionStatus>OK</m:ConnectionStatus>") == envelopes - 1
    assert response.content.rstrip().endswith(b"</s:Envelope>")
    assert (
        b"<m:ConnectionStatus>Closed</m:ConnectionStatus>"
        in response.content.rsplit(b"<?xml", 1)[-1]
    )
