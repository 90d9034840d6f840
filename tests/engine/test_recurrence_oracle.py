"""parse_rrule against python-dateutil on generated rules and zoned starts (R2).

For every generated RFC 5545 rule and DTSTART (Europe/Berlin across DST, America/New_York,
Pacific/Auckland, UTC, all-day midnight):
- accepted: Exchange's expansion of the pattern (`local_occurrence_starts` in the zone) gives
  dateutil's occurrences — dates, wall-clock times, UTC instants — and, for a finite rule, the
  same number of them;
- refused as unsupported: the rule has no occurrence at all (Exchange has no empty series), or
  every Exchange pattern that could start like it (all of them, built from dateutil's first
  occurrences) expands differently from dateutil — shown by expanding each one.
"""

from __future__ import annotations

import datetime as _datetime_module
import itertools
import math
import os
import types
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from dateutil import rrule as du_rrule
from dateutil.rrule import rrulestr
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from engine.recurrence import (
    DaySpec,
    InvalidRecurrence,
    Recurrence,
    UnsupportedRecurrence,
    WeekIndex,
    local_occurrence_starts,
    parse_rrule,
)

ZONES = [ZoneInfo(name) for name in ("Europe/Berlin", "America/New_York", "Pacific/Auckland")]
ZONES.append(ZoneInfo("UTC"))
DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
HORIZON_YEARS = 8  # every comparison runs this far from DTSTART
LIMIT = 800  # ... or this many occurrences


@st.composite
def dtstarts(draw: st.DrawFn) -> datetime:
    zone = draw(st.sampled_from(ZONES))
    day = draw(
        st.one_of(
            st.dates(date(2025, 1, 1), date(2027, 12, 31)),
            # The days around the DST changes in Europe, the US and New Zealand.
            st.sampled_from([date(2026, 3, 29), date(2026, 3, 8), date(2026, 4, 5)]).flatmap(
                lambda d: st.integers(-8, 8).map(lambda k: d + timedelta(days=k))
            ),
        )
    )
    clock = draw(
        st.one_of(
            st.just(time(0, 0)),  # an all-day series: midnight in its zone
            st.sampled_from([time(2, 30), time(9, 0), time(23, 30)]),
            # RFC 5545 §3.3.5: a repeated local time means its first occurrence (fold 0).
            st.times().map(lambda t: t.replace(microsecond=0, fold=0)),
        )
    )
    return datetime.combine(day, clock, tzinfo=zone)


@st.composite
def rules(draw: st.DrawFn, dtstart: datetime) -> str:
    """An RFC 5545-valid RRULE (no MUST NOT broken) with DAILY..YEARLY semantics to test."""
    freq = draw(st.sampled_from(["DAILY", "WEEKLY", "MONTHLY", "YEARLY"]))
    parts = [f"FREQ={freq}"]
    interval = draw(
        st.one_of(st.just(1), st.integers(1, 14), st.sampled_from([24, 99, 100, 999, 1000]))
    )
    if interval != 1 or draw(st.booleans()):
        parts.append(f"INTERVAL={interval}")
    by: list[str] = []
    ordinals = False
    if draw(st.booleans()):
        ordinals = freq in ("MONTHLY", "YEARLY") and draw(st.booleans())
        days = draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=7, unique=True))
        ordinal = st.sampled_from([1, 2, 3, 4, 5, -1, -2])
        by.append("BYDAY=" + ",".join(f"{draw(ordinal)}{d}" if ordinals else d for d in days))
    if freq != "WEEKLY" and draw(st.booleans()):
        monthday = st.one_of(st.integers(1, 31), st.integers(-31, -1), st.sampled_from([-1, 28]))
        values = draw(st.lists(monthday, min_size=1, max_size=4, unique=True))
        by.append("BYMONTHDAY=" + ",".join(map(str, values)))
    if freq == "YEARLY" and draw(st.integers(0, 3)) == 0:
        # Days of the year some of which are fixed dates (1 January, 1 February, 31 December,
        # 1 March from the end) and ISO weeks (week 1 holds the first Thursday).
        if ordinals or draw(st.booleans()):
            yeardays = st.sampled_from([1, 2, 32, 59, 60, 100, 365, 366, -1, -2, -306, -366])
            values = draw(st.lists(yeardays, min_size=1, max_size=2, unique=True))
            by.append("BYYEARDAY=" + ",".join(map(str, values)))
        else:
            weeks = st.sampled_from([1, 2, 20, 52, 53, -1, -2])
            values = draw(st.lists(weeks, min_size=1, max_size=2, unique=True))
            by.append("BYWEEKNO=" + ",".join(map(str, values)))
    if draw(st.integers(0, 3)) == 0:
        months = draw(st.lists(st.integers(1, 12), min_size=1, max_size=3, unique=True))
        by.append("BYMONTH=" + ",".join(map(str, months)))
    if by and draw(st.integers(0, 2)) == 0:
        positions = draw(st.lists(st.sampled_from([1, 2, 3, 4, -1, -2]), min_size=1, max_size=2))
        by.append("BYSETPOS=" + ",".join(map(str, sorted(set(positions)))))
    if draw(st.integers(0, 4)) == 0:
        by.append(f"BYHOUR={draw(st.sampled_from([dtstart.hour, (dtstart.hour + 1) % 24]))}")
    parts += draw(st.permutations(by))
    end = draw(st.sampled_from(["none", "count", "until"]))
    if end == "count":
        parts.append(f"COUNT={draw(st.one_of(st.integers(1, 12), st.just(1000)))}")
    elif end == "until":
        # Around the local start time of a later day: before or after it, and across UTC dates.
        later = dtstart + timedelta(
            days=draw(st.integers(-3, 800)), minutes=draw(st.integers(-14 * 60, 14 * 60))
        )
        parts.append(f"UNTIL={later.astimezone(UTC):%Y%m%dT%H%M%SZ}")
    if draw(st.booleans()):
        parts.append(f"WKST={draw(st.sampled_from(DAYS))}")
    return ";".join(parts)


def bounded(rule: str, dtstart: datetime, last_year: int) -> Any:
    """dateutil's rrule for `rule`, iterating no further than `last_year`.

    dateutil looks at its UNTIL only when it finds an occurrence, so a rule without any (BYSETPOS
    beyond the day's one candidate, 30 February...) would search up to the year 9999. Its own
    iterator is run with `datetime.MAXYEAR` (where it stops by itself) set to `last_year`.
    """
    expansion = rrulestr(rule, dtstart=dtstart, cache=False)
    patched = types.SimpleNamespace(**vars(_datetime_module))
    patched.MAXYEAR = last_year
    code = du_rrule.rrule._iter  # type: ignore[attr-defined]
    scope = {**vars(du_rrule), "datetime": patched}
    iterate = types.FunctionType(code.__code__, scope, code.__name__, code.__defaults__)
    expansion._iter = types.MethodType(iterate, expansion)  # type: ignore[union-attr]
    return expansion


def dateutil_starts(rule: str, dtstart: datetime) -> list[datetime]:
    """dateutil's occurrences (aware, in the zone) up to the horizon."""
    until = (dtstart + timedelta(days=366 * HORIZON_YEARS)).astimezone(UTC)
    until = min(until, _until(rule) or until)
    expansion = bounded(rule, dtstart, until.year + 1)
    count = _count(rule)
    in_time = itertools.takewhile(lambda d: d <= until, expansion)
    return list(itertools.islice(in_time, min(count or LIMIT, LIMIT)))


def _until(rule: str) -> datetime | None:
    for part in rule.split(";"):
        if part.startswith("UNTIL="):
            return datetime.strptime(part[6:], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return None


def _count(rule: str) -> int | None:
    return next((int(p[6:]) for p in rule.split(";") if p.startswith("COUNT=")), None)


def exchange_starts(recurrence: Recurrence, dtstart: datetime) -> Iterator[datetime]:
    """Exchange's occurrences up to the horizon, as the engine builds them (naive local + zone)."""
    horizon = dtstart.date() + timedelta(days=366 * HORIZON_YEARS)
    first_local = dtstart.replace(tzinfo=None)
    starts = local_occurrence_starts(recurrence, first_local, until=horizon)
    for local in itertools.islice(starts, LIMIT):
        yield local.replace(tzinfo=dtstart.tzinfo)


def is_finite(rule: str) -> bool:
    return "COUNT=" in rule or "UNTIL=" in rule


# A deeper search on a developer's machine: RECURRENCE_EXAMPLES=20000 uv run pytest ... (with
# --hypothesis-seed=N for another draw). CI draws the same 200 every run (tests/conftest.py).
EXAMPLES = int(os.environ.get("RECURRENCE_EXAMPLES", "200"))


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.generate],
)
@given(data=st.data(), dtstart=dtstarts())
def test_every_generated_rule_is_converted_exactly_or_refused_with_proof(
    data: st.DataObject, dtstart: datetime
) -> None:
    check_rule(data.draw(rules(dtstart), label="rule"), dtstart)


# Rules this test once drew that were refused although a pattern gives their dates: checked on
# every run, whatever hypothesis draws.
AUCKLAND_START = datetime(2026, 4, 1, 12, 28, 18, tzinfo=ZoneInfo("Pacific/Auckland"))
FOUND_BEFORE = [
    # Every 3 days on WE/TH from a Wednesday: every 3 weeks, weeks from Thursday.
    ("FREQ=DAILY;INTERVAL=3;BYDAY=WE,TH;WKST=TU", AUCKLAND_START),
    *(
        (f"FREQ=DAILY;INTERVAL=3;BYDAY=WE,TH;WKST=TU;COUNT={n}", AUCKLAND_START)
        for n in range(1, 7)
    ),
    ("FREQ=DAILY;INTERVAL=3;BYDAY=WE,TH;UNTIL=20260416T002818Z", AUCKLAND_START),
    # One date before UNTIL: a pattern ending on it (not at UNTIL's day: it has more by then).
    (
        "FREQ=MONTHLY;INTERVAL=100;BYMONTHDAY=21,9,14;BYSETPOS=3;UNTIL=20280517T151820Z;WKST=MO",
        datetime(2026, 3, 9, 20, 0, 20, tzinfo=UTC),
    ),
    # Every 24 months from an odd year's February never meets a fifth Sunday in February.
    *(
        (
            f"FREQ=MONTHLY;INTERVAL=24;BYDAY=4MO,5SU{end};WKST=TU",
            datetime(2025, 2, 18, 2, 30, tzinfo=ZoneInfo("America/New_York")),
        )
        for end in ("", ";COUNT=1000")
    ),
    # 30 December for 1000 years: beyond the finite comparison's 100 years, a pattern's dates.
    (
        "FREQ=YEARLY;INTERVAL=1;BYYEARDAY=-2;BYSETPOS=1;COUNT=1000;WKST=SA",
        datetime(2027, 9, 3, 8, 29, 49, tzinfo=ZoneInfo("Pacific/Auckland")),
    ),
    # COUNT over 999 on a pattern that reaches the calendar's end (it overflowed).
    (
        "FREQ=WEEKLY;INTERVAL=999;COUNT=1000;WKST=WE",
        datetime(2026, 9, 4, tzinfo=ZoneInfo("America/New_York")),
    ),
]


@pytest.mark.parametrize(("rule", "dtstart"), FOUND_BEFORE)
def test_r2_rules_once_found_refused_are_converted_exactly(rule: str, dtstart: datetime) -> None:
    parse_rrule(rule, dtstart=dtstart)  # accepted
    check_rule(rule, dtstart)


def check_rule(rule: str, dtstart: datetime) -> None:
    """Accepted: Exchange's expansion is dateutil's. Refused: no pattern gives its dates."""
    try:
        recurrence = parse_rrule(rule, dtstart=dtstart)
    except UnsupportedRecurrence:
        assert_no_exchange_pattern_gives(rule, dtstart)
        return
    except InvalidRecurrence as error:  # pragma: no cover - the generator writes valid rules
        raise AssertionError(f"valid rule {rule!r} called malformed: {error}") from error
    expected = dateutil_starts(rule, dtstart)
    actual = list(exchange_starts(recurrence, dtstart))
    assert [d.replace(tzinfo=None) for d in actual] == [d.replace(tzinfo=None) for d in expected]
    assert [d.astimezone(UTC) for d in actual] == [d.astimezone(UTC) for d in expected]
    count, until = _count(rule), _until(rule)
    horizon = dtstart + timedelta(days=366 * HORIZON_YEARS)
    if len(expected) == count or (until is not None and until <= horizon and len(expected) < LIMIT):
        everything = list(local_occurrence_starts(recurrence, dtstart.replace(tzinfo=None)))
        assert len(everything) == len(expected)  # the whole finite series, not a prefix


def assert_no_exchange_pattern_gives(rule: str, dtstart: datetime) -> None:
    """The refusal is right: no series, or every candidate Exchange pattern differs."""
    expected = [d.replace(tzinfo=None) for d in dateutil_starts(rule, dtstart)]
    if not expected:
        return  # no occurrence at all: Exchange has no empty series
    if len({d.time() for d in expected}) > 1 or expected[0].time() != dtstart.time():
        return  # occurrences at another time of day than DTSTART's: Exchange has one per series
    if is_finite(rule):
        assert_no_pattern_gives_the_finite_dates(rule, dtstart)
        return
    # The pattern is compared over the Gregorian calendar's whole 400-year cycle: a weekly
    # pattern can follow a calendar rule for decades (every 11 years on 21 November is every
    # 574 weeks until 2100).
    horizon = (dtstart + timedelta(days=146097)).astimezone(UTC)
    pattern = bounded(rule, dtstart, horizon.year + 1)
    in_time = itertools.takewhile(lambda d: d <= horizon, pattern)
    pattern_dates = [d.date() for d in itertools.islice(in_time, 3000)]
    if len(pattern_dates) < 2:
        return  # one date in 400 years: no Exchange interval reaches that far
    for candidate in candidate_patterns(pattern_dates, dtstart.date()):
        ours = itertools.islice(candidate.dates(dtstart.date(), until=horizon.date()), 3000)
        same = all(a == b for a, b in itertools.zip_longest(ours, pattern_dates))
        assert not same, f"{rule!r} was refused, but {candidate!r} gives its dates"


FINITE_YEARS = 110  # a finite rule's dates are compared this far (or all of them, if fewer)


def assert_no_pattern_gives_the_finite_dates(rule: str, dtstart: datetime) -> None:
    """No pattern with a range gives a finite rule's dates (COUNT and UNTIL as a set of dates).

    All its dates when they end within FINITE_YEARS (compared with each candidate's whole
    finite series), else those before (compared with each candidate's, without its range).
    """
    last_year = dtstart.year + FINITE_YEARS
    occurrences = list(itertools.islice(bounded(rule, dtstart, last_year), 50_000))
    assert {d.time() for d in occurrences} == {dtstart.time().replace(microsecond=0)}
    dates = [d.date() for d in occurrences]
    if len(dates) != len(set(dates)):
        return  # two occurrences a day: Exchange has one
    count, until = _count(rule), _until(rule)
    complete = len(dates) == count or (until is not None and until.year < last_year)
    window_end = date(last_year, 12, 31)
    for candidate in candidate_patterns(dates, dtstart.date()):
        if complete:
            ranged = {"count": len(dates)} if len(dates) <= 999 else {"end_date": dates[-1]}
            fields = candidate.model_dump(exclude={"count", "end_date"})
            candidate = next(_valid(**fields, **ranged), candidate)
            ours = list(itertools.islice(candidate.dates(dtstart.date()), len(dates) + 1))
        else:
            ours = list(candidate.dates(dtstart.date(), until=window_end))
        assert ours != dates, f"{rule!r} was refused, but {candidate!r} gives its dates"


def candidate_patterns(dates: list[date], start: date) -> Iterator[Recurrence]:
    """Every Exchange pattern whose first occurrences could be dateutil's."""
    first = dates[0]
    second = dates[1] if len(dates) > 1 else None
    yield from _valid(pattern="daily", interval=(second - first).days if second else 1)
    weekdays = tuple(sorted({d.weekday() for d in dates}))
    names = tuple(_DAY_NAMES[wd] for wd in weekdays)
    for wkst in range(7):
        week_of = [(_week(d, wkst) - _week(start, wkst)).days // 7 for d in dates[:400]]
        for interval in _intervals(week_of):
            yield from _valid(
                pattern="weekly",
                interval=interval,
                weekdays=names,
                first_day_of_week=_DAY_NAMES[wkst],
            )
    month_of = [(d.year - start.year) * 12 + d.month - start.month for d in dates[:400]]
    selectors: list[dict[str, Any]] = [{"day_of_month": d} for d in range(1, 32)]
    selectors += [{"day": s, "week_index": i} for s in DaySpec for i in WeekIndex]
    for selector in selectors:
        kind = "absolute" if "day_of_month" in selector else "relative"
        for interval in _intervals(month_of):
            yield from _valid(pattern=f"{kind}_monthly", interval=interval, **selector)
        yield from _valid(pattern=f"{kind}_yearly", month=first.month, **selector)


def _intervals(steps: list[int]) -> set[int]:
    """A pattern's interval, when its dates fall in these weeks (months) from the start's."""
    positive = [s for s in steps if s > 0]
    distances = [b - a for a, b in itertools.pairwise(steps) if b > a]
    return {1, min(positive, default=1), math.gcd(*positive) or 1, min(distances, default=1)}


_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _week(day: date, wkst: int) -> date:
    return day - timedelta(days=(day.weekday() - wkst) % 7)


def _valid(**fields: Any) -> Iterator[Recurrence]:
    try:
        yield Recurrence(**fields)
    except ValueError:  # pydantic's ValidationError wraps InvalidRecurrence
        return  # not a pattern Exchange has (e.g. an interval over its limit)


def test_the_refusal_check_finds_a_pattern_when_there_is_one() -> None:
    """The proof above is not vacuous: for an expressible rule it finds the pattern."""
    dtstart = datetime(2026, 1, 31, 9, 0, tzinfo=ZONES[0])
    dates = [
        d.date()
        for d in itertools.islice(rrulestr("FREQ=MONTHLY;BYMONTHDAY=-1", dtstart=dtstart), 40)
    ]
    found = [
        c
        for c in candidate_patterns(dates, dtstart.date())
        if list(itertools.islice(c.dates(dtstart.date()), 40)) == dates
    ]
    assert Recurrence(pattern="absolute_monthly", day_of_month=31) in found
