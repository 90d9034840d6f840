"""Recurrence (R2): Exchange's six patterns, their RRULE form, and the contract's edges.

dateutil is the independent oracle: it expands the RRULE text `to_rrule` writes, from a zoned
DTSTART, and both results are compared as wall-clock times and as UTC instants across DST.
The generated-rule properties are in test_recurrence_oracle.py, RFC 5545's own examples in
test_recurrence_rfc.py.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.model import Appointment
from engine.recurrence import (
    DaySpec,
    InvalidRecurrence,
    Recurrence,
    UnsupportedRecurrence,
    Weekday,
    WeekIndex,
    parse_rrule,
    to_rrule,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
AUCKLAND = ZoneInfo("Pacific/Auckland")


def oracle(recurrence: Recurrence, first_local: datetime, limit: int) -> list[datetime]:
    """dateutil's occurrences of our RRULE, as UTC times.

    A series whose first occurrence falls into the spring-forward gap (02:30 on the last Sunday
    of March does not exist) starts at the time that exists, 03:30, and keeps that wall-clock
    time — the series is defined by its first occurrence, as Exchange shows it.
    """
    dtstart = first_local.replace(tzinfo=BERLIN)
    locals_ = _take(rrulestr(to_rrule(recurrence, dtstart), dtstart=dtstart), limit)
    if locals_ and _existing(locals_[0]) != locals_[0]:
        dtstart = _existing(locals_[0]).replace(tzinfo=BERLIN)
        locals_ = _take(rrulestr(to_rrule(recurrence, dtstart), dtstart=dtstart), limit)
    return [local.replace(tzinfo=BERLIN).astimezone(UTC) for local in locals_]


def _existing(local: datetime) -> datetime:
    return local.replace(tzinfo=BERLIN).astimezone(UTC).astimezone(BERLIN).replace(tzinfo=None)


def _take(rule: object, limit: int) -> list[datetime]:
    return [d.replace(tzinfo=None) for d in itertools.islice(rule, limit)]  # type: ignore[call-overload]


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
        limit = {2: 29, 4: 30, 6: 30, 9: 30, 11: 30}.get(extra.get("month", 1), 31)  # type: ignore[call-overload]
        extra["day_of_month"] = draw(st.integers(1, limit))
    return Recurrence(pattern=pattern, interval=interval, **extra)


@settings(max_examples=200, deadline=None)
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


def _series_start(recurrence: Recurrence, dtstart: datetime) -> datetime:
    """The series' start as the engine keeps it: on its first occurrence (Exchange's view)."""
    local = dtstart.replace(tzinfo=None)
    first = next(iter(recurrence.dates(local.date())), local.date())
    return datetime.combine(first, local.time(), tzinfo=dtstart.tzinfo)


@settings(max_examples=200, deadline=None)
@given(
    recurrence=recurrences(),
    zone=st.sampled_from([BERLIN, NEW_YORK, AUCKLAND, UTC]),
    local=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31)).map(
        lambda d: d.replace(second=0, microsecond=0)
    ),
)
def test_rrule_round_trips_exactly_and_dateutil_reads_it(
    recurrence: Recurrence, zone: ZoneInfo, local: datetime
) -> None:
    dtstart = _series_start(recurrence, local.replace(tzinfo=zone))
    if next(recurrence.dates(dtstart.date()), None) is None:
        return  # no occurrence: the model refuses such a series before it is ever written
    text = to_rrule(recurrence, dtstart)
    assert parse_rrule(text, dtstart=dtstart) == recurrence
    expanded = rrulestr(text, dtstart=dtstart)  # raises on what RFC 5545 forbids
    first = next(iter(expanded))
    assert first.replace(tzinfo=None) == dtstart.replace(tzinfo=None)


def test_until_is_written_in_utc_at_the_last_occurrence() -> None:
    """RFC 5545: UNTIL next to a zoned DTSTART is UTC; dateutil refuses a floating one."""
    series = Recurrence(pattern="daily", end_date=date(2026, 3, 31))
    dtstart = datetime(2026, 3, 27, 9, 0, tzinfo=BERLIN)  # CET; 31 March is CEST
    assert to_rrule(series, dtstart) == "FREQ=DAILY;UNTIL=20260331T070000Z"
    auckland = datetime(2026, 3, 27, 9, 0, tzinfo=AUCKLAND)  # 09:00 NZDT is the day before in UTC
    assert to_rrule(series, auckland) == "FREQ=DAILY;UNTIL=20260330T200000Z"


@pytest.mark.parametrize(
    ("until", "last"),
    [
        ("20260310T075959Z", date(2026, 3, 9)),  # one second before 09:00 CET on the 10th
        ("20260310T080000Z", date(2026, 3, 10)),  # exactly the occurrence: inclusive
        ("20260310T225959Z", date(2026, 3, 10)),  # 23:59:59 local on the 10th
        ("20260310T230000Z", date(2026, 3, 10)),  # already the 11th locally, before 09:00
        ("20260311T080000Z", date(2026, 3, 11)),
    ],
)
def test_until_is_inclusive_at_date_time_precision_in_utc(until: str, last: date) -> None:
    dtstart = datetime(2026, 3, 1, 9, 0, tzinfo=BERLIN)
    rule = f"FREQ=DAILY;UNTIL={until}"
    recurrence = parse_rrule(rule, dtstart=dtstart)
    assert recurrence.end_date == last
    dateutil_last = list(rrulestr(rule, dtstart=dtstart))[-1]
    assert dateutil_last.date() == last


def test_until_whose_utc_date_differs_from_the_local_date() -> None:
    """Auckland's 08:00 on the 10th is the 9th in UTC: the series still ends on the 10th."""
    dtstart = datetime(2026, 6, 1, 8, 0, tzinfo=AUCKLAND)  # NZST, UTC+12
    recurrence = parse_rrule("FREQ=WEEKLY;BYDAY=WE;UNTIL=20260609T200000Z", dtstart=dtstart)
    assert recurrence.end_date == date(2026, 6, 10)
    assert list(recurrence.dates(dtstart.date()))[-1] == date(2026, 6, 10)
    assert parse_rrule("FREQ=DAILY;UNTIL=20260609T195959Z", dtstart=dtstart).end_date == date(
        2026, 6, 9
    )


def test_last_day_of_month_is_exchanges_day_31() -> None:
    dtstart = datetime(2026, 1, 31, 10, 0, tzinfo=BERLIN)
    last = parse_rrule("FREQ=MONTHLY;BYMONTHDAY=-1", dtstart=dtstart)
    assert (last.pattern, last.day_of_month) == ("absolute_monthly", 31)
    assert to_rrule(last, dtstart) == "FREQ=MONTHLY;BYMONTHDAY=-1"
    feb = parse_rrule("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=-1", dtstart=dtstart)
    assert (feb.pattern, feb.month, feb.day_of_month) == ("absolute_yearly", 2, 29)


@pytest.mark.parametrize(
    ("rule", "start", "why"),
    [
        ("FREQ=MONTHLY", datetime(2026, 1, 31, 9), "skips"),  # RFC skips February
        ("FREQ=MONTHLY;BYMONTHDAY=30", datetime(2026, 1, 30, 9), "skips"),
        ("FREQ=YEARLY", datetime(2028, 2, 29, 9), "skips"),  # RFC: leap years only
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", datetime(2028, 2, 29, 9), "skips"),
        ("FREQ=MONTHLY;BYDAY=5FR", datetime(2026, 1, 30, 9), "skips"),
        ("FREQ=YEARLY;BYMONTHDAY=1;INTERVAL=2", datetime(2026, 1, 1, 9), "one day in one month"),
        ("FREQ=YEARLY;INTERVAL=2;BYMONTH=3;BYDAY=1MO", datetime(2026, 1, 5, 9), "DTSTART's month"),
        ("FREQ=YEARLY;INTERVAL=9", datetime(2026, 1, 5, 9), "over Exchange's 99"),
        ("FREQ=MONTHLY;INTERVAL=100", datetime(2026, 1, 5, 9), "over Exchange's 99"),
        ("FREQ=DAILY;INTERVAL=1000", datetime(2026, 1, 5, 9), "over Exchange's 999"),
        ("FREQ=WEEKLY;INTERVAL=1000", datetime(2026, 1, 5, 9), "over Exchange's 999"),
        ("FREQ=DAILY;UNTIL=20260104T000000Z", datetime(2026, 1, 5, 9), "no occurrence"),
        ("FREQ=DAILY;BYHOUR=9,17", datetime(2026, 1, 5, 9), "BYHOUR"),
        ("FREQ=DAILY;BYMINUTE=30", datetime(2026, 1, 5, 9), "BYMINUTE"),
        ("FREQ=DAILY;BYSECOND=30", datetime(2026, 1, 5, 9), "BYSECOND"),
        ("FREQ=HOURLY;INTERVAL=2", datetime(2026, 1, 5, 9), "at most daily"),
        ("FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO", datetime(2026, 1, 5, 9), "week-number"),
        ("FREQ=YEARLY;BYYEARDAY=100", datetime(2026, 1, 5, 9), "day-of-year"),
        ("FREQ=WEEKLY;BYMONTH=3;BYDAY=MO", datetime(2026, 3, 2, 9), "some months"),
        ("FREQ=DAILY;BYMONTH=3", datetime(2026, 3, 2, 9), "some months"),
        ("FREQ=DAILY;INTERVAL=2;BYMONTHDAY=1", datetime(2026, 3, 1, 9), "n-th day"),
        ("FREQ=DAILY;BYSETPOS=2;BYDAY=MO", datetime(2026, 3, 2, 9), "BYSETPOS"),
        ("FREQ=DAILY;INTERVAL=7;BYDAY=TU", datetime(2026, 3, 2, 9), "no occurrence"),
        ("FREQ=DAILY;INTERVAL=3;BYDAY=MO,WE", datetime(2026, 3, 2, 9), "weekly pattern"),
        ("FREQ=WEEKLY;BYDAY=MO;BYSETPOS=2", datetime(2026, 3, 2, 9), "no occurrence"),
        ("FREQ=MONTHLY;BYMONTH=3;INTERVAL=2", datetime(2026, 2, 2, 9), "no occurrence"),
        ("FREQ=MONTHLY;BYDAY=MO;BYMONTH=3", datetime(2026, 3, 2, 9), "some months"),
        ("FREQ=MONTHLY;BYMONTHDAY=1,15", datetime(2026, 3, 1, 9), "2 days"),
        ("FREQ=MONTHLY;BYMONTH=1,7;BYMONTHDAY=1", datetime(2026, 3, 1, 9), "fixed step"),
        ("FREQ=MONTHLY;BYMONTH=2,3;BYMONTHDAY=5", datetime(2026, 3, 1, 9), "fixed step"),
        ("FREQ=YEARLY;BYDAY=-2MO", datetime(2026, 3, 1, 9), "n-th weekday"),
        ("FREQ=MONTHLY;BYDAY=6TU,-7WE", datetime(2026, 3, 1, 9), "no month has such"),
        ("FREQ=YEARLY;BYMONTH=3;BYDAY=20TU", datetime(2026, 3, 1, 9), "no month has such"),
    ],
)
def test_rules_exchange_cannot_express_are_refused_with_the_reason(
    rule: str, start: datetime, why: str
) -> None:
    with pytest.raises(UnsupportedRecurrence, match=why):
        parse_rrule(rule, dtstart=start.replace(tzinfo=BERLIN))


@pytest.mark.parametrize(
    ("rule", "why"),
    [
        ("garbage", "part 'garbage' has no value"),
        ("", "it is empty or more than one line"),
        ("FREQ=DAILY\nCOUNT=2", "it is empty or more than one line"),
        ("COUNT=2", "FREQ is missing"),
        (
            "FREQ=SOMETIMES",
            "FREQ=SOMETIMES is not one of SECONDLY, MINUTELY, HOURLY, DAILY, WEEKLY, MONTHLY, YEARLY",
        ),
        ("FREQ=DAILY;FREQ=WEEKLY", "FREQ is given twice"),
        ("FREQ=DAILY;X-NAME=1", "unknown part X-NAME"),
        ("FREQ=DAILY;COUNT=2=3", "COUNT=2=3 is not a positive whole number"),
        ("FREQ=DAILY;COUNT=", "part 'COUNT=' has no value"),
        ("FREQ=DAILY;;COUNT=2", "it has an empty part (';' twice or at the end)"),
        ("FREQ=DAILY;COUNT=2;", "it has an empty part (';' twice or at the end)"),
        ("FREQ=DAILY;BYYEARDAY=1", "BYYEARDAY cannot go with FREQ=DAILY"),
        ("FREQ=WEEKLY;BYYEARDAY=1", "BYYEARDAY cannot go with FREQ=WEEKLY"),
        ("FREQ=WEEKLY;INTERVAL=0", "INTERVAL=0 is not a positive whole number"),
        ("FREQ=WEEKLY;INTERVAL=-1", "INTERVAL=-1 is not a positive whole number"),
        ("FREQ=DAILY;COUNT=0", "COUNT=0 is not a positive whole number"),
        ("FREQ=DAILY;COUNT=2;UNTIL=20260101T000000Z", "UNTIL and COUNT exclude each other"),
        (
            "FREQ=DAILY;UNTIL=2026",
            "UNTIL=2026 must be a UTC date-time like 20261231T230000Z, since DTSTART has a time zone",
        ),
        (
            "FREQ=DAILY;UNTIL=20260310",
            "UNTIL=20260310 must be a UTC date-time like 20261231T230000Z, since DTSTART has a time zone",
        ),  # a DATE next to a zoned DTSTART
        (
            "FREQ=DAILY;UNTIL=20260310T235959",
            "UNTIL=20260310T235959 must be a UTC date-time like 20261231T230000Z, since DTSTART has a time zone",
        ),  # floating: the old bug
        ("FREQ=DAILY;UNTIL=20261340T000000Z", "UNTIL=20261340T000000Z is not a valid date-time"),
        ("FREQ=DAILY;WKST=XX", "WKST=XX is not a weekday"),
        ("FREQ=MONTHLY;BYDAY=XX", "BYDAY item 'XX' is not a weekday like MO or 2TU"),
        ("FREQ=MONTHLY;BYDAY=0MO", "BYDAY ordinal 0 is outside ±1..53"),
        ("FREQ=MONTHLY;BYDAY=54MO", "BYDAY ordinal 54 is outside ±1..53"),
        (
            "FREQ=WEEKLY;BYDAY=1MO",
            "a BYDAY ordinal (like 1MO) needs FREQ=MONTHLY or YEARLY",
        ),  # RFC: only MONTHLY and YEARLY
        ("FREQ=DAILY;BYDAY=-1FR", "a BYDAY ordinal (like 1MO) needs FREQ=MONTHLY or YEARLY"),
        ("FREQ=YEARLY;BYWEEKNO=1;BYDAY=1MO", "a BYDAY ordinal cannot go with BYWEEKNO"),
        ("FREQ=MONTHLY;BYMONTHDAY=0", "BYMONTHDAY=0 is outside ±1..31"),
        ("FREQ=MONTHLY;BYMONTHDAY=32", "BYMONTHDAY=32 is outside ±1..31"),
        ("FREQ=MONTHLY;BYMONTHDAY=-32", "BYMONTHDAY=-32 is outside ±1..31"),
        ("FREQ=MONTHLY;BYMONTHDAY=1.5", "BYMONTHDAY item '1.5' is not a number"),
        ("FREQ=YEARLY;BYMONTH=13", "BYMONTH=13 is outside 1..12"),
        ("FREQ=YEARLY;BYMONTH=-1", "BYMONTH item '-1' is not a number"),
        ("FREQ=DAILY;BYHOUR=24", "BYHOUR=24 is outside 0..23"),
        ("FREQ=DAILY;BYMINUTE=60", "BYMINUTE=60 is outside 0..59"),
        ("FREQ=DAILY;BYSECOND=61", "BYSECOND=61 is outside 0..60"),
        ("FREQ=MONTHLY;BYDAY=MO;BYSETPOS=0", "BYSETPOS=0 is outside ±1..366"),
        ("FREQ=MONTHLY;BYDAY=MO;BYSETPOS=367", "BYSETPOS=367 is outside ±1..366"),
        ("FREQ=WEEKLY;BYMONTHDAY=1", "BYMONTHDAY cannot go with FREQ=WEEKLY"),
        ("FREQ=MONTHLY;BYYEARDAY=1", "BYYEARDAY cannot go with FREQ=MONTHLY"),
        ("FREQ=MONTHLY;BYWEEKNO=1", "BYWEEKNO needs FREQ=YEARLY"),
        ("FREQ=YEARLY;BYYEARDAY=0", "BYYEARDAY=0 is outside ±1..366"),
        ("FREQ=YEARLY;BYWEEKNO=54", "BYWEEKNO=54 is outside ±1..53"),
        ("FREQ=MONTHLY;BYSETPOS=1", "BYSETPOS needs another BYxxx part"),
        ("FREQ=MONTHLY;BYSETPOS=1;COUNT=2", "BYSETPOS needs another BYxxx part"),
    ],
)
def test_malformed_rules_are_invalid_not_unsupported(rule: str, why: str) -> None:
    dtstart = datetime(2026, 3, 2, 9, 0, tzinfo=BERLIN)
    with pytest.raises(InvalidRecurrence) as raised:
        parse_rrule(rule, dtstart=dtstart)
    assert not isinstance(raised.value, UnsupportedRecurrence)
    assert str(raised.value) == f"invalid RRULE {rule!r}: {why}"
    assert (raised.value.field, raised.value.code) == ("recurrence", "INVALID_RECURRENCE")


class _NoOffset(tzinfo):
    """A tzinfo that knows no offset: as good as none."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str | None:
        return None


@pytest.mark.parametrize(
    "start", [datetime(2026, 3, 2, 9), datetime(2026, 3, 2, 9, tzinfo=_NoOffset())]
)
def test_dtstart_must_carry_its_time_zone(start: datetime) -> None:
    with pytest.raises(InvalidRecurrence, match=r"^DTSTART needs a time zone$") as parsing:
        parse_rrule("FREQ=DAILY", dtstart=start)
    with pytest.raises(InvalidRecurrence, match=r"^DTSTART needs a time zone$") as writing:
        to_rrule(Recurrence(pattern="daily"), start)
    assert parsing.value.field == writing.value.field == "recurrence"


def test_rrule_prefix_and_lower_case_are_read() -> None:
    dtstart = datetime(2026, 3, 2, 9, 0, tzinfo=BERLIN)
    assert parse_rrule("RRULE:freq=weekly;byday=mo,we", dtstart=dtstart) == Recurrence(
        pattern="weekly", weekdays=(Weekday.MONDAY, Weekday.WEDNESDAY)
    )


def test_outlook_every_weekday_and_every_n_years_map_to_exchange_patterns() -> None:
    weekdays = parse_rrule(
        "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR", dtstart=datetime(2026, 3, 2, 9, tzinfo=BERLIN)
    )
    assert weekdays.pattern == "weekly" and len(weekdays.weekdays) == 5
    every_two_years = parse_rrule(
        "FREQ=YEARLY;INTERVAL=2;BYMONTH=3;BYMONTHDAY=5",
        dtstart=datetime(2026, 3, 5, 9, tzinfo=BERLIN),
    )
    assert (every_two_years.pattern, every_two_years.interval, every_two_years.day_of_month) == (
        "absolute_monthly",
        24,
        5,
    )


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        # RFC 5545 counts BYDAY ordinals in the year when there is no BYMONTH.
        ("FREQ=YEARLY;BYDAY=1MO", ("relative_yearly", 1, DaySpec.MONDAY, WeekIndex.FIRST)),
        ("FREQ=YEARLY;BYDAY=-1FR", ("relative_yearly", 12, DaySpec.FRIDAY, WeekIndex.LAST)),
        # ... and BYMONTHDAY in every month of the year.
        ("FREQ=YEARLY;BYMONTHDAY=1", ("absolute_monthly", None, None, None)),
        ("FREQ=MONTHLY;BYDAY=MO", ("weekly", None, None, None)),  # every Monday
        ("FREQ=YEARLY;BYDAY=MO;BYMONTH=1,2,3,4,5,6,7,8,9,10,11,12", ("weekly", None, None, None)),
        (
            "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
            ("relative_monthly", None, DaySpec.WEEKDAY, WeekIndex.LAST),
        ),
        ("FREQ=MONTHLY;BYMONTHDAY=28,29,30,31;BYSETPOS=-1", ("absolute_monthly", None, None, None)),
    ],
)
def test_yearly_and_monthly_rules_mean_what_rfc_5545_says(
    rule: str, expected: tuple[object, ...]
) -> None:
    dtstart = datetime(2026, 1, 1, 9, 0, tzinfo=NEW_YORK)
    recurrence = parse_rrule(rule, dtstart=dtstart)
    assert (recurrence.pattern, recurrence.month, recurrence.day, recurrence.week_index) == expected
    assert list(itertools.islice(recurrence.dates(dtstart.date()), 30)) == [
        d.date() for d in itertools.islice(rrulestr(rule, dtstart=dtstart), 30)
    ]
