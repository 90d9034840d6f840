"""Injected faults surface as the exchangelib errors a real Exchange server would cause.

exchangelib's default retry policy is FailFast, so faults are raised instead of retried.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
import requests
from exchangelib import Account, CalendarItem
from exchangelib.errors import (
    ErrorExpiredSubscription,
    ErrorImpersonateUserDenied,
    ErrorInvalidSyncStateData,
    ErrorInvalidWatermark,
    ErrorServerBusy,
    ErrorTimeoutExpired,
)
from exchangelib.protocol import BaseProtocol

from sim.faults import Delay, DropStream, HttpStatus, ResponseError, ServerBusy
from sim.model import CalendarFields
from sim.server import EwsServer
from sim.store import MailboxStore
from tests.sim.support import ALICE, BOB, AccountFactory


def an_item(store: MailboxStore) -> str:
    start = dt.datetime(2026, 3, 10, 9, tzinfo=dt.UTC)
    fields = CalendarFields(subject="x", start=start, end=start + dt.timedelta(hours=1))
    return store.create_calendar_item(ALICE, fields).item_id


def test_server_busy_carries_the_back_off(
    alice: Account, server: EwsServer, store: MailboxStore
) -> None:
    item_id = an_item(store)
    _ = alice.calendar
    server.faults.add(ServerBusy(back_off_ms=1500), operation="GetItem", times=1)

    with pytest.raises(ErrorServerBusy) as busy:
        alice.calendar.get(id=item_id)

    assert busy.value.back_off == 1.5
    assert alice.calendar.get(id=item_id).subject == "x"  # the fault fired once only


@pytest.mark.parametrize("status", [500, 503])
def test_http_errors_are_transient_server_errors(
    alice: Account, server: EwsServer, status: int
) -> None:
    server.faults.add(HttpStatus(status), operation="GetFolder")

    # exchangelib maps both to ErrorInternalServerTransientError and, failing fast, re-raises
    # that as ErrorServerBusy.
    with pytest.raises(ErrorServerBusy, match="ErrorInternalServerTransientError"):
        _ = alice.calendar

    assert server.requests[-1].status == status


def test_slow_response_within_the_timeout_succeeds(alice: Account, server: EwsServer) -> None:
    server.faults.add(Delay(0.3), operation="GetFolder")
    started = time.monotonic()

    assert alice.calendar.name == "Calendar"
    assert time.monotonic() - started >= 0.3


def test_response_slower_than_the_client_timeout_is_timeout_expired(
    alice: Account, server: EwsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(BaseProtocol, "TIMEOUT", 0.3)
    server.faults.add(Delay(1.0), operation="GetFolder")

    with pytest.raises(ErrorTimeoutExpired):
        _ = alice.calendar


def test_streaming_connection_dropped_mid_body(
    alice: Account, server: EwsServer, store: MailboxStore
) -> None:
    subscription_id = alice.calendar.subscribe_to_streaming()
    an_item(store)
    server.faults.add(DropStream(after_envelopes=1), operation="GetStreamingEvents")
    received = []

    # exchangelib does not wrap this: requests reports the truncated chunked body itself.
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        for notification in alice.calendar.get_streaming_events(
            subscription_id, connection_timeout=1
        ):
            received.append(notification)

    assert len(received) == 1


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("ErrorExpiredSubscription", ErrorExpiredSubscription),
        ("ErrorInvalidWatermark", ErrorInvalidWatermark),
    ],
)
def test_get_events_errors(
    alice: Account, server: EwsServer, code: str, error: type[Exception]
) -> None:
    subscription_id, watermark = alice.calendar.subscribe_to_pull()
    server.faults.add(ResponseError(code), operation="GetEvents")

    with pytest.raises(error):
        list(alice.calendar.get_events(subscription_id, watermark))


def test_streaming_error_response(alice: Account, server: EwsServer) -> None:
    subscription_id = alice.calendar.subscribe_to_streaming()
    server.faults.add(ResponseError("ErrorExpiredSubscription"), operation="GetStreamingEvents")

    with pytest.raises(ErrorExpiredSubscription):
        list(alice.calendar.get_streaming_events(subscription_id, connection_timeout=1))


def test_streaming_subscription_expiring_while_connected_ends_the_stream(
    alice: Account, store: MailboxStore
) -> None:
    subscription_id = alice.calendar.subscribe_to_streaming()
    an_item(store)

    with pytest.raises(ErrorExpiredSubscription):
        for _ in alice.calendar.get_streaming_events(subscription_id, connection_timeout=1):
            store.expire_subscription(subscription_id)


def test_sync_folder_items_invalid_sync_state(alice: Account, server: EwsServer) -> None:
    server.faults.add(ResponseError("ErrorInvalidSyncStateData"), operation="SyncFolderItems")

    with pytest.raises(ErrorInvalidSyncStateData):
        list(alice.calendar.sync_items(only_fields=[]))


def test_faults_can_target_one_mailbox(account_for: AccountFactory, server: EwsServer) -> None:
    server.faults.add(ServerBusy(), mailbox=BOB, times=None)

    assert account_for(ALICE).calendar.name == "Calendar"
    with pytest.raises(ErrorServerBusy):
        _ = account_for(BOB).calendar
    with pytest.raises(ErrorServerBusy):
        _ = account_for(BOB).tasks


def test_exchangelib_create_fails_busy_and_nothing_is_stored(
    alice: Account, server: EwsServer, store: MailboxStore
) -> None:
    calendar = alice.calendar
    server.faults.add(ServerBusy(), operation="CreateItem")
    start = dt.datetime(2026, 3, 10, 9, tzinfo=dt.UTC)

    with pytest.raises(ErrorServerBusy):
        CalendarItem(account=alice, folder=calendar, subject="y", start=start, end=start).save()

    assert store.list_items(ALICE) == []


@pytest.mark.parametrize("operation", ["GetItem", "CreateItem", "UpdateItem"])
def test_an_injected_response_error_answers_by_the_schema(
    alice: Account, server: EwsServer, store: MailboxStore, operation: str
) -> None:
    """A whole request refused (a mailbox denied) still carries the empty Items the schema
    requires of GetItem, CreateItem and UpdateItem answers, as Exchange's do."""
    item_id = an_item(store)
    item = alice.calendar.get(id=item_id)
    server.faults.add(ResponseError("ErrorImpersonateUserDenied"), operation=operation)
    start = dt.datetime(2026, 3, 11, 9, tzinfo=dt.UTC)

    with pytest.raises(ErrorImpersonateUserDenied):
        if operation == "GetItem":
            alice.calendar.get(id=item_id)
        elif operation == "CreateItem":
            CalendarItem(
                account=alice,
                folder=alice.calendar,
                subject="y",
                start=start,
                end=start + dt.timedelta(hours=1),
            ).save()
        else:
            item.subject = "z"
            item.save(update_fields=["subject"])

    assert server.take_violations() == []
