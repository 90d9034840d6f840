"""The occurrences of a series, computed from its master (see `sim.recurrence`) in the series'
time zone: all of them in order, one by 1-based instance index, or one by its original start.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime

from sim.errors import EwsError, ResponseCode
from sim.recurrence import OccurrenceShape
from sim.store.base import StoreBase
from sim.store.records import ItemRecord, Occurrence
from sim.timezones import zoneinfo_for


class StorePartOccurrences(StoreBase):
    """A series' occurrences, computed from its master."""

    def _shape(self, record: ItemRecord) -> OccurrenceShape:
        fields = record.cal
        return OccurrenceShape.of(fields.start, fields.end, zoneinfo_for(fields.start_time_zone))

    def _occurrences(
        self, record: ItemRecord, until: datetime | None = None
    ) -> Iterator[Occurrence]:
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
            yield Occurrence(index, original_start, original_end, start, end, exception)
            if until is not None and original_start > until:
                return

    def _occurrence_by_index(self, record: ItemRecord, index: int) -> Occurrence:
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

    def _find_occurrence(self, record: ItemRecord, original_start: datetime) -> Occurrence:
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
