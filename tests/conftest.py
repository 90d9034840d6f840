"""Fixtures shared by the engine tests: a harness with both sides and a real SQLite store."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from adapters.fake.erp import FakeErp
from tests.erp_person import ErpFactory
from tests.harness import Harness


@pytest.fixture
def erp_factory() -> ErpFactory:
    """The ERP of `fresh` and `world`: the in-memory fake, unless a test module overrides this."""
    return FakeErp


@pytest.fixture
def fresh(tmp_path: Path, erp_factory: ErpFactory) -> Iterator[Harness]:
    """Both sides and a store, nobody set up yet."""
    harness = Harness(tmp_path, erp=erp_factory)
    yield harness
    harness.close()


@pytest.fixture
def world(tmp_path: Path, erp_factory: ErpFactory) -> Iterator[Harness]:
    harness = Harness(tmp_path, erp=erp_factory)
    harness.user("mueller")
    harness.sync()  # sync is set up for mueller: what follows is "after setup" (R5)
    yield harness
    harness.close()


POSTGRES_URL = os.environ.get("EINKLANG_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def postgres_reachable() -> str | None:
    """None if the test server answers, else why not (for the skip message)."""
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as error:
        return str(error).strip().splitlines()[0]
    return None


@pytest.fixture
def postgres_schema_url() -> Iterator[str]:
    """A store URL on the PostgreSQL test server, in a schema of its own (xdist-safe)."""
    problem = postgres_reachable()
    if problem is not None:
        pytest.skip(f"no PostgreSQL server at {POSTGRES_URL}: {problem}")
    schema = f"einklang_t_{uuid.uuid4().hex[:10]}"
    yield f"{POSTGRES_URL}?schema={schema}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store the engine supports: a SQLite file, and PostgreSQL when a server is there."""
    if request.param == "sqlite":
        return str(tmp_path / "einklang.db")
    return str(request.getfixturevalue("postgres_schema_url"))
