"""The meaning of an RRULE: which Exchange pattern, if any, gives exactly its dates.

RFC 5545 and python-dateutil's rrule define the dates; an Exchange pattern is accepted only when
its expansion from the same start is the same set. Day-based rules (DAILY, WEEKLY) are compared
over their period in days. Month-based rules (MONTHLY, YEARLY, and DAILY with BYMONTHDAY) are
compared month by month: dateutil picks the rule's days in every month of 28 reference years,
which hold every month's length and first weekday, and a single Exchange day-of-month or n-th
weekday must pick the same day in each of them (RFC 5545 skips a month without the day, Exchange
moves to the last day: such rules are refused). The months themselves must be a fixed step from
the start's month (monthly) or one month every year (yearly).
"""

from __future__ import annotations

import calendar
import math
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any, Literal, NoReturn

from dateutil import rrule as du

from engine.errors import UnsupportedRecurrence
from engine.recurrence_pattern import (
    MAX_DAYS,
    MAX_INTERVAL,
    WEEKDAYS,
    DaySpec,
    Recurrence,
    WeekIndex,
    exchange_day,
)
from engine.rrule_parts import RuleParts

# 28 years: every (leap year?, weekday of 1 January) pair. Close to 9999, where dateutil stops
# by itself: it checks UNTIL only at an occurrence and would search on for a rule without any.
REFERENCE_YEARS = (9970, 9997)
_ALL_DAYS = frozenset(range(7))
_DU_FREQ: dict[str, Literal[0, 1, 2, 3, 4, 5, 6]] = {"MONTHLY": du.MONTHLY, "YEARLY": du.YEARLY}

Fields = dict[str, Any]


@dataclass(frozen=True)
class _Rule:
    """A rule with dateutil's defaults from DTSTART made explicit (empty set: not given)."""

    text: str
    freq: str
    interval: int
    wkst: int
    months: frozenset[int]
    monthdays: frozenset[int]
    days: frozenset[tuple[int | None, int]]
    setpos: frozenset[int]

    def refuse(self, reason: str) -> NoReturn:
        raise UnsupportedRecurrence(
            f"Exchange cannot express RRULE {self.text!r}: {reason}", field="recurrence"
        )

    @property
    def plain_days(self) -> frozenset[int]:
        return frozenset(wd for n, wd in self.days if n is None)

    @property
    def has_ordinals(self) -> bool:
        return any(n is not None for n, _ in self.days)


def pattern_fields(parts: RuleParts, dtstart: datetime, text: str) -> Fields:
    """The Recurrence fields (without the range) for `parts` starting at `dtstart`."""
    if parts.by("BYYEARDAY") or parts.by("BYWEEKNO"):
        raise UnsupportedRecurrence(
            f"Exchange cannot express RRULE {text!r}: "
            "Exchange has no day-of-year or week-number patterns",
            field="recurrence",
        )
    rule = _explicit(parts, dtstart.date(), text)
    for name, value in (("BYHOUR", dtstart.hour), ("BYMINUTE", dtstart.minute)):
        if parts.by(name) not in (frozenset(), frozenset({value})):
            rule.refuse(f"{name} other than DTSTART's; every occurrence starts at its time")
    if parts.by("BYSECOND") not in (frozenset(), frozenset({dtstart.second})):
        rule.refuse("BYSECOND other than DTSTART's; every occurrence starts at its time")
    if parts.freq in ("SECONDLY", "MINUTELY", "HOURLY"):
        rule.refuse("Exchange repeats a series at most daily")
    if rule.freq == "DAILY":
        return _daily(rule, dtstart.date())
    if rule.freq == "WEEKLY":
        return _weekly(rule, dtstart.date())
    if rule.freq == "MONTHLY":
        return _monthly(rule, dtstart.date())
    return _yearly(rule, dtstart.date())


def _explicit(parts: RuleParts, start: date, text: str) -> _Rule:
    months, monthdays, days = parts.by("BYMONTH"), parts.by("BYMONTHDAY"), parts.byday
    if not (monthdays or days):
        # RFC 5545 / dateutil: what the rule leaves open is taken from DTSTART.
        if parts.freq == "YEARLY":
            months, monthdays = months or frozenset({start.month}), frozenset({start.day})
        elif parts.freq == "MONTHLY":
            monthdays = frozenset({start.day})
        elif parts.freq == "WEEKLY":
            days = frozenset({(None, start.weekday())})
    if parts.freq == "MONTHLY" or months:
        # No month has a sixth weekday: such ordinals pick nothing (and upset dateutil).
        possible = frozenset((n, wd) for n, wd in days if n is None or abs(n) <= 5)
        if days and not possible:
            raise UnsupportedRecurrence(
                f"Exchange cannot express RRULE {text!r}: no month has such a weekday",
                field="recurrence",
            )
        days = possible
    if len(months) == 12 and parts.freq != "YEARLY":
        months = frozenset()  # all months: no limit (in YEARLY it makes BYDAY ordinals monthly)
    return _Rule(
        text=text,
        freq=parts.freq,
        interval=parts.interval,
        wkst=parts.wkst,
        months=months,
        monthdays=monthdays,
        days=days,
        setpos=parts.by("BYSETPOS"),
    )


def _limit_interval(rule: _Rule, interval: int, family: str) -> int:
    if interval > MAX_INTERVAL[family]:
        rule.refuse(f"a {family} interval of {interval} is over Exchange's {MAX_INTERVAL[family]}")
    return interval


def _daily(rule: _Rule, start: date) -> Fields:
    if rule.setpos:
        if not rule.setpos & {1, -1}:
            rule.refuse("BYSETPOS picks no occurrence from a day's one candidate")
        rule = replace(rule, setpos=frozenset())
    if rule.monthdays:
        if rule.interval != 1:
            rule.refuse("every n-th day limited to days of the month fits no Exchange pattern")
        return _monthly(rule, start)  # the same days, month by month
    if rule.months:
        rule.refuse("Exchange cannot limit a daily series to some months")
    n = _limit_interval(rule, rule.interval, "daily")
    weekdays = rule.plain_days or _ALL_DAYS
    if weekdays == _ALL_DAYS:
        return {"pattern": "daily", "interval": n}
    if n == 1:
        return _weekly_fields(1, weekdays, rule.wkst)
    if n % 7 == 0:  # every candidate day falls on DTSTART's weekday
        if start.weekday() not in weekdays:
            rule.refuse("BYDAY never falls on the days INTERVAL reaches: no occurrence")
        return {"pattern": "daily", "interval": n}
    # n is prime to 7: the days repeat every 7n days. Every n weeks on their weekdays gives them
    # when a week start fits; both repeat every 7n days, so two periods from DTSTART decide.
    end = start + timedelta(days=14 * n)
    hits = [start + timedelta(days=n * k) for k in range(14)]
    hits = [day for day in hits if day.weekday() in weekdays]
    days = frozenset(day.weekday() for day in hits)
    for wkst in sorted(range(7), key=lambda wd: (wd - start.weekday()) % 7):
        fields = _weekly_fields(n, days, wkst)
        if list(Recurrence(**fields).dates(start, until=end - timedelta(days=1))) == hits:
            return fields
    rule.refuse(f"every {n} days on {len(weekdays)} weekdays fits no weekly pattern")


def _weekly(rule: _Rule, start: date) -> Fields:
    if rule.months:
        rule.refuse("Exchange cannot limit a weekly series to some months")
    n = _limit_interval(rule, rule.interval, "weekly")
    week = sorted(rule.plain_days, key=lambda wd: (wd - rule.wkst) % 7)
    if not rule.setpos:
        return _weekly_fields(n, frozenset(week), rule.wkst)
    picked = _pick(week, rule.setpos)
    if not picked:
        rule.refuse("BYSETPOS picks no day of the week: no occurrence")
    # dateutil counts BYSETPOS in DTSTART's week from DTSTART on, not from the week's start.
    rest = [wd for wd in week if (wd - rule.wkst) % 7 >= (start.weekday() - rule.wkst) % 7]
    if [wd for wd in picked if wd in rest] != _pick(rest, rule.setpos):
        rule.refuse("BYSETPOS counts differently in the week DTSTART cuts short")
    return _weekly_fields(n, frozenset(picked), rule.wkst)


def _pick(days: list[int], setpos: frozenset[int]) -> list[int]:
    return [wd for i, wd in enumerate(days) if _picked(i, len(days), setpos)]


def _picked(index: int, size: int, setpos: frozenset[int]) -> bool:
    return index + 1 in setpos or index - size in setpos


def _weekly_fields(interval: int, weekdays: frozenset[int], wkst: int) -> Fields:
    return {
        "pattern": "weekly",
        "interval": interval,
        "weekdays": tuple(WEEKDAYS[wd] for wd in sorted(weekdays)),
        "first_day_of_week": WEEKDAYS[wkst],
    }


def _yearly(rule: _Rule, start: date) -> Fields:
    per_year = _period_dates(rule, "YEARLY", lambda day: (day.year,))
    first_days = [days[0] for days in per_year.values() if len(days) == 1]
    months = {day.month for day in first_days}
    if len(first_days) == len(per_year) and len(months) == 1:
        month = months.pop()
        day_fields = _day_fields(rule, first_days, month)
        if rule.interval == 1:
            kind = "absolute" if "day_of_month" in day_fields else "relative"
            return {"pattern": f"{kind}_yearly", "month": month, **day_fields}
        if start.month != month:
            rule.refuse("Exchange repeats every n years as every 12n months from DTSTART's month")
        return _monthly_fields(rule, 12 * rule.interval, day_fields)
    if rule.interval == 1 and not rule.setpos and (rule.months or not rule.has_ordinals):
        # The same days, month by month (all twelve months: no limit in a monthly rule).
        limit = frozenset() if len(rule.months) == 12 else rule.months
        return _monthly(replace(rule, months=limit), start)
    rule.refuse("it does not pick one day in one month every year")


def _monthly(rule: _Rule, start: date) -> Fields:
    if rule.days and not (rule.monthdays or rule.setpos or rule.has_ordinals):
        if rule.interval == 1 and not rule.months:
            return _weekly_fields(1, rule.plain_days, 0)  # every such weekday, week by week
        rule.refuse("every such weekday in some months only fits no Exchange pattern")
    _limit_interval(rule, rule.interval, "monthly")
    first = start.year * 12 + start.month - 1
    cycle = math.lcm(rule.interval, 12)
    active = [
        i
        for i in range(first, first + cycle, rule.interval)
        if not rule.months or i % 12 + 1 in rule.months
    ]
    if not active:
        rule.refuse("BYMONTH never meets the months INTERVAL reaches: no occurrence")
    periods = _period_dates(rule, "MONTHLY", _year_month)
    # A month that never has the day (30 February) is never an occurrence, in RFC 5545 and in
    # what remains: only a month that lacks it in some years (29 February) cannot be expressed.
    never = {m for m in range(1, 13) if not any(d for (_, mm), d in periods.items() if mm == m)}
    dropped = {i % 12 + 1 for i in active} & never
    active = [i for i in active if i % 12 + 1 not in never]
    if not active:
        rule.refuse("no month it reaches ever has its day: no occurrence")
    residues = {i % 12 + 1 for i in active}
    samples = []
    for (_, month), days in periods.items():
        if month not in residues:
            continue
        name = calendar.month_name[month]
        if not days:
            rule.refuse(
                f"RFC 5545 skips a {name} that lacks its day; "
                "Exchange would move it to the month's last day"
            )
        if len(days) > 1:
            rule.refuse(f"it picks {len(days)} days in a {name}; Exchange picks one a month")
        samples.append(days[0])
    step = active[1] - active[0] if len(active) > 1 else cycle
    if cycle % step == 0 and active == list(range(first, first + cycle, step)):
        return _monthly_fields(rule, step, _day_fields(rule, samples, None))
    every_year = [i for i in range(first, first + cycle) if i % 12 + 1 in residues]
    if len(residues) == 1 and active == every_year:
        month = residues.pop()
        day_fields = _day_fields(rule, samples, month)
        kind = "absolute" if "day_of_month" in day_fields else "relative"
        return {"pattern": f"{kind}_yearly", "month": month, **day_fields}
    if dropped:
        name = calendar.month_name[min(dropped)]
        rule.refuse(
            f"RFC 5545 skips a {name} that lacks its day; "
            "Exchange would move it to the month's last day"
        )
    rule.refuse("its months are no fixed step from DTSTART's month")


def _monthly_fields(rule: _Rule, interval: int, day_fields: Fields) -> Fields:
    kind = "absolute" if "day_of_month" in day_fields else "relative"
    return {
        "pattern": f"{kind}_monthly",
        "interval": _limit_interval(rule, interval, "monthly"),
        **day_fields,
    }


def _year_month(day: date) -> tuple[int, ...]:
    return (day.year, day.month)


def _period_dates(rule: _Rule, freq: str, key: Any) -> dict[tuple[int, ...], list[date]]:
    """dateutil's days of `rule` in each year or month of the reference years."""
    first, last = REFERENCE_YEARS
    years = range(first, last + 1)
    monthly = freq == "MONTHLY"
    keys = [(y, m) for y in years for m in range(1, 13)] if monthly else [(y,) for y in years]
    periods: dict[tuple[int, ...], list[date]] = {k: [] for k in keys}
    expansion = du.rrule(
        _DU_FREQ[freq],
        dtstart=datetime(first, 1, 1),
        until=datetime(last, 12, 31),
        bymonth=sorted(rule.months) or None,
        bymonthday=sorted(rule.monthdays) or None,
        byweekday=[du.weekday(wd, n) for n, wd in rule.days] or None,
        bysetpos=sorted(rule.setpos) or None,
    )
    for moment in expansion:
        periods[key(moment.date())].append(moment.date())
    return periods


def _day_fields(rule: _Rule, samples: list[date], month: int | None) -> Fields:
    """The one Exchange day selector that picks every sample day in its month."""
    for fields in _candidates(rule):
        day_of_month = fields.get("day_of_month")
        if day_of_month is not None and month is not None and day_of_month > MAX_DAYS[month]:
            continue
        if all(
            exchange_day(d.year, d.month, day_of_month, fields.get("day"), fields.get("week_index"))
            == d
            for d in samples
        ):
            return fields
    rule.refuse("no day of month or n-th weekday of Exchange picks the same days")


def _candidates(rule: _Rule) -> list[Fields]:
    """Every Exchange day selector, in the order that makes `to_rrule`'s output round-trip.

    Relative selectors never coincide with each other; absolute ones can in short months (day 30
    and 31 of February), so the days the rule names come first. Where an absolute and a relative
    selector coincide (day 1 and the first Day), the rule's own form decides.
    """
    absolute = sorted((d for d in rule.monthdays if d > 0), reverse=True)
    if any(d < 0 for d in rule.monthdays):
        absolute += [31, 30, 29]  # the last day: the largest day the month has
    by_day: list[Fields] = [{"day_of_month": d} for d in [*absolute, *range(1, 32)]]
    by_weekday: list[Fields] = [{"day": s, "week_index": i} for s in DaySpec for i in WeekIndex]
    return by_weekday + by_day if rule.days and not rule.monthdays else by_day + by_weekday
