"""Creating, updating and deleting items (a master with its whole series), with Exchange's
validation of times, time zones, recurrences and task fields.

Changing a series' pattern or time (Recurrence, Start, End, time zones) drops its exceptions and
deleted occurrences, as Exchange does. Deleting with `move_to_deleted_items` moves the item to
Deleted Items under a new id.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from sim.errors import EwsError, ResponseCode
from sim.events import EventType
from sim.itemrules import all_day_bounds, task_rules
from sim.model import (
    CALENDAR_FIELD_NAMES,
    TASK_FIELD_NAMES,
    CalendarFields,
    CalendarItem,
    DistinguishedFolder,
    ExtendedPropertyKey,
    ExtendedValue,
    FolderKind,
    Item,
    ItemKind,
    TaskFields,
    TaskItem,
    new_uid,
)
from sim.recurrence import EwsRecurrence, EwsRecurrenceError, OccurrenceShape
from sim.store.changes import ConflictResolution
from sim.store.records import FolderRecord, ItemRecord, MailboxRecord
from sim.store.series import StorePartSeries
from sim.timezones import UnknownTimeZone, zoneinfo_for

_SERIES_SHAPE_FIELDS = ("start", "end", "start_time_zone", "end_time_zone")


class StorePartWrites(StorePartSeries):
    """Creating, updating and deleting items."""

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

    def _add_record(
        self, box: MailboxRecord, folder: FolderRecord, kind: ItemKind, **values: Any
    ) -> Item:
        now = self.clock.now()
        record = ItemRecord(
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

    def _update_task(self, record: ItemRecord, changes: dict[str, Any]) -> None:
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

    def _update_calendar(self, record: ItemRecord, changes: dict[str, Any]) -> None:
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
