"""`/healthz` and `/metrics` of the running engine (issue 11), over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from service.health import HealthServer, Metrics


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def served() -> Iterator[tuple[HealthServer, Clock]]:
    clock = Clock()
    server = HealthServer(Metrics(), stale_after_s=30, clock=clock).start()
    try:
        yield server, clock
    finally:
        server.stop()


def test_healthz_is_503_until_a_round_completes_and_again_when_the_loop_stalls(
    served: tuple[HealthServer, Clock],
) -> None:
    server, clock = served
    starting = requests.get(f"{server.url}/healthz", timeout=5)
    assert starting.status_code == 503 and starting.json()["status"] == "starting"
    server.metrics.round_done(at=clock.now - 5)
    ok = requests.get(f"{server.url}/healthz", timeout=5)
    assert ok.status_code == 200
    assert ok.json() == {"status": "ok", "last_round_age_s": 5.0}
    clock.now += 60
    stalled = requests.get(f"{server.url}/healthz", timeout=5)
    assert stalled.status_code == 503 and stalled.json()["status"] == "stalled"


def test_metrics_are_prometheus_text_with_the_engine_figures(
    served: tuple[HealthServer, Clock],
) -> None:
    server, _ = served
    m = server.metrics
    m.queue_depth.set(7)
    m.transfers.labels(direction="export", reason="CREATED_IN_ERP").inc(3)
    m.failures.labels(reason="FIELD_TOO_LONG").inc()
    m.subscriptions_alive.set(12)
    text = requests.get(f"{server.url}/metrics", timeout=5).text
    assert "einklang_queue_depth 7.0" in text
    assert 'einklang_transfers_total{direction="export",reason="CREATED_IN_ERP"} 3.0' in text
    assert 'einklang_failures_total{reason="FIELD_TOO_LONG"} 1.0' in text
    assert "einklang_subscriptions_alive 12.0" in text


def test_two_engines_in_one_process_keep_their_own_figures() -> None:
    a, b = Metrics(), Metrics()
    a.queue_depth.set(1)
    b.queue_depth.set(2)
    assert a.registry.get_sample_value("einklang_queue_depth") == 1
    assert b.registry.get_sample_value("einklang_queue_depth") == 2
