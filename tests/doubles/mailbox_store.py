"""The Exchange port over the simulator's mailbox store, called directly (DESIGN §8).

Exchange's semantics live in one place, `sim.store.MailboxStore`; this port only translates
between our model and the store's (`tests.doubles.store_items`) and maps the store's EWS
errors to ours. ChangeKeys, series exceptions dropped by a new pattern or time, occurrences that
cannot be restored, sync states that page and expire: all of it is the store's doing.

Tests also act "as a user in Outlook" through the same store (`create`, `edit`, `touch`,
`modify_occurrence`, `delete_occurrence`, `delete`), with the helpers of the in-memory fake it
replaces, so that tests written against the fake run unchanged.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from engine.errors import (
    InvalidItem,
    NotFound,
    PermanentError,
    SideError,
    VersionConflict,
)
from engine.infotext import as_body
from engine.model import Appointment, ItemKind, ModifiedOccurrence, Side, Task, User, build
from engine.observation import Change, ItemError, Observation
from engine.ports import ExchangeBatch, MailboxStatus, Write, WriteResult
from sim.errors import EwsError, ResponseCode
from sim.model import (
    Body,
    BodyType,
    CalendarFields,
    CalendarItem,
    ExtendedPropertyKey,
    ExtendedValue,
    Item,
    TaskFields,
    TaskItem,
)
from sim.store import ConflictResolution, MailboxStore, SyncBatch, SyncChangeKind
from tests.doubles.series_writes import SeriesWrites, changed_values, side_error
from tests.doubles.store_items import (
    SYNC_ID,
    WRITTEN_ZONE,
    appointment_of,
    calendar_values,
    occurrence_of,
    sync_id_of,
    task_of,
    task_values,
)

FOLDER: Final = {ItemKind.APPOINTMENT: "calendar", ItemKind.TASK: "tasks"}

# Checkpoint = "<generation> <phase> <store sync state>"; base64 sync states contain no spaces.
_BASELINE, _CHANGES = "baseline", "changes"
_MAX_ERROR_MESSAGE = 300


def _now() -> datetime:
    return datetime.now(UTC)


def default_mailbox(user: User) -> str | None:
    """The mailbox the engine resolved for the user (R9); none, and the user is unreachable."""
    return user.mailbox.lower() if user.mailbox else None


@dataclass(frozen=True)
class MailboxItem:
    """An item as a test sees it in Outlook: its ids and what it shows, in our model."""

    id: str
    change_key: str
    kind: ItemKind
    content: Appointment | Task
    sync_id: uuid.UUID | None = None


@dataclass(frozen=True)
class FolderView:
    items: dict[str, MailboxItem]


class MailboxStorePort(SeriesWrites):
    """`engine.ports.ExchangePort` over a `MailboxStore`, plus the "user in Outlook" helpers."""

    def __init__(
        self,
        store: MailboxStore,
        *,
        clock: Callable[[], datetime] = _now,
        mailbox_of: Callable[[User], str | None] = default_mailbox,
        max_changes: int = 512,
    ) -> None:
        self.store = store
        self.clock = clock
        self.mailbox_of = mailbox_of
        self.max_changes = max_changes
        self.unreachable: dict[str, str] = {}  # mailbox -> EWS error code, overriding the store
        self.fail_next_writes: list[Exception] = []  # raised by the next applies, in order
        self.batches: list[int] = []  # the sizes of apply_many's calls
        self._generation = 0  # bumped by invalidate_sync_states

    # ---- ExchangePort -----------------------------------------------------------------------

    def check_mailbox(self, user: User) -> MailboxStatus:
        mailbox = self.mailbox_of(user)
        if mailbox is None:
            return MailboxStatus(reachable=False, reason="the user has no Exchange mailbox")
        if mailbox in self.unreachable:
            return MailboxStatus(reachable=False, reason=self.unreachable[mailbox])
        if not self.store.has_mailbox(mailbox):
            return MailboxStatus(reachable=False, reason=ResponseCode.NON_EXISTENT_MAILBOX.value)
        return MailboxStatus(reachable=True)

    def read_changes(self, user: User, kind: ItemKind, checkpoint: str | None) -> ExchangeBatch:
        mailbox = self._mailbox(user)
        baseline, state = (True, None) if checkpoint is None else self._resume(checkpoint)
        with _as_side_errors():
            try:
                batch = self._sync(mailbox, kind, state)
            except EwsError as error:
                if error.code != ResponseCode.INVALID_SYNC_STATE_DATA:
                    raise
                # An expired state: everything again, as changes (those items exist after setup).
                batch = self._sync(mailbox, kind, None)
            created = Change.BASELINE if baseline else Change.CHANGED
            observations = []
            for change in batch.changes:
                if change.kind is SyncChangeKind.DELETE:
                    observations.append(self._deleted(user, kind, change.item_id))
                else:
                    assert change.item is not None
                    seen = created if change.kind is SyncChangeKind.CREATE else Change.CHANGED
                    observations.append(self._observation(user, kind, change.item, seen))
        more = not batch.includes_last_item_in_range
        phase = _BASELINE if baseline and more else _CHANGES
        return ExchangeBatch(
            observations=tuple(observations),
            checkpoint=f"{self._generation} {phase} {batch.sync_state}",
            more=more,
        )

    def fetch(self, user: User, kind: ItemKind, native_id: str) -> Observation:
        mailbox = self._mailbox(user)
        try:
            item = self._item_in_folder(mailbox, kind, native_id)
        except NotFound:
            return self._deleted(user, kind, native_id)
        with _as_side_errors():
            return self._observation(user, kind, item, Change.CHANGED)

    def find_by_stream_id(self, user: User, kind: ItemKind, stream_id: uuid.UUID) -> str | None:
        return self.find_by_stream_id_in(self._mailbox(user), kind, stream_id)

    def find_by_stream_id_in(
        self, mailbox: str, kind: ItemKind, stream_id: uuid.UUID
    ) -> str | None:
        with _as_side_errors():
            found = self.store.find_by_extended_property(
                mailbox, FOLDER[kind], SYNC_ID, str(stream_id)
            )
        return found[0].item_id if found else None

    def apply(self, user: User, stream_id: uuid.UUID, write: Write) -> WriteResult:
        if self.fail_next_writes:
            raise self.fail_next_writes.pop(0)
        mailbox = self._mailbox(user)
        try:
            if write.operation == "delete":
                return self._delete(mailbox, write, stream_id)
            assert write.snapshot is not None
            if write.operation == "update":
                item = self._item_in_folder(mailbox, write.kind, write.native_id or "")
                item_id = self._update(item, stream_id, write, expected=write.expected_version)
            else:
                found = self.find_by_stream_id(user, write.kind, stream_id)
                if found is None:
                    item_id = self._create(mailbox, stream_id, write)
                else:  # an earlier attempt created it already: make that item the target
                    item = self._item_in_folder(mailbox, write.kind, found)
                    item_id = self._update(item, stream_id, write, expected=None)
            return WriteResult(
                native_id=item_id, native_version=self.store.get_item(item_id).change_key
            )
        except EwsError as error:
            raise side_error(error) from error
        except InvalidItem as error:  # e.g. a time zone Exchange has no id for
            raise PermanentError(f"{error.code}: {error.message}") from error

    def apply_many(
        self, user: User, writes: Sequence[tuple[uuid.UUID, Write]]
    ) -> list[WriteResult | SideError]:
        """`engine.ports.BatchWrites`: the store has no requests to save, so one by one; each
        write's error is its own. `batches` records the sizes, for tests of the engine."""
        self.batches.append(len(writes))
        results: list[WriteResult | SideError] = []
        for stream_id, write in writes:
            try:
                results.append(self.apply(user, stream_id, write))
            except SideError as error:
                results.append(error)
        return results

    # ---- acting as a user in Outlook ------------------------------------------------------

    def create(self, mailbox: str, content: Appointment | Task) -> str:
        with _as_side_errors():
            body = Body(content.info_text) if content.info_text else None
            if isinstance(content, Task):
                fields = TaskFields(**task_values(content), body=body)
                return self.store.create_task(mailbox, fields).item_id
            values = calendar_values(content)
            recurrence = values.pop("recurrence")
            item = self.store.create_calendar_item(
                mailbox, CalendarFields(**values, body=body), recurrence
            )
            self._reconcile_occurrences(item.item_id, content)
            return item.item_id

    def edit(self, item_id: str, **changes: Any) -> None:
        with _as_side_errors():
            current = self._content(self.store.get_item(item_id))
            data = {**current.fields(), **_json(changes)}
            edited: Appointment | Task = (
                build(Task, data) if isinstance(current, Task) else build(Appointment, data)
            )
            update = changed_values(_values(current), _values(edited))
            if edited.info_text != current.info_text:
                update["body"] = Body(edited.info_text)
            self.store.update_item(item_id, update)
            if {"modified_occurrences", "deleted_occurrences"} & changes.keys():
                assert isinstance(edited, Appointment)
                self._reconcile_occurrences(item_id, edited)

    def touch(self, item_id: str) -> None:
        """Exchange rewrites an item without a content change (a new ChangeKey only)."""
        with _as_side_errors():
            self.store.update_item(item_id)

    def modify_occurrence(self, item_id: str, original_start: datetime, **changes: Any) -> None:
        with _as_side_errors():
            occurrence = occurrence_of(
                self.store.occurrence(item_id, original_start=original_start)
            )
            edited = ModifiedOccurrence.model_validate({**occurrence.model_dump(), **changes})
            self._set_occurrence(item_id, edited)

    def delete_occurrence(self, item_id: str, original_start: datetime) -> None:
        with _as_side_errors():
            self.store.delete_occurrence(item_id, original_start)

    def delete(self, item_id: str) -> None:
        with _as_side_errors():
            self.store.delete_item(item_id)

    def invalidate_sync_states(self) -> None:
        """Every sync state handed out so far is answered as ErrorInvalidSyncStateData.

        The store has no such switch (its states expire only with `sync_state_max_age`), so the
        port refuses its own older checkpoints, as the server's ResponseError fault would.
        """
        self._generation += 1

    def items(self, mailbox: str, kind: ItemKind) -> list[MailboxItem]:
        if not self.store.has_mailbox(mailbox):
            return []
        with _as_side_errors():
            return [self._mailbox_item(i) for i in self.store.list_items(mailbox, FOLDER[kind])]

    def get(self, item_id: str) -> MailboxItem:
        with _as_side_errors():
            return self._mailbox_item(self.store.get_item(item_id))

    @property
    def folders(self) -> dict[tuple[str, ItemKind], FolderView]:
        """Every folder's items, keyed like the fake's folders (for tests that look at all)."""
        return {
            (mailbox.lower(), kind): FolderView({i.id: i for i in self.items(mailbox, kind)})
            for mailbox in self.store.mailbox_addresses()
            for kind in ItemKind
        }

    # ---- reading ----------------------------------------------------------------------------

    def _mailbox(self, user: User) -> str:
        mailbox = self.mailbox_of(user)
        if mailbox is None:
            raise PermanentError(f"{user.login} has no Exchange mailbox")
        if mailbox in self.unreachable:
            code = self.unreachable[mailbox]
            raise side_error(EwsError(code, f"mailbox {mailbox} cannot be reached"))
        return mailbox

    def _resume(self, checkpoint: str) -> tuple[bool, str]:
        """(still reading the baseline?, the store's sync state) from one of our checkpoints;
        a checkpoint from before `invalidate_sync_states` or not ours gives an invalid state."""
        generation, _, rest = checkpoint.partition(" ")
        phase, _, state = rest.partition(" ")
        if generation != str(self._generation) or phase not in (_BASELINE, _CHANGES):
            return phase == _BASELINE, ""
        return phase == _BASELINE, state

    def _sync(self, mailbox: str, kind: ItemKind, state: str | None) -> SyncBatch:
        if state == "":
            raise EwsError(ResponseCode.INVALID_SYNC_STATE_DATA, "The sync state was revoked.")
        return self.store.sync_folder_items(
            mailbox, FOLDER[kind], state, max_changes=self.max_changes
        )

    def _item_in_folder(self, mailbox: str, kind: ItemKind, native_id: str) -> Item:
        """The item with that id in the user's folder for `kind`; NotFound elsewhere."""
        try:
            item = self.store.get_item(native_id)
            folder = self.store.folder(mailbox, FOLDER[kind])
        except EwsError as error:
            if error.code in (ResponseCode.ITEM_NOT_FOUND, ResponseCode.INVALID_ID_MALFORMED):
                raise NotFound(f"item {native_id} does not exist") from error
            raise side_error(error) from error
        if item.folder_id != folder.folder_id or (
            isinstance(item, CalendarItem) and item.master_id is not None
        ):
            raise NotFound(f"item {native_id} is not in the {FOLDER[kind]} of {mailbox}")
        return item

    def _content(self, item: Item) -> Appointment | Task:
        """Our snapshot of an item; raises the typed InvalidItem when it cannot be one."""
        if isinstance(item, TaskItem):
            return task_of(item)
        exceptions = [self.store.get_calendar_item(o.item_id) for o in item.modified_occurrences]
        return appointment_of(item, exceptions)

    def _observation(self, user: User, kind: ItemKind, item: Item, change: Change) -> Observation:
        common: dict[str, Any] = {
            "side": Side.EXCHANGE,
            "kind": kind,
            "user": user.login,
            "native_id": item.item_id,
            "native_version": item.change_key,
            "observed_at": self.clock(),
        }
        try:
            # LastModifiedTime: of a series, changing one occurrence moves the master's too.
            common["modified_at"] = item.last_modified
            common["sync_id"] = sync_id_of(item.extended_properties)
            snapshot = self._content(item)
        except InvalidItem as error:
            message = error.message
            if len(message) > _MAX_ERROR_MESSAGE:
                message = message[:_MAX_ERROR_MESSAGE] + "…"
            # Seen at setup, an unreadable item is still pre-existing: a baseline with its error.
            return Observation(
                change=Change.BASELINE if change is Change.BASELINE else Change.INVALID,
                error=ItemError(code=error.code, message=message, field=error.field),
                **common,
            )
        return Observation(change=change, snapshot=snapshot, **common)

    def _deleted(self, user: User, kind: ItemKind, native_id: str) -> Observation:
        return Observation(
            side=Side.EXCHANGE,
            kind=kind,
            user=user.login,
            native_id=native_id,
            change=Change.DELETED,
            observed_at=self.clock(),
        )

    def _mailbox_item(self, item: Item) -> MailboxItem:
        return MailboxItem(
            id=item.item_id,
            change_key=item.change_key,
            kind=ItemKind.TASK if isinstance(item, TaskItem) else ItemKind.APPOINTMENT,
            content=self._content(item),
            sync_id=sync_id_of(item.extended_properties),
        )

    # ---- writing ----------------------------------------------------------------------------

    def _delete(self, mailbox: str, write: Write, stream_id: uuid.UUID) -> WriteResult:
        native_id = write.native_id or self.find_by_stream_id_in(mailbox, write.kind, stream_id)
        item = self._item_in_folder(mailbox, write.kind, native_id or "")
        if write.expected_version not in (None, item.change_key):
            raise VersionConflict(f"item {item.item_id} changed since it was read")
        self.store.delete_item(item.item_id)
        return WriteResult(native_id=item.item_id)

    def _create(self, mailbox: str, stream_id: uuid.UUID, write: Write) -> str:
        snapshot = write.snapshot
        body = _body(write)
        properties: dict[ExtendedPropertyKey, ExtendedValue] = {SYNC_ID: str(stream_id)}
        if isinstance(snapshot, Task):
            fields = TaskFields(**task_values(snapshot), body=body, extended_properties=properties)
            return self.store.create_task(mailbox, fields).item_id
        assert isinstance(snapshot, Appointment)
        properties[WRITTEN_ZONE] = snapshot.time_zone
        values = calendar_values(snapshot)
        recurrence = values.pop("recurrence")
        item = self.store.create_calendar_item(
            mailbox, CalendarFields(**values, body=body, extended_properties=properties), recurrence
        )
        self._apply_occurrences(item.item_id, snapshot, write.occurrences)
        return item.item_id

    def _update(self, item: Item, stream_id: uuid.UUID, write: Write, expected: str | None) -> str:
        snapshot = write.snapshot
        assert snapshot is not None
        try:
            current: dict[str, Any] = _values(self._content(item))
        except InvalidItem:
            current = {}  # unreadable as it is: write every field
        update = changed_values(current, _values(snapshot))
        body = _body(write)
        if body is not None:
            update["body"] = body
        properties = {**item.extended_properties, SYNC_ID: str(stream_id)}
        if isinstance(snapshot, Appointment):
            properties[WRITTEN_ZONE] = snapshot.time_zone
        if properties != dict(item.extended_properties):
            update["extended_properties"] = properties
        # The whole item was read at `expected`: any change since is a conflict, not a merge.
        self.store.update_item(
            item.item_id,
            update,
            expected_change_key=expected,
            conflict_resolution=ConflictResolution.NEVER_OVERWRITE,
        )
        if isinstance(snapshot, Appointment):
            if write.pattern_changed:
                self._reset_series(item.item_id)
            self._apply_occurrences(item.item_id, snapshot, write.occurrences)
            self._restore_strays(item.item_id, snapshot)
        return item.item_id


def _values(snapshot: Appointment | Task) -> dict[str, Any]:
    return task_values(snapshot) if isinstance(snapshot, Task) else calendar_values(snapshot)


def _body(write: Write) -> Body | None:
    """The body to write (R7), or None to leave the item's body as it is."""
    if not write.write_info_text:
        return None
    assert write.snapshot is not None
    html = write.info_text_format == "html"
    return Body(
        as_body(write.snapshot.info_text, write.info_text_format),
        BodyType.HTML if html else BodyType.TEXT,
    )


def _json(changes: Mapping[str, Any]) -> dict[str, Any]:
    return {
        name: (value.model_dump(mode="json") if hasattr(value, "model_dump") else value)
        for name, value in changes.items()
    }


@contextmanager
def _as_side_errors() -> Iterator[None]:
    """Store errors from a user's action as the engine's errors (NotFound for a gone item)."""
    try:
        yield
    except EwsError as error:
        raise side_error(error) from error
