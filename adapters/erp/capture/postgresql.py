"""Change capture on PostgreSQL: row triggers, a transaction-scoped origin mark, NOTIFY.

Feed order must not lose an entry: a sequence value drawn by a transaction that commits after a
later one would be skipped by a reader that stores "last seen = N". No lock orders the writers
(a global feed lock made ordinary ERP transactions deadlock and queue behind each other). Instead
every entry records its writing transaction's id (`pg_current_xact_id()`), and the reader reads
in (tx_id, seq) order only the entries of transactions below the oldest one still running
(`pg_snapshot_xmin(pg_current_snapshot())`): those are all committed or rolled back, and every
transaction still to commit has a larger id, so it can only come after what was read (see
feed.py). The price is latency, not throughput: one long ERP transaction holds back the entries
of the transactions that started after it until it ends.
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adapters.erp.schema import (
    APPOINTMENT_DETAIL_TABLES,
    ITEM_TABLES,
    data_columns,
    metadata,
)

_FEED_COLUMNS = (
    "tx_id, table_name, row_id, operation, origin, changed_at, item_kind, item_id, user_login, "
    "sync_id, row_version"
)
# The writing transaction's id; xid8 fits a bigint (epoch and xid, 32 bits each).
_TX_ID = "pg_current_xact_id()::text::bigint"
# Trigger functions of earlier versions that no trigger uses any more.
_RETIRED_FUNCTIONS = ("einklang_feed_lock",)


def feed_channel(schema: str) -> str:
    """The NOTIFY channel of a schema's feed (an identifier: at most 63 bytes)."""
    return f"einklang_feed_{schema}"[:63]


def advisory_key(name: str) -> int:
    """A transaction-level advisory lock key for `name` (e.g. the migration of a schema)."""
    digest = hashlib.blake2b(f"einklang.change_feed.{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _changed(table: str) -> str:
    columns = data_columns(metadata.tables[table])
    return " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in columns)


class PostgresCapture:
    def install(self, conn: Connection) -> None:
        schema = conn.execute(sa.text("SELECT current_schema()")).scalar_one()
        s = conn.dialect.identifier_preparer.quote_identifier(schema)
        channel = feed_channel(schema)
        for ddl in self._functions(s, channel):
            conn.exec_driver_sql(ddl)
        for table in (*ITEM_TABLES, *APPOINTMENT_DETAIL_TABLES):
            for name in (
                "einklang_feed_lock",
                "einklang_row_version",
                "einklang_capture_insert_delete",
                "einklang_capture_update",
            ):
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name} ON {s}.{table}")
            capture = f"EXECUTE FUNCTION {s}.einklang_capture_{table}()"
            if table in ITEM_TABLES:
                # R11: saving a user re-checks it (a mailbox fixed meanwhile), even unchanged.
                changed = "" if table == "users" else f" AND ({_changed(table)})"
                conn.exec_driver_sql(
                    f"CREATE TRIGGER einklang_row_version BEFORE UPDATE ON {s}.{table} "
                    f"FOR EACH ROW WHEN (OLD.row_version IS NOT DISTINCT FROM NEW.row_version"
                    f"{changed}) EXECUTE FUNCTION {s}.einklang_bump_version()"
                )
                insert_delete_when = ""
                update_when = "" if table == "users" else f"WHEN ({_changed(table)})"
            else:
                not_sync = f"{s}.einklang_origin() <> 'sync'"
                insert_delete_when = f"WHEN ({not_sync})"
                update_when = f"WHEN ({not_sync} AND ({_changed(table)}))"
            conn.exec_driver_sql(
                f"CREATE TRIGGER einklang_capture_insert_delete AFTER INSERT OR DELETE ON "
                f"{s}.{table} FOR EACH ROW {insert_delete_when} {capture}"
            )
            conn.exec_driver_sql(
                f"CREATE TRIGGER einklang_capture_update AFTER UPDATE ON {s}.{table} "
                f"FOR EACH ROW {update_when} {capture}"
            )
        for function in _RETIRED_FUNCTIONS:
            conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS {s}.{function}()")

    def _functions(self, s: str, channel: str) -> list[str]:
        functions = [
            f"""CREATE OR REPLACE FUNCTION {s}.einklang_origin() RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT COALESCE(NULLIF(current_setting('einklang.origin', true), ''), 'erp')
$$""",
            f"""CREATE OR REPLACE FUNCTION {s}.einklang_bump_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.row_version := OLD.row_version + 1;
  RETURN NEW;
END $$""",
        ]
        for table, kind in ITEM_TABLES.items():
            login = "login" if table == "users" else "user_login"
            sync_id = "NULL" if table == "users" else "r.sync_id"
            functions.append(
                f"""CREATE OR REPLACE FUNCTION {s}.einklang_capture_{table}() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE r RECORD;
BEGIN
  IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
  INSERT INTO {s}.change_feed ({_FEED_COLUMNS})
    VALUES ({_TX_ID}, TG_TABLE_NAME, r.id, lower(TG_OP), {s}.einklang_origin(), clock_timestamp(),
            '{kind}', r.id, r.{login}, {sync_id}, r.row_version);
  PERFORM pg_notify('{channel}', '');
  RETURN NULL;
END $$"""
            )
        for table in APPOINTMENT_DETAIL_TABLES:
            # The appointment's version is bumped without an entry of its own (only the
            # version changes); the engine's writes skip this and bump sync_revision instead.
            functions.append(
                f"""CREATE OR REPLACE FUNCTION {s}.einklang_capture_{table}() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  parents bigint[];
  changed_id bigint;
BEGIN
  IF TG_OP = 'INSERT' THEN
    parents := ARRAY[NEW.appointment_id]; changed_id := NEW.id;
  ELSIF TG_OP = 'DELETE' THEN
    parents := ARRAY[OLD.appointment_id]; changed_id := OLD.id;
  ELSE
    parents := ARRAY[OLD.appointment_id, NEW.appointment_id]; changed_id := NEW.id;
  END IF;
  UPDATE {s}.appointments SET row_version = row_version + 1 WHERE id = ANY(parents);
  INSERT INTO {s}.change_feed ({_FEED_COLUMNS})
    SELECT {_TX_ID}, TG_TABLE_NAME, changed_id, lower(TG_OP), 'erp', clock_timestamp(),
           'appointment',
           a.id, a.user_login, a.sync_id, a.row_version
    FROM {s}.appointments AS a WHERE a.id = ANY(parents) ORDER BY a.id;
  IF FOUND THEN
    PERFORM pg_notify('{channel}', '');
  END IF;
  RETURN NULL;
END $$"""
            )
        return functions

    def begin_sync_write(self, conn: Connection) -> None:
        conn.execute(sa.text("SELECT set_config('einklang.origin', 'sync', true)"))
        # In a lock cycle with ERP transactions the engine gives up first (its write is retried
        # as a version conflict); PostgreSQL would otherwise abort whichever waited longest.
        conn.execute(
            sa.text(
                "SELECT set_config('lock_timeout', (ceil(extract(epoch FROM "
                "current_setting('deadlock_timeout')::interval) * 500))::int || 'ms', true)"
            )
        )

    def end_sync_write(self, conn: Connection) -> None:
        """Nothing to do: `set_config(..., true)` ends with the transaction."""
