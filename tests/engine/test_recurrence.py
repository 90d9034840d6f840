"""Recurrence: our expansion of Exchange's six patterns against python-dateutil's rrule (R2).

dateutil is the independent oracle: it expands the RRULE text we produce, in local wall-clock
time, and both results are compared in UTC across the Europe/Berlin DST changes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import InvalidRecurrence, UnsupportedRecurrence
from engine.model import Appointment
from engine.recurrence import DaySpec, Recurrence, Weekday, WeekIndex, parse_rrule

BERLIN = ZoneInfo("Europe/Berlin")


def oracle(recurrence: Recurrence, first_local: datetime, limit: int) -> list[datetime]:
    """dateutil's occurrences of our RRULE, as UTC times.

    A series whose first occurrence falls into the spring-forward gap (02:30 on the last Sunday
    of March does not exist) starts at the time that exists, 03:30, and keeps that wall-clock
    time — the series is defined by its first occurrence, as Exchange shows it.
    """
    locals_ = list(_take(rrulestr(recurrence.to_rrule(), dtstart=first_local), limit))
    if locals_ and _existing(locals_[0]) != locals_[0]:
        locals_ = list(_take(rrulestr(recurrence.to_rrule(), dtstart=_existing(locals_[0])), limit))
    return [local.replace(tzinfo=BERLIN).astimezone(UTC) for local in locals_]


def _existing(local: datetime) -> datetime:
    return local.replace(tzinfo=BERLIN).astimezone(UTC).astimezone(BERLIN).replace(tzinfo=None)


def _take(rule: object, limit: int) -> list[datetime]:
    taken: list[datetime] = []
    for local in rule:  # type: ignore[attr-defined]
        taken.append(local)
        if len(taken) >= limit:
            break
    return taken


def ours(recurrence: Recurrence, first_local: datetime, limit: int) -> list[datetime]:
    appointment = Appointment(
        subject="series",
        start=first_local.replace(tzinfo=BERLIN),
        end=first_local.replace(tzinfo=BERLIN) + timedelta(hours=1),
        recurrence=recurrence,
        time_zone="Europe/Berlin",
    )
    return appointment.occurrence_starts(until=first_local.date() + timedelta(days=366 * 30))[
        :limit
    ]


SIX_PATTERNS = {
    "daily": Recurrence(pattern="daily", interval=2, count=20),
    "weekly": Recurrence(
        pattern="weekly",
        interval=2,
        weekdays=(Weekday.TUESDAY, Weekday.SUNDAY),
        first_day_of_week=Weekday.SUNDAY,
        count=20,
    ),
    "absolute_monthly": Recurrence(pattern="absolute_monthly", day_of_month=31, count=14),
    "relative_monthly": Recurrence(
        pattern="relative_monthly", day=DaySpec.SUNDAY, week_index=WeekIndex.LAST, count=14
    ),
    "absolute_yearly": Recurrence(pattern="absolute_yearly", day_of_month=29, month=2, count=6),
    "relative_yearly": Recurrence(
        pattern="relative_yearly",
        day=DaySpec.WEEKDAY,
        week_index=WeekIndex.FIRST,
        month=10,
        count=6,
    ),
}


@pytest.mark.parametrize("name", list(SIX_PATTERNS))
@pytest.mark.parametrize(
    "first",
    [
        datetime(2026, 3, 20, 9, 30),
        datetime(2026, 10, 20, 2, 30),
        datetime(2026, 3, 28, 2, 30),
        datetime(2026, 10, 24, 2, 30),
    ],
)
def test_all_six_patterns_expand_like_dateutil_across_dst(name: str, first: datetime) -> None:
    recurrence = SIX_PATTERNS[name]
    expected = oracle(recurrence, first, 40)
    assert ours(recurrence, first, 40) == expected
    assert len(expected) >= 6


def test_wall_clock_time_is_kept_across_the_spring_change() -> None:
    daily = Recurrence(pattern="daily", end_date=date(2026, 4, 2))
    starts = ours(daily, datetime(2026, 3, 25, 9, 0), 100)
    assert [s.astimezone(BERLIN).hour for s in starts] == [9] * 9
    assert starts[0].hour == 8 and starts[-1].hour == 7  # UTC moves by an hour on 29 March


weekday = st.sampled_from(list(Weekday))


@st.composite
def recurrences(draw: st.DrawFn) -> Recurrence:
    pattern = draw(st.sampled_from(list(SIX_PATTERNS)))
    end = draw(st.sampled_from(["count", "date", "none"]))
    extra: dict[str, object] = {}
    if end == "count":
        extra["count"] = draw(st.integers(1, 30))
    elif end == "date":
        extra["end_date"] = date(2026, 1, 1) + timedelta(days=draw(st.integers(0, 900)))
    interval = 1 if pattern.endswith("yearly") else draw(st.integers(1, 4))
    if pattern == "weekly":
        extra["weekdays"] = tuple(draw(st.sets(weekday, min_size=1)))
        extra["first_day_of_week"] = draw(weekday)
    if pattern.startswith("relative"):
        extra["day"] = draw(st.sampled_from(list(DaySpec)))
        extra["week_index"] = draw(st.sampled_from(list(WeekIndex)))
    if pattern.endswith("yearly"):
        extra["month"] = draw(st.integers(1, 12))
    if pattern.startswith("absolute"):
        limit = {2: 29, 4: 30, 6: 30, 9: 30, 11: 30}.get(extra.get("month", 1), 31)  # type: ignore[arg-type]
        extra["day_of_month"] = draw(st.integers(1, limit))
    return Recurrence(pattern=pattern, interval=interval, **extra)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(
    recurrence=recurrences(),
    # Series start at a local time that exists: stored in UTC, a start inside the spring gap
    # is already the later wall-clock time (see `oracle`).
    first=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31))
    .map(lambda d: d.replace(second=0, microsecond=0, fold=0))
    .filter(lambda d: _existing(d) == d),
)
def test_random_patterns_expand_like_dateutil(recurrence: Recurrence, first: datetime) -> None:
    expected = oracle(recurrence, first, 25)
    if not expected:  # e.g. an end date before the first occurrence
        with pytest.raises(ValueError, match="no occurrence"):
            ours(recurrence, first, 25)
        return
    assert ours(recurrence, first, 25) == expected


@settings(max_examples=300, deadline=None)
@given(recurrence=recurrences())
def test_rrule_round_trips_exactly(recurrence: Recurrence) -> None:
    series_start = date(2026, recurrence.month or 1, 1)
    assert parse_rrule(recurrence.to_rrule(), series_start=series_start) == recurrence


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=HOURLY;INTERVAL=2",
        "FREQ=MONTHLY;BYMONTHDAY=31",  # RFC 5545 skips short months, Exchange does not
        "FREQ=MONTHLY;BYDAY=MO",  # every Monday of the month
        "FREQ=YEARLY;BYMONTH=1,7;BYMONTHDAY=1",
        "FREQ=WEEKLY;BYDAY=1MO",
        "FREQ=DAILY;BYHOUR=9,17",
        "FREQ=MONTHLY;BYDAY=5FR",
        "FREQ=YEARLY;INTERVAL=2;BYMONTH=3;BYDAY=1MO",
    ],
)
def test_patterns_exchange_cannot_express_are_a_typed_error(rule: str) -> None:
    with pytest.raises(UnsupportedRecurrence):
        parse_rrule(rule, series_start=date(2026, 3, 2))


@pytest.mark.parametrize(
    "rule",
    [
        "garbage",
        "FREQ=WEEKLY;INTERVAL=0",
        "FREQ=DAILY;COUNT=2;UNTIL=20260101",
        "FREQ=SOMETIMES",
        "FREQ=DAILY;UNTIL=2026",
    ],
)
def test_unparseable_rules_are_a_typed_error(rule: str) -> None:
    with pytest.raises(InvalidRecurrence):
        parse_rrule(rule)


def test_outlook_every_weekday_and_every_n_years_map_to_exchange_patterns() -> None:
    weekdays = parse_rrule("FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR")
    assert weekdays.pattern == "weekly" and len(weekdays.weekdays) == 5
    every_two_years = parse_rrule(
        "FREQ=YEARLY;INTERVAL=2;BYMONTH=3;BYMONTHDAY=5", series_start=date(2026, 3, 5)
    )
    assert (every_two_years.pattern, every_two_years.interval, every_two_years.day_of_month) == (
        "absolute_monthly",
        24,
        5,
    )
