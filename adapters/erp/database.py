"""Connecting to the ERP database: one code path for SQLite and PostgreSQL.

PostgreSQL connections load dates and times leniently (see `lenient`: `infinity` or a year
past 9999 becomes an `Unreadable` value of its row, not an error of the query). SQLite
connections decode text leniently (invalid UTF-8 from a legacy import becomes escaped bytes that
the snapshot code reports as `InvalidEncoding` for that row, instead of an error that fails a
whole query) and begin their transactions explicitly, so that a read sees one snapshot and a
write takes the write lock up front.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from adapters.erp.lenient import load_leniently

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_IMMEDIATE = "einklang_immediate"


def erp_url(url: str | URL) -> URL:
    """The URL with its driver made explicit (psycopg 3 is the PostgreSQL driver we ship)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def redact(url: str | URL) -> str:
    """The URL as it may be printed or logged: never with its password."""
    return erp_url(url).render_as_string(hide_password=True)


def check_schema_name(schema: str) -> str:
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"schema name {schema!r} must be a lower-case SQL identifier")
    return schema


def create_erp_engine(url: str | URL, *, schema: str | None = None) -> Engine:
    parsed = erp_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if schema is not None:
            raise ValueError("SQLite has no schemas; use one database file per ERP")
        in_memory = parsed.database in (None, "", ":memory:")
        engine = sa.create_engine(
            parsed,
            connect_args={"check_same_thread": False, "timeout": 30.0},
            poolclass=StaticPool if in_memory else None,
        )
        _configure_sqlite(engine)
        return engine
    if backend == "postgresql":
        connect_args: dict[str, Any] = {}
        if schema is not None:
            connect_args["options"] = f"-c search_path={check_schema_name(schema)}"
        engine = sa.create_engine(parsed, connect_args=connect_args, pool_pre_ping=True)
        _configure_postgresql(engine)
        return engine
    raise NotImplementedError(f"the ERP store does not support {backend} yet")


def _lenient_text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: sqlite3.Connection, record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, see _begin
        dbapi_connection.text_factory = _lenient_text
        dbapi_connection.execute("PRAGMA foreign_keys = ON")
        # The capture triggers rely on the default: a trigger does not fire itself.
        dbapi_connection.execute("PRAGMA recursive_triggers = OFF")

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _configure_postgresql(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: psycopg.Connection[Any], record: ConnectionPoolEntry) -> None:
        # A date of `infinity` in one row must not fail the query that reads it (see lenient).
        load_leniently(dbapi_connection.adapters)


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """One transaction whose reads all see the same committed state."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """One write transaction; on SQLite it holds the write lock from its start."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn = conn.execution_options(**{_IMMEDIATE: True})
        with conn.begin():
            yield conn
