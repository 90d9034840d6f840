"""Writing the engine's decisions into the ERP: exactly the snapshot given, marked origin `sync`.

A write is idempotent by the item's stream id: a create finds the row that already carries it,
and a write whose content is already there changes nothing (no UPDATE, so no feed entry) and
succeeds with the row's current version, whatever version it expected: its target is reached. Every
write that changes something is exactly one feed entry: the item row is updated (bumping
`sync_revision`), while the capture triggers of exceptions and participants stay silent for it.

Every update and delete is compare-and-set on the row version that was read (`WHERE id = ? AND
row_version = ?`): an ERP commit between the read and the write makes the write change nothing
and raise `VersionConflict`, so that the engine reads the ERP's change and decides on it (R16)
instead of overwriting it. The item row is written first: it is the lock that serialises the
engine's write with ERP writes of the same item (an ERP change of an exception or participant
bumps the item's version, so the compare-and-set covers the child rows too).
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adapters.erp.schema import (
    appointment_exceptions,
    appointment_participants,
    appointments,
    tasks,
)
from adapters.erp.snapshots import load_items
from engine.errors import NotFound, PermanentError, VersionConflict
from engine.model import Appointment, ItemKind, Side, Task, zone
from engine.observation import derive_stream_id
from engine.ports import Write, WriteResult
from engine.recurrence import to_rrule


def apply_write(conn: Connection, user: str, stream_id: uuid.UUID, write: Write) -> WriteResult:
    """Make `write` in the caller's transaction, which is marked as the engine's (origin sync)."""
    if write.side is not Side.ERP:
        raise PermanentError(f"a write for {write.side.value} reached the ERP")
    snapshot = write.snapshot
    if write.operation != "delete":
        if snapshot is None:
            raise PermanentError(f"a {write.operation} needs the item's snapshot")
        if snapshot.kind != write.kind.value:
            raise PermanentError(f"a {snapshot.kind} snapshot in a {write.kind.value} write")
    table = appointments if write.kind is ItemKind.APPOINTMENT else tasks
    row = _target(conn, table, write, stream_id)
    if row is not None:
        _check_identity(row, user, stream_id, write.kind)
    if write.operation == "delete":
        if row is None:
            return WriteResult(native_id=write.native_id or "", native_version=None)
        row_id, version = int(row["id"]), int(row["row_version"])
        _expect(write, row_id, version)
        deleted = conn.execute(
            table.delete().where(table.c.id == row_id, table.c.row_version == version)
        )
        if deleted.rowcount != 1:
            _lost_race(conn, table, write, row_id, version)
        return WriteResult(native_id=str(row_id), native_version=None)
    assert snapshot is not None
    if row is None:
        if write.operation == "update":
            raise NotFound(f"{write.kind.value} {write.native_id or stream_id} is not in the ERP")
        row_id = _create(conn, table, user, stream_id, snapshot)
    else:
        row_id = int(row["id"])
        current = load_items(conn, write.kind, [row_id])[row_id]
        if current.snapshot is not None and current.snapshot.content_hash == snapshot.content_hash:
            return WriteResult(native_id=str(row_id), native_version=str(current.row_version))
        _expect(write, row_id, current.row_version)
        _update(conn, table, write, row_id, current.row_version, snapshot)
    version = conn.execute(sa.select(table.c.row_version).where(table.c.id == row_id)).scalar_one()
    return WriteResult(native_id=str(row_id), native_version=str(version))


def _expect(write: Write, row_id: int, version: int) -> None:
    """The engine decided on `expected_version`: a row at another version changed since."""
    if write.expected_version is not None and write.expected_version != str(version):
        raise VersionConflict(
            f"{write.kind.value} {row_id} is at version {version}, not {write.expected_version}"
        )


def _lost_race(conn: Connection, table: sa.Table, write: Write, row_id: int, read: int) -> None:
    """The compare-and-set changed nothing: the ERP committed a change (or a delete) since."""
    now = conn.execute(sa.select(table.c.row_version).where(table.c.id == row_id)).scalar()
    if now is None:
        raise NotFound(f"{write.kind.value} {row_id} was deleted in the ERP meanwhile")
    raise VersionConflict(
        f"{write.kind.value} {row_id} changed in the ERP meanwhile (version {now}, read {read})"
    )


def _target(
    conn: Connection, table: sa.Table, write: Write, stream_id: uuid.UUID
) -> sa.RowMapping | None:
    columns = (table.c.id, table.c.user_login, table.c.sync_id, table.c.row_version)
    if write.operation != "create" and write.native_id is not None:
        try:
            row_id = int(write.native_id)
        except ValueError:
            raise PermanentError(f"{write.native_id!r} is not an ERP row id") from None
        where = table.c.id == row_id
    else:
        where = table.c.sync_id == str(stream_id)
    return conn.execute(sa.select(*columns).where(where)).mappings().first()


def _check_identity(row: sa.RowMapping, user: str, stream_id: uuid.UUID, kind: ItemKind) -> None:
    """Refuse to write into a row of another user or another item's stream. A row belongs to
    the stream its sync id names, and to the one its id derives for its owner: after the ERP
    moved it to another user, that user's stream (engine.routing) carries it."""
    owner = str(row["user_login"])
    if owner.lower() != user.lower():
        raise PermanentError(f"{kind.value} {row['id']} belongs to {owner}, not {user}")
    carried = row["sync_id"]
    derived = str(derive_stream_id(Side.ERP, owner, kind, str(row["id"])))
    if str(stream_id) not in (derived, str(carried)):
        expected = derived if carried is None else str(carried)
        raise PermanentError(
            f"{kind.value} {row['id']} belongs to stream {expected}, not {stream_id}"
        )


def _create(
    conn: Connection,
    table: sa.Table,
    user: str,
    stream_id: uuid.UUID,
    snapshot: Appointment | Task,
) -> int:
    values = {**row_values(snapshot), "user_login": user, "sync_id": str(stream_id)}
    row_id = int(conn.execute(table.insert().values(values).returning(table.c.id)).scalar_one())
    if isinstance(snapshot, Appointment):
        _write_details(conn, row_id, snapshot)
    return row_id


def _update(
    conn: Connection,
    table: sa.Table,
    write: Write,
    row_id: int,
    version: int,
    snapshot: Appointment | Task,
) -> None:
    # First, and always a change: this statement is the write's one feed entry and its lock.
    updated = conn.execute(
        table.update()
        .where(table.c.id == row_id, table.c.row_version == version)
        .values(**row_values(snapshot), sync_revision=table.c.sync_revision + 1)
    )
    if updated.rowcount != 1:
        _lost_race(conn, table, write, row_id, version)
    if isinstance(snapshot, Appointment):
        conn.execute(
            appointment_exceptions.delete().where(appointment_exceptions.c.appointment_id == row_id)
        )
        conn.execute(
            appointment_participants.delete().where(
                appointment_participants.c.appointment_id == row_id
            )
        )
        _write_details(conn, row_id, snapshot)


def _write_details(conn: Connection, row_id: int, snapshot: Appointment) -> None:
    exceptions: list[dict[str, Any]] = [
        {
            "appointment_id": row_id,
            "original_start": original,
            "deleted": True,
            "starts_at": None,
            "ends_at": None,
            "subject": None,
            "location": None,
            "busy_status": None,
        }
        for original in snapshot.deleted_occurrences
    ]
    exceptions += [
        {
            "appointment_id": row_id,
            "original_start": o.original_start,
            "deleted": False,
            "starts_at": o.start,
            "ends_at": o.end,
            "subject": o.subject,
            "location": o.location,
            "busy_status": o.busy_status.value,
        }
        for o in snapshot.modified_occurrences
    ]
    if exceptions:
        conn.execute(appointment_exceptions.insert(), exceptions)
    participants = [
        {
            "appointment_id": row_id,
            "email": p.email,
            "name": p.name,
            "required": p.required,
            "response": p.response.value,
        }
        for p in snapshot.participants
    ]
    if participants:
        conn.execute(appointment_participants.insert(), participants)


def row_values(snapshot: Appointment | Task) -> dict[str, Any]:
    """The item row's columns for a snapshot (exceptions and participants are separate rows)."""
    if isinstance(snapshot, Appointment):
        return {
            "subject": snapshot.subject,
            "info_text": snapshot.info_text,
            "starts_at": snapshot.start,
            "ends_at": snapshot.end,
            "all_day": snapshot.all_day,
            "location": snapshot.location,
            "busy_status": snapshot.busy_status.value,
            "private": snapshot.private,
            "reminder_minutes": snapshot.reminder_minutes,
            "time_zone": snapshot.time_zone,
            "rrule": None
            if snapshot.recurrence is None
            else to_rrule(snapshot.recurrence, snapshot.start.astimezone(zone(snapshot.time_zone))),
        }
    return {
        "subject": snapshot.subject,
        "info_text": snapshot.info_text,
        "start_date": snapshot.start,
        "due_date": snapshot.due,
        "status": snapshot.status.value,
        "percent_complete": snapshot.percent_complete,
        "priority": snapshot.priority.value,
        "reminder_at": snapshot.reminder_at,
        "completed_at": snapshot.completed_at,
    }
