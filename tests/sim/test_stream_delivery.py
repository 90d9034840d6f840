"""A streamed notification counts as delivered only when written to a client still connected."""

from __future__ import annotations

import base64
import datetime as dt
import socket
import time
from urllib.parse import urlsplit

import requests

from sim.model import CalendarFields
from sim.server import EwsServer
from sim.store import MailboxStore
from tests.sim.support import ADMIN, ALICE, envelope, impersonating

BASIC = "Basic " + base64.b64encode(f"{ADMIN.username}:{ADMIN.password}".encode()).decode()


def streaming_request(subscription_id: str, minutes: int) -> bytes:
    return envelope(
        "<m:GetStreamingEvents><m:SubscriptionIds>"
        f"<t:SubscriptionId>{subscription_id}</t:SubscriptionId></m:SubscriptionIds>"
        f"<m:ConnectionTimeout>{minutes}</m:ConnectionTimeout></m:GetStreamingEvents>",
        impersonating(ALICE),
    )


def created_items(server: EwsServer, subscription_id: str) -> list[str]:
    """Item ids of the CreatedEvents one whole (one-"minute") streaming connection receives."""
    response = requests.post(
        server.url,
        data=streaming_request(subscription_id, 1),
        auth=(ADMIN.username, ADMIN.password),
        timeout=30,
    )
    assert response.status_code == 200
    text = response.content.decode()
    return [
        part.split('Id="', 1)[1].split('"', 1)[0] for part in text.split("<t:CreatedEvent>")[1:]
    ]


def wait_until_idle(server: EwsServer) -> None:
    deadline = time.monotonic() + 10
    while server.in_flight:
        assert time.monotonic() < deadline, "the abandoned stream did not end"
        time.sleep(0.01)


def test_a_notification_for_a_client_that_has_gone_goes_to_the_next_connection(
    server: EwsServer, store: MailboxStore
) -> None:
    subscription_id = store.subscribe_streaming(ALICE, None, ["CreatedEvent"])
    parts = urlsplit(server.url)
    body = streaming_request(subscription_id, 30)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as client:
        client.sendall(
            (
                f"POST {parts.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: {BASIC}\r\n"
                f"Content-Type: text/xml; charset=utf-8\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
        )
        assert client.recv(4096).startswith(b"HTTP/1.1 200")  # the stream is open
    # The client has gone; the event happens while its connection may still be open.
    start = dt.datetime(2026, 3, 10, 9, tzinfo=dt.UTC)
    fields = CalendarFields(subject="missed?", start=start, end=start + dt.timedelta(hours=1))
    item_id = store.create_calendar_item(ALICE, fields).item_id
    wait_until_idle(server)

    assert created_items(server, subscription_id) == [item_id]
    assert created_items(server, subscription_id) == []  # delivered once, not again


def test_a_stream_ending_for_a_removed_subscription_names_only_that_one(
    server: EwsServer, store: MailboxStore
) -> None:
    """ErrorSubscriptionIds: "a list of subscription IDs that are invalid" — not the others of
    the connection, which are still there."""
    kept = store.subscribe_streaming(ALICE, None, ["CreatedEvent"])
    removed = store.subscribe_streaming(ALICE, None, ["CreatedEvent"])
    body = envelope(
        "<m:GetStreamingEvents><m:SubscriptionIds>"
        f"<t:SubscriptionId>{kept}</t:SubscriptionId><t:SubscriptionId>{removed}</t:SubscriptionId>"
        "</m:SubscriptionIds><m:ConnectionTimeout>1</m:ConnectionTimeout></m:GetStreamingEvents>",
        impersonating(ALICE),
    )
    with requests.post(
        server.url, data=body, auth=(ADMIN.username, ADMIN.password), timeout=30, stream=True
    ) as response:
        assert response.status_code == 200  # the stream is open
        store.unsubscribe(ALICE, removed)
        text = response.content.decode()

    assert "ErrorSubscriptionNotFound" in text
    listed = text.split("<m:ErrorSubscriptionIds>", 1)[1].split("</m:ErrorSubscriptionIds>")[0]
    assert removed in listed and kept not in listed
