"""Stopping the simulator: requests in flight finish, and are checked, before `stop` returns."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
import requests

from sim.envelope import MESSAGES_NS, Element
from sim.faults import Delay
from sim.schema import SchemaViolation
from sim.server import EwsServer, ServerConfig
from sim.store import MailboxStore
from tests.sim.support import ADMIN, ALICE, envelope, impersonating


def wait_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def get_streaming_events(server: EwsServer, subscription_id: str) -> requests.Response:
    body = (
        "<m:GetStreamingEvents><m:SubscriptionIds>"
        f"<t:SubscriptionId>{subscription_id}</t:SubscriptionId>"
        "</m:SubscriptionIds><m:ConnectionTimeout>30</m:ConnectionTimeout></m:GetStreamingEvents>"
    )
    return requests.post(
        server.url,
        data=envelope(body, impersonating(ALICE)),
        auth=(ADMIN.username, ADMIN.password),
        headers={"X-AnchorMailbox": ALICE},
        timeout=30,
    )


def test_a_stream_open_at_stop_has_its_closing_envelope_checked_before_stop_returns(
    store: MailboxStore, server_config: ServerConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = EwsServer(store, server_config).start()
    subscription_id = store.subscribe_streaming(ALICE, None, ["CreatedEvent"])
    checked_closing = threading.Event()
    check = server._check

    def slow_check(envelope: Element, direction: str, operation: str) -> list[SchemaViolation]:
        status = envelope.findtext(f".//{{{MESSAGES_NS}}}ConnectionStatus")
        if status == "Closed":
            time.sleep(0.3)  # a slow check of the stream's last envelope, which stop must await
            checked_closing.set()
        return check(envelope, direction, operation)

    monkeypatch.setattr(server, "_check", slow_check)
    answers: list[requests.Response] = []
    client = threading.Thread(
        target=lambda: answers.append(get_streaming_events(server, subscription_id))
    )
    client.start()
    wait_until(lambda: any(r.operation == "GetStreamingEvents" for r in server.requests))

    server.stop()

    assert checked_closing.is_set()
    assert server.violations == []
    client.join(timeout=10)
    assert b"Closed" in answers[0].content


def test_a_delayed_answer_does_not_hold_up_stop(
    store: MailboxStore, server_config: ServerConfig
) -> None:
    server = EwsServer(store, server_config).start()
    server.faults.add(Delay(60), operation="GetFolder")
    body = (
        "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>"
        '<m:FolderIds><t:DistinguishedFolderId Id="calendar"/></m:FolderIds></m:GetFolder>'
    )
    client = threading.Thread(
        target=lambda: requests.post(
            server.url,
            data=envelope(body, impersonating(ALICE)),
            auth=(ADMIN.username, ADMIN.password),
            headers={"X-AnchorMailbox": ALICE},
            timeout=30,
        )
    )
    client.start()
    wait_until(lambda: server.in_flight == 1)
    started = time.monotonic()

    server.stop()

    assert time.monotonic() - started < 5
    assert server.in_flight == 0
    client.join(timeout=10)
