"""Fixtures shared by the engine tests: a harness with both sides and a real SQLite store."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

import adapters.erp.store
from adapters.exchange.ews.properties import deregister_properties
from tests.harness import Harness
from tests.postgres import POSTGRES_URL, drop_schema, require_postgres

# CI checks the change, not the luck of a draw: there the property tests draw the same examples
# every run (derandomized); on a developer's machine they draw new ones each time.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(autouse=True)
def settled_feed_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests share one PostgreSQL server: an open transaction of a test running beside this one
    holds the ERP feed back (capture/postgresql.py), so a test's feed read (the engine's, the
    CLI's) waits until it ends instead of reading a part and failing by chance."""
    monkeypatch.setattr(adapters.erp.store, "DEFAULT_SETTLE_S", 30.0)


@pytest.fixture(autouse=True)
def exchangelib_as_shipped() -> Iterator[None]:
    """The EWS adapter registers its extended properties on exchangelib's item classes (for the
    whole process); every test that used it — the adapter's, the engine process's, the end-to-end
    ones — leaves the classes as they ship, so that tests in the same worker that enumerate
    exchangelib's fields (tests/sim) see no field of ours."""
    yield
    deregister_properties()


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Harness]:
    """Both sides and a store, nobody set up yet."""
    harness = Harness(tmp_path)
    yield harness
    harness.shutdown()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path)
    harness.user("mueller")
    harness.sync()  # sync is set up for mueller: what follows is "after setup" (R5)
    yield harness
    harness.shutdown()


@pytest.fixture
def postgres_schema_url() -> Iterator[str]:
    """A store URL on the PostgreSQL test server, in a schema of its own (xdist-safe)."""
    require_postgres()
    schema = f"einklang_t_{uuid.uuid4().hex[:10]}"
    yield f"{POSTGRES_URL}?schema={schema}"
    drop_schema(POSTGRES_URL, schema)


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store the engine supports: a SQLite file, and PostgreSQL when a server is there."""
    if request.param == "sqlite":
        return str(tmp_path / "einklang.db")
    return str(request.getfixturevalue("postgres_schema_url"))
