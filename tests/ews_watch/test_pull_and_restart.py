"""Pull as the fallback (R3), and a simulator restart with --data (R15: nothing lost)."""

from __future__ import annotations

import datetime as dt
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from exchangelib import CalendarItem, Credentials, EWSDateTime
from exchangelib.protocol import close_connections
from pydantic import SecretStr

from adapters.exchange.ews.connection import EwsConnection
from adapters.exchange.ews.watch import ExchangeWatcher
from sim.server import EwsServer
from sim.store import MailboxStore
from tests.ews_watch.conftest import WatcherFactory, basic_settings
from tests.ews_watch.support import (
    ALICE_USER,
    APPOINTMENT,
    TASK,
    alive,
    appointment,
    collect,
    settle,
)
from tests.sim.sim_process import RunningSim, SimStarter, sim_processes
from tests.sim.support import ALICE, BERLIN, make_account_at


def test_r3_pull_signals_an_edit_within_the_poll_interval(
    server: EwsServer, store: MailboxStore, make_watcher: WatcherFactory
) -> None:
    watcher = make_watcher(basic_settings(server.url, notifications="pull", poll_interval_s=0.5))
    watcher.watch([ALICE_USER])
    assert collect(watcher, {("alice", APPOINTMENT), ("alice", TASK)}, within=10)
    assert watcher.status("alice").mode == "pull"
    settle(watcher)

    timings = []
    for number in range(3):
        started = time.monotonic()
        store.create_calendar_item(ALICE, appointment(f"polled {number}"))
        assert collect(watcher, {("alice", APPOINTMENT)}, within=1.0) == {("alice", APPOINTMENT)}
        timings.append(time.monotonic() - started)

    assert max(timings) <= 0.5 + 0.5
    assert watcher.groups == []  # no streaming connection in pull mode


@pytest.fixture
def start_sim() -> Iterator[SimStarter]:
    yield from sim_processes()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_r15_a_simulator_restart_with_data_reconnects_and_catches_up(
    start_sim: SimStarter, tmp_path: Path
) -> None:
    port, data = str(free_port()), str(tmp_path / "data")
    admin = ["--admin", "ews-admin:restart-pass-1"]
    args = ["--port", port, "--data", data, "--stream-minute", "0.6", *admin]
    sim = start_sim(*args, "--mailbox", ALICE, python_m=True)
    url = sim.wait_for("EWS endpoint:")
    settings = basic_settings(url, username="ews-admin", password=SecretStr("restart-pass-1"))
    watcher = ExchangeWatcher(EwsConnection(settings))
    again: RunningSim | None = None
    try:
        watcher.watch([ALICE_USER])
        assert alive(watcher, "alice")
        settle(watcher)

        sim.stop_without_violations()
        again = start_sim(*args, python_m=True)
        assert again.wait_for("EWS endpoint:") == url
        # The connection broke: once it is back, both folders are caught up.
        caught_up = collect(watcher, {("alice", APPOINTMENT), ("alice", TASK)}, within=10)
        assert caught_up == {("alice", APPOINTMENT), ("alice", TASK)}
        assert alive(watcher, "alice")
        settle(watcher)

        account = make_account_at(url, ALICE, Credentials("ews-admin", "restart-pass-1"))
        start = EWSDateTime(2026, 3, 10, 9, tzinfo=BERLIN)
        item = CalendarItem(
            account=account,
            folder=account.calendar,
            subject="after the restart",
            start=start,
            end=start + dt.timedelta(hours=1),
        )
        item.save()
        assert collect(watcher, {("alice", APPOINTMENT)}, within=2.0) == {("alice", APPOINTMENT)}
    finally:
        watcher.close()
        close_connections()
    assert again is not None
    again.stop_without_violations()
