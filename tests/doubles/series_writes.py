"""How the mailbox-store port writes a series' exceptions, as a user would one by one in
Outlook (`SeriesWrites`, a part of `tests.doubles.mailbox_store.MailboxStorePort`), and how the
store's EWS errors become the engine's (`side_error`: the EWS adapter's own table)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from adapters.exchange.ews.errors import engine_error, failure_of_code
from engine.errors import (
    InvalidItem,
    PermanentError,
    SideError,
)
from engine.model import Appointment, ModifiedOccurrence, Task
from engine.ports import OccurrenceChange
from sim.errors import EwsError, ResponseCode
from sim.model import (
    Item,
)
from sim.store import MailboxStore
from tests.doubles.store_items import (
    occurrence_of,
    occurrence_values,
)


def side_error(error: EwsError) -> SideError:
    """The engine's error for an EWS ResponseCode: the EWS adapter's own table."""
    back_off = error.message_xml.get("BackOffMilliseconds")
    return engine_error(
        failure_of_code(error.code),
        f"{error.code}: {error.message}",
        retry_after_s=float(back_off) / 1000 if back_off is not None else None,
    )


def changed_values(current: Mapping[str, Any], target: Mapping[str, Any]) -> dict[str, Any]:
    """The store fields whose value differs: what a write needs to send."""
    missing = object()
    return {name: value for name, value in target.items() if current.get(name, missing) != value}


class SeriesWrites:
    """The series part of the port: exceptions written, restored and reconciled."""

    store: MailboxStore

    def _content(self, item: Item) -> Appointment | Task:
        raise NotImplementedError  # the port's

    def _reset_series(self, master_id: str) -> None:
        """Drop every exception, as a new pattern does; the store keeps them when the pattern
        written equals the stored one, so the series is removed and set again."""
        master = self.store.get_calendar_item(master_id)
        if master.recurrence is None or not (
            master.modified_occurrences or master.deleted_occurrences
        ):
            return
        self.store.set_recurrence(master_id, None)
        self.store.set_recurrence(master_id, master.recurrence)

    def _apply_occurrences(
        self, master_id: str, series: Appointment, changes: Sequence[OccurrenceChange]
    ) -> None:
        if not changes:
            return
        if series.recurrence is None:
            raise PermanentError("occurrences exist only on a series")
        master = self.store.get_calendar_item(master_id)
        modified = {o.original_start for o in master.modified_occurrences}
        deleted = set(master.deleted_occurrences)
        for change in changes:
            key = change.original_start
            try:
                if change.action == "modify":
                    assert change.occurrence is not None
                    self._set_occurrence(master_id, change.occurrence)
                elif change.action == "delete":
                    if key not in deleted:
                        self.store.delete_occurrence(master_id, key)
                elif key in deleted:
                    raise PermanentError(
                        f"the occurrence of {key.isoformat()} was deleted; Exchange cannot "
                        "restore it without resetting the series"
                    )
                elif key in modified:  # Exchange keeps the exception, with the series' values
                    self._set_occurrence(master_id, _regular(series, key))
            except EwsError as error:
                raise _occurrence_error(error, key) from error

    def _set_occurrence(self, master_id: str, target: ModifiedOccurrence) -> None:
        """Write the values in which one occurrence differs from what it shows now, as Outlook
        does: Exchange keeps every value written on an exception, even one equal to the
        series', so writing more would pin it against later changes of the series."""
        key = target.original_start
        now = occurrence_of(self.store.occurrence(master_id, original_start=key))
        update = changed_values(occurrence_values(now), occurrence_values(target))
        if update:
            self.store.update_occurrence(master_id, key, **update)

    def _restore_strays(self, master_id: str, series: Appointment) -> None:
        """Give the series' values to exceptions the target does not have.

        A restored occurrence stays an exception in Exchange, with the values it was restored
        to; once the series' subject or location changes, it would show as modified again.
        """
        if series.recurrence is None:
            return
        try:
            now = self._content(self.store.get_item(master_id))
        except InvalidItem:
            return
        assert isinstance(now, Appointment)
        wanted = {o.original_start for o in series.modified_occurrences}
        for occurrence in now.modified_occurrences:
            if occurrence.original_start not in wanted:
                self._set_occurrence(master_id, _regular(series, occurrence.original_start))

    def _reconcile_occurrences(self, master_id: str, target: Appointment) -> None:
        """Bring the series' exceptions to the target's, as a user would one by one."""
        now = self._content(self.store.get_item(master_id))
        assert isinstance(now, Appointment)
        modified = {o.original_start: o for o in now.modified_occurrences}
        wanted = {o.original_start: o for o in target.modified_occurrences}
        changes = [
            OccurrenceChange(original_start=key, action="modify", occurrence=occurrence)
            for key, occurrence in wanted.items()
            if modified.get(key) != occurrence
        ]
        changes += [
            OccurrenceChange(original_start=key, action="delete")
            for key in target.deleted_occurrences
            if key not in now.deleted_occurrences
        ]
        changes += [
            OccurrenceChange(original_start=key, action="restore")
            for key in (modified.keys() | set(now.deleted_occurrences))
            - wanted.keys()
            - set(target.deleted_occurrences)
        ]
        self._apply_occurrences(master_id, target, changes)


def _regular(series: Appointment, original_start: datetime) -> ModifiedOccurrence:
    """An occurrence with the series' own values."""
    return ModifiedOccurrence(
        original_start=original_start,
        start=original_start,
        end=original_start + series.duration,
        subject=series.subject,
        location=series.location,
        busy_status=series.busy_status,
    )


def _occurrence_error(error: EwsError, original_start: datetime) -> SideError:
    when = original_start.isoformat()
    if error.code == ResponseCode.ITEM_NOT_FOUND:
        return PermanentError(f"{when} is not an occurrence of the series")
    if error.code == ResponseCode.CALENDAR_OCCURRENCE_DELETED:
        return PermanentError(
            f"{error.code}: the occurrence of {when} was deleted; Exchange cannot change it "
            "without resetting the series"
        )
    return side_error(error)
