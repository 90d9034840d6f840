"""Fixtures for the watcher tests: a schema-checked simulator and real watchers on it.

The watcher talks to the simulator through the real exchangelib (and msal, for OAuth2) over
HTTP; every simulator here validates all traffic against Microsoft's EWS schemas and fails the
test at teardown on a violation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from exchangelib.protocol import BaseProtocol, close_connections
from pydantic import SecretStr

from adapters.exchange.ews.connection import EwsConnection
from adapters.exchange.ews.settings import EwsSettings
from adapters.exchange.ews.watch import ExchangeWatcher
from sim.auth import AdminAccount
from sim.clock import ManualClock
from sim.server import EwsServer, ServerConfig
from sim.store import MailboxStore
from sim.tls import TlsFiles, generate_self_signed
from tests.sim.support import ADMIN, ALICE, APP, BOB, CAROL, FAST_STREAMS, MESSAGES_XSD, TENANT

WatcherFactory = Callable[..., ExchangeWatcher]
# May impersonate every mailbox, also those added while the server runs.
EVERYONE_ADMIN = AdminAccount("ews-everyone", "everyone-pass-456", None)


@pytest.fixture(autouse=True)
def _restore_http_adapter(monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection sets exchangelib's process-wide HTTP adapter (its TLS settings): put the
    previous one back after each test, for the tests that run after these in this process."""
    monkeypatch.setattr(BaseProtocol, "HTTP_ADAPTER_CLS", BaseProtocol.HTTP_ADAPTER_CLS)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store(clock: ManualClock) -> MailboxStore:
    store = MailboxStore(clock=clock)
    for address in (ALICE, BOB, CAROL):
        store.add_mailbox(address)
    return store


@pytest.fixture
def server_config() -> ServerConfig:
    return ServerConfig(
        admins=(ADMIN, EVERYONE_ADMIN), apps=(APP,), schema=MESSAGES_XSD, timing=FAST_STREAMS
    )


def checked(server: EwsServer) -> Iterator[EwsServer]:
    try:
        yield server
    finally:
        server.stop()
        close_connections()
    assert server.violations == [], "schema violations:\n" + "\n".join(map(str, server.violations))


@pytest.fixture
def server(store: MailboxStore, server_config: ServerConfig) -> Iterator[EwsServer]:
    yield from checked(EwsServer(store, server_config).start())


@pytest.fixture
def tls_files(tmp_path: Path) -> TlsFiles:
    return generate_self_signed(tmp_path / "tls")


@pytest.fixture
def tls_server(
    store: MailboxStore, server_config: ServerConfig, tls_files: TlsFiles
) -> Iterator[EwsServer]:
    yield from checked(EwsServer(store, replace(server_config, tls=tls_files)).start())


def basic_settings(url: str, **overrides: Any) -> EwsSettings:
    """Basic auth as the admin; one-"minute" streaming connections; quick back-offs."""
    values: dict[str, Any] = {
        "url": url,
        "auth": "basic",
        "username": ADMIN.username,
        "password": SecretStr(ADMIN.password),
        "connection_timeout_min": 1,
        "retry_initial_s": 0.2,
        "retry_max_s": 2.0,
        "transient_initial_s": 0.05,
        "transient_max_s": 0.5,
    }
    values.update(overrides)
    return EwsSettings(**values)


def oauth_settings(server: EwsServer, ca_bundle: Path, **overrides: Any) -> EwsSettings:
    values: dict[str, Any] = {
        "url": server.url,
        "auth": "oauth2",
        "tenant_id": TENANT,
        "client_id": APP.client_id,
        "client_secret": SecretStr(APP.client_secret),
        "authority": server.base_url,
        "ca_bundle": ca_bundle,
        "connection_timeout_min": 1,
        "transient_initial_s": 0.05,
        "transient_max_s": 0.5,
    }
    values.update(overrides)
    return EwsSettings(**values)


@pytest.fixture
def make_watcher() -> Iterator[WatcherFactory]:
    """Watchers over a new connection each; closed (and unsubscribed) at teardown."""
    made: list[ExchangeWatcher] = []

    def make(settings: EwsSettings, **kwargs: Any) -> ExchangeWatcher:
        watcher = ExchangeWatcher(EwsConnection(settings), **kwargs)
        made.append(watcher)
        return watcher

    yield make
    for watcher in made:
        watcher.close()
