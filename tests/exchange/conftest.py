"""Fixtures for the Exchange port tests: every Exchange adapter, held to the same contract.

`exchange` is the port as the engine sees it, once over the simulator's mailbox store called
directly (`store`, the double the engine tests use), once as `EwsExchange` over real HTTP
with exchangelib against an in-process simulator (`ews`), and once as `GraphExchange` over
HTTP/2 with httpx and msal against the same simulator's Graph side (`graph`). `port` is the store's port alone, for
what only it can show (Windows time zones, EWS errors as the store raises them).

`ews_harness` / `ews_world` run the whole engine against EWS over HTTP, or Graph (the engine
acceptance tests of test_ews_engine.py and test_ews_moves.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest

from tests.doubles.mailbox_store import MailboxStorePort
from tests.exchange.ews_outlook import ews_outlook
from tests.exchange.graph_outlook import graph_outlook
from tests.harness import Clock, Harness, Outlook, mailbox_store_exchange


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 2, 8, 0, tzinfo=UTC))


@pytest.fixture(params=["store", "ews", "graph"])
def exchange(request: pytest.FixtureRequest, clock: Clock, tmp_path: Path) -> Iterator[Outlook]:
    if request.param == "store":
        yield mailbox_store_exchange()(clock)
        return
    if request.param == "graph":
        with graph_outlook(clock, tmp_path) as graph:
            yield graph
        return
    with ews_outlook(clock) as outlook:
        yield outlook


@pytest.fixture
def port(clock: Clock) -> MailboxStorePort:
    built = mailbox_store_exchange()(clock)
    assert isinstance(built, MailboxStorePort)
    return built


@pytest.fixture(params=["ews", "graph"])
def ews_harness(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Harness]:
    """Both sides and a store, nobody set up yet; Exchange is EWS over HTTP, or Graph."""
    with ExitStack() as stack:

        def exchange(clock: Any) -> Outlook:
            if request.param == "graph":
                return stack.enter_context(graph_outlook(cast(Clock, clock), tmp_path / "sim"))
            return stack.enter_context(ews_outlook(cast(Clock, clock)))

        harness = Harness(tmp_path, exchange=exchange)
        try:
            yield harness
        finally:
            harness.shutdown()


@pytest.fixture
def ews_world(ews_harness: Harness) -> Harness:
    ews_harness.user("mueller")
    ews_harness.sync()  # sync is set up for mueller: what follows is "after setup" (R5)
    return ews_harness
