"""Loading ERP rows as domain snapshots, many rows per query.

Each row becomes either a valid snapshot or the typed error that prevents one; nothing a row
contains can make a whole batch fail.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adapters.erp.columns import (
    as_date,
    as_optional_text,
    as_optional_utc,
    as_text,
    as_utc,
    check_lengths,
)
from adapters.erp.feed import chunks
from adapters.erp.lenient import Unreadable
from adapters.erp.schema import (
    appointment_exceptions,
    appointment_participants,
    appointments,
    tasks,
    users,
)
from engine.errors import InvalidField, InvalidItem
from engine.model import Appointment, ItemKind, Task, User, build, zone
from engine.observation import ItemError
from engine.recurrence import parse_rrule

log = logging.getLogger(__name__)

# Error messages go into every observation; a 5 MB value must not.
MAX_MESSAGE_CHARS = 300

Row = sa.RowMapping


@dataclass(frozen=True, slots=True)
class LoadedItem:
    """One appointment or task row: its identity, version and snapshot (or why there is none)."""

    kind: ItemKind
    row_id: int
    user_login: str
    sync_id: uuid.UUID | None
    row_version: int
    snapshot: Appointment | Task | None
    error: ItemError | None


def item_error(error: InvalidItem) -> ItemError:
    message = error.message
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[: MAX_MESSAGE_CHARS - 1] + "…"
    return ItemError(code=error.code, message=message, field=error.field)


def load_items(conn: Connection, kind: ItemKind, ids: Iterable[int]) -> dict[int, LoadedItem]:
    """The rows with these ids that exist, by id."""
    wanted = sorted(set(ids))
    loaded: dict[int, LoadedItem] = {}
    for chunk in chunks(wanted):
        if kind is ItemKind.APPOINTMENT:
            loaded.update(_load_appointments(conn, chunk))
        else:
            loaded.update(_load_tasks(conn, chunk))
    return loaded


def item_ids_of_user(
    conn: Connection, kind: ItemKind, user: str, *, after: int, limit: int
) -> list[int]:
    table = appointments if kind is ItemKind.APPOINTMENT else tasks
    rows = conn.execute(
        sa.select(table.c.id)
        .where(table.c.user_login == user, table.c.id > after)
        .order_by(table.c.id)
        .limit(limit)
    )
    return [int(r[0]) for r in rows]


def _load_appointments(conn: Connection, ids: Sequence[int]) -> dict[int, LoadedItem]:
    rows = conn.execute(sa.select(appointments).where(appointments.c.id.in_(ids))).mappings()
    exceptions: dict[int, list[Row]] = {}
    for ex in conn.execute(
        sa.select(appointment_exceptions).where(appointment_exceptions.c.appointment_id.in_(ids))
    ).mappings():
        exceptions.setdefault(int(ex["appointment_id"]), []).append(ex)
    participants: dict[int, list[Row]] = {}
    for p in conn.execute(
        sa.select(appointment_participants).where(
            appointment_participants.c.appointment_id.in_(ids)
        )
    ).mappings():
        participants.setdefault(int(p["appointment_id"]), []).append(p)
    loaded: dict[int, LoadedItem] = {}
    for row in rows:
        row_id = int(row["id"])
        loaded[row_id] = _loaded(
            ItemKind.APPOINTMENT,
            row,
            partial(
                appointment_snapshot, row, exceptions.get(row_id, []), participants.get(row_id, [])
            ),
        )
    return loaded


def _load_tasks(conn: Connection, ids: Sequence[int]) -> dict[int, LoadedItem]:
    rows = conn.execute(sa.select(tasks).where(tasks.c.id.in_(ids))).mappings()
    return {
        int(row["id"]): _loaded(ItemKind.TASK, row, partial(task_snapshot, row)) for row in rows
    }


# The field an error names for a column (as the conversions below name it), where not the column.
_APPOINTMENT_FIELDS = {"starts_at": "start", "ends_at": "end"}
_OCCURRENCE_FIELDS = {"starts_at": "occurrence start", "ends_at": "occurrence end"}


def readable(row: Row, fields: Mapping[str, str], what: str = "") -> None:
    """Refuse a row with a value the driver could not convert (PostgreSQL's `infinity`, say)."""
    for column, value in row.items():
        if isinstance(value, Unreadable):
            shown = f" {value.text[:40]!r}" if value.text else ""
            raise InvalidField(
                f"{what}{column}{shown} cannot be synchronised: {value.reason}",
                field=fields.get(str(column), str(column)),
            )


def _version(row: Row) -> int:
    try:
        return int(row["row_version"])
    except (TypeError, ValueError):
        return 0  # not a version the engine can have seen: any write of it is refused


def _loaded(kind: ItemKind, row: Row, snapshot: Callable[[], Appointment | Task]) -> LoadedItem:
    error: ItemError | None = None
    built: Appointment | Task | None = None
    sync_id: uuid.UUID | None = None
    try:
        raw_sync_id = as_optional_text(row["sync_id"], "sync_id")
        if raw_sync_id is not None:
            try:
                sync_id = uuid.UUID(raw_sync_id)
            except ValueError:
                raise InvalidField(
                    f"sync id {raw_sync_id[:40]!r} is not a UUID", field="sync_id"
                ) from None
        built = snapshot()
    except InvalidItem as exc:
        error = item_error(exc)
    except (ValueError, TypeError, OverflowError) as exc:
        error = item_error(InvalidField(f"unreadable row: {exc}"))
    return LoadedItem(
        kind=kind,
        row_id=int(row["id"]),
        user_login=str(row["user_login"]),
        sync_id=sync_id,
        row_version=_version(row),
        snapshot=built,
        error=error,
    )


def appointment_snapshot(row: Row, exceptions: list[Row], participants: list[Row]) -> Appointment:
    readable(row, _APPOINTMENT_FIELDS)
    check_lengths(appointments, row)
    for ex in exceptions:
        check_lengths(appointment_exceptions, ex, "occurrence ")
    for p in participants:
        check_lengths(appointment_participants, p, "participant ")
    time_zone = as_text(row["time_zone"], "time_zone")
    tz = zone(time_zone)
    start = as_utc(row["starts_at"], "start")
    end = as_utc(row["ends_at"], "end")
    subject = as_text(row["subject"], "subject")
    location = as_text(row["location"], "location")
    busy_status = as_text(row["busy_status"], "busy_status")
    rrule = as_optional_text(row["rrule"], "rrule")
    recurrence = None
    if rrule is not None and rrule.strip():
        recurrence = parse_rrule(rrule, dtstart=start.astimezone(tz))
    modified: list[dict[str, Any]] = []
    deleted = []
    for ex in exceptions:
        readable(ex, _OCCURRENCE_FIELDS, "occurrence ")
        original = as_utc(ex["original_start"], "original_start")
        if ex["deleted"]:
            deleted.append(original)
            continue
        # NULL in an exception means "as in the series" (the ERP stores only what deviates).
        occurrence_start = as_optional_utc(ex["starts_at"], "occurrence start") or original
        occurrence_end = as_optional_utc(ex["ends_at"], "occurrence end") or (
            occurrence_start + (end - start)
        )
        modified.append(
            {
                "original_start": original,
                "start": occurrence_start,
                "end": occurrence_end,
                "subject": _or_series(ex["subject"], subject, "occurrence subject"),
                "location": _or_series(ex["location"], location, "occurrence location"),
                "busy_status": _or_series(ex["busy_status"], busy_status, "occurrence busy_status"),
            }
        )
    return build(
        Appointment,
        {
            "subject": subject,
            "info_text": as_text(row["info_text"], "info_text"),
            "start": start,
            "end": end,
            "all_day": bool(row["all_day"]),
            "location": location,
            "busy_status": busy_status,
            "private": bool(row["private"]),
            "reminder_minutes": row["reminder_minutes"],
            "time_zone": time_zone,
            "recurrence": recurrence,
            "modified_occurrences": modified,
            "deleted_occurrences": deleted,
            "participants": [
                {
                    "email": as_text(p["email"], "participant email"),
                    "name": as_text(p["name"], "participant name"),
                    "required": bool(p["required"]),
                    "response": as_text(p["response"], "participant response"),
                }
                for p in participants
            ],
        },
    )


def _or_series(value: object, series_value: str, field: str) -> str:
    return series_value if value is None else as_text(value, field)


def task_snapshot(row: Row) -> Task:
    readable(row, {})
    check_lengths(tasks, row)
    return build(
        Task,
        {
            "subject": as_text(row["subject"], "subject"),
            "info_text": as_text(row["info_text"], "info_text"),
            "start": as_date(row["start_date"], "start_date"),
            "due": as_date(row["due_date"], "due_date"),
            "status": as_text(row["status"], "status"),
            "percent_complete": row["percent_complete"],
            "priority": as_text(row["priority"], "priority"),
            "reminder_at": as_optional_utc(row["reminder_at"], "reminder_at"),
            "completed_at": as_optional_utc(row["completed_at"], "completed_at"),
        },
    )


def load_users(conn: Connection, ids: Iterable[int] | None = None) -> dict[int, User]:
    """Users by row id (all of them when `ids` is None)."""
    query = sa.select(users).order_by(users.c.id)
    if ids is None:
        return {int(row["id"]): user_from_row(row) for row in conn.execute(query).mappings()}
    loaded: dict[int, User] = {}
    for chunk in chunks(sorted(set(ids))):
        for row in conn.execute(query.where(users.c.id.in_(chunk))).mappings():
            loaded[int(row["id"])] = user_from_row(row)
    return loaded


def user_from_row(row: Row) -> User:
    login = str(row["login"])
    try:
        check_lengths(users, row)
        return User(
            login=as_text(login, "login"),
            short_name=as_text(row["short_name"], "short_name"),
            mailbox=as_optional_text(row["exchange_mailbox"], "exchange_mailbox"),
            mailbox_shared=bool(row["exchange_mailbox_shared"]),
            outlook_account=as_optional_text(row["outlook_account"], "outlook_account"),
            allow_sync=bool(row["allow_exchange_sync"]),
            locked=bool(row["locked"]),
            valid_from=_validity(row["valid_from"], "valid_from"),
            valid_until=_validity(row["valid_until"], "valid_until"),
        )
    except (InvalidItem, ValueError) as exc:
        # An unreadable user is not synchronised (a scope change, never a deletion: R17).
        log.warning("ERP user row %s is unreadable, treated as not allowed: %s", row["id"], exc)
        return User(login=login, allow_sync=False, unreadable=str(exc)[:MAX_MESSAGE_CHARS])


def _validity(value: object, field: str) -> date | None:
    """A login's validity bound; -infinity and infinity (PostgreSQL's, or as text) mean none."""
    text = value.text if isinstance(value, Unreadable) else value
    if isinstance(text, str) and text.strip().lower() in ("-infinity", "infinity"):
        return None
    return as_date(value, field)
