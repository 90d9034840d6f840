"""Immutable snapshots of records: what every read and write returns (`sim.model`).

A master reports FirstOccurrence, LastOccurrence (bounded series only), ModifiedOccurrences and
DeletedOccurrences; an occurrence or exception is its master's fields with its own overrides.
"""

from __future__ import annotations

import dataclasses

from sim import ids
from sim.model import (
    CalendarItem,
    CalendarItemType,
    EmailAddress,
    Item,
    ItemKind,
    OccurrenceInfo,
    TaskItem,
)
from sim.store.occurrences import StorePartOccurrences
from sim.store.records import ItemRecord, MailboxRecord, Occurrence


class StorePartSnapshots(StorePartOccurrences):
    """Snapshots of records and occurrences, as every read and write returns them."""

    def _organizer(self, mailbox: MailboxRecord) -> EmailAddress:
        return EmailAddress(mailbox.address, mailbox.display_name)

    def _occurrence_info(self, record: ItemRecord, occurrence: Occurrence) -> OccurrenceInfo:
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

    def _snapshot(self, mailbox: MailboxRecord, record: ItemRecord) -> Item:
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
        self, mailbox: MailboxRecord, record: ItemRecord, occurrence: Occurrence
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
