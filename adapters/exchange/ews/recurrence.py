"""Our recurrence (`engine.recurrence.Recurrence`) as exchangelib's, and back (R2).

    to_exchangelib(recurrence, start) -> exchangelib.recurrence.Recurrence
    from_exchangelib(recurrence) -> engine.recurrence.Recurrence

Both are Exchange's six patterns and three ranges, so the mapping is one to one; `start` is the
series' first local date (the range's StartDate). exchangelib caps a weekly interval at 99 (EWS
takes up to 999 in its schema, Outlook offers 99): a longer one is `UnsupportedRecurrence`, an
item parked with its reason rather than a request exchangelib refuses. Task regenerations
("every n days after completion") have no equivalent in our model: `InvalidRecurrence`.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from exchangelib.fields import MONTHS, WEEK_NUMBERS, WEEKDAYS
from exchangelib.recurrence import (
    AbsoluteMonthlyPattern,
    AbsoluteYearlyPattern,
    DailyPattern,
    EndDatePattern,
    NoEndPattern,
    NumberedPattern,
    RelativeMonthlyPattern,
    RelativeYearlyPattern,
    WeeklyPattern,
)
from exchangelib.recurrence import Recurrence as EwsRecurrence
from pydantic import ValidationError

from engine.errors import InvalidRecurrence, UnsupportedRecurrence
from engine.model import typed_error
from engine.recurrence import DaySpec, Recurrence, Weekday, WeekIndex

# exchangelib's WeeklyPattern refuses a larger interval (5.6.0, `IntegerField(max=99)`).
MAX_WEEKLY_INTERVAL = 99

# exchangelib's enum values, 1-based as its EnumFields store them.
_DAY_NUMBER = {
    DaySpec.MONDAY: WEEKDAYS.index("Monday") + 1,
    DaySpec.TUESDAY: WEEKDAYS.index("Tuesday") + 1,
    DaySpec.WEDNESDAY: WEEKDAYS.index("Wednesday") + 1,
    DaySpec.THURSDAY: WEEKDAYS.index("Thursday") + 1,
    DaySpec.FRIDAY: WEEKDAYS.index("Friday") + 1,
    DaySpec.SATURDAY: WEEKDAYS.index("Saturday") + 1,
    DaySpec.SUNDAY: WEEKDAYS.index("Sunday") + 1,
    DaySpec.DAY: WEEKDAYS.index("Day") + 1,
    DaySpec.WEEKDAY: WEEKDAYS.index("Weekday") + 1,
    DaySpec.WEEKEND_DAY: WEEKDAYS.index("WeekendDay") + 1,
}
_DAY_SPEC = {number: spec for spec, number in _DAY_NUMBER.items()}
_WEEKDAY_NUMBER = {day: _DAY_NUMBER[DaySpec(day.value)] for day in Weekday}
_WEEKDAY = {number: day for day, number in _WEEKDAY_NUMBER.items()}
_INDEX_NUMBER = {
    WeekIndex.FIRST: WEEK_NUMBERS.index("First") + 1,
    WeekIndex.SECOND: WEEK_NUMBERS.index("Second") + 1,
    WeekIndex.THIRD: WEEK_NUMBERS.index("Third") + 1,
    WeekIndex.FOURTH: WEEK_NUMBERS.index("Fourth") + 1,
    WeekIndex.LAST: WEEK_NUMBERS.index("Last") + 1,
}
_WEEK_INDEX = {number: index for index, number in _INDEX_NUMBER.items()}


def to_exchangelib(recurrence: Recurrence, start: date) -> Any:
    """exchangelib's Recurrence for ours, in a series whose first local date is `start`."""
    return EwsRecurrence(pattern=_pattern(recurrence), boundary=_boundary(recurrence, start))


def _pattern(r: Recurrence) -> Any:
    p = r.pattern
    if p == "daily":
        return DailyPattern(interval=r.interval)
    if p == "weekly":
        if r.interval > MAX_WEEKLY_INTERVAL:
            raise UnsupportedRecurrence(
                f"a weekly interval of {r.interval} is over the {MAX_WEEKLY_INTERVAL} weeks "
                "exchangelib can write",
                field="recurrence",
            )
        return WeeklyPattern(
            interval=r.interval,
            weekdays=[_WEEKDAY_NUMBER[day] for day in r.weekdays],
            first_day_of_week=_WEEKDAY_NUMBER[r.first_day_of_week],
        )
    if p == "absolute_monthly":
        return AbsoluteMonthlyPattern(interval=r.interval, day_of_month=r.day_of_month)
    if p == "absolute_yearly":
        return AbsoluteYearlyPattern(day_of_month=r.day_of_month, month=r.month)
    assert r.day is not None and r.week_index is not None
    day, index = _DAY_NUMBER[r.day], _INDEX_NUMBER[r.week_index]
    if p == "relative_monthly":
        return RelativeMonthlyPattern(interval=r.interval, weekday=day, week_number=index)
    return RelativeYearlyPattern(weekday=day, week_number=index, month=r.month)


def _boundary(r: Recurrence, start: date) -> Any:
    if r.end_date is not None:
        return EndDatePattern(start=start, end=r.end_date)
    if r.count is not None:
        return NumberedPattern(start=start, number=r.count)
    return NoEndPattern(start=start)


def from_exchangelib(recurrence: Any) -> Recurrence:
    """Our Recurrence for exchangelib's (the range's start is the item's start, not kept)."""
    pattern, boundary = recurrence.pattern, recurrence.boundary
    values: dict[str, Any]
    try:
        if isinstance(pattern, DailyPattern):
            values = {"pattern": "daily", "interval": pattern.interval}
        elif isinstance(pattern, WeeklyPattern):
            days = pattern.weekdays
            values = {
                "pattern": "weekly",
                "interval": pattern.interval,
                "weekdays": [_WEEKDAY[n] for n in ([days] if isinstance(days, int) else days)],
                "first_day_of_week": _WEEKDAY[pattern.first_day_of_week or 1],
            }
        elif isinstance(pattern, AbsoluteMonthlyPattern):
            values = {
                "pattern": "absolute_monthly",
                "interval": pattern.interval,
                "day_of_month": pattern.day_of_month,
            }
        elif isinstance(pattern, RelativeMonthlyPattern):
            values = {
                "pattern": "relative_monthly",
                "interval": pattern.interval,
                "day": _DAY_SPEC[pattern.weekday],
                "week_index": _WEEK_INDEX[pattern.week_number],
            }
        elif isinstance(pattern, AbsoluteYearlyPattern):
            values = {
                "pattern": "absolute_yearly",
                "day_of_month": pattern.day_of_month,
                "month": _month(pattern.month),
            }
        elif isinstance(pattern, RelativeYearlyPattern):
            values = {
                "pattern": "relative_yearly",
                "day": _DAY_SPEC[pattern.weekday],
                "week_index": _WEEK_INDEX[pattern.week_number],
                "month": _month(pattern.month),
            }
        else:
            raise InvalidRecurrence(
                f"Exchange pattern {type(pattern).__name__} has no equivalent in the ERP",
                field="recurrence",
            )
    except KeyError as error:
        raise InvalidRecurrence(
            f"Exchange pattern value {error.args[0]!r} has no equivalent in the ERP",
            field="recurrence",
        ) from None
    if isinstance(boundary, EndDatePattern):
        values["end_date"] = _date(boundary.end)
    elif isinstance(boundary, NumberedPattern):
        values["count"] = boundary.number
    elif not isinstance(boundary, NoEndPattern):
        raise InvalidRecurrence("the series has no range", field="recurrence")
    try:
        return Recurrence.model_validate(values)
    except ValidationError as error:
        raise typed_error(error) from None


def _month(value: int | str) -> int:
    return MONTHS.index(value) + 1 if isinstance(value, str) else value


def _date(value: Any) -> date:
    """An EWSDate (or, from some servers, a date with an offset) as a plain date."""
    return date(value.year, value.month, value.day)
