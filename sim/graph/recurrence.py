"""patternedRecurrence (Graph) ⇄ the store's EwsRecurrence: the same six patterns, three ranges.

Graph → store:
- daily/weekly/absoluteMonthly/relativeMonthly/absoluteYearly/relativeYearly map one to one;
  weekly needs daysOfWeek; `firstDayOfWeek` defaults to sunday.
- A relative pattern's `daysOfWeek` list becomes EWS's one DaysOfWeek value: one day is that day;
  all seven are `Day`, monday–friday `Weekday`, saturday+sunday `WeekendDay`; other sets are
  refused (400), as Exchange cannot store them.
- Yearly patterns have no interval in EWS: Graph's `interval` must be 1 (assumption G10).
- `recurrenceTimeZone` is not stored: the series expands in its start zone (the store's rule).

Store → Graph: every field filled, as Graph echoes a created master (reference §3.5): unused
ints 0, `firstDayOfWeek` "sunday", `index` "first", `numberOfOccurrences` 0, `endDate`
"0001-01-01" for ranges without one, `recurrenceTimeZone` the series' start zone.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sim.graph.errors import bad_request
from sim.graph.values import enum_in, integer, only_keys
from sim.recurrence import (
    AbsoluteMonthlyPattern,
    AbsoluteYearlyPattern,
    DailyPattern,
    DayOfWeek,
    DayOfWeekIndex,
    EndDateRange,
    EwsRecurrence,
    EwsRecurrenceError,
    NoEndRange,
    NumberedRange,
    Pattern,
    Range,
    RelativeMonthlyPattern,
    RelativeYearlyPattern,
    WeeklyPattern,
)

PATTERN_TYPES = (
    "daily",
    "weekly",
    "absoluteMonthly",
    "relativeMonthly",
    "absoluteYearly",
    "relativeYearly",
)
RANGE_TYPES = ("endDate", "noEnd", "numbered")
DAY_NAMES = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
WEEK_INDEXES = ("first", "second", "third", "fourth", "last")
_WEEKDAYS = frozenset(DAY_NAMES[1:6])
_WEEKEND = frozenset({"saturday", "sunday"})


def _day(name: str) -> DayOfWeek:
    return DayOfWeek(name.title())


def _days(pattern: dict[str, Any]) -> list[str]:
    raw = pattern.get("daysOfWeek") or []
    if not isinstance(raw, list):
        raise bad_request("daysOfWeek must be a list.")
    return [enum_in(day, DAY_NAMES, "daysOfWeek") for day in raw]


def _relative_day(days: list[str]) -> DayOfWeek:
    chosen = frozenset(days)
    if len(chosen) == 1:
        return _day(days[0])
    if chosen == frozenset(DAY_NAMES):
        return DayOfWeek.DAY
    if chosen == _WEEKDAYS:
        return DayOfWeek.WEEKDAY
    if chosen == _WEEKEND:
        return DayOfWeek.WEEKEND_DAY
    raise bad_request("A relative recurrence takes one day, all days, weekdays or weekend days.")


def _date(value: Any, field: str) -> date:
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise bad_request(f"{field} must be a date (yyyy-mm-dd).") from None


def _pattern(raw: Any) -> Pattern:
    if not isinstance(raw, dict):
        raise bad_request("recurrence.pattern is required.")
    only_keys(
        raw,
        ("type", "interval", "month", "dayOfMonth", "daysOfWeek", "firstDayOfWeek", "index"),
        "recurrencePattern",
    )
    kind = enum_in(raw.get("type"), PATTERN_TYPES, "recurrence.pattern.type")
    interval = integer(raw.get("interval"), "recurrence.pattern.interval", low=1)
    index = DayOfWeekIndex(
        enum_in(raw.get("index") or "first", WEEK_INDEXES, "recurrence.pattern.index").title()
    )
    month = integer(raw.get("month", 0), "recurrence.pattern.month", 0, 12)
    day_of_month = integer(raw.get("dayOfMonth", 0), "recurrence.pattern.dayOfMonth", 0, 31)
    if kind in ("absoluteYearly", "relativeYearly") and interval != 1:
        raise bad_request("A yearly recurrence repeats every year (interval 1).")
    if kind == "daily":
        return DailyPattern(interval)
    if kind == "weekly":
        first = enum_in(raw.get("firstDayOfWeek") or "sunday", DAY_NAMES, "firstDayOfWeek")
        return WeeklyPattern(tuple(_day(d) for d in _days(raw)), interval, _day(first))
    if kind == "absoluteMonthly":
        return AbsoluteMonthlyPattern(day_of_month, interval)
    if kind == "relativeMonthly":
        return RelativeMonthlyPattern(_relative_day(_days(raw)), index, interval)
    if kind == "absoluteYearly":
        return AbsoluteYearlyPattern(day_of_month, month)
    return RelativeYearlyPattern(_relative_day(_days(raw)), index, month)


def _range(raw: Any) -> Range:
    if not isinstance(raw, dict):
        raise bad_request("recurrence.range is required.")
    only_keys(
        raw,
        ("type", "startDate", "endDate", "numberOfOccurrences", "recurrenceTimeZone"),
        "recurrenceRange",
    )
    kind = enum_in(raw.get("type"), RANGE_TYPES, "recurrence.range.type")
    start = _date(raw.get("startDate"), "recurrence.range.startDate")
    if kind == "noEnd":
        return NoEndRange(start)
    if kind == "endDate":
        return EndDateRange(start, _date(raw.get("endDate"), "recurrence.range.endDate"))
    count = integer(raw.get("numberOfOccurrences"), "recurrence.range.numberOfOccurrences")
    return NumberedRange(start, count)


def from_graph(raw: Any) -> EwsRecurrence | None:
    """The store's recurrence for a Graph `recurrence` value (None stays None); 400 if invalid."""
    if raw is None:
        return None
    only_keys(raw, ("pattern", "range"), "recurrence")
    recurrence = EwsRecurrence(_pattern(raw.get("pattern")), _range(raw.get("range")))
    try:
        recurrence.validate()
    except EwsRecurrenceError as error:
        raise bad_request(str(error)) from None
    return recurrence


def _days_of(day: DayOfWeek) -> list[str]:
    if day is DayOfWeek.DAY:
        return list(DAY_NAMES)
    if day is DayOfWeek.WEEKDAY:
        return [d for d in DAY_NAMES if d in _WEEKDAYS]
    if day is DayOfWeek.WEEKEND_DAY:
        return ["sunday", "saturday"]
    return [day.value.lower()]


def to_graph(recurrence: EwsRecurrence, zone_id: str) -> dict[str, Any]:
    pattern = recurrence.pattern
    out: dict[str, Any] = {
        "type": "daily",
        "interval": getattr(pattern, "interval", 1),
        "month": getattr(pattern, "month", 0),
        "dayOfMonth": getattr(pattern, "day_of_month", 0),
        "daysOfWeek": [],
        "firstDayOfWeek": "sunday",
        "index": "first",
    }
    if isinstance(pattern, WeeklyPattern):
        out["type"] = "weekly"
        out["daysOfWeek"] = [day.value.lower() for day in pattern.days_of_week]
        out["firstDayOfWeek"] = pattern.week_start.value.lower()
    elif isinstance(pattern, AbsoluteMonthlyPattern):
        out["type"] = "absoluteMonthly"
    elif isinstance(pattern, AbsoluteYearlyPattern):
        out["type"] = "absoluteYearly"
    elif isinstance(pattern, RelativeMonthlyPattern | RelativeYearlyPattern):
        out["type"] = (
            "relativeMonthly" if isinstance(pattern, RelativeMonthlyPattern) else "relativeYearly"
        )
        out["daysOfWeek"] = _days_of(pattern.day_of_week)
        out["index"] = pattern.index.value.lower()
    rng = recurrence.range
    out_range: dict[str, Any] = {
        "type": "noEnd",
        "startDate": rng.start_date.isoformat(),
        "endDate": "0001-01-01",
        "recurrenceTimeZone": zone_id,
        "numberOfOccurrences": 0,
    }
    if isinstance(rng, EndDateRange):
        out_range["type"] = "endDate"
        out_range["endDate"] = rng.end_date.isoformat()
    elif isinstance(rng, NumberedRange):
        out_range["type"] = "numbered"
        out_range["numberOfOccurrences"] = rng.count
    return {"pattern": out, "range": out_range}
