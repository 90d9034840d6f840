"""Fixtures for the Graph simulator tests: one simulator serving EWS and Graph over TLS.

Everything the Graph side accepts and sends is checked against
../shared/graph-reference/graph_schemas.strict.json (Draft 2020-12, format checking); a test
with a violation fails at teardown, as the EWS schema check does. Tokens come from the real msal.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from exchangelib import Account, CalendarItem, Task
from exchangelib.protocol import close_connections

from sim.clock import ManualClock
from sim.graph.context import GraphSettings
from sim.server import EwsServer, ServerConfig
from sim.store import MailboxStore
from sim.tls import TlsFiles, generate_self_signed
from tests.graph_sim.support import Graph, GraphSchema, SchemaCheck, graph_token, msal_app
from tests.sim.support import ADMIN, ALICE, APP, BOB, CAROL, MESSAGES_XSD, SyncId, make_account


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


class GraphSyncId(SyncId):
    """The engine's sync id (the same MAPI property as tests/sim's `sync_id`)."""


@pytest.fixture
def graph_sync_id() -> Iterator[None]:
    """exchangelib's `graph_sync_id` field, for this test only (tests/sim's property tests go
    through every registered field: a session-wide registration would leak into them)."""
    CalendarItem.register("graph_sync_id", GraphSyncId)
    Task.register("graph_sync_id", GraphSyncId)
    yield
    CalendarItem.deregister("graph_sync_id")
    Task.deregister("graph_sync_id")


@pytest.fixture(scope="session")
def graph_schema() -> GraphSchema:
    return GraphSchema()


@pytest.fixture
def schema_check(graph_schema: GraphSchema) -> SchemaCheck:
    return SchemaCheck(graph_schema)


@pytest.fixture
def graph_settings() -> GraphSettings:
    return GraphSettings()


@pytest.fixture
def graph_store(clock: ManualClock) -> MailboxStore:
    store = MailboxStore(clock=clock)
    for address in (ALICE, BOB, CAROL):
        store.add_mailbox(address, address.split("@")[0].title())
    return store


@pytest.fixture
def graph_tls(tmp_path: Path) -> TlsFiles:
    return generate_self_signed(tmp_path / "graph-tls")


@pytest.fixture
def graph_server(
    graph_store: MailboxStore,
    graph_settings: GraphSettings,
    graph_tls: TlsFiles,
    schema_check: SchemaCheck,
) -> Iterator[EwsServer]:
    config = ServerConfig(
        admins=(ADMIN,), apps=(APP,), schema=MESSAGES_XSD, tls=graph_tls, graph=graph_settings
    )
    server = EwsServer(graph_store, config).start()
    assert server.graph is not None
    server.graph.observe = schema_check
    try:
        yield server
    finally:
        server.stop()
        close_connections()
    assert server.violations == [], "EWS schema violations:\n" + "\n".join(
        map(str, server.violations)
    )
    assert schema_check.violations == [], "Graph schema violations:\n" + "\n".join(
        schema_check.violations
    )


@pytest.fixture
def msal_client(graph_server: EwsServer, graph_tls: TlsFiles) -> Any:
    return msal_app(graph_server, graph_tls.certificate)


@pytest.fixture
def graph(graph_server: EwsServer, graph_tls: TlsFiles, msal_client: Any) -> Iterator[Graph]:
    client = Graph(graph_server, graph_tls.certificate, graph_token(msal_client))
    yield client
    client.close()


@pytest.fixture
def ews_alice(
    graph_server: EwsServer, graph_tls: TlsFiles, trust_certificate: None, graph_sync_id: None
) -> Account:
    return make_account(graph_server, ALICE)


@pytest.fixture
def trust_certificate(graph_tls: TlsFiles, monkeypatch: pytest.MonkeyPatch) -> None:
    import requests
    from exchangelib.protocol import BaseProtocol

    ca_bundle = str(graph_tls.certificate)

    class TrustSimulator(requests.adapters.HTTPAdapter):
        def send(
            self,
            request: requests.PreparedRequest,
            stream: bool = False,
            timeout: float | tuple[float | None, float | None] | None = None,
            verify: bool | str = True,
            cert: str | tuple[str, str] | None = None,
            proxies: dict[str, str] | None = None,
        ) -> requests.Response:
            return super().send(request, stream, timeout, ca_bundle, cert, proxies)

    monkeypatch.setattr(BaseProtocol, "HTTP_ADAPTER_CLS", TrustSimulator)
