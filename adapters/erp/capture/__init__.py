"""Change capture: the triggers that fill `change_feed`, one module per dialect.

Everything dialect-specific about capture lives in the dialect's module: the trigger DDL, how the
engine marks its own transaction (origin `sync`), and how feed order is made commit order. The
rest of the adapter is dialect-neutral SQLAlchemy Core. SQL Server will add `mssql.py`
(statement-level triggers over inserted/deleted, `SESSION_CONTEXT` for the origin mark).
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.engine import Connection


class ChangeCapture(Protocol):
    def install(self, conn: Connection) -> None:
        """(Re)create the capture triggers for the current schema; idempotent."""
        ...

    def begin_sync_write(self, conn: Connection) -> None:
        """Mark the open transaction as the engine's: its feed entries get origin `sync`."""
        ...

    def end_sync_write(self, conn: Connection) -> None:
        """Clear the mark before commit, where it is not transaction-scoped by itself."""
        ...


def capture_for(dialect: str) -> ChangeCapture:
    if dialect == "sqlite":
        from adapters.erp.capture.sqlite import SqliteCapture

        return SqliteCapture()
    if dialect == "postgresql":
        from adapters.erp.capture.postgresql import PostgresCapture

        return PostgresCapture()
    raise NotImplementedError(f"no change capture for the {dialect} dialect yet")
