"""An in-memory ERP that behaves like the SQL store where it matters to sync.

Rows have ids and row versions that increase on every change, a change feed with origins
(`erp` for people, `sync` for the engine), series stored as an RRULE text with exception lists,
and no validation on the way in — a person can save nonsense, as in a real ERP; it only fails
when the engine reads it. Tests act "as an ERP user" through `create`, `edit` and `delete`.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from engine.errors import InvalidItem, NotFound, VersionConflict
from engine.model import Appointment, ItemKind, Side, Task, User, build, zone
from engine.observation import Change, ItemError, Observation, Origin, UserChange, derive_stream_id
from engine.ports import ErpBatch, Write, WriteResult
from engine.recurrence import parse_rrule


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ErpRow:
    id: int
    kind: ItemKind
    user: str
    data: dict[str, Any]
    version: int = 1
    sync_id: uuid.UUID | None = None


@dataclass(frozen=True)
class FeedEntry:
    seq: int
    table: str  # "users", "appointments", "tasks"
    key: str  # row id or login
    op: str  # insert, update, delete
    origin: Origin
    user: str
    sync_id: uuid.UUID | None = None


@dataclass
class FakeErp:
    clock: Callable[[], datetime] = _now
    rows: dict[int, ErpRow] = field(default_factory=dict)
    people: dict[str, User] = field(default_factory=dict)
    feed: list[FeedEntry] = field(default_factory=list)
    _next_id: int = 1000
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _committed: threading.Condition = field(default_factory=threading.Condition)
    fail_next_writes: list[Exception] = field(default_factory=list)

    # ---- acting as a person in the ERP ----------------------------------------------------

    def save_user(self, user: User) -> None:
        with self._lock:
            op = "update" if user.login in self.people else "insert"
            self.people[user.login] = user
            self._log("users", user.login, op, Origin.USER, user.login)

    def create(self, user: str, kind: ItemKind, **data: Any) -> str:
        with self._lock:
            self._next_id += 1
            row = ErpRow(id=self._next_id, kind=kind, user=user, data=dict(data))
            self.rows[row.id] = row
            self._log(_table(kind), str(row.id), "insert", Origin.USER, user)
            return str(row.id)

    def edit(self, native_id: str, **changes: Any) -> None:
        with self._lock:
            row = self.rows[int(native_id)]
            row.data.update(changes)
            row.version += 1
            self._log(_table(row.kind), native_id, "update", Origin.USER, row.user, row.sync_id)

    def delete(self, native_id: str) -> None:
        with self._lock:
            row = self.rows.pop(int(native_id))
            self._log(_table(row.kind), native_id, "delete", Origin.USER, row.user, row.sync_id)

    def snapshot_of(self, native_id: str) -> Appointment | Task:
        return _snapshot(self.rows[int(native_id)])

    def items_of(self, user: str, kind: ItemKind | None = None) -> list[ErpRow]:
        return [
            r for r in self.rows.values() if r.user == user and (kind is None or r.kind is kind)
        ]

    # ---- ErpPort ---------------------------------------------------------------------------

    def users(self) -> Sequence[User]:
        return list(self.people.values())

    def feed_position(self) -> int:
        return self.feed[-1].seq if self.feed else 0

    def wait_for_changes(self, position: int, timeout_s: float) -> bool:
        with self._committed:
            return self._committed.wait_for(lambda: self.feed_position() > position, timeout_s)

    def read_changes(self, position: int, limit: int = 1000) -> ErpBatch:
        with self._lock:
            entries = [e for e in self.feed if e.seq > position][:limit]
            if not entries:
                return ErpBatch(changes=(), position=position)
            latest: dict[tuple[str, str], FeedEntry] = {}
            for entry in entries:
                latest.pop((entry.table, entry.key), None)
                latest[(entry.table, entry.key)] = entry  # coalesce: the row's current state
            changes: list[Observation | UserChange] = []
            for entry in latest.values():
                if entry.table == "users":
                    user = self.people.get(entry.key)
                    changes.append(
                        UserChange(
                            user=user or User(login=entry.key),
                            deleted=user is None,
                            observed_at=self.clock(),
                        )
                    )
                else:
                    changes.append(self._observe(entry))
            return ErpBatch(changes=tuple(changes), position=entries[-1].seq)

    def baseline(self, user: str, kinds: Iterable[ItemKind]) -> Iterable[Observation]:
        wanted = set(kinds)
        with self._lock:
            rows = [r for r in self.rows.values() if r.user == user and r.kind in wanted]
            return [self._row_observation(r, Change.BASELINE, Origin.USER) for r in rows]

    def fetch(self, user: str, kind: ItemKind, native_id: str) -> Observation:
        with self._lock:
            row = self.rows.get(int(native_id))
            if row is None:
                return Observation(
                    side=Side.ERP,
                    kind=kind,
                    user=user,
                    native_id=native_id,
                    change=Change.DELETED,
                    observed_at=self.clock(),
                )
            return self._row_observation(row, Change.CHANGED, Origin.UNKNOWN)

    def apply(self, user: str, stream_id: uuid.UUID, write: Write) -> WriteResult:
        with self._lock:
            if self.fail_next_writes:
                raise self.fail_next_writes.pop(0)
            if write.operation == "delete":
                row = self.rows.get(int(write.native_id or 0)) or next(
                    (r for r in self.rows.values() if r.sync_id == stream_id), None
                )
                if row is None:
                    raise NotFound(f"ERP row {write.native_id} does not exist")
                del self.rows[row.id]
                self._log(
                    _table(row.kind), str(row.id), "delete", Origin.SYNC, row.user, row.sync_id
                )
                return WriteResult(native_id=str(row.id))
            assert write.snapshot is not None
            data = _data(write.snapshot)
            row = next((r for r in self.rows.values() if r.sync_id == stream_id), None)
            if row is None and write.operation == "update":
                row = self.rows.get(int(write.native_id or 0))
                if row is None:
                    raise NotFound(f"ERP row {write.native_id} does not exist")
            if row is None:
                self._next_id += 1
                row = ErpRow(
                    id=self._next_id, kind=write.kind, user=user, data=data, sync_id=stream_id
                )
                self.rows[row.id] = row
                self._log(_table(row.kind), str(row.id), "insert", Origin.SYNC, user, stream_id)
                return WriteResult(native_id=str(row.id), native_version=str(row.version))
            if write.operation == "update" and write.expected_version not in (
                None,
                str(row.version),
            ):
                raise VersionConflict(
                    f"ERP row {row.id} is at version {row.version}, not {write.expected_version}"
                )
            if row.data != data:
                row.data = data
                row.version += 1
                self._log(
                    _table(row.kind), str(row.id), "update", Origin.SYNC, row.user, row.sync_id
                )
            return WriteResult(native_id=str(row.id), native_version=str(row.version))

    # ---- internals -------------------------------------------------------------------------

    def _log(
        self,
        table: str,
        key: str,
        op: str,
        origin: Origin,
        user: str,
        sync_id: uuid.UUID | None = None,
    ) -> None:
        self.feed.append(FeedEntry(self.feed_position() + 1, table, key, op, origin, user, sync_id))
        with self._committed:
            self._committed.notify_all()  # like the database's NOTIFY: a waiting engine wakes

    def _observe(self, entry: FeedEntry) -> Observation:
        row = self.rows.get(int(entry.key))
        if row is None:
            kind = ItemKind.APPOINTMENT if entry.table == "appointments" else ItemKind.TASK
            return Observation(
                side=Side.ERP,
                kind=kind,
                user=entry.user,
                native_id=entry.key,
                change=Change.DELETED,
                observed_at=self.clock(),
                sync_id=entry.sync_id,
                origin=entry.origin,
            )
        return self._row_observation(row, Change.CHANGED, entry.origin)

    def _row_observation(self, row: ErpRow, change: Change, origin: Origin) -> Observation:
        common: dict[str, Any] = {
            "side": Side.ERP,
            "kind": row.kind,
            "user": row.user,
            "native_id": str(row.id),
            "native_version": str(row.version),
            "observed_at": self.clock(),
            "sync_id": row.sync_id,
            "origin": origin,
        }
        try:
            snapshot = _snapshot(row)
        except InvalidItem as error:
            message = error.message if len(error.message) <= 300 else error.message[:300] + "…"
            # Seen at setup, an unreadable row is still pre-existing: a baseline carrying its error.
            return Observation(
                change=Change.BASELINE if change is Change.BASELINE else Change.INVALID,
                error=ItemError(code=error.code, message=message, field=error.field),
                **common,
            )
        return Observation(change=change, snapshot=snapshot, **common)

    def stream_id_of(self, native_id: str) -> uuid.UUID:
        row = self.rows[int(native_id)]
        return row.sync_id or derive_stream_id(Side.ERP, row.user, row.kind, native_id)


def _table(kind: ItemKind) -> str:
    return "appointments" if kind is ItemKind.APPOINTMENT else "tasks"


def _snapshot(row: ErpRow) -> Appointment | Task:
    data = dict(row.data)
    if row.kind is ItemKind.TASK:
        return build(Task, data)
    rule = data.pop("rrule", None)
    if rule:
        start = data.get("start")
        local_start = (
            start.astimezone(zone(str(data.get("time_zone", "Europe/Berlin")))).date()
            if isinstance(start, datetime)
            else None
        )
        data["recurrence"] = parse_rrule(rule, series_start=local_start)
    return build(Appointment, data)


def _data(snapshot: Appointment | Task) -> dict[str, Any]:
    """A snapshot as the ERP stores it (series as RRULE text)."""
    data = {name: getattr(snapshot, name) for name in type(snapshot).model_fields if name != "kind"}
    if isinstance(snapshot, Appointment):
        recurrence = data.pop("recurrence")
        data["rrule"] = recurrence.to_rrule() if recurrence is not None else None
    return data
