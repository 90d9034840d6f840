"""Fixtures for the ERP store: every test runs on a SQLite file and on the PostgreSQL server.

PostgreSQL tests get a schema of their own (xdist-safe) that is dropped afterwards; they are
skipped, with the reason, only when no server answers (see tests/postgres.py).
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Generic, TypeVar

import pytest
import sqlalchemy as sa

from adapters.erp.database import create_erp_engine
from adapters.erp.editing import ErpEditor
from adapters.erp.schema import metadata, users
from adapters.erp.store import ErpStore
from tests.erp_person import Clock, SqlErp
from tests.harness import Harness
from tests.postgres import POSTGRES_URL, drop_schema, require_postgres

T = TypeVar("T")
OBSERVED_AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
PASSWORD = "s3cret-pw"


@dataclass(frozen=True)
class ErpDatabase:
    backend: str  # sqlite | postgres
    url: str
    schema: str | None

    def engine(self) -> sa.Engine:
        """A connection pool of its own, as another program (the ERP) would have."""
        return create_erp_engine(self.url, schema=self.schema)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def erp_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ErpDatabase]:
    if request.param == "sqlite":
        yield ErpDatabase("sqlite", f"sqlite:///{tmp_path / 'erp.sqlite3'}", None)
        return
    require_postgres()
    schema = f"einklang_test_{uuid.uuid4().hex[:12]}"
    yield ErpDatabase("postgres", POSTGRES_URL, schema)
    drop_schema(POSTGRES_URL, schema)


@pytest.fixture
def pg_world(tmp_path: Path) -> Iterator[Harness]:
    """The engine (tests/harness.py) with the real ERP adapter on the PostgreSQL server."""
    require_postgres()
    schema = f"einklang_test_{uuid.uuid4().hex[:12]}"

    def erp(clock: Clock) -> SqlErp:
        return SqlErp(clock, url=POSTGRES_URL, schema=schema)

    harness = Harness(tmp_path, erp=erp)
    try:
        harness.user("mueller")
        harness.sync()
        yield harness
    finally:
        harness.shutdown()
        drop_schema(POSTGRES_URL, schema)


@pytest.fixture
def unreachable_postgres_url() -> str:
    """A PostgreSQL URL with PASSWORD, on a local port that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"postgresql://einklang:{PASSWORD}@127.0.0.1:{port}/erp"


# The users an ERP has when einklang is installed (before its triggers: no feed entries).
EXISTING_USERS = ("mueller",)


def existing_erp(erp_db: ErpDatabase) -> None:
    """The ERP's tables with its users, as einklang finds them before `init` adds capture."""
    engine = erp_db.engine()
    try:
        with engine.begin() as conn:
            if erp_db.schema is not None:
                conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{erp_db.schema}"')
        with engine.begin() as conn:
            metadata.create_all(conn)
            conn.execute(
                users.insert(),
                [{"login": login, "allow_exchange_sync": True} for login in EXISTING_USERS],
            )
    finally:
        engine.dispose()


@pytest.fixture
def store(erp_db: ErpDatabase) -> Iterator[ErpStore]:
    existing_erp(erp_db)
    with ErpStore(erp_db.url, schema=erp_db.schema, clock=lambda: OBSERVED_AT) as erp_store:
        erp_store.init()
        yield erp_store


@pytest.fixture
def erp_engine(erp_db: ErpDatabase, store: ErpStore) -> Iterator[sa.Engine]:
    engine = erp_db.engine()
    yield engine
    engine.dispose()


@pytest.fixture
def erp(erp_engine: sa.Engine) -> ErpEditor:
    """The ERP application, writing through connections of its own."""
    return ErpEditor(erp_engine)


def wait_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Poll a condition that no event announces (e.g. a lock wait in another backend)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(0.005)


class Worker(threading.Thread, Generic[T]):
    """A thread whose exception fails the test that joins it."""

    def __init__(self, target: Callable[[], T]) -> None:
        super().__init__(daemon=True)
        self._work = target
        self.error: BaseException | None = None
        self._result: list[T] = []  # the one result, once there is one (T may be None)

    def run(self) -> None:
        try:
            self._result.append(self._work())
        except BaseException as exc:
            self.error = exc

    def finish(self, timeout_s: float = 30.0) -> T:
        self.join(timeout_s)
        assert not self.is_alive(), "worker did not finish in time"
        if self.error is not None:
            raise self.error
        [result] = self._result
        return result
