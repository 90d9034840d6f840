"""The Graph adapter against the simulator's Graph side: throttling and token renewal."""

from __future__ import annotations

from pathlib import Path

from engine.model import ItemKind
from sim.graph.faults import Throttled
from tests.exchange.graph_outlook import graph_outlook
from tests.exchange.support import MAILBOX, USER, read_all
from tests.exchange.test_port_conformance import KICKOFF
from tests.harness import Clock


def test_r20_graph_throttling_429_is_retried_after_retry_after(
    clock: Clock, tmp_path: Path
) -> None:
    with graph_outlook(clock, tmp_path) as exchange:
        item_id = exchange.create(MAILBOX, KICKOFF)
        assert exchange.server.graph is not None
        exchange.server.graph.faults.add(Throttled(retry_after=1), operation="calendarView.delta")
        observations, _, _ = read_all(exchange, ItemKind.APPOINTMENT, None)
        assert [o.native_id for o in observations] == [item_id]
        assert exchange.client.retries == 1


def test_r20_graph_token_expiry_mid_run_is_renewed_by_msal(clock: Clock, tmp_path: Path) -> None:
    with graph_outlook(clock, tmp_path) as exchange:
        assert exchange.check_mailbox(USER).reachable
        asked = exchange.client.tokens.requests
        clock.advance(seconds=2 * 3600)  # the simulator's tokens last 60 minutes
        assert exchange.check_mailbox(USER).reachable
        assert exchange.client.tokens.requests == asked + 1
