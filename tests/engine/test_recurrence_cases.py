"""parse_rrule case by case: each branch of the conversion, with the pattern it must give (R2).

Every accepted case is also expanded and compared with dateutil, so a case cannot pin a wrong
answer; the refused ones name their reason. Written against the mutants mutation testing left.
"""

from __future__ import annotations

import itertools
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr

from engine.recurrence import (
    DaySpec,
    Recurrence,
    UnsupportedRecurrence,
    Weekday,
    WeekIndex,
    local_occurrence_starts,
    parse_rrule,
    to_rrule,
)
from engine.recurrence_pattern import exchange_day
from engine.rrule_parts import split_rrule

BERLIN = ZoneInfo("Europe/Berlin")
MON = datetime(2026, 3, 2, 9, 0, tzinfo=BERLIN)  # a Monday
WED = datetime(2026, 3, 4, 9, 0, tzinfo=BERLIN)
JAN = datetime(2026, 1, 5, 9, tzinfo=BERLIN)
MO, TU, WE, TH, FR, SA, SU = list(Weekday)

ACCEPTED: list[tuple[str, datetime, dict[str, Any]]] = [
    ("FREQ=DAILY;INTERVAL=2;BYDAY=MO,TU,WE,TH,FR,SA,SU", MON, {"pattern": "daily", "interval": 2}),
    ("FREQ=DAILY;INTERVAL=14;BYDAY=MO,FR", MON, {"pattern": "daily", "interval": 14}),
    ("FREQ=DAILY;INTERVAL=7;BYDAY=WE", WED, {"pattern": "daily", "interval": 7}),
    ("FREQ=DAILY;BYDAY=MO,WE", MON, {"pattern": "weekly", "weekdays": (MO, WE)}),
    (
        "FREQ=DAILY;INTERVAL=3;BYDAY=MO,TH",
        MON,
        {"pattern": "weekly", "interval": 3, "weekdays": (MO, TH), "first_day_of_week": MO},
    ),
    (
        "FREQ=DAILY;INTERVAL=2;BYDAY=WE,FR",
        WED,
        {"pattern": "weekly", "interval": 2, "weekdays": (WE, FR), "first_day_of_week": WE},
    ),
    ("FREQ=DAILY;BYSETPOS=-1;BYDAY=MO", MON, {"pattern": "weekly", "weekdays": (MO,)}),
    ("FREQ=DAILY;BYSETPOS=1,3;BYDAY=MO", MON, {"pattern": "weekly", "weekdays": (MO,)}),
    ("FREQ=DAILY;BYMONTHDAY=15", MON, {"pattern": "absolute_monthly", "day_of_month": 15}),
    ("FREQ=DAILY;BYHOUR=9;BYMINUTE=0;BYSECOND=0", MON, {"pattern": "daily"}),
    (
        "FREQ=DAILY;BYMONTHDAY=1;BYMONTH=3;BYSETPOS=1",
        MON,
        {"pattern": "absolute_monthly", "interval": 12, "day_of_month": 1},  # from March
    ),
    ("FREQ=DAILY;BYMONTH=1,2,3,4,5,6,7,8,9,10,11,12", MON, {"pattern": "daily"}),
    (
        "FREQ=WEEKLY;BYDAY=MO,WE,FR;BYSETPOS=2",
        MON,
        {"pattern": "weekly", "weekdays": (WE,)},
    ),
    (
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE,FR;BYSETPOS=-1;WKST=SU",
        MON,
        {"pattern": "weekly", "interval": 2, "weekdays": (FR,), "first_day_of_week": SU},
    ),
    (
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=SU,MO;BYSETPOS=1;WKST=SU",
        datetime(2026, 3, 1, 9, 0, tzinfo=BERLIN),
        {"pattern": "weekly", "interval": 2, "weekdays": (SU,), "first_day_of_week": SU},
    ),
    ("FREQ=WEEKLY;INTERVAL=999", MON, {"pattern": "weekly", "interval": 999, "weekdays": (MO,)}),
    ("FREQ=DAILY;INTERVAL=999", MON, {"pattern": "daily", "interval": 999}),
    ("FREQ=MONTHLY;INTERVAL=99", MON, {"pattern": "absolute_monthly", "interval": 99, "day_of_month": 2}),
    ("FREQ=MONTHLY;BYMONTHDAY=-1", MON, {"pattern": "absolute_monthly", "day_of_month": 31}),
    (
        "FREQ=MONTHLY;BYMONTHDAY=28,29,30;BYSETPOS=-1",
        MON,
        {"pattern": "absolute_monthly", "day_of_month": 30},
    ),
    ("FREQ=MONTHLY;BYMONTHDAY=29,28;BYSETPOS=-1", MON, {"pattern": "absolute_monthly", "day_of_month": 29}),
    (
        "FREQ=MONTHLY;BYMONTH=4;INTERVAL=12;BYMONTHDAY=-1",
        datetime(2026, 4, 30, 9, 0, tzinfo=BERLIN),
        {"pattern": "absolute_monthly", "interval": 12, "day_of_month": 31},
    ),
    (
        "FREQ=MONTHLY;BYMONTH=3;BYMONTHDAY=5",
        datetime(2026, 1, 5, 9, 0, tzinfo=BERLIN),
        {"pattern": "absolute_yearly", "day_of_month": 5, "month": 3},
    ),
    (
        "FREQ=MONTHLY;BYMONTH=1,4,7,10;BYDAY=-1FR",
        datetime(2026, 1, 30, 9, 0, tzinfo=BERLIN),
        {"pattern": "relative_monthly", "interval": 3, "day": DaySpec.FRIDAY,
         "week_index": WeekIndex.LAST},
    ),
    (
        "FREQ=MONTHLY;BYDAY=SA,SU;BYSETPOS=2",
        MON,
        {"pattern": "relative_monthly", "day": DaySpec.WEEKEND_DAY, "week_index": WeekIndex.SECOND},
    ),
    (
        "FREQ=MONTHLY;BYDAY=TU;BYSETPOS=3",
        MON,
        {"pattern": "relative_monthly", "day": DaySpec.TUESDAY, "week_index": WeekIndex.THIRD},
    ),
    (
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR,SA,SU;BYSETPOS=4",
        MON,
        {"pattern": "relative_monthly", "day": DaySpec.DAY, "week_index": WeekIndex.FOURTH},
    ),
    ("FREQ=MONTHLY;BYMONTHDAY=4", MON, {"pattern": "absolute_monthly", "day_of_month": 4}),
    (
        "FREQ=MONTHLY;BYDAY=4SA",
        MON,
        {"pattern": "relative_monthly", "day": DaySpec.SATURDAY, "week_index": WeekIndex.FOURTH},
    ),
    ("FREQ=MONTHLY;BYDAY=TH,TU;BYMONTH=1,2,3,4,5,6,7,8,9,10,11,12", MON,
     {"pattern": "weekly", "weekdays": (TU, TH)}),
    (
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=28,29;BYSETPOS=-1",
        MON,
        {"pattern": "absolute_yearly", "day_of_month": 29, "month": 2},
    ),
    (
        "FREQ=YEARLY;BYMONTH=4;BYMONTHDAY=-1",
        MON,
        {"pattern": "absolute_yearly", "day_of_month": 30, "month": 4},
    ),
    (
        "FREQ=YEARLY;BYMONTH=9;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=1",
        MON,
        {"pattern": "relative_yearly", "day": DaySpec.WEEKDAY, "week_index": WeekIndex.FIRST,
         "month": 9},
    ),
    (
        "FREQ=YEARLY;BYDAY=2WE",
        MON,
        {"pattern": "relative_yearly", "day": DaySpec.WEDNESDAY, "week_index": WeekIndex.SECOND,
         "month": 1},
    ),
    (
        "FREQ=YEARLY;INTERVAL=8",
        MON,
        {"pattern": "absolute_monthly", "interval": 96, "day_of_month": 2},
    ),
    (
        "FREQ=YEARLY;INTERVAL=3;BYMONTH=3;BYDAY=-1SU",
        MON,
        {"pattern": "relative_monthly", "interval": 36, "day": DaySpec.SUNDAY,
         "week_index": WeekIndex.LAST},
    ),
    (
        "FREQ=YEARLY;BYMONTH=1,4,7,10;BYMONTHDAY=2",
        datetime(2026, 1, 2, 9, 0, tzinfo=BERLIN),
        {"pattern": "absolute_monthly", "interval": 3, "day_of_month": 2},
    ),
    (
        "FREQ=YEARLY;BYMONTH=1,2,3,4,5,6,7,8,9,10,11,12;BYDAY=1MO",  # ordinals in each month
        MON,
        {"pattern": "relative_monthly", "day": DaySpec.MONDAY, "week_index": WeekIndex.FIRST},
    ),
    (
        "FREQ=MONTHLY;BYMONTH=1,7;BYMONTHDAY=5",
        JAN,
        {"pattern": "absolute_monthly", "interval": 6, "day_of_month": 5},
    ),
    (
        "FREQ=MONTHLY;BYMONTH=4;BYMONTHDAY=-1",
        JAN,
        {"pattern": "absolute_yearly", "day_of_month": 30, "month": 4},
    ),
    (
        "FREQ=MONTHLY;BYMONTH=3;BYDAY=-1SU",
        JAN,
        {"pattern": "relative_yearly", "day": DaySpec.SUNDAY, "week_index": WeekIndex.LAST,
         "month": 3},
    ),
    (
        "FREQ=MONTHLY;INTERVAL=12;BYMONTHDAY=28,29,30;BYSETPOS=-1",
        datetime(2026, 2, 2, 9, tzinfo=BERLIN),
        {"pattern": "absolute_monthly", "interval": 12, "day_of_month": 30},
    ),
    (
        "FREQ=WEEKLY;BYDAY=MO,WE,FR;BYSETPOS=-1;WKST=SU",
        datetime(2026, 3, 5, 9, tzinfo=BERLIN),
        {"pattern": "weekly", "weekdays": (FR,)},
    ),
    (
        "FREQ=WEEKLY;BYDAY=TU,SA;BYSETPOS=1;WKST=WE",
        WED,
        {"pattern": "weekly", "weekdays": (SA,)},
    ),
    (
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,SA;BYSETPOS=-1;WKST=SA",
        datetime(2026, 3, 9, 9, tzinfo=BERLIN),
        {"pattern": "weekly", "interval": 2, "weekdays": (TU,), "first_day_of_week": SA},
    ),
    (
        "FREQ=DAILY;INTERVAL=3;BYDAY=MO,SU",  # Sunday is the 6th day: still DTSTART's week
        MON,
        {"pattern": "weekly", "interval": 3, "weekdays": (MO, SU), "first_day_of_week": MO},
    ),
    (
        "FREQ=MONTHLY;BYMONTHDAY=1;BYDAY=MO,TU,WE,TH,FR,SA,SU",  # the form decides: day 1
        MON,
        {"pattern": "absolute_monthly", "day_of_month": 1},
    ),
    (
        "FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=2;UNTIL=20300302T080000Z",
        MON,
        {"pattern": "absolute_yearly", "day_of_month": 2, "month": 3, "end_date": date(2030, 3, 2)},
    ),
]  # fmt: skip


@pytest.mark.parametrize(("rule", "start", "fields"), ACCEPTED, ids=[a[0] for a in ACCEPTED])
def test_each_accepted_shape_gives_its_exchange_pattern(
    rule: str, start: datetime, fields: dict[str, Any]
) -> None:
    recurrence = parse_rrule(rule, dtstart=start)
    assert recurrence == Recurrence(**fields)
    ours = list(itertools.islice(recurrence.dates(start.date()), 60))
    theirs = [d.date() for d in itertools.islice(rrulestr(rule, dtstart=start), 60)]
    assert ours == theirs
    assert parse_rrule(to_rrule(recurrence, start), dtstart=start) == recurrence


TUE = datetime(2026, 3, 3, 9, 0, tzinfo=BERLIN)
REFUSED = [
    ("FREQ=DAILY;BYMONTHDAY=1,15;BYSETPOS=1", MON,
     "it picks 2 days in a January; Exchange picks one a month"),
    ("FREQ=DAILY;INTERVAL=2;BYDAY=MO,TU,WE", MON, "every 2 days on 3 weekdays fits no weekly pattern"),
    ("FREQ=WEEKLY;BYDAY=MO,TH;BYSETPOS=1;WKST=SU", TUE,
     "BYSETPOS counts differently in the week DTSTART cuts short"),
    ("FREQ=WEEKLY;BYDAY=SU,MO;BYSETPOS=2;WKST=SU", MON,
     "BYSETPOS counts differently in the week DTSTART cuts short"),
    ("FREQ=YEARLY;BYDAY=53MO", MON, "it does not pick one day in one month every year"),
    ("FREQ=MONTHLY;INTERVAL=99;BYMONTH=3", MON, "a monthly interval of 396 is over Exchange's 99"),
    ("FREQ=DAILY;INTERVAL=14;BYDAY=TU,FR", MON,
     "BYDAY never falls on the days INTERVAL reaches: no occurrence"),
    ("FREQ=DAILY;INTERVAL=3;BYDAY=MO,WE", MON, "every 3 days on 2 weekdays fits no weekly pattern"),
    ("FREQ=DAILY;BYSETPOS=2,-2;BYMONTHDAY=1", MON,
     "BYSETPOS picks no occurrence from a day's one candidate"),
    ("FREQ=DAILY;INTERVAL=2;BYMONTHDAY=1", MON,
     "every n-th day limited to days of the month fits no Exchange pattern"),
    ("FREQ=DAILY;BYMONTH=3", MON, "Exchange cannot limit a daily series to some months"),
    ("FREQ=DAILY;INTERVAL=1000", MON, "a daily interval of 1000 is over Exchange's 999"),
    ("FREQ=WEEKLY;BYMONTH=3", MON, "Exchange cannot limit a weekly series to some months"),
    ("FREQ=WEEKLY;INTERVAL=1000", MON, "a weekly interval of 1000 is over Exchange's 999"),
    ("FREQ=WEEKLY;BYDAY=MO,FR;BYSETPOS=3,-3", MON, "BYSETPOS picks no day of the week: no occurrence"),
    # dateutil counts BYSETPOS=1 in DTSTART's cut week from Wednesday: Wednesday, not Monday.
    ("FREQ=WEEKLY;BYDAY=MO,WE;BYSETPOS=1", WED,
     "BYSETPOS counts differently in the week DTSTART cuts short"),
    ("FREQ=MONTHLY;INTERVAL=12;BYMONTH=3", JAN,
     "BYMONTH never meets the months INTERVAL reaches: no occurrence"),
    ("FREQ=MONTHLY;BYMONTH=3,6", MON, "its months are no fixed step from DTSTART's month"),
    ("FREQ=MONTHLY;BYMONTH=3,4;BYMONTHDAY=5", MON, "its months are no fixed step from DTSTART's month"),
    ("FREQ=MONTHLY;INTERVAL=100", MON, "a monthly interval of 100 is over Exchange's 99"),
    ("FREQ=MONTHLY;INTERVAL=2;BYDAY=MO", MON,
     "every such weekday in some months only fits no Exchange pattern"),
    ("FREQ=MONTHLY;BYMONTHDAY=1,15", MON, "it picks 2 days in a January; Exchange picks one a month"),
    ("FREQ=MONTHLY;BYDAY=MO,TU;BYSETPOS=1", MON,
     "no day of month or n-th weekday of Exchange picks the same days"),
    ("FREQ=MONTHLY;BYMONTHDAY=2;BYSETPOS=1;BYDAY=5MO", MON,
     "no month it reaches ever has its day: no occurrence"),
    ("FREQ=MONTHLY;BYDAY=6MO", MON, "no month has such a weekday"),
    ("FREQ=YEARLY;INTERVAL=2;BYMONTH=3;BYMONTHDAY=5", JAN,
     "Exchange repeats every n years as every 12n months from DTSTART's month"),
    ("FREQ=YEARLY;INTERVAL=9", MON, "a monthly interval of 108 is over Exchange's 99"),
    ("FREQ=YEARLY;INTERVAL=2;BYMONTH=1,7;BYMONTHDAY=1", MON,
     "it does not pick one day in one month every year"),
    ("FREQ=YEARLY;BYDAY=MO;BYSETPOS=1,2", MON, "it does not pick one day in one month every year"),
    ("FREQ=YEARLY;BYDAY=5MO", MON, "it does not pick one day in one month every year"),
    ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", MON,
     "no month it reaches ever has its day: no occurrence"),
    ("FREQ=YEARLY;BYYEARDAY=60", MON, "Exchange has no day-of-year or week-number patterns"),
    ("FREQ=DAILY;BYMINUTE=0,30", MON, "BYMINUTE other than DTSTART's; every occurrence starts at its time"),
    ("FREQ=DAILY;BYHOUR=10", MON, "BYHOUR other than DTSTART's; every occurrence starts at its time"),
    ("FREQ=DAILY;BYSECOND=1", MON, "BYSECOND other than DTSTART's; every occurrence starts at its time"),
    ("FREQ=SECONDLY", MON, "Exchange repeats a series at most daily"),
    ("FREQ=MINUTELY", MON, "Exchange repeats a series at most daily"),
    ("FREQ=DAILY;UNTIL=20260302T075959Z", MON, "it has no occurrence from DTSTART on"),
]  # fmt: skip


@pytest.mark.parametrize(("rule", "start", "why"), REFUSED, ids=[r[0] for r in REFUSED])
def test_each_refused_shape_names_its_reason(rule: str, start: datetime, why: str) -> None:
    with pytest.raises(UnsupportedRecurrence) as raised:
        parse_rrule(rule, dtstart=start)
    assert str(raised.value) == f"Exchange cannot express RRULE {rule!r}: {why}"
    assert raised.value.field == "recurrence"
    assert raised.value.code == "UNSUPPORTED_RECURRENCE"


def test_first_day_of_week_matters_only_where_it_changes_dates() -> None:
    biweekly = parse_rrule("FREQ=WEEKLY;INTERVAL=2;BYDAY=TU;WKST=SU", dtstart=MON)
    assert biweekly.first_day_of_week is SU
    weekly = parse_rrule("FREQ=WEEKLY;BYDAY=TU;WKST=SU", dtstart=MON)
    assert weekly.first_day_of_week is MO  # every week: the first day changes nothing
    assert to_rrule(weekly, MON) == "FREQ=WEEKLY;BYDAY=TU"
    assert to_rrule(biweekly, MON) == "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU;WKST=SU"


@pytest.mark.parametrize(
    ("recurrence", "text"),
    [
        (Recurrence(pattern="absolute_monthly", day_of_month=28), "FREQ=MONTHLY;BYMONTHDAY=28"),
        (
            Recurrence(pattern="absolute_monthly", day_of_month=29),
            "FREQ=MONTHLY;BYMONTHDAY=28,29;BYSETPOS=-1",
        ),
        (Recurrence(pattern="absolute_monthly", day_of_month=31), "FREQ=MONTHLY;BYMONTHDAY=-1"),
        (
            Recurrence(pattern="absolute_yearly", day_of_month=30, month=4),
            "FREQ=YEARLY;BYMONTH=4;BYMONTHDAY=30",
        ),
        (
            Recurrence(pattern="absolute_yearly", day_of_month=29, month=2),
            "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=28,29;BYSETPOS=-1",
        ),
        (
            Recurrence(pattern="relative_yearly", day=DaySpec.DAY, week_index=WeekIndex.LAST,
                       month=2),
            "FREQ=YEARLY;BYMONTH=2;BYDAY=MO,TU,WE,TH,FR,SA,SU;BYSETPOS=-1",
        ),
        (
            Recurrence(pattern="weekly", interval=3, weekdays=(MO, FR), count=5),
            "FREQ=WEEKLY;INTERVAL=3;BYDAY=MO,FR;COUNT=5;WKST=MO",
        ),
    ],
)  # fmt: skip
def test_to_rrule_writes_the_shortest_exact_rule(recurrence: Recurrence, text: str) -> None:
    assert to_rrule(recurrence, MON) == text


def test_exchange_day_clamps_and_counts_like_exchange() -> None:
    assert exchange_day(2026, 2, 31, None, None) == date(2026, 2, 28)
    assert exchange_day(2028, 2, 30, None, None) == date(2028, 2, 29)
    assert exchange_day(2026, 3, 1, None, None) == date(2026, 3, 1)
    assert exchange_day(2026, 3, None, DaySpec.MONDAY, WeekIndex.FIRST) == date(2026, 3, 2)
    assert exchange_day(2026, 3, None, DaySpec.MONDAY, WeekIndex.FOURTH) == date(2026, 3, 23)
    assert exchange_day(2026, 3, None, DaySpec.MONDAY, WeekIndex.LAST) == date(2026, 3, 30)
    assert exchange_day(2026, 8, None, DaySpec.WEEKEND_DAY, WeekIndex.FIRST) == date(2026, 8, 1)
    assert exchange_day(2026, 8, None, DaySpec.WEEKDAY, WeekIndex.LAST) == date(2026, 8, 31)


def test_rule_parts_keep_what_the_text_says() -> None:
    parts = split_rrule("FREQ=MONTHLY;INTERVAL=3;COUNT=4;WKST=SU;BYDAY=-1FR,MO;BYSETPOS=1,-1")
    assert (parts.freq, parts.interval, parts.count, parts.until, parts.wkst) == (
        "MONTHLY",
        3,
        4,
        None,
        6,
    )
    assert parts.byday == frozenset({(-1, 4), (None, 0)})
    assert parts.by("BYSETPOS") == frozenset({1, -1})
    assert parts.by("BYMONTHDAY") == frozenset()
    until = split_rrule("FREQ=DAILY;UNTIL=20261231T235959Z").until
    assert until is not None and until.isoformat() == "2026-12-31T23:59:59+00:00"


def test_until_at_the_ends_of_time() -> None:
    auckland = datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("Pacific/Auckland"))
    # 9999-12-31 23:00 UTC is already the year 10000 in Auckland: the series runs to the end.
    assert parse_rrule("FREQ=DAILY;UNTIL=99991231T230000Z", dtstart=auckland).end_date == date.max
    new_york = datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("America/New_York"))
    for until in ("00010101T000000Z", "00010101T050000Z", "00010102T000000Z"):
        with pytest.raises(UnsupportedRecurrence, match="no occurrence"):
            parse_rrule(f"FREQ=DAILY;UNTIL={until}", dtstart=new_york)


def test_until_counts_whole_seconds_and_the_first_of_a_repeated_hour() -> None:
    """dateutil drops DTSTART's microseconds; 02:30 on the autumn change is the first 02:30."""
    fraction = datetime(2026, 3, 2, 9, 0, 0, 500000, tzinfo=BERLIN)
    assert parse_rrule("FREQ=DAILY;UNTIL=20260310T080000Z", dtstart=fraction).end_date == date(
        2026, 3, 10
    )
    night = datetime(2026, 10, 20, 2, 30, tzinfo=BERLIN)
    rule = "FREQ=DAILY;UNTIL=20261025T003000Z"  # 02:30 CEST, before the clocks go back
    assert parse_rrule(rule, dtstart=night).end_date == date(2026, 10, 25)
    assert list(rrulestr(rule, dtstart=night))[-1].date() == date(2026, 10, 25)
    weekly = parse_rrule("FREQ=DAILY;COUNT=2", dtstart=night)
    assert (
        to_rrule(weekly.model_copy(update={"count": None, "end_date": date(2026, 10, 25)}), night)
        == rule
    )


def test_expansion_stops_at_until_and_before_the_year_9999() -> None:
    daily = Recurrence(pattern="daily")
    assert list(daily.dates(date(2026, 3, 2), until=date(2026, 3, 4))) == [
        date(2026, 3, 2),
        date(2026, 3, 3),
        date(2026, 3, 4),
    ]
    assert list(daily.dates(date(9998, 12, 30))) == [date(9998, 12, 30), date(9998, 12, 31)]
    sundays = Recurrence(pattern="weekly", weekdays=(SU,))
    assert list(sundays.dates(date(9998, 12, 20))) == [
        date(9998, 12, 20),
        date(9998, 12, 27),
        date(9999, 1, 3),  # in the week that starts in 9998
    ]
    new_year = Recurrence(pattern="absolute_yearly", day_of_month=1, month=1)
    assert list(new_year.dates(date(9997, 6, 1))) == [date(9998, 1, 1)]


def test_weeks_count_from_the_first_day_of_week_before_the_start() -> None:
    """Every other week from Sunday, started on a Monday: week 0 runs Sunday 1 to Saturday 7."""
    weekends = Recurrence(pattern="weekly", interval=2, weekdays=(SA, SU), first_day_of_week=SU)
    assert list(itertools.islice(weekends.dates(date(2026, 3, 2)), 3)) == [
        date(2026, 3, 7),
        date(2026, 3, 15),
        date(2026, 3, 21),
    ]
    rule = to_rrule(weekends, datetime(2026, 3, 7, 9, 0, tzinfo=BERLIN))
    assert [d.date() for d in itertools.islice(rrulestr(rule, dtstart=MON), 3)] == [
        date(2026, 3, 7),
        date(2026, 3, 15),
        date(2026, 3, 21),
    ]


@pytest.mark.parametrize(
    ("rule", "dtstart", "dates"),
    [
        # February never has a 30th or 31st: RFC 5545 never generates it, so March alone remains.
        ("FREQ=MONTHLY;BYMONTH=2,3", datetime(2026, 1, 31, 9, tzinfo=BERLIN), ["2026-03-31"]),
        (
            "FREQ=MONTHLY;BYMONTH=2,3;COUNT=1",
            datetime(2026, 3, 31, 9, tzinfo=BERLIN),
            ["2026-03-31"],
        ),
        (
            "FREQ=MONTHLY;BYMONTHDAY=30;BYMONTH=2,4",
            datetime(2026, 3, 2, 9, tzinfo=BERLIN),
            ["2026-04-30", "2027-04-30"],
        ),
    ],
)
def test_a_month_that_never_has_the_day_is_left_out_not_refused(
    rule: str, dtstart: datetime, dates: list[str]
) -> None:
    """Found by the dateutil oracle: only a month that lacks the day in some years (29 February)
    is beyond Exchange; one that never has it is never an occurrence on either side."""
    recurrence = parse_rrule(rule, dtstart=dtstart)
    expected = list(itertools.islice(rrulestr(rule, dtstart=dtstart), 12))
    local = dtstart.replace(tzinfo=None)
    ours = list(itertools.islice(local_occurrence_starts(recurrence, local), len(expected) + 1))
    assert ours[: len(expected)] == [d.replace(tzinfo=None) for d in expected]
    assert len(ours) == len(expected) or "COUNT" not in rule
    assert [d.date().isoformat() for d in expected[: len(dates)]] == dates


def test_a_month_that_lacks_the_day_in_some_years_is_refused() -> None:
    with pytest.raises(UnsupportedRecurrence, match="skips a February"):
        parse_rrule("FREQ=MONTHLY;BYMONTH=2,3", dtstart=datetime(2026, 3, 29, 9, tzinfo=BERLIN))
