"""MimeContent's iCalendar: its RRULE expands (by dateutil) to the store's own occurrences."""

from __future__ import annotations

import base64
import datetime as dt

import icalendar
import pytest
from dateutil.rrule import rrulestr

from sim.mime import mime_content
from sim.model import CalendarFields
from sim.recurrence import (
    AbsoluteMonthlyPattern,
    AbsoluteYearlyPattern,
    DailyPattern,
    DayOfWeek,
    DayOfWeekIndex,
    EndDateRange,
    EwsRecurrence,
    NumberedRange,
    Pattern,
    Range,
    RelativeMonthlyPattern,
    RelativeYearlyPattern,
    WeeklyPattern,
)
from sim.store import MailboxStore
from sim.timezones import zoneinfo_for
from tests.sim.support import ical_rule, mime_calendar

MAILBOX = "alice@example.com"
ZONE = "Pacific Standard Time"
FIRST = dt.date(2026, 1, 5)


def vevent(store: MailboxStore, item_id: str) -> icalendar.Event:
    _, calendar = mime_calendar(base64.b64decode(mime_content(store.get_item(item_id))))
    [event] = calendar.walk("VEVENT")
    assert isinstance(event, icalendar.Event)
    return event


@pytest.mark.parametrize(
    "pattern",
    [
        DailyPattern(3),
        WeeklyPattern((DayOfWeek.MONDAY, DayOfWeek.THURSDAY), 2, DayOfWeek.MONDAY),
        AbsoluteMonthlyPattern(31, 1),
        RelativeMonthlyPattern(DayOfWeek.WEEKDAY, DayOfWeekIndex.LAST, 2),
        AbsoluteYearlyPattern(29, 2),
        RelativeYearlyPattern(DayOfWeek.SUNDAY, DayOfWeekIndex.SECOND, 3),
    ],
    ids=lambda pattern: type(pattern).__name__,
)
@pytest.mark.parametrize(
    "rng", [NumberedRange(FIRST, 7), EndDateRange(FIRST, dt.date(2030, 3, 10))], ids=["n", "until"]
)
@pytest.mark.parametrize("all_day", [False, True], ids=["timed", "all-day"])
def test_the_rrule_expands_to_the_stores_occurrences(
    pattern: Pattern, rng: Range, all_day: bool
) -> None:
    store = MailboxStore()
    store.add_mailbox(MAILBOX)
    zone = zoneinfo_for(ZONE)
    start = dt.datetime.combine(FIRST, dt.time(0 if all_day else 9, 30), zone)
    fields = CalendarFields(
        start=start,
        end=start + dt.timedelta(days=1) if all_day else start + dt.timedelta(hours=1),
        is_all_day=all_day,
        start_time_zone=ZONE,
        end_time_zone=ZONE,
    )
    master = store.create_calendar_item(MAILBOX, fields, EwsRecurrence(pattern, rng))
    event = vevent(store, master.item_id)

    dtstart = event.decoded("DTSTART")
    if all_day:
        dtstart = dt.datetime.combine(dtstart, dt.time())
    expanded = list(rrulestr(ical_rule(event), dtstart=dtstart))
    view = store.calendar_view(MAILBOX, master.start, master.start + dt.timedelta(days=730))
    in_store = [occurrence.start.astimezone(zone) for occurrence in view]
    if all_day:
        assert [when.date() for when in expanded][: len(in_store)] == [
            when.date() for when in in_store
        ]
    else:
        assert expanded[: len(in_store)] == in_store
    assert len(expanded) >= len(in_store)
