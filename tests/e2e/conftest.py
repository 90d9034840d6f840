"""A world per test: the simulator (`einklang sim --data`), an ERP and an event store — SQLite
files, or schemas of their own on the PostgreSQL server (dropped after) — and the engine's
configuration; the engine process itself is started by the test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from exchangelib.protocol import close_connections

from tests.e2e.support import EngineProcess, Erp, Outlook, Simulator, write_config
from tests.postgres import POSTGRES_URL, drop_schema, require_postgres

MUELLER, SCHMIDT = "mueller@example.com", "schmidt@example.com"


@dataclass
class World:
    sim: Simulator
    erp: Erp
    outlook: Outlook
    engine: EngineProcess
    config: Path


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    schemas: list[str] = []
    if request.param == "sqlite":
        erp_url, erp_schema = f"sqlite:///{tmp_path / 'erp.sqlite3'}", None
        store_url = f"sqlite:///{tmp_path / 'events.sqlite3'}"
    else:
        require_postgres()
        erp_schema = f"e2e_erp_{uuid.uuid4().hex[:10]}"
        events = f"e2e_events_{uuid.uuid4().hex[:10]}"
        schemas = [erp_schema, events]
        erp_url, store_url = POSTGRES_URL, f"{POSTGRES_URL}?schema={events}"
    sim = Simulator(tmp_path / "sim", [MUELLER, SCHMIDT], tmp_path / "sim.log").start()
    erp = Erp(erp_url, erp_schema)
    config = write_config(
        tmp_path / "einklang.toml",
        erp_url=erp_url,
        erp_schema=erp_schema,
        ews_url=sim.url,
        store_url=store_url,
    )
    engine = EngineProcess(config, tmp_path / "engine.log")
    try:
        yield World(sim, erp, Outlook(sim.url), engine, config)
    finally:
        engine.stop()
        sim.stop()
        erp.close()
        close_connections()
        for schema in schemas:
            drop_schema(POSTGRES_URL, schema)
