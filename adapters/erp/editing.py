"""Changing ERP data as the ERP application would (origin `erp`): for the CLI, demo and tests.

Values given as text (command line, fixture files) are converted by the column's type; a time
without an offset is wall-clock time in the appointment's time zone. Every value is checked
against its column before anything is written — its type, the schema's length limits
(`columns.MAX_CHARS`, the same on every database), text both databases can store — and every
problem is an `EditError` whose one line names the field and what to do about it. Appointments
and tasks belong to an existing user; a modified or deleted occurrence must be an occurrence of
its series. A `checked` editor (the CLI's) also refuses values the engine would park: unknown
time zones, values outside their set, rules Exchange cannot express, malformed addresses.
Without it, tests can still store such rows, as another ERP program could.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from adapters.erp.columns import LocalDate, UtcTimestamp, as_utc, max_chars
from adapters.erp.database import writing
from adapters.erp.schema import (
    appointment_exceptions,
    appointment_participants,
    appointments,
    follow_ups,
    tasks,
    users,
)
from adapters.erp.series import occurrence_problem, rule_problem
from engine.eligibility import address_problem
from engine.errors import InvalidItem
from engine.model import BusyStatus, Priority, ResponseStatus, TaskStatus, zone

TABLES: dict[str, sa.Table] = {
    "user": users,
    "appointment": appointments,
    "task": tasks,
    "follow-up": follow_ups,
    "exception": appointment_exceptions,
    "participant": appointment_participants,
}
DEFAULT_ZONE = "Europe/Berlin"
# Kept by the triggers and the engine; an edit that sets them is a mistake.
_NOT_EDITABLE = {"id", "row_version", "sync_revision", "sync_id"}
_TRUE = {"1", "true", "yes", "on", "y"}
_FALSE = {"0", "false", "no", "off", "n", ""}
_INTEGERS = (-(2**31), 2**31 - 1)  # PostgreSQL's INTEGER: the limit on every database
_CHOICES: dict[str, tuple[str, ...]] = {
    "busy_status": tuple(BusyStatus),
    "status": tuple(TaskStatus),
    "priority": tuple(Priority),
    "response": tuple(ResponseStatus),
}
_ADDRESSES = {"exchange_mailbox", "email"}


class EditError(ValueError):
    """An edit that names an unknown row or column, or a value that does not fit its column."""


class UnknownUser(EditError):
    """An appointment or task for a login the ERP does not have."""


class NotAnOccurrence(EditError):
    """A modified or deleted occurrence that is not on its series' pattern."""


def shown(value: object, limit: int = 40) -> str:
    """A value as an error message quotes it: short, on one line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def known_zone(name: str) -> ZoneInfo:
    try:
        return zone(name)
    except InvalidItem:
        raise EditError(
            f"unknown time zone {shown(name)}: use an IANA name such as Europe/Berlin"
        ) from None


def parse_time(text: str, time_zone: str) -> datetime:
    """An ISO time; without an offset it is wall-clock time in `time_zone`."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise EditError(
            f"{shown(text)} is not a time: write it as 2026-11-02T09:00 or 2026-11-02T09:00+01:00"
        ) from None
    return _aware(value, time_zone)


def _aware(value: datetime, time_zone: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=known_zone(time_zone))
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise EditError(f"{value.isoformat()} is outside the years 1 to 9999") from None


def convert(
    table: sa.Table,
    column: str,
    value: Any,
    *,
    time_zone: str = DEFAULT_ZONE,
    checked: bool = False,
) -> Any:
    """A value for `table.column`, converted from text where it is text, and checked."""
    if not isinstance(column, str) or column not in table.c or column in _NOT_EDITABLE:
        editable = ", ".join(c.name for c in table.columns if c.name not in _NOT_EDITABLE)
        raise EditError(f"{table.name} has no column {shown(column)}; editable are {editable}")
    where = f"{table.name}.{column}"
    if value is None:
        if not table.c[column].nullable:
            raise EditError(f"{where} cannot be empty: give a value or leave it out")
        return None
    try:
        converted = _typed(table.c[column].type, value, time_zone)
        if converted is None and not table.c[column].nullable:
            raise EditError("cannot be empty: give a value or leave it out")
        if isinstance(converted, str):
            _check_text(converted, max_chars(table, column))
            if checked:
                _check_domain(column, converted)
    except EditError as exc:
        raise EditError(f"{where}: {exc}") from None
    return converted


def _typed(kind: sa.types.TypeEngine[Any], value: Any, time_zone: str) -> Any:
    if isinstance(kind, UtcTimestamp):
        if isinstance(value, str):
            return parse_time(value, time_zone)
        if isinstance(value, datetime):
            return _aware(value, time_zone)
        raise EditError(f"{shown(value)} is not a time: write it as 2026-11-02T09:00")
    if isinstance(kind, LocalDate):
        if isinstance(value, datetime):
            raise EditError(f"{shown(value)} is a time, not a date: write it as 2026-11-06")
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                pass
        raise EditError(f"{shown(value)} is not a date: write it as 2026-11-06")
    if isinstance(kind, sa.Boolean):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise EditError(f"{shown(value)} is not yes or no")
    if isinstance(kind, sa.Integer):
        number = value
        if isinstance(value, str):
            if not value.strip():
                return None
            try:
                number = int(value.strip())
            except ValueError:
                raise EditError(f"{shown(value)} is not a whole number") from None
        if isinstance(number, bool) or not isinstance(number, int):
            raise EditError(f"{shown(value)} is not a whole number")
        if not _INTEGERS[0] <= number <= _INTEGERS[1]:
            raise EditError(f"{number} is outside {_INTEGERS[0]}..{_INTEGERS[1]}")
        return number
    if not isinstance(value, str):
        raise EditError(f"{shown(value)} is not text: put it in quotes")
    return value


def _check_text(text: str, limit: int | None) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = text[exc.start]
        byte = f" (byte 0x{ord(bad) - 0xDC00:02X})" if "\udc80" <= bad <= "\udcff" else ""
        raise EditError(
            f"is not UTF-8 text{byte} at character {exc.start}: give it in UTF-8"
        ) from None
    if "\x00" in text:
        raise EditError(f"contains a NUL character at {text.index(chr(0))}: remove it")
    if limit is not None and len(text) > limit:
        raise EditError(
            f"is {len(text):,} characters long; at most {limit:,} are allowed: shorten it"
        )


def _check_domain(column: str, text: str) -> None:
    """What the engine would otherwise park (the CLI refuses it at once)."""
    if column == "time_zone":
        known_zone(text)
    elif column in _CHOICES and text not in _CHOICES[column]:
        raise EditError(f"{shown(text)} is not one of {', '.join(_CHOICES[column])}")
    elif column in _ADDRESSES:
        problem = address_problem(text)
        if problem is not None:
            raise EditError(f"{shown(text)} is not an e-mail address: {problem}")


class ErpEditor:
    """Inserts, updates and deletes rows like the ERP's own screens do."""

    def __init__(self, engine: Engine, *, checked: bool = False) -> None:
        self._engine = engine
        self._checked = checked

    @property
    def engine(self) -> Engine:
        return self._engine

    # ---- one change, one transaction ---------------------------------------------------------

    def add(self, kind: str, fields: Mapping[str, Any]) -> int:
        with writing(self._engine) as conn:
            return self.add_in(conn, kind, fields)

    def edit(self, kind: str, row_id: int, fields: Mapping[str, Any]) -> None:
        with writing(self._engine) as conn:
            self.edit_in(conn, kind, row_id, fields)

    def delete(self, kind: str, row_id: int) -> None:
        table = _table(kind)
        with writing(self._engine) as conn:
            if conn.execute(table.delete().where(table.c.id == row_id)).rowcount == 0:
                raise EditError(f"there is no {kind} {row_id}")

    def set_exception(
        self, appointment_id: int, original_start: Any, fields: Mapping[str, Any]
    ) -> int:
        """Modify or delete one occurrence of a series (R2), replacing an earlier exception."""
        with writing(self._engine) as conn:
            return self.set_exception_in(conn, appointment_id, original_start, fields)

    # ---- within a transaction of the caller's (`load` makes many in one) --------------------

    def add_in(self, conn: Connection, kind: str, fields: Mapping[str, Any]) -> int:
        table = _table(kind)
        values = self._values(conn, table, fields, None)
        missing = [c for c in _required(table) if values.get(c) is None]
        if missing:
            article = "an" if kind in ("appointment", "exception") else "a"
            raise EditError(f"{article} {kind} needs {', '.join(missing)}")
        self._check_item(conn, table, values, None)
        row_id = int(conn.execute(table.insert().values(values).returning(table.c.id)).scalar_one())
        self._check_series(conn, table, row_id)
        return row_id

    def edit_in(self, conn: Connection, kind: str, row_id: int, fields: Mapping[str, Any]) -> None:
        table = _table(kind)
        if not fields:
            raise EditError("nothing to change")
        values = self._values(conn, table, fields, row_id)
        self._check_item(conn, table, values, row_id)
        if conn.execute(table.update().where(table.c.id == row_id).values(values)).rowcount == 0:
            raise EditError(f"there is no {kind} {row_id}")
        self._check_series(conn, table, row_id)

    def set_exception_in(
        self, conn: Connection, appointment_id: int, original_start: Any, fields: Mapping[str, Any]
    ) -> int:
        values = self._values(
            conn,
            appointment_exceptions,
            {**fields, "appointment_id": appointment_id, "original_start": original_start},
            None,
        )
        self._check_item(conn, appointment_exceptions, values, None)
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

    def values_in(
        self, conn: Connection, table: sa.Table, fields: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The fields converted and checked for `table`, as a new row would get them."""
        return self._values(conn, table, fields, None)

    # ---- checks --------------------------------------------------------------------------------

    def _values(
        self, conn: Connection, table: sa.Table, fields: Mapping[str, Any], row_id: int | None
    ) -> dict[str, Any]:
        time_zone = fields.get("time_zone") if table is appointments else None
        if not isinstance(time_zone, str) or not time_zone:
            time_zone = self._stored_zone(conn, table, fields, row_id)
        return {
            name: convert(table, name, value, time_zone=time_zone, checked=self._checked)
            for name, value in fields.items()
        }

    def _stored_zone(
        self, conn: Connection, table: sa.Table, fields: Mapping[str, Any], row_id: int | None
    ) -> str:
        """The zone a time without offset is in: its appointment's (or its series')."""
        appointment: Any = row_id if table is appointments else None
        if table is appointment_exceptions:
            appointment = fields.get("appointment_id")
            if appointment is None and row_id is not None:
                appointment = conn.execute(
                    sa.select(appointment_exceptions.c.appointment_id).where(
                        appointment_exceptions.c.id == row_id
                    )
                ).scalar_one_or_none()
        if isinstance(appointment, int) and not isinstance(appointment, bool):
            stored = conn.execute(
                sa.select(appointments.c.time_zone).where(appointments.c.id == appointment)
            ).scalar_one_or_none()
            if isinstance(stored, str) and stored:
                return stored
        return DEFAULT_ZONE

    def _check_item(
        self, conn: Connection, table: sa.Table, values: Mapping[str, Any], row_id: int | None
    ) -> None:
        _check_unique(conn, table, values, row_id)
        login = values.get("user_login")
        if "user_login" in table.c and login is not None:
            found = conn.execute(
                sa.select(users.c.login).where(sa.func.lower(users.c.login) == login.lower())
            ).first()
            if found is None:
                raise UnknownUser(
                    f"there is no ERP user {shown(login)}: add the user first "
                    f"(einklang erp add-user {login}) or correct the login"
                )
        parent = values.get("appointment_id")
        if parent is not None:
            exists = conn.execute(
                sa.select(appointments.c.id).where(appointments.c.id == parent)
            ).first()
            if exists is None:
                raise EditError(f"there is no appointment {parent}")
        original = values.get("original_start")
        if table is appointment_exceptions and original is not None:
            if parent is None:
                parent = conn.execute(
                    sa.select(appointment_exceptions.c.appointment_id).where(
                        appointment_exceptions.c.id == row_id
                    )
                ).scalar_one_or_none()
                if parent is None:
                    raise EditError(f"there is no exception {row_id}")
            series = conn.execute(
                sa.select(
                    appointments.c.rrule, appointments.c.starts_at, appointments.c.time_zone
                ).where(appointments.c.id == parent)
            ).one()
            problem = occurrence_problem(series.rrule, series.starts_at, series.time_zone, original)
            if problem is not None:
                raise NotAnOccurrence(f"appointment {parent}: {problem}")

    def _check_series(self, conn: Connection, table: sa.Table, row_id: int) -> None:
        """A checked editor refuses a rule the engine could not sync (after the write, so that
        the rule is read with the row's own start and zone)."""
        if not self._checked or table is not appointments:
            return
        row = conn.execute(
            sa.select(
                appointments.c.rrule, appointments.c.starts_at, appointments.c.time_zone
            ).where(appointments.c.id == row_id)
        ).one()
        if row.rrule is None or not row.rrule.strip():
            return
        problem = rule_problem(row.rrule, as_utc(row.starts_at, "start"), row.time_zone)
        if problem is not None:
            raise EditError(f"appointments.rrule: {problem}")


def _check_unique(
    conn: Connection, table: sa.Table, values: Mapping[str, Any], row_id: int | None
) -> None:
    """A value another row has in a unique column (a login, an appointment's participant)."""
    for constraint in table.constraints:
        if not isinstance(constraint, sa.UniqueConstraint):
            continue
        names = [c.name for c in constraint.columns]
        if table is appointment_exceptions or not all(n in values for n in names):
            continue  # set_exception replaces the exception of an original start
        query = sa.select(table.c.id).where(*(table.c[n] == values[n] for n in names))
        if row_id is not None:
            query = query.where(table.c.id != row_id)
        if conn.execute(query.limit(1)).first() is not None:
            given = ", ".join(f"{n} {shown(values[n])}" for n in names)
            raise EditError(f"{table.name} already has a row with {given}: change that one")


def _required(table: sa.Table) -> list[str]:
    """The columns an insert must set: no default, not nullable, not kept by the triggers."""
    return [
        c.name
        for c in table.columns
        if not c.nullable
        and c.server_default is None
        and not c.primary_key
        and c.name not in _NOT_EDITABLE
    ]


def _table(kind: str) -> sa.Table:
    try:
        return TABLES[kind]
    except KeyError:
        raise EditError(f"unknown kind {shown(kind)}; one of {', '.join(TABLES)}") from None
