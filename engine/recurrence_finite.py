"""Rules compared date by date with Exchange's patterns, where their form says no (R2).

`engine.rrule_match` decides from a rule's form which pattern gives all of its dates, forever.
Two kinds of rules escape that reading, and are expanded with python-dateutil (the oracle the
form is checked against) and matched against every pattern that could start like them (every
pattern type, the week starts, the intervals their dates' distances allow, every day selector
picking their first date); the first whose dates are exactly theirs is returned:
- `finite_recurrence`: a finite rule (COUNT or UNTIL) is a finite set of dates, which a pattern
  with a range can give although the rule without its end fits none: one date, two dates, every
  day of one month, 29 February every four years up to 2096. The range ends on its last date
  (or keeps its count, up to Exchange's 999).
- `calendar_fields`: a monthly or yearly rule by day of year or ISO week (BYYEARDAY=1 is
  1 January, BYWEEKNO=1;BYDAY=TH the first Thursday of January), or whose interval reaches only
  months where it picks one day, compared over the calendar's 400 years.

Bounded work: only DAILY..YEARLY rules, finite ones whose occurrences all fall within
`HORIZON_YEARS` of DTSTART, at most `MAX_DATES` dates; dateutil's search is cut at that year (it
would otherwise look up to the year 9999 for a rule with no further occurrence). Pure: no clock,
no I/O, nothing global changed.
"""

from __future__ import annotations

import datetime as _datetime_module
import itertools
import math
import types
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

from dateutil import rrule as du

from engine.recurrence_pattern import (
    MAX_COUNT,
    MAX_INTERVAL,
    WEEKDAYS,
    DaySpec,
    Recurrence,
    WeekIndex,
    exchange_day,
    series_time,
)
from engine.rrule_parts import RuleParts

HORIZON_YEARS = 100
MAX_DATES = 40_000  # more than a daily series has in HORIZON_YEARS

Fields = dict[str, Any]


def finite_recurrence(text: str, parts: RuleParts, dtstart: datetime) -> Recurrence | None:
    """The pattern with a range giving exactly the dates of finite rule `text`, or None.

    A COUNT rule keeps its count when Exchange numbers that many (999); otherwise the range
    ends on the rule's last date.
    """
    dates = rule_dates(text, parts, dtstart)
    if not dates:
        return None
    # The range ends at the rule's last date (the pattern may have more before UNTIL's day).
    ranges: Fields = {"end_date": dates[-1]}
    if parts.count is not None and len(dates) <= MAX_COUNT:
        ranges = {"count": len(dates)}
    start = dtstart.date()
    for fields in candidates(dates, start):
        try:
            recurrence = Recurrence(**fields, **ranges)
        except ValueError:  # pydantic wraps InvalidRecurrence: not a pattern Exchange has
            continue
        ours = recurrence.dates(start)
        if all(a == b for a, b in itertools.zip_longest(ours, dates)):
            return recurrence
    return None


def rule_dates(text: str, parts: RuleParts, dtstart: datetime) -> list[date] | None:
    """dateutil's dates of finite rule `text`, all of them; None when that is out of bounds.

    None too when an occurrence is at another time than DTSTART's or two fall on one day:
    Exchange has one occurrence a day, at the series' time.
    """
    last_year = min(_datetime_module.MAXYEAR, dtstart.year + HORIZON_YEARS)
    dates = _expand(text, parts, dtstart, last_year)
    if dates is None:
        return None
    complete = (
        (parts.count is not None and len(dates) == parts.count)
        or (parts.until is not None and parts.until.year < last_year)
        or last_year == _datetime_module.MAXYEAR
    )
    return dates if complete else None


def calendar_fields(text: str, parts: RuleParts, dtstart: datetime) -> Fields | None:
    """The pattern (no range) giving all dates of a MONTHLY or YEARLY rule's form, or None.

    For what the form does not read: days of the year and ISO weeks (BYYEARDAY=1 is 1 January,
    BYWEEKNO=1;BYDAY=TH the first Thursday of January), and months only some of which the
    interval reaches (every 24 months from an odd year's February never meets a 29 February).
    COUNT and UNTIL are left aside (the caller adds the range). The rule and a pattern both
    repeat with the calendar's 400 years and their interval: compared over that (up to the
    year 9999, where dateutil and Python's dates end).
    """
    if parts.freq not in ("MONTHLY", "YEARLY"):
        return None
    months = parts.interval * (12 if parts.freq == "YEARLY" else 1)
    if months > MAX_INTERVAL["monthly"]:
        return None
    years = math.lcm(months, 4800) // 12
    last_year = min(_datetime_module.MAXYEAR, dtstart.year + years + 1)
    unbounded = ";".join(
        part
        for part in text.strip().removeprefix("RRULE:").removeprefix("rrule:").split(";")
        if not part.strip().upper().startswith(("COUNT", "UNTIL"))
    )
    dates = _expand(unbounded, parts, dtstart, last_year)
    if not dates:
        return None
    start, end = dtstart.date(), date(last_year, 12, 31)
    for fields in candidates(dates, start):
        try:
            recurrence = Recurrence(**fields)
        except ValueError:
            continue
        ours = recurrence.dates(start, until=end)
        if all(a == b for a, b in itertools.zip_longest(ours, dates)):
            return fields
    return None


def _expand(text: str, parts: RuleParts, dtstart: datetime, last_year: int) -> list[date] | None:
    """dateutil's dates of `text` up to `last_year`; None if not one a day at DTSTART's time."""
    if parts.freq not in ("DAILY", "WEEKLY", "MONTHLY", "YEARLY"):
        return None
    start = dtstart.replace(microsecond=0, fold=0)
    body = text.strip()
    if body.upper().startswith("RRULE:"):
        body = body[6:]
    try:
        expansion = _bounded(du.rrulestr(body.upper(), dtstart=start, cache=False), last_year)
        occurrences = list(itertools.islice(expansion, MAX_DATES + 1))
    except (ValueError, IndexError, OverflowError):  # dateutil's own limits (ordinal 6MO...)
        return None
    if len(occurrences) > MAX_DATES:
        return None
    if any(o.replace(tzinfo=None).time() != series_time(start) for o in occurrences):
        return None
    dates = [o.date() for o in occurrences]
    if any(b <= a for a, b in itertools.pairwise(dates)):
        return None
    return dates


def _bounded(expansion: Any, last_year: int) -> Iterator[datetime]:
    """`expansion` iterated by dateutil's own code with its last year set to `last_year`.

    dateutil checks UNTIL and COUNT only at an occurrence and otherwise searches on up to
    `datetime.MAXYEAR`; its iterator is run here with a namespace whose MAXYEAR is `last_year`
    (nothing global is changed).
    """
    namespace = types.SimpleNamespace(**vars(_datetime_module))
    namespace.MAXYEAR = last_year
    code = du.rrule._iter  # type: ignore[attr-defined]
    scope = {**vars(du), "datetime": namespace}
    iterate = types.FunctionType(code.__code__, scope, code.__name__, code.__defaults__)
    result: Iterator[datetime] = iterate(expansion)
    return result


def candidates(dates: list[date], start: date) -> Iterator[Fields]:
    """Every pattern whose first occurrences from `start` could be `dates`' (a superset)."""
    first = dates[0]
    yield {"pattern": "daily", "interval": (dates[1] - first).days if len(dates) > 1 else 1}
    weekdays = tuple(WEEKDAYS[wd] for wd in sorted({d.weekday() for d in dates[:400]}))
    for wkst in range(7):
        base = _week_start(start, wkst)
        weeks = [(_week_start(d, wkst) - base).days // 7 for d in dates[:400]]
        for interval in _intervals(weeks, MAX_INTERVAL["weekly"]):
            yield {
                "pattern": "weekly",
                "interval": interval,
                "weekdays": weekdays,
                "first_day_of_week": WEEKDAYS[wkst],
            }
    selectors: list[Fields] = [{"day_of_month": d} for d in range(1, 32)]
    selectors += [{"day": s, "week_index": i} for s in DaySpec for i in WeekIndex]
    months = [(d.year - start.year) * 12 + d.month - start.month for d in dates[:400]]
    for selector in selectors:
        picked = exchange_day(
            first.year,
            first.month,
            selector.get("day_of_month"),
            selector.get("day"),
            selector.get("week_index"),
        )
        if picked != first:
            continue
        kind = "absolute" if "day_of_month" in selector else "relative"
        yield {"pattern": f"{kind}_yearly", "month": first.month, **selector}
        for interval in _intervals(months, MAX_INTERVAL["monthly"]):
            yield {"pattern": f"{kind}_monthly", "interval": interval, **selector}


def _intervals(steps: list[int], most: int) -> list[int]:
    """The intervals a pattern giving dates in these weeks (months) from the start's may have."""
    positive = [s for s in steps if s > 0]
    distances = [b - a for a, b in itertools.pairwise(steps) if b > a]
    found = {1, math.gcd(*positive) if positive else 1}
    found |= {min(positive)} if positive else set()
    found |= {min(distances)} if distances else set()
    return sorted(i for i in found if 1 <= i <= most)


def _week_start(day: date, wkst: int) -> date:
    return day - timedelta(days=(day.weekday() - wkst) % 7)
