"""The real ERP adapter on a temporary SQLite database, used the way the engine tests use FakeErp.

`SqlErp` is an `ErpPort` (every port method is the `ErpStore`'s) plus the fake's helpers for
acting as a person in the ERP: `create`, `edit` and `delete` go through `ErpEditor`, so they are
ordinary ERP transactions (origin `erp`) that the capture triggers turn into feed entries. The
helpers speak the fake's vocabulary (domain field names, `rrule` text, occurrence and participant
lists) and translate it to the ERP's columns and child rows. Nothing is validated on the way in:
a person can store nonsense, which the adapter reports when the engine reads it.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, ValuesView
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from pydantic import BaseModel

from adapters.erp.columns import as_date, as_optional_utc, as_utc
from adapters.erp.database import create_erp_engine, reading
from adapters.erp.editing import ErpEditor
from adapters.erp.schema import (
    appointment_exceptions,
    appointment_participants,
    appointments,
    tasks,
    users,
)
from adapters.erp.snapshots import load_items
from adapters.erp.store import ErpStore
from engine.errors import InvalidItem
from engine.model import Appointment, ItemKind, Side, Task, User
from engine.observation import Observation, derive_stream_id
from engine.ports import ErpBatch, ErpPort, Write, WriteResult

Clock = Callable[[], datetime]

# The ERP numbers appointments and tasks separately; the tests name a row by its id alone (as the
# fake's single id space allows), so task ids start far above any appointment id.
FIRST_TASK_ID = 1_000_001

# The fake's field names that the ERP stores under another column name.
_APPOINTMENT_COLUMNS = {"start": "starts_at", "end": "ends_at"}
_TASK_COLUMNS = {"start": "start_date", "due": "due_date"}
# Kept in child rows of the appointment, not in its columns.
_DETAILS = ("modified_occurrences", "deleted_occurrences", "participants")
_DELETED_OCCURRENCE = {
    "deleted": True,
    "starts_at": None,
    "ends_at": None,
    "subject": None,
    "location": None,
    "busy_status": None,
}


class ErpRowLike(Protocol):
    """One appointment or task row, its content in the fake's vocabulary."""

    @property
    def id(self) -> int: ...
    @property
    def kind(self) -> ItemKind: ...
    @property
    def user(self) -> str: ...
    @property
    def data(self) -> dict[str, Any]: ...
    @property
    def sync_id(self) -> uuid.UUID | None: ...


class ErpUnderTest(ErpPort, Protocol):
    """What the engine tests need of an ERP: the port, and a person's hands in the ERP."""

    fail_next_writes: list[Exception]

    @property
    def rows(self) -> Mapping[int, ErpRowLike]: ...
    def save_user(self, user: User) -> None: ...
    def create(self, user: str, kind: ItemKind, **data: Any) -> str: ...
    def edit(self, native_id: str, **changes: Any) -> None: ...
    def delete(self, native_id: str) -> None: ...
    def snapshot_of(self, native_id: str) -> Appointment | Task: ...
    def items_of(self, user: str, kind: ItemKind | None = None) -> Sequence[ErpRowLike]: ...
    def stream_id_of(self, native_id: str) -> uuid.UUID: ...


ErpFactory = Callable[[Clock], ErpUnderTest]


@dataclass(frozen=True)
class SqlRow:
    id: int
    kind: ItemKind
    user: str
    data: dict[str, Any]
    version: int
    sync_id: uuid.UUID | None


class SqlErp:
    """An ERP database in `path` (a temporary directory of its own when None), or at `url`
    (a PostgreSQL server, in `schema`)."""

    def __init__(
        self,
        clock: Clock,
        path: Path | None = None,
        *,
        url: str | None = None,
        schema: str | None = None,
    ) -> None:
        self._own_directory: Path | None = None
        if url is None:
            if path is None:
                self._own_directory = Path(tempfile.mkdtemp(prefix="einklang-erp-"))
                path = self._own_directory / "erp.sqlite3"
            url = f"sqlite:///{path}"
        self.store = ErpStore(url, schema=schema, clock=clock)
        self.store.init()
        # The ERP application is another program: a connection pool of its own.
        self._person = create_erp_engine(url, schema=schema)
        self._editor = ErpEditor(self._person)
        with self._person.begin() as conn:
            if self._person.dialect.name == "sqlite":
                conn.execute(
                    sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES ('tasks', :seq)"),
                    {"seq": FIRST_TASK_ID - 1},
                )
            else:
                conn.execute(sa.text(f"ALTER SEQUENCE tasks_id_seq RESTART WITH {FIRST_TASK_ID}"))
        self.fail_next_writes: list[Exception] = []
        self.rows = SqlRows(self._person)

    def close(self) -> None:
        self.store.close()
        self._person.dispose()
        if self._own_directory is not None:
            shutil.rmtree(self._own_directory, ignore_errors=True)

    # ---- acting as a person in the ERP ----------------------------------------------------

    def save_user(self, user: User) -> None:
        values = {
            "login": user.login,
            "short_name": user.short_name,
            "exchange_mailbox": user.mailbox,
            "exchange_mailbox_shared": user.mailbox_shared,
            "outlook_account": user.outlook_account,
            "allow_exchange_sync": user.allow_sync,
            "locked": user.locked,
            "valid_from": user.valid_from,
            "valid_until": user.valid_until,
        }
        with self._person.connect() as conn:
            row_id = conn.execute(
                sa.select(users.c.id).where(users.c.login == user.login)
            ).scalar_one_or_none()
        if row_id is None:
            self._editor.add("user", values)
        else:
            self._editor.edit("user", int(row_id), values)

    def create(self, user: str, kind: ItemKind, **data: Any) -> str:
        columns = _columns(kind, data)
        row_id = self._editor.add(kind.value, {"user_login": user, **columns})
        self._write_details(row_id, data)
        return str(row_id)

    def edit(self, native_id: str, **changes: Any) -> None:
        row_id, kind = int(native_id), _kind_of(native_id)
        columns = _columns(kind, changes)
        if columns:
            self._editor.edit(kind.value, row_id, columns)
        self._write_details(row_id, changes)

    def delete(self, native_id: str) -> None:
        self._editor.delete(_kind_of(native_id).value, int(native_id))

    def snapshot_of(self, native_id: str) -> Appointment | Task:
        row_id = int(native_id)
        with reading(self._person) as conn:
            loaded = load_items(conn, _kind_of(native_id), [row_id])[row_id]
        if loaded.snapshot is None:
            raise InvalidItem(f"ERP row {native_id} is not a valid item: {loaded.error}")
        return loaded.snapshot

    def items_of(self, user: str, kind: ItemKind | None = None) -> list[SqlRow]:
        return [r for r in self.rows.values() if r.user == user and kind in (None, r.kind)]

    def stream_id_of(self, native_id: str) -> uuid.UUID:
        row = self.rows[int(native_id)]
        return row.sync_id or derive_stream_id(Side.ERP, row.user, row.kind, native_id)

    def _write_details(self, row_id: int, data: Mapping[str, Any]) -> None:
        if "participants" in data:
            self._replace_participants(row_id, [_plain(p) for p in data["participants"] or ()])
        modified = data.get("modified_occurrences")
        deleted = data.get("deleted_occurrences")
        if modified is not None or deleted is not None:
            self._replace_exceptions(
                row_id,
                None if modified is None else [_plain(o) for o in modified],
                None if deleted is None else list(deleted),
            )

    def _replace_participants(self, row_id: int, wanted: list[dict[str, Any]]) -> None:
        emails = {str(p["email"]) for p in wanted}
        with self._person.connect() as conn:
            existing = {
                str(email): int(participant_id)
                for email, participant_id in conn.execute(
                    sa.select(
                        appointment_participants.c.email, appointment_participants.c.id
                    ).where(appointment_participants.c.appointment_id == row_id)
                )
            }
        for email, participant_id in existing.items():
            if email not in emails:
                self._editor.delete("participant", participant_id)
        for participant in wanted:
            found = existing.get(str(participant["email"]))
            if found is None:
                self._editor.add("participant", {"appointment_id": row_id, **participant})
            else:
                self._editor.edit("participant", found, participant)

    def _replace_exceptions(
        self,
        row_id: int,
        modified: list[dict[str, Any]] | None,
        deleted: list[datetime] | None,
    ) -> None:
        """Replace the modified and/or deleted occurrences given, keeping the other kind."""
        wanted_modified = {as_utc(o["original_start"], "original_start") for o in modified or ()}
        wanted_deleted = {as_utc(d, "deleted occurrence") for d in deleted or ()}
        with self._person.connect() as conn:
            existing = conn.execute(
                sa.select(
                    appointment_exceptions.c.id,
                    appointment_exceptions.c.original_start,
                    appointment_exceptions.c.deleted,
                ).where(appointment_exceptions.c.appointment_id == row_id)
            ).all()
        for exception_id, original, is_deleted in existing:
            replaced = deleted if is_deleted else modified
            start = as_utc(original, "original_start")
            if replaced is not None and start not in wanted_modified | wanted_deleted:
                self._editor.delete("exception", exception_id)
        for start in wanted_deleted:
            self._editor.set_exception(row_id, start, _DELETED_OCCURRENCE)
        for occurrence in modified or ():
            self._editor.set_exception(
                row_id,
                occurrence["original_start"],
                {
                    "deleted": False,
                    "starts_at": occurrence.get("start"),
                    "ends_at": occurrence.get("end"),
                    "subject": occurrence.get("subject"),
                    "location": occurrence.get("location"),
                    "busy_status": _plain_value(occurrence.get("busy_status")),
                },
            )

    # ---- ErpPort: the adapter itself ------------------------------------------------------

    def users(self) -> Sequence[User]:
        return self.store.users()

    def feed_position(self) -> int:
        return self.store.feed_position()

    def read_changes(self, position: int, limit: int = 1000) -> ErpBatch:
        return self.store.read_changes(position, limit)

    def wait_for_changes(self, position: int, timeout_s: float) -> bool:
        return self.store.wait_for_changes(position, timeout_s)

    def baseline(self, user: str, kinds: Iterable[ItemKind]) -> Iterable[Observation]:
        return self.store.baseline(user, kinds)

    def fetch(self, user: str, kind: ItemKind, native_id: str) -> Observation:
        return self.store.fetch(user, kind, native_id)

    def apply(self, user: str, stream_id: uuid.UUID, write: Write) -> WriteResult:
        if self.fail_next_writes:
            raise self.fail_next_writes.pop(0)
        return self.store.apply(user, stream_id, write)


class SqlRows(Mapping[int, SqlRow]):
    """The appointment and task rows by id, read from the database at each access."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def __getitem__(self, row_id: int) -> SqlRow:
        found = self._load([row_id])
        if not found:
            raise KeyError(row_id)
        return found[0]

    def __iter__(self) -> Iterator[int]:
        return iter(row.id for row in self._load())

    def __len__(self) -> int:
        return len(self._load())

    def values(self) -> ValuesView[SqlRow]:
        return _LoadedValues(self, self._load())

    def _load(self, ids: list[int] | None = None) -> list[SqlRow]:
        with reading(self._engine) as conn:
            return _appointment_rows(conn, ids) + _task_rows(conn, ids)


class _LoadedValues(ValuesView[SqlRow]):
    """All rows from one query (the mapping's default view would read them one at a time)."""

    def __init__(self, rows: SqlRows, loaded: list[SqlRow]) -> None:
        super().__init__(rows)
        self._loaded = loaded

    def __iter__(self) -> Iterator[SqlRow]:
        return iter(self._loaded)

    def __len__(self) -> int:
        return len(self._loaded)

    def __contains__(self, value: object) -> bool:
        return value in self._loaded


def _appointment_rows(conn: sa.Connection, ids: list[int] | None) -> list[SqlRow]:
    query = sa.select(appointments).order_by(appointments.c.id)
    if ids is not None:
        query = query.where(appointments.c.id.in_(ids))
    found = []
    for row in conn.execute(query).mappings():
        row_id = int(row["id"])
        exceptions = conn.execute(
            sa.select(appointment_exceptions)
            .where(appointment_exceptions.c.appointment_id == row_id)
            .order_by(appointment_exceptions.c.original_start)
        ).mappings()
        participants = conn.execute(
            sa.select(appointment_participants)
            .where(appointment_participants.c.appointment_id == row_id)
            .order_by(appointment_participants.c.email)
        ).mappings()
        data: dict[str, Any] = {
            name: row[column]
            for name, column in _fields(appointments, _APPOINTMENT_COLUMNS).items()
        }
        data["start"] = _readable(as_utc, data["start"], "start")
        data["end"] = _readable(as_utc, data["end"], "end")
        data["all_day"], data["private"] = bool(data["all_day"]), bool(data["private"])
        modified: list[dict[str, Any]] = []
        deleted: list[Any] = []
        for ex in exceptions:
            original = _readable(as_utc, ex["original_start"], "original_start")
            if ex["deleted"]:
                deleted.append(original)
                continue
            modified.append(
                {
                    "original_start": original,
                    "start": _readable(as_optional_utc, ex["starts_at"], "start"),
                    "end": _readable(as_optional_utc, ex["ends_at"], "end"),
                    "subject": ex["subject"],
                    "location": ex["location"],
                    "busy_status": ex["busy_status"],
                }
            )
        data["modified_occurrences"], data["deleted_occurrences"] = modified, deleted
        data["participants"] = [
            {
                "email": p["email"],
                "name": p["name"],
                "required": bool(p["required"]),
                "response": p["response"],
            }
            for p in participants
        ]
        found.append(_row(ItemKind.APPOINTMENT, row, data))
    return found


def _task_rows(conn: sa.Connection, ids: list[int] | None) -> list[SqlRow]:
    query = sa.select(tasks).order_by(tasks.c.id)
    if ids is not None:
        query = query.where(tasks.c.id.in_(ids))
    found = []
    for row in conn.execute(query).mappings():
        data = {name: row[column] for name, column in _fields(tasks, _TASK_COLUMNS).items()}
        data["start"] = _readable(as_date, data["start"], "start")
        data["due"] = _readable(as_date, data["due"], "due")
        data["reminder_at"] = _readable(as_optional_utc, data["reminder_at"], "reminder_at")
        data["completed_at"] = _readable(as_optional_utc, data["completed_at"], "completed_at")
        found.append(_row(ItemKind.TASK, row, data))
    return found


def _row(kind: ItemKind, row: sa.RowMapping, data: dict[str, Any]) -> SqlRow:
    sync_id = row["sync_id"]
    return SqlRow(
        id=int(row["id"]),
        kind=kind,
        user=str(row["user_login"]),
        data=data,
        version=int(row["row_version"]),
        sync_id=None if sync_id is None else uuid.UUID(str(sync_id)),
    )


def _fields(table: sa.Table, renamed: Mapping[str, str]) -> dict[str, str]:
    """The fake's field name → the table's column, for the columns that hold item content."""
    columns = {c.name: c.name for c in table.columns if c.name not in _BOOKKEEPING}
    for name, column in renamed.items():
        columns[name] = columns.pop(column)
    return columns


_BOOKKEEPING = {"id", "user_login", "sync_id", "sync_revision", "row_version"}


def _readable(convert: Callable[[object, str], Any], value: object, field: str) -> Any:
    """The stored value as the domain type, or as stored when a person saved nonsense."""
    try:
        return convert(value, field)
    except InvalidItem:
        return value


def _columns(kind: ItemKind, data: Mapping[str, Any]) -> dict[str, Any]:
    """The fake's fields as the item row's columns (child rows are written separately)."""
    renamed = _APPOINTMENT_COLUMNS if kind is ItemKind.APPOINTMENT else _TASK_COLUMNS
    return {
        renamed.get(name, name): _plain_value(value)
        for name, value in data.items()
        if name not in _DETAILS
    }


def _kind_of(native_id: str) -> ItemKind:
    return ItemKind.TASK if int(native_id) >= FIRST_TASK_ID else ItemKind.APPOINTMENT


def _plain(value: BaseModel | Mapping[str, Any]) -> dict[str, Any]:
    fields = value.model_dump() if isinstance(value, BaseModel) else dict(value)
    return {name: _plain_value(v) for name, v in fields.items()}


def _plain_value(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value
