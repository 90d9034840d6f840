"""Changing ERP data as the ERP application would (origin `erp`): for the CLI, demo and tests.

Values given as text (command line, fixture files) are converted by the column's type; a time
without an offset is wall-clock time in the appointment's time zone.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from adapters.erp.columns import LocalDate, UtcTimestamp
from adapters.erp.schema import (
    appointment_exceptions,
    appointment_participants,
    appointments,
    follow_ups,
    tasks,
    users,
)

TABLES: dict[str, sa.Table] = {
    "user": users,
    "appointment": appointments,
    "task": tasks,
    "follow-up": follow_ups,
    "exception": appointment_exceptions,
    "participant": appointment_participants,
}
# Kept by the triggers and the engine; an edit that sets them is a mistake.
_NOT_EDITABLE = {"id", "row_version", "sync_revision", "sync_id"}
_TRUE = {"1", "true", "yes", "on", "y"}
_FALSE = {"0", "false", "no", "off", "n", ""}


class EditError(ValueError):
    """An edit that names an unknown row or column, or a value that does not fit its column."""


def parse_time(text: str, time_zone: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(time_zone))
    return value.astimezone(UTC)


def convert(table: sa.Table, column: str, value: Any, *, time_zone: str = "Europe/Berlin") -> Any:
    """A value for `table.column`, converted from text where it is text."""
    if column not in table.c or column in _NOT_EDITABLE:
        raise EditError(f"{table.name} has no editable column {column!r}")
    if value is None or not isinstance(value, str):
        if isinstance(value, datetime) and value.tzinfo is None:
            return value.replace(tzinfo=ZoneInfo(time_zone))
        return value
    kind = table.c[column].type
    try:
        if isinstance(kind, UtcTimestamp):
            return parse_time(value, time_zone)
        if isinstance(kind, LocalDate):
            return date.fromisoformat(value)
        if isinstance(kind, sa.Boolean):
            if value.strip().lower() in _TRUE:
                return True
            if value.strip().lower() in _FALSE:
                return False
            raise ValueError(f"{value!r} is not yes or no")
        if isinstance(kind, sa.Integer):
            return None if value.strip() == "" else int(value)
    except ValueError as exc:
        raise EditError(f"{table.name}.{column}: {exc}") from None
    return value


class ErpEditor:
    """Inserts, updates and deletes rows like the ERP's own screens do."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def _values(
        self, conn: Connection, table: sa.Table, fields: Mapping[str, Any], row_id: int | None
    ) -> dict[str, Any]:
        time_zone = str(fields.get("time_zone") or "")
        if not time_zone and table is appointments and row_id is not None:
            time_zone = str(
                conn.execute(
                    sa.select(appointments.c.time_zone).where(appointments.c.id == row_id)
                ).scalar_one_or_none()
                or ""
            )
        if not time_zone and table is appointment_exceptions:
            parent = fields.get("appointment_id")
            if parent is None and row_id is not None:
                parent = conn.execute(
                    sa.select(appointment_exceptions.c.appointment_id).where(
                        appointment_exceptions.c.id == row_id
                    )
                ).scalar_one_or_none()
            if parent is not None:
                time_zone = str(
                    conn.execute(
                        sa.select(appointments.c.time_zone).where(appointments.c.id == int(parent))
                    ).scalar_one_or_none()
                    or ""
                )
        return {
            name: convert(table, name, value, time_zone=time_zone or "Europe/Berlin")
            for name, value in fields.items()
        }

    def add(self, kind: str, fields: Mapping[str, Any]) -> int:
        table = _table(kind)
        with self._engine.begin() as conn:
            values = self._values(conn, table, fields, None)
            return int(
                conn.execute(table.insert().values(values).returning(table.c.id)).scalar_one()
            )

    def edit(self, kind: str, row_id: int, fields: Mapping[str, Any]) -> None:
        table = _table(kind)
        if not fields:
            raise EditError("nothing to change")
        with self._engine.begin() as conn:
            values = self._values(conn, table, fields, row_id)
            if (
                conn.execute(table.update().where(table.c.id == row_id).values(values)).rowcount
                == 0
            ):
                raise EditError(f"there is no {kind} {row_id}")

    def delete(self, kind: str, row_id: int) -> None:
        table = _table(kind)
        with self._engine.begin() as conn:
            if conn.execute(table.delete().where(table.c.id == row_id)).rowcount == 0:
                raise EditError(f"there is no {kind} {row_id}")

    def set_exception(
        self, appointment_id: int, original_start: Any, fields: Mapping[str, Any]
    ) -> int:
        """Modify or delete one occurrence of a series (R2), replacing an earlier exception."""
        with self._engine.begin() as conn:
            values = self._values(
                conn,
                appointment_exceptions,
                {"appointment_id": appointment_id, "original_start": original_start, **fields},
                None,
            )
            key = (
                appointment_exceptions.c.appointment_id == appointment_id,
                appointment_exceptions.c.original_start == values["original_start"],
            )
            existing = conn.execute(
                sa.select(appointment_exceptions.c.id).where(*key)
            ).scalar_one_or_none()
            if existing is not None:
                conn.execute(
                    appointment_exceptions.update()
                    .where(appointment_exceptions.c.id == existing)
                    .values(values)
                )
                return int(existing)
            return int(
                conn.execute(
                    appointment_exceptions.insert()
                    .values(values)
                    .returning(appointment_exceptions.c.id)
                ).scalar_one()
            )

    def load(self, path: Path) -> dict[str, int]:
        """Add the rows of a TOML or JSON fixture: `[[user]]`, `[[appointment]]` (with optional
        `participants` and `exceptions` lists), `[[task]]`, `[[follow-up]]`. Returns counts."""
        raw = path.read_bytes()
        data: dict[str, Any] = (
            json.loads(raw) if path.suffix.lower() == ".json" else tomllib.loads(raw.decode())
        )
        counts: dict[str, int] = {}
        for kind in ("user", "appointment", "task", "follow-up"):
            for record in data.get(kind, []):
                fields = dict(record)
                participants = fields.pop("participants", [])
                exceptions = fields.pop("exceptions", [])
                row_id = self.add(kind, fields)
                for participant in participants:
                    self.add("participant", {"appointment_id": row_id, **participant})
                for exception in exceptions:
                    exception = dict(exception)
                    self.set_exception(row_id, exception.pop("original_start"), exception)
                counts[kind] = counts.get(kind, 0) + 1
        return counts


def _table(kind: str) -> sa.Table:
    try:
        return TABLES[kind]
    except KeyError:
        raise EditError(f"unknown kind {kind!r}; one of {', '.join(TABLES)}") from None
