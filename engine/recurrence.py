"""Recurrence (R2): the ERP's RFC 5545 RRULE and Exchange's patterns, converted exactly.

    parse_rrule(rule, *, dtstart) -> Recurrence      # DTSTART tz-aware; all-day: local midnight
    to_rrule(recurrence, dtstart) -> str             # parse_rrule(to_rrule(r, d), dtstart=d) == r
    local_occurrence_starts(recurrence, first_local) # Exchange's expansion, naive local times

A rule is accepted only when one of Exchange's six patterns, expanded from the same start with
Exchange's semantics, gives exactly the dates RFC 5545 (as python-dateutil implements it) gives:
same dates, same wall-clock time across DST, same count. Otherwise `UnsupportedRecurrence`; a
malformed rule is `InvalidRecurrence` (its base class). Accepted subset:

    ========================================  ==============================================
    RRULE (DTSTART fills what is left open)   Exchange pattern
    ========================================  ==============================================
    DAILY;INTERVAL=n (n <= 999)               Daily n
    DAILY;BYDAY=<days>                        Weekly 1 on <days> (Outlook's "every weekday")
    WEEKLY;INTERVAL=n;BYDAY=<days>;WKST=d     Weekly n on <days>, first day of week d
    MONTHLY;INTERVAL=n;BYMONTHDAY=k           AbsoluteMonthly n, day k (k <= 28, or k = -1:
                                              the last day; 29..31 only as BYMONTHDAY=28..k;
                                              BYSETPOS=-1, since RFC skips shorter months)
    MONTHLY;INTERVAL=n;BYDAY=<1..4 or -1><d>  RelativeMonthly n (n <= 99), also BYDAY=<days>;
                                              BYSETPOS=<1..4 or -1> for Day/Weekday/WeekendDay
    YEARLY;BYMONTH=m;BYMONTHDAY=k             AbsoluteYearly m/k (k exists in m every year)
    YEARLY;BYMONTH=m;BYDAY=<1..4 or -1><d>    RelativeYearly (no BYMONTH: 1..4 in January,
                                              -1 in December, as RFC counts in the year)
    YEARLY;INTERVAL=n, DTSTART in the month   Absolute/RelativeMonthly every 12n months (n <= 8)
    DAILY;INTERVAL=n;BYDAY=<days>             Weekly n on the days it reaches, when they fit
                                              in a week from some first day of week
    COUNT=c                                   Numbered range (c <= 999); over 999: EndDate
                                              on the c-th occurrence
    UNTIL=<UTC date-time>Z (inclusive)        EndDate: the last local date whose occurrence
                                              time is not after UNTIL
    any finite rule (COUNT/UNTIL) whose       the first pattern (with a range ending on its
    dates a pattern gives, though the rule    last date, or its count) giving exactly those
    without its end has no pattern            dates: one date, two dates, days in one month...
    ========================================  ==============================================

Other spellings of the same dates are accepted too (BYSETPOS, BYMONTH limits, DAILY with
BYMONTHDAY, FREQ=MONTHLY;BYDAY=MO for every Monday...). Where the form fits no pattern, the
dates decide (engine.recurrence_finite): a MONTHLY or YEARLY rule is expanded over the calendar's
400 years (times its interval; BYYEARDAY=1 is 1 January, BYWEEKNO=1;BYDAY=TH the first Thursday
of January), and a finite rule (COUNT or UNTIL) whose occurrences end within 100 years of
DTSTART is compared with each pattern ending on its last date (one date, days in one month...).
Refused: several occurrences a day or a time other than DTSTART's (BYHOUR...), sub-daily FREQ,
days RFC skips in some months while Exchange moves them to the month's last day, several days a
month, months at no fixed step from DTSTART's month, intervals over Exchange's limits
(daily/weekly 999, monthly 99, yearly none), BYSETPOS that dateutil counts differently in the
week DTSTART cuts short, and rules without any occurrence — each unless its own dates are a
pattern's as above. COUNT over 999 is an end date on its last occurrence. UNTIL must be UTC
(`...Z`): DTSTART always has a zone. A repeated local time (the autumn change) means its first
occurrence, as RFC 5545 §3.3.5 says.
"""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta
from functools import lru_cache

from engine.errors import InvalidRecurrence, UnsupportedRecurrence
from engine.recurrence_finite import Fields, calendar_fields, finite_recurrence
from engine.recurrence_pattern import (
    MAX_COUNT,
    DaySpec,
    PatternType,
    Recurrence,
    Weekday,
    WeekIndex,
    local_occurrence_starts,
    series_time,
)
from engine.rrule_match import pattern_fields
from engine.rrule_parts import RuleParts, split_rrule

__all__ = [
    "DaySpec",
    "InvalidRecurrence",
    "PatternType",
    "Recurrence",
    "UnsupportedRecurrence",
    "WeekIndex",
    "Weekday",
    "local_occurrence_starts",
    "parse_rrule",
    "to_rrule",
]


def parse_rrule(rule: str, *, dtstart: datetime) -> Recurrence:
    """The Exchange pattern whose dates are exactly those of `rule` starting at `dtstart`.

    `dtstart` is tz-aware, in the series' own time zone (an all-day series: midnight there).
    Raises `InvalidRecurrence` for a malformed rule and `UnsupportedRecurrence` for a valid one
    that no Exchange pattern expresses exactly.
    """
    if dtstart.tzinfo is None or dtstart.utcoffset() is None:
        raise InvalidRecurrence("DTSTART needs a time zone", field="recurrence")
    return _parse(rule, dtstart)


@lru_cache(maxsize=4096)
def _parse(rule: str, dtstart: datetime) -> Recurrence:
    parts = split_rrule(rule)
    try:
        fields = pattern_fields(parts, dtstart, rule)
    except UnsupportedRecurrence:
        # Its dates may still be a pattern's: a yearly rule's by day of year or week number
        # (1 January, Thursday of week 1...), a finite rule's (one date, days in one month...).
        found = calendar_fields(rule, parts, dtstart)
        if found is not None:
            fields = found
        elif parts.count is not None or parts.until is not None:
            finite = finite_recurrence(rule, parts, dtstart)
            if finite is None:
                raise
            return finite
        else:
            raise
    return _with_range(rule, parts, dtstart, fields)


def _with_range(rule: str, parts: RuleParts, dtstart: datetime, fields: Fields) -> Recurrence:
    """The pattern `fields` with the rule's range (COUNT, UNTIL)."""
    fields = dict(fields)
    first = dtstart.date()
    if parts.count is not None:
        if parts.count <= MAX_COUNT:
            fields["count"] = parts.count
        else:  # more than Exchange numbers: the same series ends on its last date
            fields["end_date"] = _nth_date(Recurrence(**fields), first, parts.count)
    end_date = None if parts.until is None else _end_date(parts.until, dtstart)
    if end_date is not None:
        fields["end_date"] = end_date
    recurrence = Recurrence(**fields)
    if (end_date is not None and end_date < first) or next(recurrence.dates(first), None) is None:
        raise UnsupportedRecurrence(
            f"Exchange cannot express RRULE {rule!r}: it has no occurrence from DTSTART on",
            field="recurrence",
        )
    return recurrence


def _nth_date(recurrence: Recurrence, first: date, n: int) -> date | None:
    """The date of the n-th occurrence (None: the calendar ends first, as dateutil's does)."""
    if recurrence.pattern == "daily":
        days = (n - 1) * recurrence.interval
        return first + timedelta(days=days) if days <= (_LAST_DAY - first).days else None
    if recurrence.pattern == "weekly":  # whole weeks skipped: a few million dates are allowed
        week = first - timedelta(days=(first.weekday() - recurrence.first_day_of_week.number) % 7)
        in_first = list(recurrence.dates(first, until=week + timedelta(days=6)))
        if n <= len(in_first):
            return in_first[n - 1]
        offsets = sorted((d.number - week.weekday()) % 7 for d in recurrence.weekdays)
        weeks, index = divmod(n - len(in_first) - 1, len(offsets))
        start = (week - date.min).days + 7 * recurrence.interval * (weeks + 1)
        if start > (_LAST_DAY - date.min).days:
            return None
        return date.min + timedelta(days=start + offsets[index])
    return next(itertools.islice(recurrence.dates(first), n - 1, None), None)


_LAST_DAY = date(9998, 12, 31)  # Exchange's expansion here, like dateutil's, stops before 9999


def _end_date(until: datetime, dtstart: datetime) -> date:
    """The last local date whose occurrence (at the series' time) is not after UNTIL."""
    tz = dtstart.tzinfo
    try:
        local_date = until.astimezone(tz).date()
    except OverflowError:  # UNTIL at an end of time, beyond it in the local zone
        return date.max if until.year > 1 else date.min
    if datetime.combine(local_date, series_time(dtstart), tzinfo=tz) <= until:
        return local_date
    # That day's occurrence is after UNTIL.
    return local_date - timedelta(days=1) if local_date > date.min else date.min


def to_rrule(recurrence: Recurrence, dtstart: datetime) -> str:
    """The RRULE for `recurrence` in a series starting at `dtstart` (tz-aware).

    RFC 5545-valid (UNTIL in UTC) and exact: `parse_rrule(to_rrule(r, d), dtstart=d) == r`.
    """
    if dtstart.tzinfo is None or dtstart.utcoffset() is None:
        raise InvalidRecurrence("DTSTART needs a time zone", field="recurrence")
    return recurrence.to_rrule(dtstart)
