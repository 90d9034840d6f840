"""$batch, throttling (429 + Retry-After), 503, injected 401s, the concurrency limit of 4 per
app and mailbox, and the error envelope (checked against the strict schema by the fixture)."""

from __future__ import annotations

import threading
import time
from typing import Any

from sim.graph.context import GraphSettings
from sim.graph.faults import Delay, Failure, Throttled, TokenRejected, Unavailable
from sim.server import EwsServer
from sim.tls import TlsFiles
from tests.graph_sim.support import Graph
from tests.sim.support import ALICE, BOB

EVENTS = f"/users/{ALICE}/events"


def event(subject: str) -> dict[str, Any]:
    return {
        "subject": subject,
        "start": {"dateTime": "2026-03-10T09:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-03-10T10:00:00", "timeZone": "UTC"},
    }


def faults(server: EwsServer) -> Any:
    assert server.graph is not None
    return server.graph.faults


def test_r20_batch_runs_requests_in_dependency_order_and_fails_dependents(graph: Graph) -> None:
    requests = [
        {"id": "1", "method": "POST", "url": f"/users/{ALICE}/events", "body": event("eins"),
         "headers": {"Content-Type": "application/json"}},
        {"id": "2", "method": "POST", "url": f"/users/{BOB}/events", "body": event("zwei"),
         "dependsOn": ["1"], "headers": {"Content-Type": "application/json"}},
        {"id": "3", "method": "GET", "url": "/users/nobody@example.com/events"},
        {"id": "4", "method": "GET", "url": f"/users/{ALICE}/events?$top=5", "dependsOn": ["3"]},
    ]  # fmt: skip
    answer = graph.ok(graph.post("/$batch", {"requests": requests}))
    by_id = {r["id"]: r for r in answer["responses"]}
    assert (by_id["1"]["status"], by_id["2"]["status"]) == (201, 201)
    assert by_id["2"]["body"]["subject"] == "zwei"
    assert by_id["3"]["status"] == 404 and by_id["3"]["body"]["error"]["code"] == "ErrorInvalidUser"
    assert by_id["4"]["status"] == 424
    assert [e["subject"] for e in graph.ok(graph.get(EVENTS))["value"]] == ["eins"]


def test_r20_batch_limits_and_bad_dependencies_are_400(graph: Graph) -> None:
    too_many = [{"id": str(n), "method": "GET", "url": f"/users/{ALICE}/events"} for n in range(21)]
    assert graph.post("/$batch", {"requests": too_many}).status_code == 400
    circular = [
        {"id": "a", "method": "GET", "url": "/users/x/events", "dependsOn": ["b"]},
        {"id": "b", "method": "GET", "url": "/users/x/events", "dependsOn": ["a"]},
    ]
    assert graph.post("/$batch", {"requests": circular}).status_code == 400
    twice = [{"id": "a", "method": "GET", "url": "/u"}, {"id": "a", "method": "GET", "url": "/u"}]
    assert graph.post("/$batch", {"requests": twice}).status_code == 400


def test_r20_throttled_request_is_429_with_integer_retry_after_also_inside_a_batch(
    graph: Graph, graph_server: EwsServer
) -> None:
    faults(graph_server).add(Throttled(retry_after=3), operation="events.list", times=2)
    throttled = graph.get(EVENTS)
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "3"
    error = throttled.json()["error"]
    assert error["code"] == "TooManyRequests" and error["innerError"]["status"] == "429"
    batch = graph.ok(
        graph.post("/$batch", {"requests": [{"id": "1", "method": "GET", "url": EVENTS}]})
    )
    [inner] = batch["responses"]
    assert inner["status"] == 429 and inner["headers"]["Retry-After"] == "3"
    assert graph.get(EVENTS).status_code == 200  # the fault fired twice, then it is over
    assert faults(graph_server).pending() == []


def test_r20_unavailable_token_rejected_and_other_failures_are_injectable_per_mailbox(
    graph: Graph, graph_server: EwsServer
) -> None:
    faults(graph_server).add(Unavailable(retry_after=2), mailbox=BOB)
    faults(graph_server).add(TokenRejected(), operation="events.create", mailbox=ALICE)
    faults(graph_server).add(Failure(500, "generalException"), operation="todo.lists")
    assert graph.get(EVENTS).status_code == 200
    unavailable = graph.get(f"/users/{BOB}/events")
    assert unavailable.status_code == 503 and unavailable.headers["Retry-After"] == "2"
    assert graph.post(EVENTS, event("x")).status_code == 401
    assert graph.get(f"/users/{ALICE}/todo/lists").json()["error"]["code"] == "generalException"
    assert graph.post(EVENTS, event("x")).status_code == 201
    assert graph_server.graph is not None
    records = [(r.operation, r.mailbox, r.status, r.code) for r in graph_server.graph.requests]
    assert records == [
        ("events.list", ALICE, 200, None),
        ("events.list", BOB, 503, "serviceNotAvailable"),
        ("events.create", ALICE, 401, "InvalidAuthenticationToken"),
        ("todo.lists", ALICE, 500, "generalException"),
        ("events.create", ALICE, 201, None),
    ]


def test_r20_more_than_four_concurrent_requests_per_app_and_mailbox_are_429(
    graph: Graph, graph_server: EwsServer, graph_settings: GraphSettings, graph_tls: TlsFiles
) -> None:
    assert graph_settings.mailbox_concurrency == 4
    faults(graph_server).add(Delay(1.0), operation="events.list", times=4)
    statuses: list[int] = []

    def slow_call() -> None:
        client = Graph(graph_server, graph_tls.certificate, graph.token)
        statuses.append(client.get(EVENTS).status_code)
        client.close()

    slow = [threading.Thread(target=slow_call) for _ in range(4)]
    for thread in slow:
        thread.start()
    deadline = time.monotonic() + 5
    while faults(graph_server).pending() and time.monotonic() < deadline:
        time.sleep(0.01)  # all four are inside the server, holding their places
    fifth = graph.get(EVENTS)
    other_mailbox = graph.get(f"/users/{BOB}/events")
    for thread in slow:
        thread.join()
    assert fifth.status_code == 429, fifth.text
    assert "MailboxConcurrency" in fifth.json()["error"]["message"]
    assert fifth.headers["Retry-After"] == "1"
    assert statuses == [200, 200, 200, 200]
    assert other_mailbox.status_code == 200
    assert graph.get(EVENTS).status_code == 200


def test_r20_malformed_json_and_wrong_methods_get_the_error_envelope(graph: Graph) -> None:
    broken = graph.request(
        "POST", EVENTS, content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "BadRequest"
    wrong = graph.request("PUT", EVENTS, json=event("x"))
    assert wrong.status_code == 405 and "error" in wrong.json()
