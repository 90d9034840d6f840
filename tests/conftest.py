"""Fixtures shared by the engine tests: a harness with both sides and a real SQLite store."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import Harness
from tests.postgres import POSTGRES_URL, drop_schema, require_postgres


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
