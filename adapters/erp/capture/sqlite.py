"""Change capture on SQLite: AFTER triggers, and a one-row table that marks the engine's writes.

SQLite serialises writers, so feed order is commit order without further work. A trigger in the
main schema can see neither connection state nor temp tables, so the engine sets the mark in
`einklang_writer` at the start of its transaction and clears it before commit: no other writer
can run in between, and readers never see the mark committed.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adapters.erp.schema import (
    APPOINTMENT_DETAIL_TABLES,
    ITEM_TABLES,
    data_columns,
    metadata,
)

_ORIGIN = "COALESCE((SELECT origin FROM einklang_writer WHERE id = 1), 'erp')"
_NOW = "strftime('%Y-%m-%d %H:%M:%f', 'now')"
_FEED = (
    "INSERT INTO change_feed (table_name, row_id, operation, origin, changed_at, item_kind, "
    "item_id, user_login, sync_id, row_version)"
)
_TRIGGER_NAMES = [
    f"einklang_{table}_{op}"
    for table in (*ITEM_TABLES, *APPOINTMENT_DETAIL_TABLES)
    for op in ("insert", "update", "delete")
]


def _changed(table: str) -> str:
    return " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in data_columns(metadata.tables[table]))


def _saved(table: str) -> str:
    """When an UPDATE of an item row is a change worth a feed entry."""
    if table == "users":
        # R11: saving a user re-checks it (a mailbox fixed meanwhile), even with nothing changed;
        # only the version bump below is no save.
        return "NEW.row_version IS OLD.row_version"
    return _changed(table)


def _item_triggers(table: str, kind: str) -> list[str]:
    login = "login" if table == "users" else "user_login"
    sync_id = "NULL" if table == "users" else "{row}.sync_id"
    cascade = (
        "DELETE FROM appointment_exceptions WHERE appointment_id = OLD.id; "
        "DELETE FROM appointment_participants WHERE appointment_id = OLD.id;"
        if table == "appointments"
        else ""
    )
    return [
        f"""CREATE TRIGGER einklang_{table}_insert AFTER INSERT ON {table}
BEGIN
  {_FEED} VALUES ('{table}', NEW.id, 'insert', {_ORIGIN}, {_NOW}, '{kind}', NEW.id,
    NEW.{login}, {sync_id.format(row="NEW")}, NEW.row_version);
END""",
        # The nested UPDATE changes only the version, so it fires nothing, recursive or not.
        f"""CREATE TRIGGER einklang_{table}_update AFTER UPDATE ON {table}
WHEN {_saved(table)}
BEGIN
  UPDATE {table} SET row_version = OLD.row_version + 1
    WHERE id = NEW.id AND NEW.row_version IS OLD.row_version;
  {_FEED} SELECT '{table}', NEW.id, 'update', {_ORIGIN}, {_NOW}, '{kind}', NEW.id,
    NEW.{login}, {sync_id.format(row="NEW")}, t.row_version FROM {table} AS t WHERE t.id = NEW.id;
END""",
        # Cascades by itself: ERP connections may run with foreign keys off (SQLite's default).
        f"""CREATE TRIGGER einklang_{table}_delete AFTER DELETE ON {table}
BEGIN
  {_FEED} VALUES ('{table}', OLD.id, 'delete', {_ORIGIN}, {_NOW}, '{kind}', OLD.id,
    OLD.{login}, {sync_id.format(row="OLD")}, OLD.row_version);
  {cascade}
END""",
    ]


def _detail_triggers(table: str) -> list[str]:
    """An ERP change of an exception or participant is a change of its appointment (R2).

    The appointment's version is bumped without a feed entry of its own (only the version
    changes); the engine's writes stay silent here and bump `sync_revision` instead.
    """

    def entry(row: str, parents: str, operation: str) -> str:
        return f"""UPDATE appointments SET row_version = row_version + 1 WHERE id IN ({parents});
  {_FEED} SELECT '{table}', {row}.id, '{operation}', 'erp', {_NOW}, 'appointment', a.id,
    a.user_login, a.sync_id, a.row_version FROM appointments AS a WHERE a.id IN ({parents});"""

    not_sync = f"{_ORIGIN} <> 'sync'"
    return [
        f"""CREATE TRIGGER einklang_{table}_insert AFTER INSERT ON {table} WHEN {not_sync}
BEGIN
  {entry("NEW", "NEW.appointment_id", "insert")}
END""",
        f"""CREATE TRIGGER einklang_{table}_update AFTER UPDATE ON {table}
WHEN {not_sync} AND ({_changed(table)})
BEGIN
  {entry("NEW", "OLD.appointment_id, NEW.appointment_id", "update")}
END""",
        f"""CREATE TRIGGER einklang_{table}_delete AFTER DELETE ON {table} WHEN {not_sync}
BEGIN
  {entry("OLD", "OLD.appointment_id", "delete")}
END""",
    ]


class SqliteCapture:
    def install(self, conn: Connection) -> None:
        conn.exec_driver_sql(
            "CREATE TABLE IF NOT EXISTS einklang_writer ("
            "id INTEGER PRIMARY KEY CHECK (id = 1), origin TEXT NOT NULL DEFAULT 'erp')"
        )
        conn.exec_driver_sql("INSERT OR IGNORE INTO einklang_writer (id, origin) VALUES (1, 'erp')")
        for name in _TRIGGER_NAMES:
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
        for table, kind in ITEM_TABLES.items():
            for ddl in _item_triggers(table, kind):
                conn.exec_driver_sql(ddl)
        for table in APPOINTMENT_DETAIL_TABLES:
            for ddl in _detail_triggers(table):
                conn.exec_driver_sql(ddl)

    def begin_sync_write(self, conn: Connection) -> None:
        conn.execute(sa.text("UPDATE einklang_writer SET origin = 'sync' WHERE id = 1"))

    def end_sync_write(self, conn: Connection) -> None:
        conn.execute(sa.text("UPDATE einklang_writer SET origin = 'erp' WHERE id = 1"))
