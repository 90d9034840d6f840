"""Bringing an existing ERP store up to the current text limits and user columns (migration 3).

PostgreSQL has enforced the limits from the start (VARCHAR(n)) and only gains the new column.
SQLite cannot add a CHECK to a table, so its ERP tables are rebuilt the way SQLite documents it:
copy the rows aside, drop the tables (children first: no cascade, and a dropped table's triggers
go with it, so no feed entries), create them from the current schema, copy the rows back, keep
each table's AUTOINCREMENT counter (ids are never reused), and reinstall the capture. A row that
exceeds a limit stops the upgrade before anything changes, naming the row and what to shorten.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adapters.erp import schema
from adapters.erp.capture import capture_for
from adapters.erp.columns import MAX_CHARS
from engine.errors import PermanentError

# Parents before children (the foreign keys point from later to earlier tables).
REBUILT = (
    schema.users,
    schema.appointments,
    schema.appointment_exceptions,
    schema.appointment_participants,
    schema.tasks,
    schema.follow_ups,
)
_SHARED = "exchange_mailbox_shared"


def upgrade(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        if not _sqlite_is_current(conn):
            refuse_over_long_rows(conn)
            _rebuild_sqlite(conn)
    elif _SHARED not in _columns(conn, "users"):
        conn.exec_driver_sql(
            f"ALTER TABLE users ADD COLUMN {_SHARED} BOOLEAN NOT NULL DEFAULT false"
        )
    capture_for(conn.dialect.name).install(conn)  # the triggers' conditions list the columns


def refuse_over_long_rows(conn: Connection) -> None:
    for table in REBUILT:
        present = _columns(conn, table.name)
        for column in table.columns:
            if column.name not in MAX_CHARS or column.name not in present:
                continue
            limit = MAX_CHARS[column.name]
            found = conn.execute(
                sa.select(table.c.id, sa.func.length(table.c[column.name]))
                .where(sa.func.length(table.c[column.name]) > limit)
                .limit(1)
            ).first()
            if found is not None:
                raise PermanentError(
                    f"{table.name} row {found[0]}: {column.name} is {found[1]:,} characters long; "
                    f"at most {limit:,} are allowed: shorten it, then run init again"
                )


def _sqlite_is_current(conn: Connection) -> bool:
    """Whether every ERP table was created with its limits (a store made by this version)."""
    created: dict[str, str] = {
        str(name): str(sql)
        for name, sql in conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table'"
        )
    }
    for table in REBUILT:
        checks = [c.name for c in table.constraints if isinstance(c, sa.CheckConstraint)]
        if any(str(name) not in created.get(table.name, "") for name in checks):
            return False
    return _SHARED in _columns(conn, "users")


def _rebuild_sqlite(conn: Connection) -> None:
    counters: dict[str, int] = {
        str(name): int(seq)
        for name, seq in conn.exec_driver_sql("SELECT name, seq FROM sqlite_sequence")
    }
    kept: dict[str, list[str]] = {}
    for table in REBUILT:
        present = _columns(conn, table.name)
        kept[table.name] = [c.name for c in table.columns if c.name in present]
        conn.exec_driver_sql(
            f"CREATE TEMP TABLE einklang_copy_{table.name} AS SELECT * FROM main.{table.name}"
        )
    for table in reversed(REBUILT):
        conn.exec_driver_sql(f"DROP TABLE main.{table.name}")
    schema.metadata.create_all(conn, tables=list(REBUILT))
    for table in REBUILT:
        columns = ", ".join(kept[table.name])
        conn.exec_driver_sql(
            f"INSERT INTO main.{table.name} ({columns}) "
            f"SELECT {columns} FROM temp.einklang_copy_{table.name}"
        )
        conn.exec_driver_sql(f"DROP TABLE temp.einklang_copy_{table.name}")
        conn.exec_driver_sql("DELETE FROM sqlite_sequence WHERE name = ?", (table.name,))
        if table.name in counters:
            conn.exec_driver_sql(
                "INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)",
                (table.name, counters[table.name]),
            )


def _columns(conn: Connection, table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(conn).get_columns(table)}
