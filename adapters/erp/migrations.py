"""Schema migrations of the ERP store: numbered steps, each applied once, in one transaction.

`migrate` is what `einklang erp init` runs; running it again applies only what is missing. A step
that adds a column to a captured table must reinstall the capture triggers, whose change
conditions list the columns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from adapters.erp import limits_upgrade, schema
from adapters.erp.capture import capture_for
from adapters.erp.capture.postgresql import advisory_key


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[Connection], None]


def _initial_schema(conn: Connection) -> None:
    schema.metadata.create_all(conn)
    capture_for(conn.dialect.name).install(conn)


def _reinstall_capture(conn: Connection) -> None:
    capture_for(conn.dialect.name).install(conn)


def _feed_without_lock(conn: Connection) -> None:
    """Feed entries carry their transaction's id (read order without a global lock) and are
    indexed by item and sequence (an item's newest entry without scanning its history)."""
    feed = schema.change_feed
    if "tx_id" not in {c["name"] for c in sa.inspect(conn).get_columns(feed.name)}:
        # Earlier entries were ordered by the feed lock: 0 keeps them first, in sequence order.
        conn.exec_driver_sql(f"ALTER TABLE {feed.name} ADD COLUMN tx_id BIGINT NOT NULL DEFAULT 0")
    conn.exec_driver_sql("DROP INDEX IF EXISTS ix_change_feed_item")
    for index in feed.indexes:
        index.create(conn, checkfirst=True)
    capture_for(conn.dialect.name).install(conn)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "ERP tables, change feed and capture triggers", _initial_schema),
    Migration(2, "every save of a user is a feed entry, changed or not (R11)", _reinstall_capture),
    Migration(
        3,
        "text limits on every database (CHECKs on SQLite); users.exchange_mailbox_shared (R8)",
        limits_upgrade.upgrade,
    ),
    Migration(4, "feed ordered by transaction id instead of a feed lock", _feed_without_lock),
)


def current_version(conn: Connection) -> int:
    if not sa.inspect(conn).has_table(schema.schema_version.name):
        return 0
    found = conn.execute(sa.select(sa.func.max(schema.schema_version.c.version))).scalar()
    return int(found or 0)


def migrate(engine: Engine) -> int:
    """Apply the missing steps; returns the schema version now in force."""
    if engine.dialect.name == "sqlite":
        # Readers (the engine) and the ERP's writer must not block each other.
        raw = engine.raw_connection()
        try:
            raw.cursor().execute("PRAGMA journal_mode = WAL")
        finally:
            raw.close()
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn = conn.execution_options(einklang_immediate=True)
        with conn.begin():
            if engine.dialect.name == "postgresql":
                # Two installers at once: the second waits, then finds nothing to do.
                name = conn.execute(sa.text("SELECT current_schema()")).scalar_one()
                conn.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:key)"),
                    {"key": advisory_key(f"migrate.{name}")},
                )
            version = current_version(conn)
            for step in MIGRATIONS:
                if step.version <= version:
                    continue
                step.apply(conn)
                conn.execute(
                    schema.schema_version.insert().values(
                        version=step.version,
                        description=step.description,
                        applied_at=datetime.now(UTC),
                    )
                )
                version = step.version
    return version
