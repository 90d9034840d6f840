"""R2: a rule is refused only when no Exchange pattern gives exactly its dates.

Two classes the oracle test (test_recurrence_oracle.py) once found refused although a pattern fits:
- every n days on some weekdays whose days fit in one week only when the week starts on another
  day than DTSTART's (`FREQ=DAILY;INTERVAL=3;BYDAY=WE,TH;WKST=TU` from a Wednesday is every 3 weeks
  on Wednesday and Thursday, weeks starting on Thursday);
- a finite rule (COUNT or UNTIL) whose own dates a pattern gives, although the rule without its end
  has none (one date, two dates, a daily series inside one month, 29 February up to 2096...);
- COUNT over Exchange's 999 numbered occurrences, which an end date expresses.
Each accepted rule is checked against dateutil over its whole finite series and round-trips.
"""

from __future__ import annotations

import itertools
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr

from engine.recurrence import (
    Recurrence,
    UnsupportedRecurrence,
    local_occurrence_starts,
    parse_rrule,
    to_rrule,
)

AUCKLAND = ZoneInfo("Pacific/Auckland")
BERLIN = ZoneInfo("Europe/Berlin")
# The failure the oracle test found (Pacific/Auckland, the week after its DST change).
FOUND = datetime(2026, 4, 1, 12, 28, 18, tzinfo=AUCKLAND)
FOUND_RULE = "FREQ=DAILY;INTERVAL=3;BYDAY=WE,TH;WKST=TU"
MON = datetime(2026, 3, 2, 9, 0, tzinfo=BERLIN)  # a Monday
LEAP_DAY = datetime(2028, 2, 29, 9, 0, tzinfo=BERLIN)


def assert_exact(rule: str, dtstart: datetime, limit: int = 5000) -> Recurrence:
    """parse_rrule accepts `rule`, and its expansion is dateutil's, all of it; it round-trips."""
    recurrence = parse_rrule(rule, dtstart=dtstart)
    expected = [
        d.replace(tzinfo=None) for d in itertools.islice(rrulestr(rule, dtstart=dtstart), limit)
    ]
    ours = list(
        itertools.islice(local_occurrence_starts(recurrence, dtstart.replace(tzinfo=None)), limit)
    )
    assert ours == expected
    assert parse_rrule(to_rrule(recurrence, dtstart), dtstart=dtstart) == recurrence
    return recurrence


@pytest.mark.parametrize(
    "rule",
    [FOUND_RULE, *(f"{FOUND_RULE};COUNT={n}" for n in range(1, 7))]
    + [f"{FOUND_RULE};UNTIL={until}" for until in ("20260401T002818Z", "20260416T002817Z")],
)
def test_r2_every_n_days_on_weekdays_found_by_the_oracle_is_converted(rule: str) -> None:
    recurrence = assert_exact(rule, FOUND, limit=300)
    if "COUNT" not in rule and "UNTIL" not in rule:
        assert recurrence.pattern == "weekly"
        assert recurrence.interval == 3
        assert recurrence.first_day_of_week == "thursday"


@pytest.mark.parametrize(
    ("rule", "dtstart"),
    [
        # Every 3 days on Monday and Tuesday from a Monday: days 0 and 15 of 21, a week from Tuesday.
        ("FREQ=DAILY;INTERVAL=3;BYDAY=MO,TU", MON),
        ("FREQ=DAILY;INTERVAL=2;BYDAY=SA,MO", MON),
        ("FREQ=DAILY;INTERVAL=5;BYDAY=MO,SA", MON),
        ("FREQ=DAILY;INTERVAL=3;BYDAY=MO,FR", MON),  # once expected refused
    ],
)
def test_r2_every_n_days_on_weekdays_in_a_week_from_another_start_is_weekly(
    rule: str, dtstart: datetime
) -> None:
    assert assert_exact(rule, dtstart, limit=300).pattern == "weekly"


@pytest.mark.parametrize(
    ("rule", "dtstart"),
    [
        ("FREQ=YEARLY;BYYEARDAY=100;COUNT=1", MON),  # one date: a pattern starting there
        ("FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO;COUNT=1", MON),
        ("FREQ=MONTHLY;BYMONTHDAY=1,15;COUNT=2", datetime(2026, 3, 1, 9, tzinfo=BERLIN)),
        ("FREQ=DAILY;BYMONTH=3;COUNT=10", MON),  # inside March: every day
        ("FREQ=DAILY;BYMONTH=3;UNTIL=20260331T080000Z", MON),
        ("FREQ=DAILY;BYHOUR=9;BYMONTH=3,4;COUNT=40", MON),
        ("FREQ=WEEKLY;BYMONTH=3;BYDAY=MO;COUNT=5", MON),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;COUNT=18", LEAP_DAY),  # up to 2096
        ("FREQ=DAILY;INTERVAL=7;BYDAY=MO;BYMONTH=3;COUNT=3", MON),
        ("FREQ=DAILY;COUNT=1000", MON),  # over 999 numbered: an end date
        ("FREQ=WEEKLY;BYDAY=MO,TH;COUNT=1500", MON),
    ],
)
def test_r2_finite_rule_whose_dates_a_pattern_gives_is_converted(
    rule: str, dtstart: datetime
) -> None:
    assert_exact(rule, dtstart)


def test_r2_count_over_999_ends_at_the_date_of_its_last_occurrence() -> None:
    recurrence = parse_rrule("FREQ=DAILY;COUNT=1000", dtstart=MON)
    assert recurrence.count is None
    assert recurrence.end_date == date(2028, 11, 25)


@pytest.mark.parametrize(
    ("rule", "dtstart", "why"),
    [
        ("FREQ=DAILY;INTERVAL=3;BYDAY=MO,WE", MON, "weekly pattern"),
        ("FREQ=DAILY;INTERVAL=3;BYDAY=MO,WE;COUNT=3", MON, "weekly pattern"),
        ("FREQ=MONTHLY;BYMONTHDAY=1,15;COUNT=3", datetime(2026, 3, 1, 9, tzinfo=BERLIN), "2 days"),
        # 2100 has no 29 February: RFC 5545 skips it, Exchange would take the 28th.
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;COUNT=19", LEAP_DAY, "February"),
        ("FREQ=DAILY;BYHOUR=9,17;COUNT=4", MON, "BYHOUR"),
        ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30;COUNT=2", MON, "no occurrence"),
        ("FREQ=HOURLY;INTERVAL=2;COUNT=3", MON, "at most daily"),
    ],
)
def test_r2_finite_rule_no_pattern_gives_is_still_refused(
    rule: str, dtstart: datetime, why: str
) -> None:
    with pytest.raises(UnsupportedRecurrence, match=why):
        parse_rrule(rule, dtstart=dtstart)


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=WEEKLY;INTERVAL=500;BYDAY=MO,SA;WKST=SU",
        "FREQ=WEEKLY;INTERVAL=997;BYDAY=TU,WE,TH;WKST=WE",
        "FREQ=DAILY;INTERVAL=999",
    ],
)
def test_r2_count_over_999_ends_where_the_series_counted_one_by_one_ends(rule: str) -> None:
    """The end date skips whole weeks; it is the n-th date of the expansion, up to its end."""
    first = MON.date()
    dates = list(parse_rrule(rule, dtstart=MON).dates(first))
    assert 700 < len(dates) < 3000  # the calendar's end (year 9999) is reached
    for n in [1000, 1001, *range(len(dates) - 3, len(dates) + 3)]:
        counted = parse_rrule(f"{rule};COUNT={n}", dtstart=MON)
        assert counted.end_date == (dates[n - 1] if n <= len(dates) else None)


NEW_YEAR = datetime(2026, 1, 1, 9, 0, tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("rule", "pattern"),
    [
        ("FREQ=YEARLY;BYYEARDAY=1", "absolute_yearly"),  # 1 January
        ("FREQ=YEARLY;BYYEARDAY=-1", "absolute_yearly"),  # 31 December
        ("FREQ=YEARLY;BYYEARDAY=32", "absolute_yearly"),  # 1 February
        ("FREQ=YEARLY;BYYEARDAY=-306", "absolute_yearly"),  # 1 March
        ("FREQ=YEARLY;BYWEEKNO=1;BYDAY=TH", "relative_yearly"),  # ISO week 1: first Thursday
        ("FREQ=YEARLY;BYWEEKNO=-1;BYDAY=TH", "relative_yearly"),  # last week: last Thursday
        ("FREQ=YEARLY;INTERVAL=2;BYYEARDAY=1", "absolute_monthly"),  # every 24 months
    ],
)
def test_r2_day_of_year_or_week_number_a_pattern_gives_is_converted(
    rule: str, pattern: str
) -> None:
    assert assert_exact(rule, NEW_YEAR, limit=500).pattern == pattern


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=YEARLY;BYYEARDAY=60",  # 29 February or 1 March
        "FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO",
        "FREQ=YEARLY;INTERVAL=9;BYYEARDAY=1",  # every 108 months: over Exchange's 99
    ],
)
def test_r2_day_of_year_or_week_number_no_pattern_gives_is_refused(rule: str) -> None:
    with pytest.raises(UnsupportedRecurrence, match="day-of-year or week-number"):
        parse_rrule(rule, dtstart=NEW_YEAR)
