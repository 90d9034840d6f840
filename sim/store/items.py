"""Reading items: by ItemId (an occurrence also by OccurrenceItemId or original start), a
folder's items as FindItem returns them, and CalendarView with its series expanded.
"""

from __future__ import annotations

from datetime import datetime

from sim import ids
from sim.errors import EwsError, ResponseCode
from sim.itemrules import overlaps_view
from sim.model import CalendarItem, ExtendedPropertyKey, ExtendedValue, FolderKind, Item, TaskItem
from sim.store.base import utc
from sim.store.mailboxes import StorePartMailboxes
from sim.store.records import ItemRecord, MailboxRecord
from sim.store.snapshots import StorePartSnapshots


class StorePartItems(StorePartSnapshots, StorePartMailboxes):
    """Item lookup and reads."""

    def _locate(self, item_id: str) -> tuple[MailboxRecord, ItemRecord, datetime | None]:
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
                occurrence = self._find_occurrence(record, utc(original_start))
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
        window_start, window_end = utc(start), utc(end)
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

    def get_extended_property(self, item_id: str, key: ExtendedPropertyKey) -> ExtendedValue | None:
        return self.get_item(item_id).extended_properties.get(key)
