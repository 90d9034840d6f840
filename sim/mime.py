"""MimeContent: an item as the MIME message Exchange exports, with its iCalendar (RFC 5545) part.

A calendar item becomes a VEVENT (a series with its RRULE, EXDATEs for deleted occurrences and a
VEVENT with RECURRENCE-ID per moved one; an occurrence carries its RECURRENCE-ID), a task a VTODO;
times are local times of the item's time zone, which a VTIMEZONE describes. The message around it
has the item's subject, organizer (or owner) and creation time. Built with `icalendar` and the
standard library's `email`; returned base64-encoded with CharacterSet UTF-8, as EWS sends it. A
client asks for it by name (item:MimeContent): it is not part of AllProperties.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import date, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, Todo, vRecur

from sim.model import CalendarItem, CalendarItemType, Importance, Item, Sensitivity, TaskStatus
from sim.recurrence import (
    AbsoluteMonthlyPattern,
    AbsoluteYearlyPattern,
    DailyPattern,
    DayOfWeek,
    DayOfWeekIndex,
    EndDateRange,
    EwsRecurrence,
    NumberedRange,
    RelativeMonthlyPattern,
    RelativeYearlyPattern,
    WeeklyPattern,
)
from sim.timezones import zoneinfo_for

_ICAL_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")  # by date.weekday()
_CLASS = {
    Sensitivity.NORMAL: "PUBLIC",
    Sensitivity.PERSONAL: "PRIVATE",
    Sensitivity.PRIVATE: "PRIVATE",
    Sensitivity.CONFIDENTIAL: "CONFIDENTIAL",
}
_PRIORITY = {Importance.HIGH: 1, Importance.NORMAL: 5, Importance.LOW: 9}
_TODO_STATUS = {
    TaskStatus.NOT_STARTED: "NEEDS-ACTION",
    TaskStatus.IN_PROGRESS: "IN-PROCESS",
    TaskStatus.WAITING_ON_OTHERS: "IN-PROCESS",
    TaskStatus.DEFERRED: "NEEDS-ACTION",
    TaskStatus.COMPLETED: "COMPLETED",
}


def _days(day: DayOfWeek) -> list[str]:
    return [_ICAL_DAYS[number] for number in sorted(day.python_weekdays)]


def _position(index: DayOfWeekIndex) -> int:
    return -1 if index is DayOfWeekIndex.LAST else index.position + 1


def _day_of_month(pattern: AbsoluteMonthlyPattern | AbsoluteYearlyPattern) -> dict[str, Any]:
    # Exchange moves day 29-31 to the last day of a shorter month; RFC 5545 would skip the month.
    if pattern.day_of_month <= 28:
        return {"BYMONTHDAY": pattern.day_of_month}
    return {"BYMONTHDAY": list(range(28, pattern.day_of_month + 1)), "BYSETPOS": -1}


def rrule(recurrence: EwsRecurrence, first_start: datetime, *, all_day: bool = False) -> vRecur:
    """The RRULE of an Exchange pattern and range; `first_start` is the local first occurrence
    (an all-day series has a DATE start, so its UNTIL is a DATE too)."""
    pattern, rng = recurrence.pattern, recurrence.range
    rule: dict[str, Any] = {}
    if isinstance(pattern, DailyPattern):
        rule |= {"FREQ": "DAILY", "INTERVAL": pattern.interval}
    elif isinstance(pattern, WeeklyPattern):
        days = sorted({d for day in pattern.days_of_week for d in day.python_weekdays})
        rule |= {
            "FREQ": "WEEKLY",
            "INTERVAL": pattern.interval,
            "BYDAY": [_ICAL_DAYS[d] for d in days],
            "WKST": _days(pattern.week_start)[0],
        }
    elif isinstance(pattern, AbsoluteMonthlyPattern):
        rule |= {"FREQ": "MONTHLY", "INTERVAL": pattern.interval} | _day_of_month(pattern)
    elif isinstance(pattern, AbsoluteYearlyPattern):
        rule |= {"FREQ": "YEARLY", "BYMONTH": pattern.month} | _day_of_month(pattern)
    else:
        assert isinstance(pattern, RelativeMonthlyPattern | RelativeYearlyPattern)
        rule |= {"BYDAY": _days(pattern.day_of_week), "BYSETPOS": _position(pattern.index)}
        if isinstance(pattern, RelativeMonthlyPattern):
            rule |= {"FREQ": "MONTHLY", "INTERVAL": pattern.interval}
        else:
            rule |= {"FREQ": "YEARLY", "BYMONTH": pattern.month}
    if isinstance(rng, NumberedRange):
        rule["COUNT"] = rng.count
    elif isinstance(rng, EndDateRange) and all_day:
        rule["UNTIL"] = rng.end_date
    elif isinstance(rng, EndDateRange):
        # Inclusive, at the occurrence's time of day on the last date, in UTC (RFC 5545).
        last = datetime.combine(rng.end_date, first_start.timetz()).replace(
            tzinfo=first_start.tzinfo
        )
        rule["UNTIL"] = last.astimezone(ZoneInfo("UTC"))
    return vRecur(rule)


def _when(value: datetime, zone: ZoneInfo, all_day: bool) -> datetime | date:
    local = value.astimezone(zone)
    return local.date() if all_day else local


def _event(item: CalendarItem) -> Event:
    fields = item.fields
    zone = zoneinfo_for(fields.start_time_zone)
    end_zone = zoneinfo_for(fields.end_time_zone)
    event = Event()
    event.add("uid", item.uid)
    event.add("dtstamp", item.last_modified)
    event.add("created", item.created)
    event.add("last-modified", item.last_modified)
    event.add("summary", fields.subject)
    event.add("dtstart", _when(fields.start, zone, fields.is_all_day))
    event.add("dtend", _when(fields.end, end_zone, fields.is_all_day))
    event.add("class", _CLASS[fields.sensitivity])
    event.add("priority", _PRIORITY[fields.importance])
    event.add("transp", "TRANSPARENT" if fields.legacy_free_busy_status == "Free" else "OPAQUE")
    if fields.location:
        event.add("location", fields.location)
    if fields.body and fields.body.text:
        event.add("description", fields.body.text)
    if fields.categories:
        event.add("categories", list(fields.categories))
    event.add("organizer", f"mailto:{item.organizer.email}", parameters=_name(item.organizer.name))
    for role, attendees in (
        ("REQ-PARTICIPANT", fields.required_attendees),
        ("OPT-PARTICIPANT", fields.optional_attendees),
    ):
        for attendee in attendees:
            event.add(
                "attendee",
                f"mailto:{attendee.email}",
                parameters={"ROLE": role, **_name(attendee.name)},
            )
    if item.original_start is not None:
        event.add("recurrence-id", _when(item.original_start, zone, fields.is_all_day))
    if item.item_type is CalendarItemType.RECURRING_MASTER and item.recurrence is not None:
        local_start = fields.start.astimezone(zone)
        event.add("rrule", rrule(item.recurrence, local_start, all_day=fields.is_all_day))
        for deleted in item.deleted_occurrences:
            event.add("exdate", _when(deleted, zone, fields.is_all_day))
    return event


def _moved_occurrences(item: CalendarItem) -> list[Event]:
    zone = zoneinfo_for(item.fields.start_time_zone)
    all_day = item.fields.is_all_day
    moved = []
    for info in item.modified_occurrences:
        event = Event()
        event.add("uid", item.uid)
        event.add("dtstamp", item.last_modified)
        event.add("recurrence-id", _when(info.original_start, zone, all_day))
        event.add("dtstart", _when(info.start, zone, all_day))
        event.add("dtend", _when(info.end, zone, all_day))
        moved.append(event)
    return moved


def _name(name: str | None) -> dict[str, str]:
    return {"CN": name} if name else {}


def _todo(item: Item) -> Todo:
    fields = item.fields
    todo = Todo()
    todo.add("uid", hashlib.sha256(item.item_id.encode()).hexdigest()[:32].upper())
    todo.add("dtstamp", item.last_modified)
    todo.add("created", item.created)
    todo.add("last-modified", item.last_modified)
    todo.add("summary", fields.subject)
    todo.add("class", _CLASS[fields.sensitivity])
    todo.add("priority", _PRIORITY[fields.importance])
    if fields.body and fields.body.text:
        todo.add("description", fields.body.text)
    if fields.categories:
        todo.add("categories", list(fields.categories))
    for name in ("start_date", "due_date"):
        value = getattr(fields, name)
        if value is not None:
            todo.add("dtstart" if name == "start_date" else "due", value.date())
    status = getattr(fields, "status", TaskStatus.NOT_STARTED)
    todo.add("status", _TODO_STATUS[status])
    todo.add("percent-complete", int(getattr(fields, "percent_complete", 0)))
    complete_date = getattr(fields, "complete_date", None)
    if complete_date is not None:
        todo.add("completed", complete_date)
    return todo


def mime_content(item: Item) -> str:
    """The base64 text of t:MimeContent for `item`."""
    calendar = Calendar()
    calendar.add("prodid", "-//einklang//EWS simulator//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    if isinstance(item, CalendarItem):
        calendar.add_component(_event(item))
        for moved in _moved_occurrences(item):
            calendar.add_component(moved)
        sender, sent = item.organizer.email, item.created
    else:
        calendar.add_component(_todo(item))
        sender, sent = item.mailbox, item.created
    calendar.add_missing_timezones()
    message = EmailMessage(policy=SMTP)
    message["From"] = sender
    message["Subject"] = item.fields.subject
    message["Date"] = format_datetime(sent)
    message.set_content(calendar.to_ical().decode("utf-8"), subtype="calendar", charset="utf-8")
    message.set_param("method", "PUBLISH")
    return base64.b64encode(message.as_bytes()).decode("ascii")
