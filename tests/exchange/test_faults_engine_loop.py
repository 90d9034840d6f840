"""Faults only the running process sees: the engine loop (`service.process.EngineLoop`, as
`einklang run` drives it) reads a mailbox only when its watcher says so, so a lost subscription
or a dropped streaming connection would lose Outlook's edits for good unless the watcher catches
up. Each case links items both ways, breaks the change signals while people edit on both sides,
and waits for the two sides to agree; then the same convergence checks as
test_faults_converge.py hold (issues 10 and 14).

EWS: streaming subscriptions (one-"minute" connections of 0.6 s), a subscription the server
expires and a connection it drops mid-stream. Graph: delta polling by the watcher, its delta
tokens and the port's expiring together (410 syncStateNotFound).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import pytest
from exchangelib.protocol import BaseProtocol

from adapters.exchange.ews.watch import ExchangeWatcher
from adapters.exchange.graph.watch import GraphWatcher
from engine.ports import SubscriptionStatus
from service.health import Metrics
from service.process import EngineLoop
from service.wiring import Process
from sim.faults import DropStream
from tests.ews_watch.support import until
from tests.exchange.fault_world import AFTER_EDITS, MUELLER, Api, FaultWorld, Workload, fault_world
from tests.exchange.graph_outlook import GraphOutlook

Step = Callable[[FaultWorld, Any], None]
# The subjects on each side once the workload's items are linked, before the edits.
BEFORE_EDITS = [
    "Buy stamps",
    "Call back",
    "Cancelled visit",
    "Dentist",
    "Jour fixe",
    "Lunch",
    "Planning",
]


@pytest.fixture(autouse=True)
def _restore_http_adapter(monkeypatch: pytest.MonkeyPatch) -> None:
    """An EWS connection sets exchangelib's process-wide HTTP adapter: put it back after."""
    monkeypatch.setattr(BaseProtocol, "HTTP_ADAPTER_CLS", BaseProtocol.HTTP_ADAPTER_CLS)


class _GraphSignals:
    """The Graph watcher as the loop closes it (it keeps no subscriptions to keep)."""

    def __init__(self, watcher: GraphWatcher) -> None:
        self.watcher = watcher
        self.watch = watcher.watch
        self.wait = watcher.wait

    def status(self, login: str) -> SubscriptionStatus:
        return self.watcher.status(login)

    def close(self, *, unsubscribe_all: bool = True) -> None:
        self.watcher.close()


@contextmanager
def engine_loop(world: FaultWorld) -> Iterator[ExchangeWatcher | _GraphSignals]:
    """The engine's loop in a thread over the world's engine, with the real watcher."""
    h = world.harness
    watcher: ExchangeWatcher | _GraphSignals
    if world.api == "graph":
        outlook = world.outlook
        assert isinstance(outlook, GraphOutlook)
        settings = outlook.settings.model_copy(update={"poll_interval_s": 0.2})
        watcher = _GraphSignals(GraphWatcher(outlook.client, settings, retry_initial_s=0.2))
    else:
        assert world.connection is not None
        watcher = ExchangeWatcher(world.connection)
    # The loop reads only what the process it runs in offers; the harness's parts are those.
    process = Process(
        settings=cast(Any, None),
        store=cast(Any, h.store),
        views=h.projector,
        erp=cast(Any, h.erp),
        connection=cast(Any, world.connection),
        exchange=cast(Any, h.exchange),
        watcher=cast(Any, watcher),
        engine=cast(Any, h.engine),
        secret_values=[],
    )
    loop = EngineLoop(process, Metrics(), idle_s=0.1, full_read_every_s=3600, prune_every_s=3600)
    stop = threading.Event()
    thread = threading.Thread(target=loop.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert until(lambda: watcher.status("mueller").alive, within=20), watcher.status("mueller")
        yield watcher
    finally:
        stop.set()
        thread.join(timeout=30)
        if isinstance(watcher, ExchangeWatcher):
            watcher.close()
    assert not thread.is_alive(), "the engine loop did not stop"


# ---- the faults ----------------------------------------------------------------------------


def _expire_subscription(world: FaultWorld, watcher: ExchangeWatcher) -> None:
    ids = [member.subscription_id for group in watcher.groups for member in group.members()]
    assert ids
    for subscription_id in ids:
        world.outlook.store.expire_subscription(subscription_id)


def _drop_stream(world: FaultWorld, watcher: ExchangeWatcher) -> None:
    # The connection in use is renewed by the server within a "minute"; the next one drops.
    world.server.faults.add(DropStream(after_envelopes=1), operation="GetStreamingEvents")


def _expire_delta_tokens(world: FaultWorld, watcher: _GraphSignals) -> None:
    assert world.server.graph is not None
    world.server.graph.expire_delta_tokens(MUELLER)


FAULTS: list[tuple[Api, str, Step]] = [
    ("ews", "subscription_expired", _expire_subscription),
    ("ews", "streaming_connection_dropped", _drop_stream),
    ("graph", "delta_token_expired", _expire_delta_tokens),
]


@pytest.mark.parametrize(
    ("api", "fault"),
    [pytest.param(api, fault, id=f"{api}-{name}") for api, name, fault in FAULTS],
)
def test_the_running_engine_catches_up_after_lost_change_signals(
    tmp_path: Path, api: Api, fault: Step
) -> None:
    with fault_world(tmp_path, api) as world:
        work = Workload(world)
        with engine_loop(world) as watcher:
            work.create()
            assert until(lambda: work.agree(BEFORE_EDITS), within=30), "not linked"
            fault(world, watcher)
            work.edit_outlook()  # while the signals are lost
            work.edit_erp()
            assert until(lambda: work.agree(AFTER_EDITS), within=30), "did not converge"
            assert world.server.faults.pending() == []  # the fault happened
        work.check()
