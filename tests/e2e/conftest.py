"""A world per test: the simulator (`einklang sim --data`), an ERP and an event store — SQLite
files, or schemas of their own on the PostgreSQL server (dropped after) — and the engine's
configuration; the engine process itself is started by the test. `graph`: SQLite files, the
engine over Microsoft Graph (R20), the users' Outlook over EWS on the same TLS simulator."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from exchangelib.protocol import BaseProtocol, close_connections

from tests.e2e.support import EngineProcess, Erp, GraphView, Outlook, Simulator, write_config
from tests.postgres import POSTGRES_URL, drop_schema, require_postgres

MUELLER, SCHMIDT = "mueller@example.com", "schmidt@example.com"


@dataclass
class World:
    sim: Simulator
    erp: Erp
    outlook: Outlook
    engine: EngineProcess
    config: Path
    graph: GraphView | None = None  # the engine runs over Graph


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[World]:
    schemas: list[str] = []
    if request.param in ("sqlite", "graph"):
        erp_url, erp_schema = f"sqlite:///{tmp_path / 'erp.sqlite3'}", None
        store_url = f"sqlite:///{tmp_path / 'events.sqlite3'}"
    else:
        require_postgres()
        erp_schema = f"e2e_erp_{uuid.uuid4().hex[:10]}"
        events = f"e2e_events_{uuid.uuid4().hex[:10]}"
        schemas = [erp_schema, events]
        erp_url, store_url = POSTGRES_URL, f"{POSTGRES_URL}?schema={events}"
    graph = request.param == "graph"
    sim = Simulator(tmp_path / "sim", [MUELLER, SCHMIDT], tmp_path / "sim.log", graph).start()
    if sim.ca is not None:
        _trust_in_exchangelib(monkeypatch, sim.ca)
    erp = Erp(erp_url, erp_schema)
    config = write_config(
        tmp_path / "einklang.toml",
        erp_url=erp_url,
        erp_schema=erp_schema,
        sim=sim,
        store_url=store_url,
        poll_interval_s=1.0 if graph else 5.0,
    )
    engine = EngineProcess(config, tmp_path / "engine.log")
    view = GraphView(sim) if graph else None
    try:
        yield World(sim, erp, Outlook(sim.url), engine, config, view)
    finally:
        if view is not None:
            view.close()
        engine.stop()
        sim.stop()
        erp.close()
        close_connections()
        for schema in schemas:
            drop_schema(POSTGRES_URL, schema)


def _trust_in_exchangelib(monkeypatch: pytest.MonkeyPatch, ca: Path) -> None:
    """The users' exchangelib trusts the simulator's self-signed certificate (this test only)."""

    class TrustSimulator(requests.adapters.HTTPAdapter):
        def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
            kwargs["verify"] = str(ca)
            return super().send(request, *args, **kwargs)

    monkeypatch.setattr(BaseProtocol, "HTTP_ADAPTER_CLS", TrustSimulator)
