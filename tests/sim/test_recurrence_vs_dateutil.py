"""CalendarView expansion of the simulator's store, checked against python-dateutil's rrule.

The oracle translates each EWS pattern into the RFC 5545 rule that means the same thing
(e.g. "day 31 of every month" is BYMONTHDAY=28..31;BYSETPOS=-1, since Exchange falls back to the
last day of shorter months) and localises its wall-clock times in the series' IANA zone.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from zoneinfo import ZoneInfo

import pytest
from dateutil import rrule
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.clock import ManualClock
from sim.errors import EwsError
from sim.model import CalendarFields, CalendarItemType
from sim.recurrence import (
    AbsoluteMonthlyPattern,
    AbsoluteYearlyPattern,
    DailyPattern,
    DayOfWeek,
    DayOfWeekIndex,
    EndDateRange,
    EwsRecurrence,
    NoEndRange,
    NumberedRange,
    Pattern,
    Range,
    RelativeMonthlyPattern,
    RelativeYearlyPattern,
    WeeklyPattern,
)
from sim.store import MailboxStore

MAILBOX = "alice@example.com"
BERLIN = "W. Europe Standard Time"
ZONES = {
    BERLIN: "Europe/Berlin",
    "Eastern Standard Time": "America/New_York",
    "GMT Standard Time": "Europe/London",
    "UTC": "UTC",
}
_RRULE_DAYS = {
    DayOfWeek.MONDAY: rrule.MO,
    DayOfWeek.TUESDAY: rrule.TU,
    DayOfWeek.WEDNESDAY: rrule.WE,
    DayOfWeek.THURSDAY: rrule.TH,
    DayOfWeek.FRIDAY: rrule.FR,
    DayOfWeek.SATURDAY: rrule.SA,
    DayOfWeek.SUNDAY: rrule.SU,
}
_DAY_SETS = {
    DayOfWeek.DAY: tuple(_RRULE_DAYS.values()),
    DayOfWeek.WEEKDAY: (rrule.MO, rrule.TU, rrule.WE, rrule.TH, rrule.FR),
    DayOfWeek.WEEKEND_DAY: (rrule.SA, rrule.SU),
}
_SETPOS = {
    DayOfWeekIndex.FIRST: 1,
    DayOfWeekIndex.SECOND: 2,
    DayOfWeekIndex.THIRD: 3,
    DayOfWeekIndex.FOURTH: 4,
    DayOfWeekIndex.LAST: -1,
}


def oracle_rule(pattern: Pattern, rng: Range, first_local: datetime) -> rrule.rrule:
    """The dateutil rule equivalent to an EWS pattern and range, starting at `first_local`."""
    count = rng.count if isinstance(rng, NumberedRange) else None
    until = (
        datetime.combine(rng.end_date, time(23, 59, 59)) if isinstance(rng, EndDateRange) else None
    )
    rule = partial(rrule.rrule, dtstart=first_local, count=count, until=until)
    if isinstance(pattern, DailyPattern):
        return rule(rrule.DAILY, interval=pattern.interval)
    if isinstance(pattern, WeeklyPattern):
        return rule(
            rrule.WEEKLY,
            interval=pattern.interval,
            byweekday=[_RRULE_DAYS[day] for day in pattern.days_of_week],
            wkst=_RRULE_DAYS[pattern.first_day_of_week or DayOfWeek.SUNDAY],
        )
    if isinstance(pattern, AbsoluteMonthlyPattern | AbsoluteYearlyPattern):
        day = pattern.day_of_month
        # "Day N, or the last day of a shorter month" = the last of the days min(N,28)..N.
        monthdays = tuple(range(min(day, 28), day + 1))
        if isinstance(pattern, AbsoluteMonthlyPattern):
            return rule(rrule.MONTHLY, interval=pattern.interval, bymonthday=monthdays, bysetpos=-1)
        return rule(rrule.YEARLY, bymonth=pattern.month, bymonthday=monthdays, bysetpos=-1)
    days = _DAY_SETS.get(pattern.day_of_week) or (_RRULE_DAYS[pattern.day_of_week],)
    setpos = _SETPOS[pattern.index]
    if isinstance(pattern, RelativeMonthlyPattern):
        return rule(rrule.MONTHLY, interval=pattern.interval, byweekday=days, bysetpos=setpos)
    return rule(rrule.YEARLY, bymonth=pattern.month, byweekday=days, bysetpos=setpos)


def expected_occurrences(
    pattern: Pattern,
    rng: Range,
    local_start: time,
    duration: timedelta,
    windows_zone: str,
    window: tuple[datetime, datetime],
) -> list[tuple[datetime, datetime]]:
    """UTC (start, end) of the oracle's occurrences that overlap `window`."""
    zone = ZoneInfo(ZONES[windows_zone])
    rule = oracle_rule(pattern, rng, datetime.combine(rng.start_date, local_start))
    result = []
    for local in rule.between(
        window[0].astimezone(zone).replace(tzinfo=None) - duration - timedelta(days=1),
        window[1].astimezone(zone).replace(tzinfo=None) + timedelta(days=1),
        inc=True,
    ):
        start = local.replace(tzinfo=zone).astimezone(UTC)
        end = (local + duration).replace(tzinfo=zone).astimezone(UTC)
        overlaps = window[0] <= start if start == end else end > window[0]
        if start < window[1] and overlaps:
            result.append((start, end))
    return result


def make_series(
    store: MailboxStore,
    pattern: Pattern,
    rng: Range,
    local_start: time,
    duration: timedelta,
    windows_zone: str,
) -> str:
    zone = ZoneInfo(ZONES[windows_zone])
    start = datetime.combine(rng.start_date, local_start, tzinfo=zone)
    fields = CalendarFields(
        subject="series",
        start=start,
        end=start + duration,
        start_time_zone=windows_zone,
        end_time_zone=windows_zone,
    )
    return store.create_calendar_item(MAILBOX, fields, EwsRecurrence(pattern, rng)).item_id


@pytest.fixture
def store() -> MailboxStore:
    store = MailboxStore(clock=ManualClock())
    store.add_mailbox(MAILBOX)
    return store


def _utc(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


SIX_PATTERNS: list[tuple[str, Pattern, Range]] = [
    ("daily", DailyPattern(interval=2), NumberedRange(date(2026, 3, 20), 10)),
    (
        "weekly",
        WeeklyPattern(
            days_of_week=(DayOfWeek.MONDAY, DayOfWeek.WEDNESDAY, DayOfWeek.FRIDAY),
            interval=2,
            first_day_of_week=DayOfWeek.MONDAY,
        ),
        NumberedRange(date(2026, 3, 18), 12),
    ),
    (
        "absolute_monthly",
        AbsoluteMonthlyPattern(day_of_month=31),
        NumberedRange(date(2026, 1, 31), 8),
    ),
    (
        "relative_monthly",
        RelativeMonthlyPattern(DayOfWeek.FRIDAY, DayOfWeekIndex.LAST, interval=2),
        NoEndRange(date(2026, 1, 1)),
    ),
    (
        "absolute_yearly",
        AbsoluteYearlyPattern(day_of_month=29, month=2),
        EndDateRange(date(2024, 2, 1), date(2031, 12, 31)),
    ),
    (
        "relative_yearly",
        RelativeYearlyPattern(DayOfWeek.SUNDAY, DayOfWeekIndex.LAST, month=3),
        NumberedRange(date(2025, 1, 1), 5),
    ),
]


@pytest.mark.parametrize(("name", "pattern", "rng"), SIX_PATTERNS, ids=[p[0] for p in SIX_PATTERNS])
def test_calendar_view_matches_rrule_for_each_pattern_type(
    store: MailboxStore, name: str, pattern: Pattern, rng: Range
) -> None:
    window = (_utc(2024, 1, 1), _utc(2032, 1, 1))
    make_series(store, pattern, rng, time(9, 30), timedelta(hours=1), BERLIN)

    expected = expected_occurrences(pattern, rng, time(9, 30), timedelta(hours=1), BERLIN, window)
    view = store.calendar_view(MAILBOX, *window)

    assert expected, name
    assert [(item.start, item.end) for item in view] == expected
    assert {item.item_type for item in view} == {CalendarItemType.OCCURRENCE}


@pytest.mark.parametrize(("name", "pattern", "rng"), SIX_PATTERNS, ids=[p[0] for p in SIX_PATTERNS])
def test_modified_and_deleted_occurrences_replace_the_rrule_instances(
    store: MailboxStore, name: str, pattern: Pattern, rng: Range
) -> None:
    window = (_utc(2024, 1, 1), _utc(2032, 1, 1))
    master_id = make_series(store, pattern, rng, time(9, 30), timedelta(hours=1), BERLIN)
    expected = expected_occurrences(pattern, rng, time(9, 30), timedelta(hours=1), BERLIN, window)
    deleted, moved = expected[1][0], expected[2][0]

    store.delete_occurrence(master_id, deleted)
    store.update_occurrence(
        master_id,
        moved,
        subject="moved",
        start=moved + timedelta(hours=2),
        end=moved + timedelta(hours=4),
    )
    view = store.calendar_view(MAILBOX, *window)

    expected_starts = [start for start, _ in expected if start not in (deleted, moved)]
    expected_starts.append(moved + timedelta(hours=2))
    assert [item.start for item in view] == sorted(expected_starts), name
    exception = next(item for item in view if item.item_type is CalendarItemType.EXCEPTION)
    assert (exception.subject, exception.original_start) == ("moved", moved)
    assert exception.end - exception.start == timedelta(hours=2)
    master = store.get_calendar_item(master_id)
    assert master.deleted_occurrences == (deleted,)
    assert [info.original_start for info in master.modified_occurrences] == [moved]


def test_daily_series_keeps_nine_oclock_local_across_the_berlin_dst_change(
    store: MailboxStore,
) -> None:
    pattern, rng = DailyPattern(), EndDateRange(date(2026, 3, 25), date(2026, 4, 2))
    make_series(store, pattern, rng, time(9, 0), timedelta(minutes=30), BERLIN)
    window = (_utc(2026, 3, 1), _utc(2026, 5, 1))

    view = store.calendar_view(MAILBOX, *window)
    expected = expected_occurrences(pattern, rng, time(9, 0), timedelta(minutes=30), BERLIN, window)

    berlin = ZoneInfo("Europe/Berlin")
    assert [(item.start, item.end) for item in view] == expected
    assert len(view) == 9
    assert {item.start.astimezone(berlin).time() for item in view} == {time(9, 0)}
    # 08:00 UTC before the change on 2026-03-29, 07:00 UTC after it.
    assert view[0].start.time() == time(8, 0) and view[-1].start.time() == time(7, 0)


WINDOWS_ZONES = st.sampled_from(sorted(ZONES))
CONCRETE_DAYS = [day for day in DayOfWeek if day in _RRULE_DAYS]


@st.composite
def patterns(draw: st.DrawFn) -> Pattern:
    kind = draw(st.integers(0, 5))
    day = draw(st.sampled_from(list(DayOfWeek)))
    index = draw(st.sampled_from(list(DayOfWeekIndex)))
    month = draw(st.integers(1, 12))
    if kind == 0:
        return DailyPattern(interval=draw(st.integers(1, 10)))
    if kind == 1:
        days = draw(st.lists(st.sampled_from(CONCRETE_DAYS), min_size=1, max_size=7, unique=True))
        return WeeklyPattern(
            days_of_week=tuple(days),
            interval=draw(st.integers(1, 4)),
            first_day_of_week=draw(st.sampled_from([None, *CONCRETE_DAYS])),
        )
    if kind == 2:
        return AbsoluteMonthlyPattern(draw(st.integers(1, 31)), interval=draw(st.integers(1, 6)))
    if kind == 3:
        return RelativeMonthlyPattern(day, index, interval=draw(st.integers(1, 6)))
    if kind == 4:
        return AbsoluteYearlyPattern(draw(st.integers(1, 31)), month)
    return RelativeYearlyPattern(day, index, month)


@st.composite
def ranges(draw: st.DrawFn) -> Range:
    start = draw(st.dates(date(2024, 1, 1), date(2027, 12, 31)))
    kind = draw(st.integers(0, 2))
    if kind == 0:
        return NumberedRange(start, draw(st.integers(1, 40)))
    if kind == 1:
        return EndDateRange(start, start + timedelta(days=draw(st.integers(0, 900))))
    return NoEndRange(start)


@settings(max_examples=120, deadline=None)
@given(
    pattern=patterns(),
    rng=ranges(),
    zone=WINDOWS_ZONES,
    local_start=st.times().map(lambda t: t.replace(second=0, microsecond=0)),
    minutes=st.integers(0, 600),
)
def test_any_pattern_expands_like_rrule(
    pattern: Pattern, rng: Range, zone: str, local_start: time, minutes: int
) -> None:
    store = MailboxStore(clock=ManualClock())
    store.add_mailbox(MAILBOX)
    duration = timedelta(minutes=minutes)
    first_local = datetime.combine(rng.start_date, local_start)
    if oracle_rule(pattern, rng, first_local).after(first_local, inc=True) is None:
        with pytest.raises(EwsError) as raised:
            make_series(store, pattern, rng, local_start, duration, zone)
        assert raised.value.code == "ErrorRecurrenceHasNoOccurrence"
        return
    make_series(store, pattern, rng, local_start, duration, zone)
    window = (_utc(2024, 1, 1), _utc(2029, 1, 1))

    view = store.calendar_view(MAILBOX, *window)

    assert [(item.start, item.end) for item in view] == expected_occurrences(
        pattern, rng, local_start, duration, zone, window
    )
