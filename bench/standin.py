"""The least ERP and Exchange a throughput run needs — models of neither.

They keep what they are given, hand out a new version on every write and report each write back
as a change (the echo every real write produces), so that the benchmark measures the engine and
not an adapter or a simulator. They know none of the two sides' rules: those live in the ERP
adapter (adapters/erp/) and the simulator's store (sim/), which the tests use.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from datetime import datetime

from engine.errors import NotFound, VersionConflict
from engine.model import Appointment, ItemKind, Side, Task, User, build
from engine.observation import Change, Observation, Origin, UserChange
from engine.ports import ErpBatch, ExchangeBatch, MailboxStatus, Write, WriteResult


class StandInErp:
    """Rows of fields with a version each, and a change feed of them."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self._users: dict[str, User] = {}
        self._rows: dict[str, tuple[str, int, dict[str, object], uuid.UUID | None]] = {}
        self._feed: list[tuple[str, str, Origin]] = []  # (user or row id, "user"/"row", origin)
        self._ids = itertools.count(1)

    def save_user(self, user: User) -> None:
        self._users[user.login] = user
        self._feed.append((user.login, "user", Origin.USER))

    def create(self, user: str, kind: ItemKind, **fields: object) -> str:
        row_id = str(next(self._ids))
        self._rows[row_id] = (user, 1, fields, None)
        self._feed.append((row_id, "row", Origin.USER))
        return row_id

    def edit(self, row_id: str, **changes: object) -> None:
        user, version, fields, sync_id = self._rows[row_id]
        self._rows[row_id] = (user, version + 1, {**fields, **changes}, sync_id)
        self._feed.append((row_id, "row", Origin.USER))

    def users(self) -> list[User]:
        return list(self._users.values())

    def feed_position(self) -> int:
        return len(self._feed)

    def wait_for_changes(self, position: int, timeout_s: float) -> bool:
        return len(self._feed) > position

    def read_changes(self, position: int, limit: int = 1000) -> ErpBatch:
        entries = self._feed[position : position + limit]
        latest: dict[str, Origin] = {key: origin for key, _, origin in entries}
        changes: list[Observation | UserChange] = []
        for key, what, _ in entries:
            if key not in latest:
                continue
            origin = latest.pop(key)
            if what == "user":
                changes.append(UserChange(user=self._users[key], observed_at=self.clock()))
            else:
                changes.append(self._observe(key, Change.CHANGED, origin))
        return ErpBatch(changes=tuple(changes), position=position + len(entries))

    def baseline(self, user: str, kinds: object) -> list[Observation]:
        return [
            self._observe(k, Change.BASELINE, Origin.USER)
            for k, row in self._rows.items()
            if row[0] == user
        ]

    def fetch(self, user: str, kind: ItemKind, native_id: str) -> Observation:
        return self._observe(native_id, Change.CHANGED, Origin.UNKNOWN)

    def apply(self, user: str, stream_id: uuid.UUID, write: Write) -> WriteResult:
        assert write.snapshot is not None and write.native_id is not None, "the run only updates"
        _, version, _, _ = self._rows[write.native_id]
        if write.expected_version not in (None, str(version)):
            raise VersionConflict(f"row {write.native_id} changed since it was read")
        fields = {name: getattr(write.snapshot, name) for name in type(write.snapshot).model_fields}
        self._rows[write.native_id] = (user, version + 1, fields, stream_id)
        self._feed.append((write.native_id, "row", Origin.SYNC))
        return WriteResult(native_id=write.native_id, native_version=str(version + 1))

    def _observe(self, row_id: str, change: Change, origin: Origin) -> Observation:
        user, version, fields, sync_id = self._rows[row_id]
        return Observation(
            side=Side.ERP,
            kind=ItemKind.APPOINTMENT,
            user=user,
            native_id=row_id,
            change=change,
            observed_at=self.clock(),
            native_version=str(version),
            origin=origin,
            sync_id=sync_id,
            snapshot=build(Appointment, fields),  # parsed on every read, as an adapter does
        )


class StandInExchange:
    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self._items: dict[str, tuple[str, str, ItemKind, Appointment | Task, uuid.UUID]] = {}
        self._log: dict[tuple[str, ItemKind], list[tuple[int, str]]] = {}
        self._by_stream: dict[uuid.UUID, str] = {}
        self._counter = itertools.count(1)

    def check_mailbox(self, user: User) -> MailboxStatus:
        return MailboxStatus(reachable=True)

    def read_changes(self, user: User, kind: ItemKind, checkpoint: str | None) -> ExchangeBatch:
        log = self._log.setdefault((user.login, kind), [])
        after = int(checkpoint) if checkpoint else 0
        start = next((i for i in range(len(log) - 1, -1, -1) if log[i][0] <= after), -1) + 1
        latest: dict[str, int] = {item_id: seq for seq, item_id in log[start:]}
        change = Change.BASELINE if checkpoint is None else Change.CHANGED
        observations = tuple(self.fetch(user, kind, item_id, change) for item_id in latest)
        return ExchangeBatch(
            observations=observations, checkpoint=str(log[-1][0] if log else after)
        )

    def fetch(
        self, user: User, kind: ItemKind, native_id: str, change: Change = Change.CHANGED
    ) -> Observation:
        found = self._items.get(native_id)
        if found is None:
            return Observation(
                side=Side.EXCHANGE,
                kind=kind,
                user=user.login,
                native_id=native_id,
                change=Change.DELETED,
                observed_at=self.clock(),
            )
        _, change_key, _, content, stream = found
        return Observation(
            side=Side.EXCHANGE,
            kind=kind,
            user=user.login,
            native_id=native_id,
            native_version=change_key,
            change=change,
            snapshot=content,
            sync_id=stream,
            observed_at=self.clock(),
        )

    def apply(self, user: User, stream_id: uuid.UUID, write: Write) -> WriteResult:
        item_id = self._by_stream.get(stream_id) if write.operation == "create" else write.native_id
        if write.operation != "create" and (item_id is None or item_id not in self._items):
            raise NotFound(f"item {item_id} does not exist")
        if item_id is not None and write.expected_version not in (None, self._items[item_id][1]):
            raise VersionConflict(f"item {item_id} changed since it was read")
        seq = next(self._counter)
        item_id = item_id or f"STANDIN{seq:08d}"
        self._log.setdefault((user.login, write.kind), []).append((seq, item_id))
        if write.operation == "delete":
            del self._items[item_id]
            return WriteResult(native_id=item_id)
        assert write.snapshot is not None
        change_key = f"CK{seq:08d}"
        self._items[item_id] = (user.login, change_key, write.kind, write.snapshot, stream_id)
        self._by_stream[stream_id] = item_id
        return WriteResult(native_id=item_id, native_version=change_key)

    def find_by_stream_id(self, user: User, kind: ItemKind, stream_id: uuid.UUID) -> str | None:
        return self._by_stream.get(stream_id)

    def count(self, login: str, kind: ItemKind) -> int:
        return sum(1 for owner, _, k, _, _ in self._items.values() if owner == login and k is kind)
