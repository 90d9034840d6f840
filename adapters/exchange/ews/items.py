"""Our snapshots as exchangelib items, and exchangelib items as our snapshots.

Appointments are `CalendarItem`s: times in the item's Windows zone (`adapters.exchange.
timezones`), the series as one of Exchange's six patterns (`recurrence.py`), deviating
occurrences as exceptions read from the master's ModifiedOccurrences, participants as
attendees. Tasks are `Task`s. Reading builds the snapshot through the model's own validation,
so it normalises exactly like one the ERP produces; anything it cannot take raises the typed
`InvalidItem` (the item is parked with its reason, R18).

The body is read as Exchange stores it (an HTML body stays markup) so that the engine can tell a
body-only edit in Outlook (R6); it is written only when a write asks for it (R7, `writing.py`).
Category colours are not part of our model (R1): categories are neither read nor written.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo

from exchangelib import Attendee, EWSDateTime, EWSTimeZone, Mailbox
from exchangelib.util import xml_text_to_value

from adapters.exchange.ews.properties import SYNC_ID, WRITTEN_ZONE
from adapters.exchange.ews.recurrence import from_exchangelib, to_exchangelib
from adapters.exchange.timezones import iana_zone, windows_zone
from engine.errors import InvalidField
from engine.model import (
    Appointment,
    BusyStatus,
    ModifiedOccurrence,
    Participant,
    Priority,
    ResponseStatus,
    Task,
    TaskStatus,
    build,
)

# What a read asks for (never everything: other code may register more extended properties).
CALENDAR_FIELDS: Final = (
    "subject",
    "body",
    "start",
    "end",
    "duration",
    "is_all_day",
    "location",
    "legacy_free_busy_status",
    "sensitivity",
    "reminder_is_set",
    "reminder_minutes_before_start",
    "_start_timezone",
    "recurrence",
    "modified_occurrences",
    "deleted_occurrences",
    "required_attendees",
    "optional_attendees",
    "type",
    "parent_folder_id",
    "last_modified_time",
    SYNC_ID,
    WRITTEN_ZONE,
)
OCCURRENCE_FIELDS: Final = (
    "subject",
    "start",
    "end",
    "duration",
    "is_all_day",
    "location",
    "legacy_free_busy_status",
    "original_start",
    "_start_timezone",
)
TASK_FIELDS: Final = (
    "subject",
    "body",
    "start_date",
    "due_date",
    "status",
    "percent_complete",
    "importance",
    "reminder_is_set",
    "reminder_due_by",
    "complete_date",
    "parent_folder_id",
    "last_modified_time",
    SYNC_ID,
)

_FREE_BUSY = {
    BusyStatus.FREE: "Free",
    BusyStatus.TENTATIVE: "Tentative",
    BusyStatus.BUSY: "Busy",
    BusyStatus.OUT_OF_OFFICE: "OOF",
    BusyStatus.WORKING_ELSEWHERE: "WorkingElsewhere",
}
_BUSY = {v: k for k, v in _FREE_BUSY.items()}
_RESPONSE = {
    ResponseStatus.UNKNOWN: "Unknown",
    ResponseStatus.ORGANIZER: "Organizer",
    ResponseStatus.TENTATIVE: "Tentative",
    ResponseStatus.ACCEPTED: "Accept",
    ResponseStatus.DECLINED: "Decline",
    ResponseStatus.NO_RESPONSE: "NoResponseReceived",
}
_RESPONSE_STATUS = {v: k for k, v in _RESPONSE.items()}
_TASK_STATUS = {
    TaskStatus.NOT_STARTED: "NotStarted",
    TaskStatus.IN_PROGRESS: "InProgress",
    TaskStatus.COMPLETED: "Completed",
    TaskStatus.WAITING_ON_OTHERS: "WaitingOnOthers",
    TaskStatus.DEFERRED: "Deferred",
}
_STATUS = {v: k for k, v in _TASK_STATUS.items()}
_IMPORTANCE = {Priority.LOW: "Low", Priority.NORMAL: "Normal", Priority.HIGH: "High"}
_PRIORITY = {v: k for k, v in _IMPORTANCE.items()}


# ---- our snapshots as exchangelib values --------------------------------------------------------


def ews_zone(iana: str) -> Any:
    """exchangelib's zone for one of ours (UnknownTimeZone where Exchange has no Windows id)."""
    windows_zone(iana)  # refuses zones whose rules have parted from their Windows zone
    return EWSTimeZone(iana)


def ews_time(moment: datetime, tz: Any) -> Any:
    local = moment.astimezone(tz)  # an EWSDateTime already (EWSTimeZone.fromutc makes one)
    return local if isinstance(local, EWSDateTime) else EWSDateTime.from_datetime(local)


def calendar_values(appointment: Appointment) -> dict[str, Any]:
    """exchangelib CalendarItem field values for an appointment; no body.

    An all-day item is written with its local midnights as date-times, so that exchangelib's
    own date arithmetic (which is a day short across DST, see `item_times`) is not involved.
    """
    tz = ews_zone(appointment.time_zone)
    recurrence = appointment.recurrence
    first_day = appointment.start.astimezone(tz).date()
    values: dict[str, Any] = {
        "subject": appointment.subject,
        "start": ews_time(appointment.start, tz),
        "end": ews_time(appointment.end, tz),
        "_start_timezone": tz,
        "_end_timezone": tz,
        "is_all_day": appointment.all_day,
        "location": appointment.location or None,
        "legacy_free_busy_status": _FREE_BUSY[appointment.busy_status],
        "sensitivity": "Private" if appointment.private else "Normal",
        "reminder_is_set": appointment.reminder_minutes is not None,
        "required_attendees": _attendees(appointment.participants, required=True),
        "optional_attendees": _attendees(appointment.participants, required=False),
        "recurrence": None if recurrence is None else to_exchangelib(recurrence, first_day),
        WRITTEN_ZONE: appointment.time_zone,
    }
    if appointment.reminder_minutes is not None:
        values["reminder_minutes_before_start"] = appointment.reminder_minutes
    return values


def occurrence_values(occurrence: ModifiedOccurrence, time_zone: str) -> dict[str, Any]:
    """The fields in which an occurrence can deviate from its series."""
    tz = ews_zone(time_zone)
    return {
        "start": ews_time(occurrence.start, tz),
        "end": ews_time(occurrence.end, tz),
        "subject": occurrence.subject,
        "location": occurrence.location or None,
        "legacy_free_busy_status": _FREE_BUSY[occurrence.busy_status],
    }


def task_values(task: Task) -> dict[str, Any]:
    """exchangelib Task field values; no body. CompleteDate is Exchange's own to set."""
    values: dict[str, Any] = {
        "subject": task.subject,
        "start_date": task.start,
        "due_date": task.due,
        "status": _TASK_STATUS[task.status],
        "percent_complete": Decimal(task.percent_complete),
        "importance": _IMPORTANCE[task.priority],
        "reminder_is_set": task.reminder_at is not None,
    }
    if task.reminder_at is not None:
        values["reminder_due_by"] = ews_time(task.reminder_at, EWSTimeZone("UTC"))
    return values


def _attendees(participants: Sequence[Participant], *, required: bool) -> list[Any] | None:
    found = [
        Attendee(
            mailbox=Mailbox(email_address=p.email, name=p.name or None),
            response_type=_RESPONSE[p.response],
        )
        for p in participants
        if p.required is required
    ]
    return found or None


# ---- exchangelib items as our snapshots ---------------------------------------------------------


def item_zone(item: Any) -> str:
    """The IANA zone of a calendar item (the one we wrote it in, while it is still in it)."""
    windows_id = getattr(item._start_timezone, "ms_id", None) or "UTC"
    written = getattr(item, WRITTEN_ZONE, None)
    return iana_zone(windows_id, written_as=written if isinstance(written, str) else None)


def item_times(item: Any, time_zone: str) -> tuple[datetime, datetime]:
    """Start and end of a calendar item (or occurrence) as UTC instants.

    Workaround for exchangelib 5.6.0: `CalendarItem.from_xml` turns an all-day item's end into a
    date by subtracting 24 hours in UTC, which is a day short when a DST change falls in the last
    day (the spring change). Its start date is right; the end is the start's local midnight plus
    the item's Duration, which Exchange reports beside it.
    """
    if not item.is_all_day or isinstance(item.start, datetime):
        return _utc(item.start), _utc(item.end)
    tz = ZoneInfo(time_zone)
    start = datetime.combine(item.start, time(0), tzinfo=tz).astimezone(UTC)
    if not item.duration:  # a server that leaves Duration out: exchangelib's end, as it is
        end = datetime.combine(item.end + timedelta(days=1), time(0), tzinfo=tz)
        return start, end.astimezone(UTC)
    try:
        duration: timedelta = xml_text_to_value(item.duration, timedelta)
    except (ValueError, TypeError):  # isodate's ISO8601Error is a ValueError
        raise InvalidField(f"duration {item.duration!r} is not ISO 8601", field="end") from None
    return start, start + duration


def appointment_of(item: Any, exceptions: Sequence[Any] = ()) -> Appointment:
    """The appointment a calendar item (a single or a series' master) shows; `exceptions` are
    its modified occurrences as fetched items. Raises the typed `InvalidItem` behind any value
    our model cannot take."""
    time_zone = item_zone(item)
    start, end = item_times(item, time_zone)
    data: dict[str, Any] = {
        "subject": item.subject or "",
        "info_text": body_text(item.body),
        "start": start,
        "end": end,
        "all_day": bool(item.is_all_day),
        "location": item.location or "",
        "busy_status": _busy_status(item.legacy_free_busy_status),
        "private": item.sensitivity == "Private",
        "reminder_minutes": item.reminder_minutes_before_start if item.reminder_is_set else None,
        "time_zone": time_zone,
        "recurrence": None if item.recurrence is None else from_exchangelib(item.recurrence),
        "modified_occurrences": [occurrence_data(e, time_zone) for e in exceptions],
        "deleted_occurrences": [_utc(d.start) for d in item.deleted_occurrences or ()],
        "participants": [
            *_participants(item.required_attendees, required=True),
            *_participants(item.optional_attendees, required=False),
        ],
    }
    return build(Appointment, data)


def occurrence_data(exception: Any, time_zone: str) -> dict[str, Any]:
    """One occurrence (an exception or not) as ModifiedOccurrence's fields."""
    start, end = item_times(exception, time_zone)
    return {
        "original_start": _utc(exception.original_start),
        "start": start,
        "end": end,
        "subject": exception.subject or "",
        "location": exception.location or "",
        "busy_status": _busy_status(exception.legacy_free_busy_status),
    }


def task_of(item: Any) -> Task:
    data: dict[str, Any] = {
        "subject": item.subject or "",
        "info_text": body_text(item.body),
        "start": _day(item.start_date),
        "due": _day(item.due_date),
        "status": _STATUS.get(item.status, TaskStatus.NOT_STARTED),
        "percent_complete": round(item.percent_complete or 0),
        "priority": _PRIORITY.get(item.importance, Priority.NORMAL),
        "reminder_at": _utc(item.reminder_due_by) if item.reminder_is_set else None,
        "completed_at": None if item.complete_date is None else _utc(item.complete_date),
    }
    return build(Task, data)


def body_text(body: Any) -> str:
    """The body as stored; an HTML body stays markup (the engine never imports it, R6)."""
    return "" if body is None else str(body)


def sync_id_of(item: Any) -> uuid.UUID | None:
    """Our stream id on an item, if it carries one (InvalidField when it is not a stream id)."""
    value = getattr(item, SYNC_ID, None)
    if value is None:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise InvalidField(
            f"the EinklangSyncId property {value!r} is not a stream id", field="sync_id"
        ) from None


def _busy_status(status: str | None) -> BusyStatus:
    try:
        return _BUSY[status or "Busy"]
    except KeyError:
        raise InvalidField(
            f"free/busy status {status} has no equivalent in the ERP", field="busy_status"
        ) from None


def _participants(attendees: Sequence[Any] | None, *, required: bool) -> list[dict[str, Any]]:
    return [
        {
            "email": a.mailbox.email_address or "",
            "name": a.mailbox.name or "",
            "required": required,
            "response": _RESPONSE_STATUS.get(a.response_type, ResponseStatus.UNKNOWN),
        }
        for a in attendees or ()
    ]


def plain_utc(moment: Any) -> datetime:
    """A plain UTC datetime (exchangelib's EWSDateTime does not serialise into events)."""
    return _utc(moment)


def _utc(moment: Any) -> datetime:
    if isinstance(moment, datetime) and moment.utcoffset() is not None:
        return datetime.fromtimestamp(moment.timestamp(), tz=UTC)  # a plain datetime
    raise InvalidField(f"time {moment!r} has no time zone", field="start")


def _day(value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    return date(value.year, value.month, value.day)
