"""An in-memory Exchange with the semantics sync depends on.

Items have ids and ChangeKeys that change on every write; series keep modified and deleted
occurrences; changing a series' pattern or times drops every exception (as Exchange does), and
a deleted occurrence cannot be restored except by resetting the pattern; folders have a change
log read through opaque sync states; the engine's stream id rides along as an extended property.
Tests act "as a user in Outlook" through `create`, `edit`, `modify_occurrence`,
`delete_occurrence` and `delete`.

Its replacement is `adapters.exchange.mailbox_store.MailboxStorePort`, the same port over the
simulator's mailbox store (the one model of Exchange, DESIGN §8); tests/exchange checks both
against one contract and notes where this fake is wrong about Exchange.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from engine.errors import InvalidItem, NotFound, PermanentError, TransientError, VersionConflict
from engine.infotext import as_body
from engine.merge import TIMING
from engine.model import Appointment, ItemKind, ModifiedOccurrence, Side, Task, User, build, zone
from engine.observation import Change, Observation
from engine.ports import ExchangeBatch, MailboxStatus, OccurrenceChange, Write, WriteResult


def _now() -> datetime:
    return datetime.now(UTC)


def default_mailbox(user: User) -> str:
    return (user.mailbox or f"{user.login}@example.com").lower()


@dataclass
class ExchangeItem:
    id: str
    change_key: str
    kind: ItemKind
    content: Appointment | Task
    sync_id: uuid.UUID | None = None


@dataclass
class Folder:
    items: dict[str, ExchangeItem] = field(default_factory=dict)
    log: list[tuple[int, str]] = field(default_factory=list)  # (sequence, item id)
    epoch: int = 0  # bumped when old sync states become invalid
    by_stream: dict[uuid.UUID, str] = field(default_factory=dict)  # extended property index


@dataclass
class FakeExchange:
    clock: Callable[[], datetime] = _now
    mailbox_of: Callable[[User], str | None] = default_mailbox
    folders: dict[tuple[str, ItemKind], Folder] = field(default_factory=dict)
    unreachable: dict[str, str] = field(default_factory=dict)
    fail_next_writes: list[Exception] = field(default_factory=list)
    max_changes: int = 512
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.RLock = field(default_factory=threading.RLock)

    # ---- acting as a user in Outlook ------------------------------------------------------

    def create(self, mailbox: str, content: Appointment | Task) -> str:
        with self._lock:
            item = ExchangeItem(
                id=f"AAMk{next(self._counter):06d}",
                change_key="",
                kind=ItemKind(content.kind),
                content=content,
            )
            self._store(mailbox, item)
            return item.id

    def edit(self, item_id: str, **changes: Any) -> None:
        with self._lock:
            mailbox, item = self._find(item_id)
            item.content = _series_aware(
                item.content,
                type(item.content).model_validate({**item.content.fields(), **_json(changes)}),
            )
            self._store(mailbox, item)

    def touch(self, item_id: str) -> None:
        """Exchange rewrites an item without a content change (a new ChangeKey only)."""
        with self._lock:
            mailbox, item = self._find(item_id)
            self._store(mailbox, item)

    def modify_occurrence(self, item_id: str, original_start: datetime, **changes: Any) -> None:
        with self._lock:
            mailbox, item = self._find(item_id)
            item.content = _apply_occurrences(
                item.content, [_modification(item.content, original_start, changes)]
            )
            self._store(mailbox, item)

    def delete_occurrence(self, item_id: str, original_start: datetime) -> None:
        with self._lock:
            mailbox, item = self._find(item_id)
            item.content = _apply_occurrences(
                item.content, [OccurrenceChange(original_start=original_start, action="delete")]
            )
            self._store(mailbox, item)

    def delete(self, item_id: str) -> None:
        with self._lock:
            mailbox, item = self._find(item_id)
            folder = self._folder(mailbox, item.kind)
            del folder.items[item_id]
            if item.sync_id is not None:
                folder.by_stream.pop(item.sync_id, None)
            folder.log.append((next(self._counter), item_id))

    def invalidate_sync_states(self) -> None:
        """Every stored sync state becomes invalid (ErrorInvalidSyncStateData on real Exchange)."""
        with self._lock:
            for folder in self.folders.values():
                folder.epoch += 1

    def items(self, mailbox: str, kind: ItemKind) -> list[ExchangeItem]:
        return list(self._folder(mailbox.lower(), kind).items.values())

    def get(self, item_id: str) -> ExchangeItem:
        return self._find(item_id)[1]

    # ---- ExchangePort ---------------------------------------------------------------------

    def check_mailbox(self, user: User) -> MailboxStatus:
        mailbox = self.mailbox_of(user)
        if mailbox is None:
            return MailboxStatus(reachable=False, reason="the user has no Exchange mailbox")
        if mailbox in self.unreachable:
            return MailboxStatus(reachable=False, reason=self.unreachable[mailbox])
        return MailboxStatus(reachable=True)

    def read_changes(self, user: User, kind: ItemKind, checkpoint: str | None) -> ExchangeBatch:
        with self._lock:
            mailbox = self._mailbox(user)
            folder = self._folder(mailbox, kind)
            if checkpoint is None:
                observations = [
                    self._observation(user, item, Change.BASELINE) for item in folder.items.values()
                ]
                return ExchangeBatch(
                    observations=tuple(observations),
                    checkpoint=self._state(folder, self._head(folder)),
                )
            epoch, _, seq_text = checkpoint.partition(":")
            if int(epoch) != folder.epoch:
                # The sync state expired: resynchronise everything, as changes (not a baseline).
                observations = [
                    self._observation(user, item, Change.CHANGED) for item in folder.items.values()
                ]
                return ExchangeBatch(
                    observations=tuple(observations),
                    checkpoint=self._state(folder, self._head(folder)),
                )
            after = int(seq_text)
            entries = [(seq, item_id) for seq, item_id in folder.log if seq > after][
                : self.max_changes
            ]
            seen: dict[str, int] = {}
            for seq, item_id in entries:
                seen.pop(item_id, None)
                seen[item_id] = seq
            observations = []
            for item_id in seen:
                item = folder.items.get(item_id)
                if item is None:
                    observations.append(
                        Observation(
                            side=Side.EXCHANGE,
                            kind=kind,
                            user=user.login,
                            native_id=item_id,
                            change=Change.DELETED,
                            observed_at=self.clock(),
                        )
                    )
                else:
                    observations.append(self._observation(user, item, Change.CHANGED))
            last = entries[-1][0] if entries else after
            more = any(seq > last for seq, _ in folder.log)
            return ExchangeBatch(
                observations=tuple(observations), checkpoint=self._state(folder, last), more=more
            )

    def fetch(self, user: User, kind: ItemKind, native_id: str) -> Observation:
        with self._lock:
            item = self._folder(self._mailbox(user), kind).items.get(native_id)
            if item is None:
                return Observation(
                    side=Side.EXCHANGE,
                    kind=kind,
                    user=user.login,
                    native_id=native_id,
                    change=Change.DELETED,
                    observed_at=self.clock(),
                )
            return self._observation(user, item, Change.CHANGED)

    def find_by_stream_id(self, user: User, kind: ItemKind, stream_id: uuid.UUID) -> str | None:
        found = self._folder(self._mailbox(user), kind).by_stream.get(stream_id)
        return found

    def apply(self, user: User, stream_id: uuid.UUID, write: Write) -> WriteResult:
        with self._lock:
            if self.fail_next_writes:
                raise self.fail_next_writes.pop(0)
            mailbox = self._mailbox(user)
            folder = self._folder(mailbox, write.kind)
            if write.operation == "delete":
                if write.native_id is None:  # the copy only our stream id names
                    write = write.model_copy(update={"native_id": folder.by_stream.get(stream_id)})
                if write.native_id not in folder.items:
                    raise NotFound(f"item {write.native_id} does not exist")
                if write.expected_version not in (None, folder.items[write.native_id].change_key):
                    raise VersionConflict(f"item {write.native_id} changed since it was read")
                self.delete(write.native_id)
                return WriteResult(native_id=write.native_id)
            assert write.snapshot is not None
            existing_id = self.find_by_stream_id(user, write.kind, stream_id)
            if write.operation == "update":
                existing_id = write.native_id
                if existing_id not in folder.items:
                    raise NotFound(f"item {existing_id} does not exist")
                if write.expected_version not in (None, folder.items[existing_id].change_key):
                    raise VersionConflict(f"item {existing_id} changed since it was read")
            item = folder.items.get(existing_id) if existing_id else None
            body = (
                as_body(write.snapshot.info_text, write.info_text_format)
                if write.write_info_text
                else None
            )
            if item is None:
                master = _master(write.snapshot, body if body is not None else "")
                item = ExchangeItem(
                    id=f"AAMk{next(self._counter):06d}",
                    change_key="",
                    kind=write.kind,
                    content=master,
                    sync_id=stream_id,
                )
            else:
                keep_body = item.content.info_text if body is None else body
                # A pattern reset (write.pattern_changed) starts the series afresh, without
                # exceptions; so does a repeated creation, which must end exactly as its target.
                reset = write.pattern_changed or write.operation == "create"
                keep = None if reset else item.content
                item.content = _series_aware(
                    item.content, _master(write.snapshot, keep_body, keep=keep)
                )
            item.content = _apply_occurrences(item.content, write.occurrences)
            item.sync_id = stream_id
            self._store(mailbox, item)
            return WriteResult(native_id=item.id, native_version=item.change_key)

    # ---- internals -------------------------------------------------------------------------

    def _mailbox(self, user: User) -> str:
        mailbox = self.mailbox_of(user)
        if mailbox is None:
            raise PermanentError(f"{user.login} has no Exchange mailbox")
        if mailbox in self.unreachable:
            raise TransientError(
                f"mailbox {mailbox} cannot be reached: {self.unreachable[mailbox]}"
            )
        return mailbox

    def _folder(self, mailbox: str, kind: ItemKind) -> Folder:
        return self.folders.setdefault((mailbox.lower(), kind), Folder())

    def _find(self, item_id: str) -> tuple[str, ExchangeItem]:
        for (mailbox, _), folder in self.folders.items():
            if item_id in folder.items:
                return mailbox, folder.items[item_id]
        raise NotFound(f"item {item_id} does not exist")

    def _store(self, mailbox: str, item: ExchangeItem) -> None:
        seq = next(self._counter)
        item.change_key = f"CK{seq:08d}"
        folder = self._folder(mailbox.lower(), item.kind)
        folder.items[item.id] = item
        if item.sync_id is not None:
            folder.by_stream[item.sync_id] = item.id
        folder.log.append((seq, item.id))

    def _head(self, folder: Folder) -> int:
        return folder.log[-1][0] if folder.log else 0

    def _state(self, folder: Folder, seq: int) -> str:
        return f"{folder.epoch}:{seq}"

    def _observation(self, user: User, item: ExchangeItem, change: Change) -> Observation:
        return Observation(
            side=Side.EXCHANGE,
            kind=item.kind,
            user=user.login,
            native_id=item.id,
            native_version=item.change_key,
            change=change,
            snapshot=item.content,
            sync_id=item.sync_id,
            observed_at=self.clock(),
        )


def _json(changes: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (v.model_dump(mode="json") if hasattr(v, "model_dump") else v)
        for k, v in changes.items()
    }


def _master(
    target: Appointment | Task, body: str, keep: Appointment | Task | None = None
) -> Appointment | Task:
    """The master as written by an update: the target's fields, the current exceptions."""
    if not isinstance(target, Appointment):
        return target.replace(info_text=body)
    if isinstance(keep, Appointment):
        return target.replace(
            info_text=body,
            modified_occurrences=keep.modified_occurrences,
            deleted_occurrences=keep.deleted_occurrences,
        )
    return target.replace(info_text=body, modified_occurrences=(), deleted_occurrences=())


def _series_aware(before: Appointment | Task, after: Appointment | Task) -> Appointment | Task:
    """Changing a series' pattern or times drops all its exceptions, as in Exchange."""
    if (
        not isinstance(before, Appointment)
        or not isinstance(after, Appointment)
        or after.recurrence is None
    ):
        return after
    if any(getattr(before, name) != getattr(after, name) for name in TIMING):
        return after.replace(modified_occurrences=(), deleted_occurrences=())
    return after


def _modification(
    content: Appointment | Task, original_start: datetime, changes: dict[str, Any]
) -> OccurrenceChange:
    assert isinstance(content, Appointment)
    current = next(
        (o for o in content.modified_occurrences if o.original_start == original_start), None
    )
    values = (
        current.model_dump()
        if current
        else {
            "original_start": original_start,
            "start": original_start,
            "end": original_start + content.duration,
            "subject": content.subject,
            "location": content.location,
            "busy_status": content.busy_status,
        }
    )
    values.update(changes)
    return OccurrenceChange(
        original_start=original_start,
        action="modify",
        occurrence=ModifiedOccurrence.model_validate(values),
    )


def _apply_occurrences(
    content: Appointment | Task, changes: Sequence[OccurrenceChange]
) -> Appointment | Task:
    if not changes:
        return content
    if not isinstance(content, Appointment) or content.recurrence is None:
        raise PermanentError("occurrences exist only on a series")
    last = max(c.original_start for c in changes).astimezone(zone(content.time_zone)).date()
    valid = set(content.occurrence_starts(until=last))
    modified = {o.original_start: o for o in content.modified_occurrences}
    deleted = set(content.deleted_occurrences)
    for change in changes:
        key = change.original_start
        if key not in valid:
            raise PermanentError(f"{key.isoformat()} is not an occurrence of the series")
        if change.action == "restore":
            if key in deleted:
                raise PermanentError(
                    "a deleted occurrence cannot be restored without resetting the pattern"
                )
            modified.pop(key, None)
        elif key in deleted and change.action == "delete":
            continue  # deleted already: a repeated write changes nothing
        elif key in deleted:
            raise NotFound(f"occurrence {key.isoformat()} was deleted")
        elif change.action == "delete":
            modified.pop(key, None)
            deleted.add(key)
        else:
            assert change.occurrence is not None
            modified[key] = change.occurrence
    data = {
        **content.fields(),
        "modified_occurrences": [o.model_dump(mode="json") for o in modified.values()],
        "deleted_occurrences": sorted(deleted),
    }
    try:
        return build(Appointment, data)
    except InvalidItem as error:
        raise PermanentError(str(error)) from error
