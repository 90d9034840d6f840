"""The mailbox store: the simulator's one model of Exchange, usable with or without SOAP.

(Over its size limit: new concerns go into their own modules, e.g. `sim.itemrules`; the store is
split by concern in a later issue.)

`MailboxStore` holds mailboxes with their folders (calendar, tasks and a few mail folders),
calendar items and tasks, and applies Exchange's rules to every write:

- Every item has an ItemId and a ChangeKey; every write produces a new ChangeKey and moves
  LastModifiedTime. A stale ChangeKey fails an update only where Exchange would (NeverOverwrite,
  or AutoResolve when the same property changed meanwhile): ErrorIrresolvableConflict.
- A calendar item with a recurrence is a RecurringMaster. Its occurrences are computed (see
  `sim.recurrence`) in the series' time zone; an occurrence is addressed by its own id, by
  OccurrenceItemId (master + 1-based instance index) or here by its original start. Writing to an
  occurrence turns it into an Exception; deleting one adds it to DeletedOccurrences. The master
  reports FirstOccurrence, LastOccurrence, ModifiedOccurrences and DeletedOccurrences.
- Changing a series' pattern or time (Recurrence, Start, End, time zones) drops its exceptions
  and deleted occurrences, as Exchange does.
- Extended properties (PropertySetId/DistinguishedPropertySetId + PropertyName/PropertyId, or
  PropertyTag; with PropertyType) are stored and returned as EWS strings.
- Each folder offers a SyncFolderItems change feed: Create/Update/Delete since an opaque sync
  state, at most N changes per call, with IncludesLastItemInRange.
- Each mailbox has an event log feeding pull and streaming subscriptions (`sim.events`).

Rule violations raise `sim.errors.EwsError` with the ResponseCode Exchange would answer.
All methods are thread-safe (one re-entrant lock); returned items are immutable snapshots.
"""

from __future__ import annotations

import dataclasses
import itertools
import secrets
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sim import ids
from sim.clock import Clock, SystemClock
from sim.errors import EwsError, ResponseCode
from sim.events import EventType, NotificationHub, NotificationSettings, StreamHandle
from sim.events import Notification as Notification
from sim.itemrules import all_day_bounds, overlaps_view, task_rules
from sim.model import (
    CALENDAR_FIELD_NAMES,
    TASK_FIELD_NAMES,
    CalendarFields,
    CalendarItem,
    CalendarItemType,
    DistinguishedFolder,
    EmailAddress,
    ExtendedPropertyKey,
    ExtendedValue,
    FolderInfo,
    FolderKind,
    Item,
    ItemKind,
    OccurrenceInfo,
    TaskFields,
    TaskItem,
    new_uid,
    require_utc,
)
from sim.recurrence import EwsRecurrence, EwsRecurrenceError, OccurrenceShape
from sim.timezones import UnknownTimeZone, zoneinfo_for


class ConflictResolution(StrEnum):
    NEVER_OVERWRITE = "NeverOverwrite"
    AUTO_RESOLVE = "AutoResolve"
    ALWAYS_OVERWRITE = "AlwaysOverwrite"


class SyncChangeKind(StrEnum):
    CREATE = "Create"
    UPDATE = "Update"
    DELETE = "Delete"


@dataclass(frozen=True)
class SyncChange:
    kind: SyncChangeKind
    item_id: str
    item: Item | None


@dataclass(frozen=True)
class SyncBatch:
    """One SyncFolderItems answer: the changes, the state to resume from, and whether done."""

    changes: tuple[SyncChange, ...]
    sync_state: str
    includes_last_item_in_range: bool


@dataclass(frozen=True)
class StoreSettings:
    notifications: NotificationSettings = field(default_factory=NotificationSettings)
    # Exchange sync states do not age by themselves; set this to simulate ones that went stale.
    sync_state_max_age: timedelta | None = None
    max_sync_changes: int = 512


# Folders every mailbox gets: distinguished id, display name, element kind, folder class, parent.
_DEFAULT_FOLDERS: tuple[
    tuple[DistinguishedFolder, str, FolderKind, str | None, int | None], ...
] = (
    (DistinguishedFolder.ROOT, "", FolderKind.FOLDER, None, None),
    (DistinguishedFolder.MSGFOLDERROOT, "Top of Information Store", FolderKind.FOLDER, None, 1),
    (DistinguishedFolder.CALENDAR, "Calendar", FolderKind.CALENDAR, "IPF.Appointment", 2),
    (DistinguishedFolder.TASKS, "Tasks", FolderKind.TASKS, "IPF.Task", 2),
    (DistinguishedFolder.INBOX, "Inbox", FolderKind.FOLDER, "IPF.Note", 2),
    (DistinguishedFolder.SENT_ITEMS, "Sent Items", FolderKind.FOLDER, "IPF.Note", 2),
    (DistinguishedFolder.DELETED_ITEMS, "Deleted Items", FolderKind.FOLDER, "IPF.Note", 2),
)
_SERIES_SHAPE_FIELDS = ("start", "end", "start_time_zone", "end_time_zone")
_DISTINGUISHED_NAMES = frozenset(folder.value for folder in DistinguishedFolder)


@dataclass
class _Folder:
    number: int
    mailbox_number: int
    display_name: str
    kind: FolderKind
    folder_class: str | None
    parent_number: int | None
    distinguished: DistinguishedFolder | None

    @property
    def folder_id(self) -> str:
        return ids.folder_id(ids.FolderRef(self.mailbox_number, self.number))


@dataclass
class _Exception:
    overrides: dict[str, Any]
    version: int
    last_modified: datetime


@dataclass
class _Record:
    number: int
    mailbox_number: int
    folder_number: int
    kind: ItemKind
    version: int
    created: datetime
    last_modified: datetime
    field_versions: dict[str, int] = field(default_factory=dict)
    calendar: CalendarFields | None = None
    task: TaskFields | None = None
    uid: str = ""
    recurrence: EwsRecurrence | None = None
    exceptions: dict[datetime, _Exception] = field(default_factory=dict)
    deleted_occurrences: set[datetime] = field(default_factory=set)

    @property
    def item_id(self) -> str:
        return ids.item_id(ids.ItemRef(self.mailbox_number, self.number))

    @property
    def change_key(self) -> str:
        return ids.change_key(self.version, self.number)

    @property
    def cal(self) -> CalendarFields:
        if self.calendar is None:
            raise EwsError(ResponseCode.INVALID_OPERATION, "The item is not a calendar item.")
        return self.calendar


@dataclass
class _Mailbox:
    number: int
    address: str
    display_name: str
    folders: dict[int, _Folder] = field(default_factory=dict)
    distinguished: dict[DistinguishedFolder, int] = field(default_factory=dict)
    items: dict[int, _Record] = field(default_factory=dict)
    # (folder number, item number) -> change sequence when the item left that folder.
    departures: dict[tuple[int, int], int] = field(default_factory=dict)
    item_numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1))


@dataclass(frozen=True)
class _Occurrence:
    index: int
    original_start: datetime
    original_end: datetime
    start: datetime
    end: datetime
    exception: _Exception | None


class MailboxStore:
    """Mailboxes, folders, items, change feeds and subscriptions, with Exchange semantics."""

    def __init__(self, clock: Clock | None = None, settings: StoreSettings | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        self.settings = settings or StoreSettings()
        self._lock = threading.RLock()
        self._seq = itertools.count(1)
        self._mailboxes: dict[str, _Mailbox] = {}
        self._by_number: dict[int, _Mailbox] = {}
        self._seal = ids.TokenSeal(secrets.token_bytes(32))
        self.notifications = NotificationHub(
            self._lock, self.clock, self._seal, self.settings.notifications, self._next_seq
        )

    def _next_seq(self) -> int:
        return next(self._seq)

    # --- mailboxes and folders --------------------------------------------------------------

    def add_mailbox(self, address: str, display_name: str | None = None) -> str:
        """Create a mailbox with its default folders; returns the primary SMTP address."""
        with self._lock:
            key = address.strip().lower()
            if key in self._mailboxes:
                raise ValueError(f"mailbox {address} exists")
            number = ids.new_mailbox_number(self._by_number)
            mailbox = _Mailbox(number, address.strip(), display_name or address.split("@")[0])
            for folder_number, (distinguished, name, kind, folder_class, parent) in enumerate(
                _DEFAULT_FOLDERS, start=1
            ):
                mailbox.folders[folder_number] = _Folder(
                    folder_number, number, name, kind, folder_class, parent, distinguished
                )
                mailbox.distinguished[distinguished] = folder_number
            self._mailboxes[key] = mailbox
            self._by_number[number] = mailbox
            return mailbox.address

    def has_mailbox(self, address: str) -> bool:
        with self._lock:
            return address.strip().lower() in self._mailboxes

    def mailbox_addresses(self) -> list[str]:
        with self._lock:
            return [mailbox.address for mailbox in self._by_number.values()]

    def _mailbox(self, address: str) -> _Mailbox:
        mailbox = self._mailboxes.get(address.strip().lower())
        if mailbox is None:
            raise EwsError(
                ResponseCode.NON_EXISTENT_MAILBOX,
                "The SMTP address has no mailbox associated with it.",
            )
        return mailbox

    def _folder(self, mailbox: _Mailbox, folder: str) -> _Folder:
        """A folder by distinguished name ("calendar") or by FolderId, within `mailbox`."""
        if folder in _DISTINGUISHED_NAMES:
            return mailbox.folders[mailbox.distinguished[DistinguishedFolder(folder)]]
        ref = ids.parse_id(folder)
        if isinstance(ref, ids.FolderRef) and ref.mailbox_number == mailbox.number:
            found = mailbox.folders.get(ref.folder_number)
            if found is not None:
                return found
        if ref is None:
            raise EwsError(ResponseCode.INVALID_ID_MALFORMED, "Id is malformed.")
        raise EwsError(
            ResponseCode.FOLDER_NOT_FOUND, "The specified folder could not be found in the store."
        )

    def _folder_info(self, mailbox: _Mailbox, folder: _Folder) -> FolderInfo:
        return FolderInfo(
            folder_id=folder.folder_id,
            change_key=ids.change_key(0, folder.number),
            mailbox=mailbox.address,
            display_name=folder.display_name,
            kind=folder.kind,
            folder_class=folder.folder_class,
            parent_id=None
            if folder.parent_number is None
            else mailbox.folders[folder.parent_number].folder_id,
            distinguished=folder.distinguished,
            child_folder_count=sum(
                1 for other in mailbox.folders.values() if other.parent_number == folder.number
            ),
            total_count=sum(
                1 for record in mailbox.items.values() if record.folder_number == folder.number
            ),
        )

    def folder(self, mailbox: str, folder: str) -> FolderInfo:
        """A folder of `mailbox` by distinguished name ("calendar", "tasks", ...) or FolderId."""
        with self._lock:
            box = self._mailbox(mailbox)
            return self._folder_info(box, self._folder(box, folder))

    def folders(self, mailbox: str) -> list[FolderInfo]:
        with self._lock:
            box = self._mailbox(mailbox)
            return [self._folder_info(box, folder) for folder in box.folders.values()]

    def folder_mailbox(self, folder_id: str) -> str:
        """The mailbox a FolderId belongs to."""
        with self._lock:
            ref = ids.parse_id(folder_id)
            if not isinstance(ref, ids.FolderRef) or ref.mailbox_number not in self._by_number:
                raise EwsError(
                    ResponseCode.FOLDER_NOT_FOUND,
                    "The specified folder could not be found in the store.",
                )
            return self._by_number[ref.mailbox_number].address

    # --- item lookup ------------------------------------------------------------------------

    def _locate(self, item_id: str) -> tuple[_Mailbox, _Record, datetime | None]:
        """Mailbox, record and (for an occurrence id) the occurrence's original start."""
        ref = ids.parse_id(item_id)
        if ref is None:
            raise EwsError(ResponseCode.INVALID_ID_MALFORMED, "Id is malformed.")
        if isinstance(ref, ids.FolderRef):
            raise EwsError(ResponseCode.INVALID_ID_MALFORMED, "Id is a folder id, not an item id.")
        mailbox = self._by_number.get(ref.mailbox_number)
        number = ref.item_number if isinstance(ref, ids.ItemRef) else ref.master_number
        record = None if mailbox is None else mailbox.items.get(number)
        if mailbox is None or record is None:
            raise EwsError(
                ResponseCode.ITEM_NOT_FOUND, "The specified object was not found in the store."
            )
        return mailbox, record, ref.original_start if isinstance(ref, ids.OccurrenceRef) else None

    def item_mailbox(self, item_id: str) -> str:
        with self._lock:
            return self._locate(item_id)[0].address

    def get_item(self, item_id: str) -> Item:
        """Any item by id: task, single, master, or an occurrence/exception by its own id."""
        with self._lock:
            mailbox, record, original_start = self._locate(item_id)
            if original_start is not None:
                return self._occurrence_snapshot(
                    mailbox, record, self._find_occurrence(record, original_start)
                )
            return self._snapshot(mailbox, record)

    def get_calendar_item(self, item_id: str) -> CalendarItem:
        item = self.get_item(item_id)
        if not isinstance(item, CalendarItem):
            raise EwsError(ResponseCode.INVALID_OPERATION, "The item is not a calendar item.")
        return item

    def get_task(self, item_id: str) -> TaskItem:
        item = self.get_item(item_id)
        if not isinstance(item, TaskItem):
            raise EwsError(ResponseCode.INVALID_OPERATION, "The item is not a task.")
        return item

    def occurrence(
        self, master_id: str, *, index: int | None = None, original_start: datetime | None = None
    ) -> CalendarItem:
        """One occurrence of a series by 1-based instance index or by original start."""
        with self._lock:
            mailbox, record, _ = self._locate(master_id)
            if (index is None) == (original_start is None):
                raise ValueError("give exactly one of index and original_start")
            if index is not None:
                occurrence = self._occurrence_by_index(record, index)
            else:
                occurrence = self._find_occurrence(record, _utc(original_start))
            return self._occurrence_snapshot(mailbox, record, occurrence)

    def occurrence_id(self, master_id: str, index: int) -> str:
        """The ItemId of the index-th occurrence (what GetItem with OccurrenceItemId returns)."""
        return self.occurrence(master_id, index=index).item_id

    def list_items(self, mailbox: str, folder: str = "calendar") -> list[Item]:
        """Items of a folder as FindItem without a view returns them (masters, not occurrences)."""
        with self._lock:
            box = self._mailbox(mailbox)
            target = self._folder(box, folder)
            return [
                self._snapshot(box, record)
                for record in box.items.values()
                if record.folder_number == target.number
            ]

    def find_by_extended_property(
        self, mailbox: str, folder: str, key: ExtendedPropertyKey, value: ExtendedValue
    ) -> list[Item]:
        return [
            item
            for item in self.list_items(mailbox, folder)
            if item.extended_properties.get(key) == value
        ]

    def calendar_view(
        self, mailbox: str, start: datetime, end: datetime, folder: str = "calendar"
    ) -> list[CalendarItem]:
        """Singles, occurrences and exceptions in a view from `start` to `end`, ordered by start:
        those that end on or after `start` and start before `end` (`sim.itemrules.overlaps_view`)."""
        window_start, window_end = _utc(start), _utc(end)
        with self._lock:
            box = self._mailbox(mailbox)
            target = self._folder(box, folder)
            if target.kind is not FolderKind.CALENDAR:
                raise EwsError(
                    ResponseCode.CALENDAR_FOLDER_INVALID_FOR_VIEW,
                    "CalendarView is only valid on calendar folders.",
                )
            found: list[CalendarItem] = []
            for record in box.items.values():
                if record.folder_number != target.number or record.calendar is None:
                    continue
                if record.recurrence is None:
                    if overlaps_view(record.cal.start, record.cal.end, window_start, window_end):
                        item = self._snapshot(box, record)
                        assert isinstance(item, CalendarItem)
                        found.append(item)
                    continue
                for occurrence in self._occurrences(record, until=window_end):
                    if occurrence.original_start in record.deleted_occurrences:
                        continue
                    if overlaps_view(occurrence.start, occurrence.end, window_start, window_end):
                        found.append(self._occurrence_snapshot(box, record, occurrence))
            return sorted(found, key=lambda item: (item.start, item.item_id))

    # --- occurrences ------------------------------------------------------------------------

    def _shape(self, record: _Record) -> OccurrenceShape:
        fields = record.cal
        return OccurrenceShape.of(fields.start, fields.end, zoneinfo_for(fields.start_time_zone))

    def _occurrences(self, record: _Record, until: datetime | None = None) -> Iterator[_Occurrence]:
        """All occurrences of a master in order, deleted ones included; with `until`, stop
        after the first one starting past it (a moved exception may still reach back)."""
        if record.recurrence is None:
            return
        shape = self._shape(record)
        for index, day in enumerate(record.recurrence.dates(), start=1):
            original_start, original_end = shape.on(day)
            exception = record.exceptions.get(original_start)
            start, end = original_start, original_end
            if exception is not None:
                start = exception.overrides.get("start", start)
                end = exception.overrides.get("end", end)
            yield _Occurrence(index, original_start, original_end, start, end, exception)
            if until is not None and original_start > until:
                return

    def _occurrence_by_index(self, record: _Record, index: int) -> _Occurrence:
        if record.recurrence is None:
            raise EwsError(
                ResponseCode.CALENDAR_CANNOT_USE_ID_FOR_OCCURRENCE_ID,
                "The item is not a recurring master.",
            )
        if index >= 1:
            for occurrence in itertools.islice(self._occurrences(record), index - 1, index):
                if occurrence.original_start in record.deleted_occurrences:
                    raise EwsError(
                        ResponseCode.CALENDAR_OCCURRENCE_DELETED,
                        "Occurrence with this index was previously deleted from the recurrence.",
                    )
                return occurrence
        raise EwsError(
            ResponseCode.CALENDAR_OCCURRENCE_INDEX_OUT_OF_RANGE,
            "Occurrence index is out of recurrence range.",
        )

    def _find_occurrence(self, record: _Record, original_start: datetime) -> _Occurrence:
        if record.recurrence is None:
            raise EwsError(
                ResponseCode.ITEM_NOT_FOUND, "The specified object was not found in the store."
            )
        for occurrence in self._occurrences(record, until=original_start):
            if occurrence.original_start == original_start:
                if original_start in record.deleted_occurrences:
                    raise EwsError(
                        ResponseCode.CALENDAR_OCCURRENCE_DELETED,
                        "The occurrence was deleted from the recurrence.",
                    )
                return occurrence
        raise EwsError(
            ResponseCode.ITEM_NOT_FOUND, "The specified object was not found in the store."
        )

    # --- snapshots --------------------------------------------------------------------------

    def _organizer(self, mailbox: _Mailbox) -> EmailAddress:
        return EmailAddress(mailbox.address, mailbox.display_name)

    def _occurrence_info(self, record: _Record, occurrence: _Occurrence) -> OccurrenceInfo:
        exception = occurrence.exception
        return OccurrenceInfo(
            item_id=ids.occurrence_id(
                ids.OccurrenceRef(record.mailbox_number, record.number, occurrence.original_start)
            ),
            change_key=ids.change_key(
                exception.version if exception else record.version, record.number
            ),
            start=occurrence.start,
            end=occurrence.end,
            original_start=occurrence.original_start,
        )

    def _snapshot(self, mailbox: _Mailbox, record: _Record) -> Item:
        folder_id = mailbox.folders[record.folder_number].folder_id
        if record.kind is ItemKind.TASK:
            assert record.task is not None
            return TaskItem(
                item_id=record.item_id,
                change_key=record.change_key,
                mailbox=mailbox.address,
                folder_id=folder_id,
                fields=record.task,
                created=record.created,
                last_modified=record.last_modified,
                owner=mailbox.display_name,
            )
        first = last = None
        modified: list[OccurrenceInfo] = []
        if record.recurrence is not None:
            remaining = (
                occurrence
                for occurrence in self._occurrences(record)
                if occurrence.original_start not in record.deleted_occurrences
            )
            if record.recurrence.is_bounded:
                bounded = list(remaining)
                if bounded:
                    first = self._occurrence_info(record, bounded[0])
                    last = self._occurrence_info(record, bounded[-1])
            else:
                unbounded_first = next(remaining, None)
                if unbounded_first is not None:
                    first = self._occurrence_info(record, unbounded_first)
            modified = [
                self._occurrence_info(record, self._find_occurrence(record, original_start))
                for original_start in sorted(record.exceptions)
            ]
        return CalendarItem(
            item_id=record.item_id,
            change_key=record.change_key,
            mailbox=mailbox.address,
            folder_id=folder_id,
            item_type=CalendarItemType.SINGLE
            if record.recurrence is None
            else CalendarItemType.RECURRING_MASTER,
            fields=record.cal,
            uid=record.uid,
            created=record.created,
            last_modified=record.last_modified,
            organizer=self._organizer(mailbox),
            recurrence=record.recurrence,
            first_occurrence=first,
            last_occurrence=last,
            modified_occurrences=tuple(modified),
            deleted_occurrences=tuple(sorted(record.deleted_occurrences)),
        )

    def _occurrence_snapshot(
        self, mailbox: _Mailbox, record: _Record, occurrence: _Occurrence
    ) -> CalendarItem:
        exception = occurrence.exception
        overrides = dict(exception.overrides) if exception else {}
        overrides.setdefault("start", occurrence.original_start)
        overrides.setdefault("end", occurrence.original_end)
        info = self._occurrence_info(record, occurrence)
        return CalendarItem(
            item_id=info.item_id,
            change_key=info.change_key,
            mailbox=mailbox.address,
            folder_id=mailbox.folders[record.folder_number].folder_id,
            item_type=CalendarItemType.EXCEPTION if exception else CalendarItemType.OCCURRENCE,
            fields=dataclasses.replace(record.cal, **overrides),
            uid=record.uid,
            created=record.created,
            last_modified=exception.last_modified if exception else record.last_modified,
            organizer=self._organizer(mailbox),
            original_start=occurrence.original_start,
            master_id=record.item_id,
        )

    # --- writes -----------------------------------------------------------------------------

    def _publish(self, mailbox: _Mailbox, record: _Record, event_type: EventType) -> None:
        folder = mailbox.folders[record.folder_number]
        self.notifications.publish(
            mailbox.number,
            event_type,
            folder.folder_id,
            item_id=record.item_id,
            change_key=record.change_key,
        )
        self._publish_folder_modified(mailbox, folder)

    def _publish_folder_modified(self, mailbox: _Mailbox, folder: _Folder) -> None:
        # Exchange also reports the folder itself as modified (its item count changed).
        if folder.parent_number is None:
            return
        self.notifications.publish(
            mailbox.number,
            EventType.MODIFIED,
            mailbox.folders[folder.parent_number].folder_id,
            folder_id=folder.folder_id,
            change_key=ids.change_key(0, folder.number),
            unread_count=0,
        )

    def _touch(self, record: _Record, changed: set[str]) -> None:
        record.version = self._next_seq()
        record.last_modified = self.clock.now()
        for name in changed:
            record.field_versions[name] = record.version

    def create_calendar_item(
        self,
        mailbox: str,
        fields: CalendarFields,
        recurrence: EwsRecurrence | None = None,
        *,
        folder: str = "calendar",
        uid: str | None = None,
    ) -> CalendarItem:
        """Create a single appointment, or a recurring series when `recurrence` is given.

        For a series, `fields.start`/`end` give the time of day and duration (in
        `fields.start_time_zone`); the master's Start/End become those of the first occurrence.
        `uid` is the iCalendar UID a client chose (Exchange generates one otherwise).
        """
        with self._lock:
            box = self._mailbox(mailbox)
            target = self._folder(box, folder)
            if target.kind is not FolderKind.CALENDAR:
                raise EwsError(
                    ResponseCode.CANNOT_CREATE_CALENDAR_ITEM_IN_NON_CALENDAR_FOLDER,
                    "Calendar items can only be created in a calendar folder.",
                )
            item = self._add_record(
                box,
                target,
                ItemKind.CALENDAR_ITEM,
                calendar=self._checked_calendar_fields(fields, recurrence),
                uid=uid or new_uid(),
                recurrence=recurrence,
            )
            assert isinstance(item, CalendarItem)
            return item

    def _add_record(self, box: _Mailbox, folder: _Folder, kind: ItemKind, **values: Any) -> Item:
        now = self.clock.now()
        record = _Record(
            number=next(box.item_numbers),
            mailbox_number=box.number,
            folder_number=folder.number,
            kind=kind,
            version=self._next_seq(),
            created=now,
            last_modified=now,
            **values,
        )
        box.items[record.number] = record
        self._publish(box, record, EventType.CREATED)
        return self._snapshot(box, record)

    def _checked_calendar_fields(
        self, fields: CalendarFields, recurrence: EwsRecurrence | None
    ) -> CalendarFields:
        """Validate times, zones and recurrence; align a series' start with its first occurrence."""
        for zone in (fields.start_time_zone, fields.end_time_zone):
            try:
                zoneinfo_for(zone)
            except UnknownTimeZone:
                raise EwsError(ResponseCode.TIME_ZONE, f"Unknown time zone id {zone!r}.") from None
        if fields.end < fields.start:
            raise EwsError(
                ResponseCode.CALENDAR_END_BEFORE_START,
                "EndDate is earlier than StartDate",
            )
        fields = all_day_bounds(fields)
        if recurrence is None:
            return fields
        try:
            recurrence.validate()
        except EwsRecurrenceError as error:
            raise EwsError(ResponseCode.CALENDAR_INVALID_RECURRENCE, str(error)) from None
        first_day = next(recurrence.dates(), None)
        if first_day is None:
            raise EwsError(
                ResponseCode.RECURRENCE_HAS_NO_OCCURRENCE,
                "The recurrence pattern has no occurrences.",
            )
        shape = OccurrenceShape.of(fields.start, fields.end, zoneinfo_for(fields.start_time_zone))
        start, end = shape.on(first_day)
        return dataclasses.replace(fields, start=start, end=end)

    def create_task(self, mailbox: str, fields: TaskFields, *, folder: str = "tasks") -> TaskItem:
        with self._lock:
            box = self._mailbox(mailbox)
            target = self._folder(box, folder)
            if target.kind is not FolderKind.TASKS:
                raise EwsError(
                    ResponseCode.CANNOT_CREATE_TASK_IN_NON_TASK_FOLDER,
                    "Tasks can only be created in a task folder.",
                )
            item = self._add_record(
                box, target, ItemKind.TASK, task=task_rules(None, fields, self.clock.now())
            )
            assert isinstance(item, TaskItem)
            return item

    def _check_change_key(
        self,
        record: _Record,
        current_version: int,
        expected_change_key: str | None,
        conflict_resolution: ConflictResolution,
        changing: set[str],
    ) -> None:
        if (
            expected_change_key is None
            or conflict_resolution is ConflictResolution.ALWAYS_OVERWRITE
        ):
            return
        seen = ids.change_key_version(expected_change_key)
        if seen is None:
            raise EwsError(ResponseCode.INVALID_ID_MALFORMED, "The change key is malformed.")
        if seen >= current_version:
            return
        stale = conflict_resolution is ConflictResolution.NEVER_OVERWRITE or any(
            record.field_versions.get(name, 0) > seen for name in changing
        )
        if stale:
            raise EwsError(
                ResponseCode.IRRESOLVABLE_CONFLICT,
                "The send or update operation could not be performed because the change key "
                "passed in the request does not match the current change key for the item.",
            )

    def update_item(
        self,
        item_id: str,
        /,
        changes: Mapping[str, Any] | None = None,
        *,
        expected_change_key: str | None = None,
        conflict_resolution: ConflictResolution = ConflictResolution.AUTO_RESOLVE,
        **field_changes: Any,
    ) -> Item:
        """Change fields of a single, master, task, or (by its id) one occurrence.

        Field names are those of `CalendarFields`/`TaskFields`, plus "recurrence" for
        calendar items (a Recurrence, or None to make a series a single appointment).
        `expected_change_key` is the ChangeKey the writer last saw.
        """
        all_changes = {**(changes or {}), **field_changes}
        with self._lock:
            mailbox, record, original_start = self._locate(item_id)
            if original_start is not None:
                return self._update_occurrence(
                    mailbox,
                    record,
                    self._find_occurrence(record, original_start),
                    all_changes,
                    expected_change_key,
                    conflict_resolution,
                )
            self._check_change_key(
                record, record.version, expected_change_key, conflict_resolution, set(all_changes)
            )
            if record.kind is ItemKind.TASK:
                self._update_task(record, all_changes)
            else:
                self._update_calendar(record, all_changes)
            self._publish(mailbox, record, EventType.MODIFIED)
            return self._snapshot(mailbox, record)

    def _update_task(self, record: _Record, changes: dict[str, Any]) -> None:
        unknown = set(changes) - TASK_FIELD_NAMES
        if unknown:
            raise EwsError(
                ResponseCode.INVALID_PROPERTY_FOR_OPERATION,
                f"Not task properties: {sorted(unknown)}",
            )
        assert record.task is not None
        updated = task_rules(
            record.task, dataclasses.replace(record.task, **changes), self.clock.now()
        )
        self._touch(record, set(changes))
        record.task = updated

    def _update_calendar(self, record: _Record, changes: dict[str, Any]) -> None:
        unknown = set(changes) - CALENDAR_FIELD_NAMES - {"recurrence", "uid"}
        if unknown:
            raise EwsError(
                ResponseCode.INVALID_PROPERTY_FOR_OPERATION,
                f"Not calendar item properties: {sorted(unknown)}",
            )
        uid = changes.get("uid", record.uid)
        if not uid:
            raise EwsError(ResponseCode.INVALID_VALUE_FOR_PROPERTY, "The UID cannot be empty.")
        field_changes = {
            name: value for name, value in changes.items() if name not in ("recurrence", "uid")
        }
        recurrence = changes.get("recurrence", record.recurrence)
        fields = dataclasses.replace(record.cal, **field_changes)
        moved = fields.start != record.cal.start
        if recurrence is not None and moved and recurrence == record.recurrence:
            # Moving a series' start moves its range with it, as Outlook's series editor does.
            local_day = fields.start.astimezone(zoneinfo_for(fields.start_time_zone)).date()
            recurrence = dataclasses.replace(
                recurrence, range=dataclasses.replace(recurrence.range, start_date=local_day)
            )
        fields = self._checked_calendar_fields(fields, recurrence)
        # Rewriting a value unchanged (clients resend whole items) does not reshape the series.
        reshaped = recurrence != record.recurrence or any(
            getattr(fields, name) != getattr(record.cal, name) for name in _SERIES_SHAPE_FIELDS
        )
        self._touch(record, set(changes))
        if reshaped:
            # A new pattern or series time invalidates every exception (Exchange drops them).
            record.exceptions.clear()
            record.deleted_occurrences.clear()
        record.calendar = fields
        record.recurrence = recurrence
        record.uid = uid

    def _update_occurrence(
        self,
        mailbox: _Mailbox,
        record: _Record,
        occurrence: _Occurrence,
        changes: dict[str, Any],
        expected_change_key: str | None,
        conflict_resolution: ConflictResolution,
    ) -> CalendarItem:
        if "recurrence" in changes:
            raise EwsError(
                ResponseCode.INVALID_PROPERTY_FOR_OPERATION,
                "The recurrence of an occurrence cannot be set.",
            )
        # An occurrence has its series' UID; clients resending a whole item send it unchanged.
        if changes.pop("uid", record.uid) != record.uid:
            raise EwsError(
                ResponseCode.INVALID_PROPERTY_FOR_OPERATION,
                "The UID of an occurrence is its series' UID.",
            )
        unknown = set(changes) - CALENDAR_FIELD_NAMES
        if unknown:
            raise EwsError(
                ResponseCode.INVALID_PROPERTY_FOR_OPERATION,
                f"Not calendar item properties: {sorted(unknown)}",
            )
        exception = occurrence.exception
        current_version = exception.version if exception else record.version
        self._check_change_key(
            record, current_version, expected_change_key, conflict_resolution, set(changes)
        )
        overrides = dict(exception.overrides) if exception else {}
        overrides.update(changes)
        base = dataclasses.replace(
            record.cal, start=occurrence.original_start, end=occurrence.original_end
        )
        effective = dataclasses.replace(base, **overrides)
        if effective.end < effective.start:
            raise EwsError(
                ResponseCode.CALENDAR_END_BEFORE_START, "EndDate is earlier than StartDate"
            )
        effective = all_day_bounds(effective)
        self._check_boundaries(record, occurrence, effective.start)
        # Keep only normalised values (dataclass validation converted them to UTC, enums, ...).
        changed = set(overrides) | {
            n for n in ("start", "end") if getattr(effective, n) != getattr(base, n)
        }
        normalised = {name: getattr(effective, name) for name in changed}
        self._touch(record, set())
        record.exceptions[occurrence.original_start] = _Exception(
            overrides=normalised, version=record.version, last_modified=record.last_modified
        )
        self._publish(mailbox, record, EventType.MODIFIED)
        return self._occurrence_snapshot(
            mailbox, record, self._find_occurrence(record, occurrence.original_start)
        )

    def _check_boundaries(
        self, record: _Record, occurrence: _Occurrence, new_start: datetime
    ) -> None:
        """An occurrence may not move onto or past the day of a neighbouring occurrence."""
        shape = self._shape(record)
        previous: _Occurrence | None = None
        for other in self._occurrences(record, until=occurrence.original_start):
            if other.original_start in record.deleted_occurrences:
                continue
            if other.original_start < occurrence.original_start:
                previous = other
            elif other.original_start > occurrence.original_start:
                if shape.local_date(new_start) >= shape.local_date(other.start):
                    raise _crossing()
                break
        if previous is not None and shape.local_date(new_start) <= shape.local_date(previous.start):
            raise _crossing()

    def update_occurrence(
        self, master_id: str, original_start: datetime, /, **changes: Any
    ) -> CalendarItem:
        """Edit one occurrence of a series (it becomes an exception), as Outlook does."""
        with self._lock:
            mailbox, record, _ = self._locate(master_id)
            occurrence = self._find_occurrence(record, _utc(original_start))
            return self._update_occurrence(
                mailbox, record, occurrence, changes, None, ConflictResolution.ALWAYS_OVERWRITE
            )

    def set_recurrence(self, item_id: str, recurrence: EwsRecurrence | None) -> CalendarItem:
        """Change (or remove) a series pattern; exceptions and deleted occurrences are dropped."""
        item = self.update_item(item_id, recurrence=recurrence)
        assert isinstance(item, CalendarItem)
        return item

    def delete_item(self, item_id: str, *, move_to_deleted_items: bool = False) -> None:
        """Delete an item (a master with its whole series), or one occurrence by its id."""
        with self._lock:
            mailbox, record, original_start = self._locate(item_id)
            if original_start is not None:
                self._delete_occurrence(
                    mailbox, record, self._find_occurrence(record, original_start)
                )
                return
            old_folder = mailbox.folders[record.folder_number]
            old_id = record.item_id
            del mailbox.items[record.number]
            mailbox.departures[(old_folder.number, record.number)] = self._next_seq()
            deleted_items = mailbox.distinguished[DistinguishedFolder.DELETED_ITEMS]
            if not move_to_deleted_items or record.folder_number == deleted_items:
                self.notifications.publish(
                    mailbox.number, EventType.DELETED, old_folder.folder_id, item_id=old_id
                )
                self._publish_folder_modified(mailbox, old_folder)
                return
            # A move gives the item a new id in its new folder, as in Exchange.
            record.number = next(mailbox.item_numbers)
            record.folder_number = deleted_items
            self._touch(record, set())
            mailbox.items[record.number] = record
            self.notifications.publish(
                mailbox.number,
                EventType.MOVED,
                mailbox.folders[deleted_items].folder_id,
                item_id=record.item_id,
                change_key=record.change_key,
                old_item_id=old_id,
                old_parent_folder_id=old_folder.folder_id,
            )
            self._publish_folder_modified(mailbox, old_folder)

    def delete_occurrence(self, master_id: str, original_start: datetime) -> None:
        """Delete one occurrence of a series by its original start."""
        with self._lock:
            mailbox, record, _ = self._locate(master_id)
            self._delete_occurrence(
                mailbox, record, self._find_occurrence(record, _utc(original_start))
            )

    def _delete_occurrence(
        self, mailbox: _Mailbox, record: _Record, occurrence: _Occurrence
    ) -> None:
        record.exceptions.pop(occurrence.original_start, None)
        record.deleted_occurrences.add(occurrence.original_start)
        self._touch(record, set())
        self._publish(mailbox, record, EventType.MODIFIED)

    def set_extended_property(
        self, item_id: str, key: ExtendedPropertyKey, value: ExtendedValue | None
    ) -> Item:
        """Set (or with None remove) one extended property on an item or occurrence."""
        with self._lock:
            current = dict(self.get_item(item_id).extended_properties)
            if value is None:
                current.pop(key, None)
            else:
                current[key] = value
            return self.update_item(item_id, extended_properties=current)

    def get_extended_property(self, item_id: str, key: ExtendedPropertyKey) -> ExtendedValue | None:
        return self.get_item(item_id).extended_properties.get(key)

    # --- SyncFolderItems --------------------------------------------------------------------

    def sync_folder_items(
        self,
        mailbox: str,
        folder: str,
        sync_state: str | None = None,
        max_changes: int = 512,
        ignore: Sequence[str] = (),
    ) -> SyncBatch:
        """Changes in a folder since `sync_state` (None: since the beginning), oldest first."""
        if not 1 <= max_changes <= self.settings.max_sync_changes:
            raise EwsError(
                ResponseCode.INVALID_ARGUMENT,
                f"MaxChangesReturned must be between 1 and {self.settings.max_sync_changes}.",
            )
        with self._lock:
            box = self._mailbox(mailbox)
            target = self._folder(box, folder)
            known = self._open_sync_state(box, target, sync_state)
            ignored = {
                ref.item_number
                for ref in map(ids.parse_id, ignore)
                if isinstance(ref, ids.ItemRef) and ref.mailbox_number == box.number
            }
            pending: list[tuple[int, SyncChangeKind, int]] = []
            present = {
                record.number: record
                for record in box.items.values()
                if record.folder_number == target.number
            }
            for number, record in present.items():
                if number not in known:
                    pending.append((record.version, SyncChangeKind.CREATE, number))
                elif known[number] != record.version:
                    pending.append((record.version, SyncChangeKind.UPDATE, number))
            for number in known.keys() - present.keys():
                seq = box.departures.get((target.number, number), 0)
                pending.append((seq, SyncChangeKind.DELETE, number))
            pending.sort()
            changes: list[SyncChange] = []
            taken = 0
            for seq, kind, number in pending:
                if taken == max_changes:
                    break
                taken += 1
                if kind is SyncChangeKind.DELETE:
                    del known[number]
                else:
                    known[number] = seq
                if number in ignored:
                    continue
                item_id = ids.item_id(ids.ItemRef(box.number, number))
                item = (
                    None if kind is SyncChangeKind.DELETE else self._snapshot(box, present[number])
                )
                changes.append(SyncChange(kind, item_id, item))
            return SyncBatch(
                changes=tuple(changes),
                sync_state=self._seal_sync_state(box, target, known),
                includes_last_item_in_range=taken == len(pending),
            )

    def _seal_sync_state(self, mailbox: _Mailbox, folder: _Folder, known: dict[int, int]) -> str:
        return self._seal.seal(
            "syncstate",
            {
                "m": mailbox.number,
                "f": folder.number,
                "t": self.clock.now().timestamp(),
                "k": [[number, version] for number, version in sorted(known.items())],
            },
        )

    def _open_sync_state(
        self, mailbox: _Mailbox, folder: _Folder, sync_state: str | None
    ) -> dict[int, int]:
        if not sync_state:
            return {}
        payload = self._seal.open("syncstate", sync_state)
        invalid = EwsError(
            ResponseCode.INVALID_SYNC_STATE_DATA,
            "Synchronization state data is corrupt or otherwise invalid.",
        )
        if (
            payload is None
            or payload.get("m") != mailbox.number
            or payload.get("f") != folder.number
        ):
            raise invalid
        max_age = self.settings.sync_state_max_age
        issued = datetime.fromtimestamp(float(payload["t"]), UTC)
        if max_age is not None and self.clock.now() - issued > max_age:
            raise invalid
        return {int(number): int(version) for number, version in payload["k"]}

    # --- subscriptions (see sim.events) -----------------------------------------------------

    def _folder_ids(self, mailbox: _Mailbox, folders: Sequence[str] | None) -> list[str] | None:
        if folders is None:
            return None
        return [self._folder(mailbox, folder).folder_id for folder in folders]

    def subscribe_pull(
        self,
        mailbox: str,
        folders: Sequence[str] | None,
        event_types: Sequence[EventType | str],
        timeout_minutes: int = 30,
        watermark: str | None = None,
        owner: str | None = None,
    ) -> tuple[str, str]:
        """A pull subscription on `folders` (None: all folders); returns (id, watermark)."""
        with self._lock:
            box = self._mailbox(mailbox)
            return self.notifications.subscribe_pull(
                box.number,
                self._folder_ids(box, folders),
                [EventType(kind) for kind in event_types],
                timeout_minutes,
                watermark,
                owner,
            )

    def subscribe_streaming(
        self,
        mailbox: str,
        folders: Sequence[str] | None,
        event_types: Sequence[EventType | str],
        owner: str | None = None,
    ) -> str:
        with self._lock:
            box = self._mailbox(mailbox)
            return self.notifications.subscribe_streaming(
                box.number,
                self._folder_ids(box, folders),
                [EventType(kind) for kind in event_types],
                owner,
            )

    def get_events(
        self, mailbox: str, subscription_id: str, watermark: str, owner: str | None = None
    ) -> Notification:
        with self._lock:
            box = self._mailbox(mailbox)
            return self.notifications.get_events(box.number, subscription_id, watermark, owner)

    def unsubscribe(self, mailbox: str, subscription_id: str, owner: str | None = None) -> None:
        with self._lock:
            box = self._mailbox(mailbox)
            self.notifications.unsubscribe(box.number, subscription_id, owner)

    def expire_subscription(self, subscription_id: str) -> None:
        """Test hook: the server forgets a subscription as if it had timed out."""
        with self._lock:
            self.notifications.expire(subscription_id)

    def open_stream(
        self, mailbox: str, subscription_ids: Sequence[str], owner: str | None = None
    ) -> StreamHandle:
        with self._lock:
            box = self._mailbox(mailbox)
            return self.notifications.open_stream(box.number, subscription_ids, owner)

    def take_streamed(self, handle: StreamHandle) -> tuple[list[Notification], int]:
        """New events for an open stream (pending until `confirm_streamed`), and the generation
        to wait from."""
        with self._lock:
            return self.notifications.take_streamed(handle)

    def confirm_streamed(self, handle: StreamHandle) -> None:
        """The events last taken for `handle` reached its client (until then they stay pending)."""
        with self._lock:
            self.notifications.confirm_streamed(handle)

    def wait_for_events(self, timeout: float, since: int) -> None:
        """Block until the store publishes an event after generation `since` (or is woken),
        at most `timeout` seconds."""
        with self._lock:
            self.notifications.wait(timeout, since)

    def close_stream(self, handle: StreamHandle) -> None:
        with self._lock:
            self.notifications.close_stream(handle)

    def wake_streams(self) -> None:
        with self._lock:
            self.notifications.wake()


def _utc(value: datetime | None) -> datetime:
    normalised = require_utc(value, "time")
    assert normalised is not None
    return normalised


def _crossing() -> EwsError:
    return EwsError(
        ResponseCode.OCCURRENCE_CROSSING_BOUNDARY,
        "An occurrence cannot be moved to or beyond the date of an adjacent occurrence.",
    )
