"""Writing one occurrence of a series: an edited occurrence becomes an Exception, a deleted one
is added to DeletedOccurrences. An occurrence may not move onto or past the day of a neighbour.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from sim.errors import EwsError, ResponseCode
from sim.events import EventType
from sim.itemrules import all_day_bounds
from sim.model import CALENDAR_FIELD_NAMES, CalendarItem
from sim.store.base import utc
from sim.store.changes import ConflictResolution, StorePartChanges
from sim.store.records import ExceptionRecord, ItemRecord, MailboxRecord, Occurrence


class StorePartSeries(StorePartChanges):
    """Edits and deletions of single occurrences."""

    def _update_occurrence(
        self,
        mailbox: MailboxRecord,
        record: ItemRecord,
        occurrence: Occurrence,
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
        record.exceptions[occurrence.original_start] = ExceptionRecord(
            overrides=normalised, version=record.version, last_modified=record.last_modified
        )
        self._publish(mailbox, record, EventType.MODIFIED)
        return self._occurrence_snapshot(
            mailbox, record, self._find_occurrence(record, occurrence.original_start)
        )

    def _check_boundaries(
        self, record: ItemRecord, occurrence: Occurrence, new_start: datetime
    ) -> None:
        """An occurrence may not move onto or past the day of a neighbouring occurrence."""
        shape = self._shape(record)
        previous: Occurrence | None = None
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
            occurrence = self._find_occurrence(record, utc(original_start))
            return self._update_occurrence(
                mailbox, record, occurrence, changes, None, ConflictResolution.ALWAYS_OVERWRITE
            )

    def delete_occurrence(self, master_id: str, original_start: datetime) -> None:
        """Delete one occurrence of a series by its original start."""
        with self._lock:
            mailbox, record, _ = self._locate(master_id)
            self._delete_occurrence(
                mailbox, record, self._find_occurrence(record, utc(original_start))
            )

    def _delete_occurrence(
        self, mailbox: MailboxRecord, record: ItemRecord, occurrence: Occurrence
    ) -> None:
        record.exceptions.pop(occurrence.original_start, None)
        record.deleted_occurrences.add(occurrence.original_start)
        self._touch(record, set())
        self._publish(mailbox, record, EventType.MODIFIED)


def _crossing() -> EwsError:
    return EwsError(
        ResponseCode.OCCURRENCE_CROSSING_BOUNDARY,
        "An occurrence cannot be moved to or beyond the date of an adjacent occurrence.",
    )
