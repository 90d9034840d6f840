"""Column types and value conversions shared by every dialect of the ERP store.

SQLite keeps timestamps and dates as text, PostgreSQL as native types. Reading never parses in
the driver: a malformed legacy value must become a typed error for its row, not an exception that
fails a whole batch, so the conversion happens per row in `as_utc` and `as_date`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine, UserDefinedType

from engine.errors import FieldTooLong, InvalidEncoding, InvalidField

# The longest value of each limited text column, in characters (as VARCHAR(n) counts them).
MAX_CHARS: dict[str, int] = {
    "login": 100,
    "user_login": 100,
    "short_name": 20,
    "exchange_mailbox": 320,  # an SMTP address: 64 + @ + 255
    "outlook_account": 320,
    "email": 320,
    "sync_id": 36,
    "subject": 255,  # Exchange's limit too
    "location": 255,
    "name": 255,
    "busy_status": 20,
    "status": 20,
    "response": 20,
    "priority": 10,
    "time_zone": 64,
}


def max_chars(table: sa.Table, column: str) -> int | None:
    """The limit of `table.column` in characters, if it has one."""
    return MAX_CHARS.get(column) if column in table.c else None


# What `surrogateescape` makes of bytes that are not UTF-8 (see database.py's text factory).
_ESCAPED_BYTES = re.compile("[\udc80-\udcff]")


class _SqliteText(UserDefinedType[Any]):
    """A column declared with `name` whose values pass through the driver untouched."""

    cache_ok = True

    def __init__(self, name: str) -> None:
        self.name = name

    def get_col_spec(self, **kw: Any) -> str:
        return self.name


class UtcTimestamp(TypeDecorator[datetime]):
    """A point in time, stored in UTC; read back raw (str on SQLite) and converted by `as_utc`."""

    impl = sa.TIMESTAMP(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(_SqliteText("TIMESTAMP"))
        return dialect.type_descriptor(sa.TIMESTAMP(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"timestamp {value.isoformat()} has no time zone")
        utc = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return utc.replace(tzinfo=None).isoformat(sep=" ")
        return utc

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return value


class LocalDate(TypeDecorator[date]):
    """A calendar date; read back raw (str on SQLite) and converted by `as_date`."""

    impl = sa.Date
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(_SqliteText("DATE"))
        return dialect.type_descriptor(sa.Date())

    def process_bind_param(self, value: date | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return value.isoformat() if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return value


def as_utc(value: object, field: str) -> datetime:
    """A stored timestamp as an aware UTC datetime; naive values are UTC by convention."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        as_text(value, field)
        try:
            parsed = datetime.fromisoformat(value.strip().replace("T", " "))
        except ValueError:
            raise InvalidField(f"{field} {value[:40]!r} is not a timestamp", field=field) from None
    else:
        raise InvalidField(f"{field} is missing or not a timestamp", field=field)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def as_optional_utc(value: object, field: str) -> datetime | None:
    return None if value is None else as_utc(value, field)


def as_date(value: object, field: str) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        as_text(value, field)
        text = value.strip()
        try:
            # A date, or a timestamp at midnight; not any text that starts like a date ("... BC").
            if len(text) <= 10:
                return date.fromisoformat(text)
            return datetime.fromisoformat(text.replace("T", " ")).date()
        except ValueError:
            raise InvalidField(f"{field} {value[:40]!r} is not a date", field=field) from None
    raise InvalidField(f"{field} is not a date", field=field)


def as_text(value: object, field: str) -> str:
    """A stored text, refusing the escaped bytes of invalid UTF-8 (a legacy import's)."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidEncoding(
                f"{field} is not valid UTF-8 (byte {exc.start})", field=field
            ) from None
    if not isinstance(value, str):
        return str(value)
    match = _ESCAPED_BYTES.search(value)
    if match is not None:
        raise InvalidEncoding(
            f"{field} is not valid UTF-8 (byte 0x{ord(match.group()) - 0xDC00:02X} at "
            f"character {match.start()})",
            field=field,
        )
    return value


def as_optional_text(value: object, field: str) -> str | None:
    return None if value is None else as_text(value, field)


def too_long(value: object, limit: int | None) -> int | None:
    """The length of a text longer than `limit`, else None."""
    if limit is None or not isinstance(value, str | bytes) or len(value) <= limit:
        return None
    return len(value)


def check_lengths(table: sa.Table, row: Mapping[Any, Any], what: str = "") -> None:
    """Refuse a row whose text exceeds the schema's limits (`schema.MAX_CHARS`): another writer
    of the ERP database may have stored it where the database did not enforce them."""
    for column in table.columns:
        length = too_long(row.get(column.name), max_chars(table, column.name))
        if length is not None:
            field = f"{what}{column.name}"
            raise FieldTooLong(
                f"{field} is {length:,} characters long; at most "
                f"{max_chars(table, column.name):,} are allowed",
                field=field,
            )
