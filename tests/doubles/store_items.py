"""Our snapshots as the mailbox store's items, and the store's items as our snapshots.

Field by field, in both directions: appointments as calendar items (time zones as Windows ids,
the series as one of Exchange's six patterns with its range, occurrences that deviate as
exceptions, participants as attendees), tasks as tasks. Values are written as the store's field
names (`sim.model.CalendarFields`, `TaskFields`); reading builds the domain snapshot through the
model's own validation, so that it normalises exactly like one the ERP produces.

Category colours and importance of appointments are not part of our model (R1) and are neither
read nor written.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pydantic import ValidationError

from adapters.exchange.timezones import iana_zone, windows_zone
from engine.errors import InvalidField, InvalidRecurrence
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
    typed_error,
    zone,
)
from engine.recurrence import DaySpec, Recurrence, Weekday, WeekIndex
from sim import model as store
from sim import recurrence as series

# Our own property set: the stream id (DESIGN §3) and the IANA zone an item was written with.
PROPERTY_SET_ID = "c11ff724-aa03-4555-9952-8fa248a11c3e"
SYNC_ID = store.ExtendedPropertyKey(
    property_type="String", property_set_id=PROPERTY_SET_ID, property_name="EinklangSyncId"
)
WRITTEN_ZONE = store.ExtendedPropertyKey(
    property_type="String", property_set_id=PROPERTY_SET_ID, property_name="EinklangTimeZone"
)

_FREE_BUSY = {
    BusyStatus.FREE: store.FreeBusyStatus.FREE,
    BusyStatus.TENTATIVE: store.FreeBusyStatus.TENTATIVE,
    BusyStatus.BUSY: store.FreeBusyStatus.BUSY,
    BusyStatus.OUT_OF_OFFICE: store.FreeBusyStatus.OOF,
    BusyStatus.WORKING_ELSEWHERE: store.FreeBusyStatus.WORKING_ELSEWHERE,
}
_BUSY = {v: k for k, v in _FREE_BUSY.items()}
_RESPONSE = {
    ResponseStatus.UNKNOWN: store.ResponseType.UNKNOWN,
    ResponseStatus.ORGANIZER: store.ResponseType.ORGANIZER,
    ResponseStatus.TENTATIVE: store.ResponseType.TENTATIVE,
    ResponseStatus.ACCEPTED: store.ResponseType.ACCEPT,
    ResponseStatus.DECLINED: store.ResponseType.DECLINE,
    ResponseStatus.NO_RESPONSE: store.ResponseType.NO_RESPONSE_RECEIVED,
}
_RESPONSE_STATUS = {v: k for k, v in _RESPONSE.items()}
_TASK_STATUS = {
    TaskStatus.NOT_STARTED: store.TaskStatus.NOT_STARTED,
    TaskStatus.IN_PROGRESS: store.TaskStatus.IN_PROGRESS,
    TaskStatus.COMPLETED: store.TaskStatus.COMPLETED,
    TaskStatus.WAITING_ON_OTHERS: store.TaskStatus.WAITING_ON_OTHERS,
    TaskStatus.DEFERRED: store.TaskStatus.DEFERRED,
}
_STATUS = {v: k for k, v in _TASK_STATUS.items()}
_IMPORTANCE = {
    Priority.LOW: store.Importance.LOW,
    Priority.NORMAL: store.Importance.NORMAL,
    Priority.HIGH: store.Importance.HIGH,
}
_PRIORITY = {v: k for k, v in _IMPORTANCE.items()}
_DAY = {
    DaySpec.MONDAY: series.DayOfWeek.MONDAY,
    DaySpec.TUESDAY: series.DayOfWeek.TUESDAY,
    DaySpec.WEDNESDAY: series.DayOfWeek.WEDNESDAY,
    DaySpec.THURSDAY: series.DayOfWeek.THURSDAY,
    DaySpec.FRIDAY: series.DayOfWeek.FRIDAY,
    DaySpec.SATURDAY: series.DayOfWeek.SATURDAY,
    DaySpec.SUNDAY: series.DayOfWeek.SUNDAY,
    DaySpec.DAY: series.DayOfWeek.DAY,
    DaySpec.WEEKDAY: series.DayOfWeek.WEEKDAY,
    DaySpec.WEEKEND_DAY: series.DayOfWeek.WEEKEND_DAY,
}
_DAY_SPEC = {v: k for k, v in _DAY.items()}
_WEEKDAY = {day: _DAY[DaySpec(day.value)] for day in Weekday}
_NAMED_DAY = {v: k for k, v in _WEEKDAY.items()}
_INDEX = {
    WeekIndex.FIRST: series.DayOfWeekIndex.FIRST,
    WeekIndex.SECOND: series.DayOfWeekIndex.SECOND,
    WeekIndex.THIRD: series.DayOfWeekIndex.THIRD,
    WeekIndex.FOURTH: series.DayOfWeekIndex.FOURTH,
    WeekIndex.LAST: series.DayOfWeekIndex.LAST,
}
_WEEK_INDEX = {v: k for k, v in _INDEX.items()}


# ---- our snapshots as store fields ------------------------------------------------------------


def calendar_values(appointment: Appointment) -> dict[str, Any]:
    """The calendar item fields (and "recurrence") that express an appointment; no body."""
    zone_id = windows_zone(appointment.time_zone)
    values: dict[str, Any] = {
        "subject": appointment.subject,
        "start": appointment.start,
        "end": appointment.end,
        "is_all_day": appointment.all_day,
        "location": appointment.location or None,
        "legacy_free_busy_status": _FREE_BUSY[appointment.busy_status],
        "sensitivity": store.Sensitivity.PRIVATE
        if appointment.private
        else store.Sensitivity.NORMAL,
        "reminder_is_set": appointment.reminder_minutes is not None,
        "required_attendees": _attendees(appointment.participants, required=True),
        "optional_attendees": _attendees(appointment.participants, required=False),
        "start_time_zone": zone_id,
        "end_time_zone": zone_id,
        "recurrence": store_recurrence(appointment),
    }
    if appointment.reminder_minutes is not None:
        values["reminder_minutes_before_start"] = appointment.reminder_minutes
    return values


def occurrence_values(occurrence: ModifiedOccurrence) -> dict[str, Any]:
    """The fields an occurrence deviates in (ModifiedOccurrence's part of the item)."""
    return {
        "start": occurrence.start,
        "end": occurrence.end,
        "subject": occurrence.subject,
        "location": occurrence.location or None,
        "legacy_free_busy_status": _FREE_BUSY[occurrence.busy_status],
    }


def task_values(task: Task) -> dict[str, Any]:
    """The task fields that express a task; no body. CompleteDate is Exchange's own to set."""
    values: dict[str, Any] = {
        "subject": task.subject,
        "start_date": _task_date(task.start),
        "due_date": _task_date(task.due),
        "status": _TASK_STATUS[task.status],
        "percent_complete": float(task.percent_complete),
        "importance": _IMPORTANCE[task.priority],
        "reminder_is_set": task.reminder_at is not None,
    }
    if task.reminder_at is not None:
        values["reminder_due_by"] = task.reminder_at
    return values


def store_recurrence(appointment: Appointment) -> series.EwsRecurrence | None:
    """The series as Exchange stores it: a pattern and a range from the series' first day."""
    recurrence = appointment.recurrence
    if recurrence is None:
        return None
    first_day = appointment.start.astimezone(zone(appointment.time_zone)).date()
    rng: series.Range
    if recurrence.end_date is not None:
        rng = series.EndDateRange(first_day, recurrence.end_date)
    elif recurrence.count is not None:
        rng = series.NumberedRange(first_day, recurrence.count)
    else:
        rng = series.NoEndRange(first_day)
    return series.EwsRecurrence(_pattern(recurrence), rng)


def _pattern(recurrence: Recurrence) -> series.Pattern:
    p = recurrence.pattern
    if p == "daily":
        return series.DailyPattern(interval=recurrence.interval)
    if p == "weekly":
        return series.WeeklyPattern(
            days_of_week=tuple(_WEEKDAY[day] for day in recurrence.weekdays),
            interval=recurrence.interval,
            first_day_of_week=_WEEKDAY[recurrence.first_day_of_week],
        )
    if p == "absolute_monthly":
        assert recurrence.day_of_month is not None
        return series.AbsoluteMonthlyPattern(recurrence.day_of_month, recurrence.interval)
    if p == "absolute_yearly":
        assert recurrence.day_of_month is not None and recurrence.month is not None
        return series.AbsoluteYearlyPattern(recurrence.day_of_month, recurrence.month)
    assert recurrence.day is not None and recurrence.week_index is not None
    day, index = _DAY[recurrence.day], _INDEX[recurrence.week_index]
    if p == "relative_monthly":
        return series.RelativeMonthlyPattern(day, index, recurrence.interval)
    assert recurrence.month is not None
    return series.RelativeYearlyPattern(day, index, recurrence.month)


def _attendees(
    participants: Sequence[Participant], *, required: bool
) -> tuple[store.Attendee, ...]:
    return tuple(
        store.Attendee(p.email, p.name or None, _RESPONSE[p.response])
        for p in participants
        if p.required is required
    )


def _task_date(day: date | None) -> datetime | None:
    # As exchangelib sends task dates: midnight UTC of the day.
    return None if day is None else datetime.combine(day, time(0), tzinfo=UTC)


# ---- store items as our snapshots ---------------------------------------------------------------


def appointment_of(
    item: store.CalendarItem, exceptions: Sequence[store.CalendarItem]
) -> Appointment:
    """The appointment a calendar item (a single or a series' master) shows; `exceptions` are
    the master's modified occurrences as items. Raises the typed `InvalidItem` behind any
    value our model cannot take."""
    fields = item.fields
    written_as = item.extended_properties.get(WRITTEN_ZONE)
    data: dict[str, Any] = {
        "subject": fields.subject,
        "info_text": body_text(fields.body),
        "start": fields.start,
        "end": fields.end,
        "all_day": fields.is_all_day,
        "location": fields.location or "",
        "busy_status": _busy_status(fields.legacy_free_busy_status),
        "private": fields.sensitivity is store.Sensitivity.PRIVATE,
        "reminder_minutes": fields.reminder_minutes_before_start
        if fields.reminder_is_set
        else None,
        "time_zone": iana_zone(
            fields.start_time_zone, written_as=written_as if isinstance(written_as, str) else None
        ),
        "recurrence": None if item.recurrence is None else domain_recurrence(item.recurrence),
        "modified_occurrences": [_occurrence_data(e) for e in exceptions],
        "deleted_occurrences": list(item.deleted_occurrences),
        "participants": [
            *_participants(fields.required_attendees, required=True),
            *_participants(fields.optional_attendees, required=False),
        ],
    }
    return build(Appointment, data)


def task_of(item: store.TaskItem) -> Task:
    fields = item.fields
    data: dict[str, Any] = {
        "subject": fields.subject,
        "info_text": body_text(fields.body),
        "start": _day_of(fields.start_date),
        "due": _day_of(fields.due_date),
        "status": _STATUS[fields.status],
        "percent_complete": round(fields.percent_complete),
        "priority": _PRIORITY[fields.importance],
        "reminder_at": fields.reminder_due_by if fields.reminder_is_set else None,
        "completed_at": fields.complete_date,
    }
    return build(Task, data)


def body_text(body: store.Body | None) -> str:
    """The body as stored; an HTML body stays markup (the engine never imports it, R6)."""
    return "" if body is None else body.text


def sync_id_of(
    properties: Mapping[store.ExtendedPropertyKey, store.ExtendedValue],
) -> uuid.UUID | None:
    """Our stream id on an item, if it carries one (InvalidField when it is not a stream id)."""
    value = properties.get(SYNC_ID)
    if value is None:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise InvalidField(
            f"the EinklangSyncId property {value!r} is not a stream id", field="sync_id"
        ) from None


def domain_recurrence(recurrence: series.EwsRecurrence) -> Recurrence:
    """Exchange's pattern and range as our Recurrence (the range's start is the item's start)."""
    pattern = recurrence.pattern
    values: dict[str, Any]
    if isinstance(pattern, series.DailyPattern):
        values = {"pattern": "daily", "interval": pattern.interval}
    elif isinstance(pattern, series.WeeklyPattern):
        days = [_NAMED_DAY.get(day) for day in pattern.days_of_week]
        first = _NAMED_DAY.get(pattern.week_start)
        if None in days or first is None:
            raise InvalidRecurrence("a weekly pattern names Day, Weekday or WeekendDay")
        values = {
            "pattern": "weekly",
            "interval": pattern.interval,
            "weekdays": days,
            "first_day_of_week": first,
        }
    elif isinstance(pattern, series.AbsoluteMonthlyPattern):
        values = {
            "pattern": "absolute_monthly",
            "interval": pattern.interval,
            "day_of_month": pattern.day_of_month,
        }
    elif isinstance(pattern, series.RelativeMonthlyPattern):
        values = {
            "pattern": "relative_monthly",
            "interval": pattern.interval,
            "day": _DAY_SPEC[pattern.day_of_week],
            "week_index": _WEEK_INDEX[pattern.index],
        }
    elif isinstance(pattern, series.AbsoluteYearlyPattern):
        values = {
            "pattern": "absolute_yearly",
            "day_of_month": pattern.day_of_month,
            "month": pattern.month,
        }
    else:
        values = {
            "pattern": "relative_yearly",
            "day": _DAY_SPEC[pattern.day_of_week],
            "week_index": _WEEK_INDEX[pattern.index],
            "month": pattern.month,
        }
    rng = recurrence.range
    if isinstance(rng, series.EndDateRange):
        values["end_date"] = rng.end_date
    elif isinstance(rng, series.NumberedRange):
        values["count"] = rng.count
    try:
        return Recurrence.model_validate(values)
    except ValidationError as error:
        raise typed_error(error) from None


def occurrence_of(occurrence: store.CalendarItem) -> ModifiedOccurrence:
    """One occurrence of a series (an exception or not) as our ModifiedOccurrence."""
    try:
        return ModifiedOccurrence.model_validate(_occurrence_data(occurrence))
    except ValidationError as error:
        raise typed_error(error) from None


def _occurrence_data(exception: store.CalendarItem) -> dict[str, Any]:
    fields = exception.fields
    return {
        "original_start": exception.original_start,
        "start": fields.start,
        "end": fields.end,
        "subject": fields.subject,
        "location": fields.location or "",
        "busy_status": _busy_status(fields.legacy_free_busy_status),
    }


def _busy_status(status: store.FreeBusyStatus) -> BusyStatus:
    try:
        return _BUSY[status]
    except KeyError:
        raise InvalidField(
            f"free/busy status {status.value} has no equivalent in the ERP", field="busy_status"
        ) from None


def _participants(attendees: Sequence[store.Attendee], *, required: bool) -> list[dict[str, Any]]:
    return [
        {
            "email": a.email,
            "name": a.name or "",
            "required": required,
            "response": _RESPONSE_STATUS[a.response_type],
        }
        for a in attendees
    ]


def _day_of(moment: datetime | None) -> date | None:
    # A task date is a midnight in its writer's zone; the nearest UTC midnight names the day.
    return None if moment is None else (moment.astimezone(UTC) + timedelta(hours=12)).date()
