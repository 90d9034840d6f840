"""Fixtures for the simulator tests: a running simulator and real exchangelib accounts on it.

Every simulator started here validates all traffic against Microsoft's EWS schemas in
../shared/ews-reference/xsd; a test whose requests or responses violate them fails at teardown.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from exchangelib import (
    Account,
    CalendarItem,
    Task,
)
from exchangelib.protocol import BaseProtocol, close_connections

from sim.clock import ManualClock
from sim.server import EwsServer, ServerConfig
from sim.store import MailboxStore, StoreSettings
from sim.tls import TlsFiles, generate_self_signed
from tests.sim.sim_process import SimStarter, sim_processes
from tests.sim.support import (
    ADMIN,
    ALICE,
    APP,
    BOB,
    CAROL,
    FAST_STREAMS,
    MESSAGES_XSD,
    AccountFactory,
    SyncId,
    make_account,
    trusting,
)


@pytest.fixture(scope="session", autouse=True)
def _register_sync_id() -> Iterator[None]:
    CalendarItem.register("sync_id", SyncId)
    Task.register("sync_id", SyncId)
    yield
    CalendarItem.deregister("sync_id")
    Task.deregister("sync_id")


@pytest.fixture
def start_sim() -> Iterator[SimStarter]:
    """Start `einklang sim --schema messages.xsd ARGS` subprocesses (killed at teardown)."""
    yield from sim_processes()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store(clock: ManualClock) -> MailboxStore:
    store = MailboxStore(clock=clock, settings=StoreSettings())
    for address in (ALICE, BOB, CAROL):
        store.add_mailbox(address, address.split("@")[0].title())
    return store


@pytest.fixture
def server_config() -> ServerConfig:
    return ServerConfig(admins=(ADMIN,), apps=(APP,), schema=MESSAGES_XSD, timing=FAST_STREAMS)


def _checked_server(store: MailboxStore, config: ServerConfig) -> Iterator[EwsServer]:
    server = EwsServer(store, config).start()
    try:
        yield server
    finally:
        server.stop()  # waits for requests in flight, so their last envelopes are checked too
        close_connections()
    assert server.in_flight == 0, "requests still running after stop: their traffic is unchecked"
    assert server.violations == [], "schema violations:\n" + "\n".join(map(str, server.violations))


@pytest.fixture
def server(store: MailboxStore, server_config: ServerConfig) -> Iterator[EwsServer]:
    """A plain-HTTP simulator; fails the test at teardown on any schema violation."""
    yield from _checked_server(store, server_config)


@pytest.fixture
def tls_files(tmp_path: Path) -> TlsFiles:
    return generate_self_signed(tmp_path / "tls")


@pytest.fixture
def tls_server(
    store: MailboxStore, server_config: ServerConfig, tls_files: TlsFiles
) -> Iterator[EwsServer]:
    yield from _checked_server(store, replace(server_config, tls=tls_files))


@pytest.fixture
def trust_sim_certificate(tls_files: TlsFiles, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make exchangelib verify the simulator's self-signed certificate (its HTTP adapter)."""
    ca_bundle = str(tls_files.certificate)

    monkeypatch.setattr(BaseProtocol, "HTTP_ADAPTER_CLS", trusting(ca_bundle))
    return tls_files.certificate


@pytest.fixture
def account_for(server: EwsServer) -> AccountFactory:
    """exchangelib accounts on the plain-HTTP simulator, impersonated by the admin."""

    def factory(mailbox: str = ALICE, **kwargs: Any) -> Account:
        return make_account(server, mailbox, **kwargs)

    return factory


@pytest.fixture
def alice(account_for: AccountFactory) -> Account:
    return account_for(ALICE)
