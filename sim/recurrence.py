"""Recurrence patterns and ranges with Exchange semantics, and their expansion into occurrences.

A series is a pattern (Daily, Weekly, AbsoluteMonthly, RelativeMonthly, AbsoluteYearly,
RelativeYearly — the six EWS pattern types) plus a range (NoEnd, EndDate, Numbered). Expansion
works on local calendar dates in the series' own time zone: every occurrence keeps the wall-clock
time of the series start, also across daylight-saving changes, exactly as Exchange does.

Exchange rules implemented here:
- The first occurrence is the first date on or after the range's StartDate that fits the pattern.
- Weekly patterns count weeks from the week (starting on FirstDayOfWeek, default Sunday) that
  contains StartDate; every `interval`-th week has occurrences on each listed day.
- Monthly/yearly "day 31" means the last day of shorter months.
- Relative patterns pick the First..Fourth or Last day matching DaysOfWeek in a month, where the
  day may also be Day (any day), Weekday (Monday-Friday) or WeekendDay (Saturday, Sunday).
- Numbered ranges count every generated occurrence, including ones later deleted.
"""

from __future__ import annotations

import calendar
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo


class DayOfWeek(StrEnum):
    SUNDAY = "Sunday"
    MONDAY = "Monday"
    TUESDAY = "Tuesday"
    WEDNESDAY = "Wednesday"
    THURSDAY = "Thursday"
    FRIDAY = "Friday"
    SATURDAY = "Saturday"
    DAY = "Day"
    WEEKDAY = "Weekday"
    WEEKEND_DAY = "WeekendDay"

    @property
    def python_weekdays(self) -> frozenset[int]:
        """The `date.weekday()` numbers (Monday=0) this value matches."""
        return _PYTHON_WEEKDAYS[self]


_CONCRETE_DAYS = (
    DayOfWeek.MONDAY,
    DayOfWeek.TUESDAY,
    DayOfWeek.WEDNESDAY,
    DayOfWeek.THURSDAY,
    DayOfWeek.FRIDAY,
    DayOfWeek.SATURDAY,
    DayOfWeek.SUNDAY,
)
_PYTHON_WEEKDAYS: dict[DayOfWeek, frozenset[int]] = {
    **{day: frozenset({number}) for number, day in enumerate(_CONCRETE_DAYS)},
    DayOfWeek.DAY: frozenset(range(7)),
    DayOfWeek.WEEKDAY: frozenset(range(5)),
    DayOfWeek.WEEKEND_DAY: frozenset({5, 6}),
}


class DayOfWeekIndex(StrEnum):
    FIRST = "First"
    SECOND = "Second"
    THIRD = "Third"
    FOURTH = "Fourth"
    LAST = "Last"

    @property
    def position(self) -> int:
        """0-based position among the matching days of a month; -1 for Last."""
        return -1 if self is DayOfWeekIndex.LAST else list(DayOfWeekIndex).index(self)


MONTH_NAMES: tuple[str, ...] = tuple(calendar.month_name[1:])


class EwsRecurrenceError(ValueError):
    """A pattern or range Exchange would reject (ErrorCalendarInvalidRecurrence)."""


@dataclass(frozen=True)
class DailyPattern:
    interval: int = 1


@dataclass(frozen=True)
class WeeklyPattern:
    days_of_week: tuple[DayOfWeek, ...]
    interval: int = 1
    # None: not given by the client (Exchange then counts weeks from Sunday and omits it).
    first_day_of_week: DayOfWeek | None = None

    @property
    def week_start(self) -> DayOfWeek:
        return self.first_day_of_week or DayOfWeek.SUNDAY


@dataclass(frozen=True)
class AbsoluteMonthlyPattern:
    day_of_month: int
    interval: int = 1


@dataclass(frozen=True)
class RelativeMonthlyPattern:
    day_of_week: DayOfWeek
    index: DayOfWeekIndex
    interval: int = 1


@dataclass(frozen=True)
class AbsoluteYearlyPattern:
    day_of_month: int
    month: int


@dataclass(frozen=True)
class RelativeYearlyPattern:
    day_of_week: DayOfWeek
    index: DayOfWeekIndex
    month: int


Pattern = (
    DailyPattern
    | WeeklyPattern
    | AbsoluteMonthlyPattern
    | RelativeMonthlyPattern
    | AbsoluteYearlyPattern
    | RelativeYearlyPattern
)


@dataclass(frozen=True)
class NoEndRange:
    start_date: date


@dataclass(frozen=True)
class EndDateRange:
    start_date: date
    end_date: date


@dataclass(frozen=True)
class NumberedRange:
    start_date: date
    count: int


Range = NoEndRange | EndDateRange | NumberedRange


@dataclass(frozen=True)
class EwsRecurrence:
    """An EWS recurrence: a pattern and a range."""

    pattern: Pattern
    range: Range

    def validate(self) -> None:
        """Raise EwsRecurrenceError for values Exchange rejects."""
        pattern = self.pattern
        if isinstance(pattern, DailyPattern | WeeklyPattern) and not 1 <= pattern.interval <= 999:
            raise EwsRecurrenceError("Interval must be between 1 and 999")
        if isinstance(pattern, AbsoluteMonthlyPattern | RelativeMonthlyPattern) and not (
            1 <= pattern.interval <= 99
        ):
            raise EwsRecurrenceError("Interval must be between 1 and 99")
        if isinstance(pattern, WeeklyPattern):
            if not pattern.days_of_week:
                raise EwsRecurrenceError("A weekly pattern needs at least one day")
            if any(day not in _CONCRETE_DAYS for day in pattern.days_of_week):
                raise EwsRecurrenceError("A weekly pattern takes named days only")
            if pattern.week_start not in _CONCRETE_DAYS:
                raise EwsRecurrenceError("FirstDayOfWeek must be a named day")
        if isinstance(pattern, AbsoluteMonthlyPattern | AbsoluteYearlyPattern) and not (
            1 <= pattern.day_of_month <= 31
        ):
            raise EwsRecurrenceError("DayOfMonth must be between 1 and 31")
        if isinstance(pattern, AbsoluteYearlyPattern | RelativeYearlyPattern) and not (
            1 <= pattern.month <= 12
        ):
            raise EwsRecurrenceError("Month must be between 1 and 12")
        rng = self.range
        if isinstance(rng, EndDateRange) and rng.end_date < rng.start_date:
            raise EwsRecurrenceError("EndDate is earlier than StartDate")
        if isinstance(rng, NumberedRange) and not 1 <= rng.count <= 999:
            raise EwsRecurrenceError("NumberOfOccurrences must be between 1 and 999")

    @property
    def is_bounded(self) -> bool:
        return not isinstance(self.range, NoEndRange)

    def dates(self) -> Iterator[date]:
        """The local dates of all occurrences, in order (infinite for a NoEnd range)."""
        candidates = _pattern_dates(self.pattern, self.range.start_date)
        rng = self.range
        if isinstance(rng, NumberedRange):
            return itertools.islice(candidates, rng.count)
        if isinstance(rng, EndDateRange):
            end_date = rng.end_date
            return itertools.takewhile(lambda day: day <= end_date, candidates)
        return candidates


def _add_months(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def _clamped(year: int, month: int, day_of_month: int) -> date:
    return date(year, month, min(day_of_month, calendar.monthrange(year, month)[1]))


def _relative_day(year: int, month: int, day: DayOfWeek, index: DayOfWeekIndex) -> date:
    matching = [
        date(year, month, number)
        for number in range(1, calendar.monthrange(year, month)[1] + 1)
        if date(year, month, number).weekday() in day.python_weekdays
    ]
    return matching[index.position]


def _pattern_dates(pattern: Pattern, start: date) -> Iterator[date]:
    """All dates fitting `pattern` on or after `start`, in order, without end."""
    if isinstance(pattern, DailyPattern):
        for step in itertools.count():
            yield start + timedelta(days=step * pattern.interval)
    elif isinstance(pattern, WeeklyPattern):
        first_day = next(iter(pattern.week_start.python_weekdays))
        week_start = start - timedelta(days=(start.weekday() - first_day) % 7)
        offsets = sorted(
            {(next(iter(day.python_weekdays)) - first_day) % 7 for day in pattern.days_of_week}
        )
        for week in itertools.count(step=pattern.interval):
            for offset in offsets:
                day = week_start + timedelta(weeks=week, days=offset)
                if day >= start:
                    yield day
    elif isinstance(pattern, AbsoluteMonthlyPattern | RelativeMonthlyPattern):
        for months in itertools.count(step=pattern.interval):
            year, month = _add_months(start.year, start.month, months)
            if isinstance(pattern, AbsoluteMonthlyPattern):
                day = _clamped(year, month, pattern.day_of_month)
            else:
                day = _relative_day(year, month, pattern.day_of_week, pattern.index)
            if day >= start:
                yield day
    else:
        for year in itertools.count(start.year):
            if isinstance(pattern, AbsoluteYearlyPattern):
                day = _clamped(year, pattern.month, pattern.day_of_month)
            else:
                day = _relative_day(year, pattern.month, pattern.day_of_week, pattern.index)
            if day >= start:
                yield day


@dataclass(frozen=True)
class OccurrenceShape:
    """The wall-clock shape every occurrence of a series shares, in the series' time zone."""

    tz: ZoneInfo
    start_time: time
    wall_duration: timedelta

    @classmethod
    def of(cls, start: datetime, end: datetime, tz: ZoneInfo) -> OccurrenceShape:
        """The shape of a series whose first occurrence runs from `start` to `end` (aware)."""
        local_start = start.astimezone(tz).replace(tzinfo=None)
        local_end = end.astimezone(tz).replace(tzinfo=None)
        return cls(tz=tz, start_time=local_start.time(), wall_duration=local_end - local_start)

    def on(self, day: date) -> tuple[datetime, datetime]:
        """UTC start and end of the occurrence on local date `day`."""
        local_start = datetime.combine(day, self.start_time)
        local_end = local_start + self.wall_duration
        return (
            local_start.replace(tzinfo=self.tz).astimezone(UTC),
            local_end.replace(tzinfo=self.tz).astimezone(UTC),
        )

    def local_date(self, moment: datetime) -> date:
        return moment.astimezone(self.tz).date()
