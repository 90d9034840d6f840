"""Writes to one mailbox folder over EWS: CreateItem, UpdateItem, DeleteItem, occurrences.

An update sends only the fields whose value differs from the item's current content, as
Outlook does: a series keeps its exceptions unless its pattern or time changes. The ChangeKey
the engine read is sent with NeverOverwrite, so a change made since is a conflict, never a
silent merge. A series' exceptions are then written occurrence by occurrence (OccurrenceItemId:
the master's id and the occurrence's index in the pattern). Meeting invitations are never sent
(SendToNone): the engine writes appointments, not meetings (R14 is separate).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from exchangelib import Body, CalendarItem, HTMLBody
from exchangelib import Task as EwsTask
from exchangelib.errors import (
    ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange,
    ErrorItemNotFound,
)
from exchangelib.items.base import AUTO_RESOLVE, HARD_DELETE, NEVER_OVERWRITE, SEND_TO_NONE
from exchangelib.properties import OccurrenceItemId

from adapters.exchange.ews.items import (
    OCCURRENCE_FIELDS,
    calendar_values,
    occurrence_data,
    occurrence_values,
    task_values,
)
from adapters.exchange.ews.properties import SYNC_ID, WRITTEN_ZONE
from adapters.exchange.ews.reading import folder_of
from engine.errors import PermanentError
from engine.infotext import as_body
from engine.model import Appointment, ItemKind, ModifiedOccurrence, Task, zone
from engine.ports import OccurrenceChange, Write

# Our fields -> the exchangelib fields that carry them.
_APPOINTMENT_FIELDS: Final = {
    "subject": ("subject",),
    "start": ("start", "end", "is_all_day"),
    "end": ("start", "end", "is_all_day"),
    "all_day": ("start", "end", "is_all_day"),
    "time_zone": ("start", "end", "is_all_day", WRITTEN_ZONE),
    "location": ("location",),
    "busy_status": ("legacy_free_busy_status",),
    "private": ("sensitivity",),
    "reminder_minutes": ("reminder_is_set", "reminder_minutes_before_start"),
    "recurrence": ("recurrence",),
    "participants": ("required_attendees", "optional_attendees"),
}
_TASK_FIELDS: Final = {
    "subject": ("subject",),
    "start": ("start_date",),
    "due": ("due_date",),
    "status": ("status", "percent_complete"),
    "percent_complete": ("status", "percent_complete"),
    "priority": ("importance",),
    "reminder_at": ("reminder_is_set", "reminder_due_by"),
}


def body_of(write: Write) -> Any:
    """The body to write (R7), or None to leave the item's body as it is."""
    if not write.write_info_text or write.snapshot is None:
        return None
    text = as_body(write.snapshot.info_text, write.info_text_format)
    return HTMLBody(text) if write.info_text_format == "html" else Body(text)


def values_of(snapshot: Appointment | Task) -> dict[str, Any]:
    return task_values(snapshot) if isinstance(snapshot, Task) else calendar_values(snapshot)


def new_item(account: Any, stream_id: uuid.UUID, write: Write) -> Any:
    """The item to create: the snapshot and the stream id (not saved yet)."""
    snapshot = write.snapshot
    assert snapshot is not None
    values = {k: v for k, v in values_of(snapshot).items() if v is not None}
    values[SYNC_ID] = str(stream_id)
    body = body_of(write)
    if body is not None:
        values["body"] = body
    model = EwsTask if isinstance(snapshot, Task) else CalendarItem
    return model(account=account, folder=folder_of(account, write.kind), **values)


def create(account: Any, stream_id: uuid.UUID, write: Write) -> tuple[str, str]:
    """CreateItem with the snapshot and the stream id; (id, ChangeKey)."""
    item = new_item(account, stream_id, write)
    item.save(send_meeting_invitations=SEND_TO_NONE)
    return str(item.id), str(item.changekey)


def changed_fields(current: Appointment | Task | None, target: Appointment | Task) -> list[str]:
    """The exchangelib fields to send to make `current` show `target` (all when unknown)."""
    groups = _TASK_FIELDS if isinstance(target, Task) else _APPOINTMENT_FIELDS
    now = {} if current is None or current.kind != target.kind else current.fields()
    wanted = target.fields()
    names: list[str] = []
    for field, ews_names in groups.items():
        if field not in now or now[field] != wanted[field]:
            names += [n for n in ews_names if n not in names]
    return names


def update(
    account: Any,
    kind: ItemKind,
    item_id: str,
    change_key: str,
    values: Mapping[str, Any],
    *,
    check_version: bool,
) -> str:
    """UpdateItem of `values` (exchangelib names -> values; None deletes); the new ChangeKey."""
    model = EwsTask if kind is ItemKind.TASK else CalendarItem
    item = model(account=account, id=item_id, changekey=change_key, **values)
    item.save(
        update_fields=list(values),
        conflict_resolution=NEVER_OVERWRITE if check_version else AUTO_RESOLVE,
        send_meeting_invitations=SEND_TO_NONE,
    )
    return str(item.changekey)


def update_fields_for(
    current: Appointment | Task | None, write: Write, stream_id: uuid.UUID, *, carries: bool
) -> dict[str, Any]:
    """The fields an update sends: what differs, the body when asked, the stream id if missing."""
    target = write.snapshot
    assert target is not None
    values = values_of(target)
    names = changed_fields(current, target)
    fields: dict[str, Any] = {}
    for name in names:
        value = values.get(name)
        if value is None and name in ("reminder_minutes_before_start", "reminder_due_by"):
            continue  # the reminder is off (ReminderIsSet false): its time stays as it is
        fields[name] = value
    if "start" in fields:
        fields["_start_timezone"] = values["_start_timezone"]
        fields["_end_timezone"] = values["_end_timezone"]
    body = body_of(write)
    if body is not None:
        fields["body"] = body
    if not carries:
        fields[SYNC_ID] = str(stream_id)
    return fields


def drop_recurrence(account: Any, item_id: str, change_key: str) -> str:
    """Make a series a single item: Exchange drops its exceptions with the pattern."""
    item = CalendarItem(account=account, id=item_id, changekey=change_key, recurrence=None)
    item.save(update_fields=["recurrence"], send_meeting_invitations=SEND_TO_NONE)
    return str(item.changekey)


# ---- occurrences ----------------------------------------------------------------------------------


def occurrence_index(series: Appointment, original_start: datetime) -> int:
    """The 1-based InstanceIndex of the occurrence originally at `original_start`."""
    local_day = original_start.astimezone(zone(series.time_zone)).date()
    starts = series.occurrence_starts(until=local_day + timedelta(days=1))
    try:
        return starts.index(original_start) + 1
    except ValueError:
        raise PermanentError(
            f"{original_start.isoformat()} is not an occurrence of the series"
        ) from None


def _ref(account: Any, master_id: str, series: Appointment, original_start: datetime) -> Any:
    index = occurrence_index(series, original_start)
    return CalendarItem(
        account=account,
        _id=OccurrenceItemId(id=master_id, changekey=None, instance_index=index),
    )


def _raise_first(results: Sequence[Any]) -> None:
    """Raise the first per-item error of a batch; an occurrence Exchange does not find is no
    reason to think the series gone (NotFound would say that): it is a permanent error."""
    for result in results:
        if isinstance(
            result, ErrorItemNotFound | ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange
        ):
            raise PermanentError(f"{type(result).__name__}: not an occurrence of the series")
        if isinstance(result, Exception):
            raise result


def set_occurrences(
    account: Any, master_id: str, series: Appointment, targets: Sequence[ModifiedOccurrence]
) -> None:
    """Give occurrences the targets' values: one GetItem for all of them, one UpdateItem.

    Only the values in which an occurrence differs from what it shows now are written, as
    Outlook does: Exchange keeps every value written on an exception, even one equal to the
    series', so writing more would pin it against later changes of the series.
    """
    if not targets:
        return
    refs = [_ref(account, master_id, series, t.original_start) for t in targets]
    found = list(account.fetch(refs, folder=account.calendar, only_fields=list(OCCURRENCE_FIELDS)))
    _raise_first(found)
    changes = []
    for occurrence, target in zip(found, targets, strict=True):
        now = occurrence_values(
            ModifiedOccurrence.model_validate(occurrence_data(occurrence, series.time_zone)),
            series.time_zone,
        )
        wanted = occurrence_values(target, series.time_zone)
        update = {name: value for name, value in wanted.items() if now[name] != value}
        if not update:
            continue
        if "start" in update or "end" in update:
            update["start"], update["end"] = wanted["start"], wanted["end"]
        for name, value in update.items():
            setattr(occurrence, name, value)
        changes.append((occurrence, list(update)))
    if changes:
        _raise_first(
            account.bulk_update(changes, send_meeting_invitations_or_cancellations=SEND_TO_NONE)
        )


def delete_occurrences(
    account: Any, master_id: str, series: Appointment, starts: Sequence[datetime]
) -> None:
    """Delete occurrences of the series, all in one DeleteItem."""
    if not starts:
        return
    refs = [_ref(account, master_id, series, start) for start in starts]
    _raise_first(
        account.bulk_delete(refs, delete_type=HARD_DELETE, send_meeting_cancellations=SEND_TO_NONE)
    )


def apply_occurrences(
    account: Any,
    master_id: str,
    series: Appointment,
    current: Appointment | None,
    changes: Sequence[OccurrenceChange],
) -> None:
    """Modify, delete or restore occurrences of the series (as it is stored now), in batches."""
    if not changes:
        return
    if series.recurrence is None:
        raise PermanentError("occurrences exist only on a series")
    modified = {o.original_start for o in current.modified_occurrences} if current else set()
    deleted = set(current.deleted_occurrences) if current else set()
    targets: list[ModifiedOccurrence] = []
    deletions: list[datetime] = []
    for change in changes:
        key = change.original_start
        if change.action == "modify":
            assert change.occurrence is not None
            if key in deleted:
                raise PermanentError(
                    f"ErrorCalendarOccurrenceIsDeletedFromRecurrence: the occurrence of "
                    f"{key.isoformat()} was deleted; Exchange cannot change it without "
                    "resetting the series"
                )
            targets.append(change.occurrence)
        elif change.action == "delete":
            if key not in deleted:
                deletions.append(key)
        elif key in deleted:
            raise PermanentError(
                f"the occurrence of {key.isoformat()} was deleted; Exchange cannot restore it "
                "without resetting the series"
            )
        elif key in modified:  # Exchange keeps the exception, with the series' values
            targets.append(regular(series, key))
    set_occurrences(account, master_id, series, targets)
    delete_occurrences(account, master_id, series, deletions)


def regular(series: Appointment, original_start: datetime) -> ModifiedOccurrence:
    """An occurrence with the series' own values."""
    return ModifiedOccurrence(
        original_start=original_start,
        start=original_start,
        end=original_start + series.duration,
        subject=series.subject,
        location=series.location,
        busy_status=series.busy_status,
    )
