"""Exchange's recurrence patterns and ranges, their expansion, and their RFC 5545 RRULE form.

Exchange has six pattern types (daily, weekly, absolute/relative monthly, absolute/relative
yearly) and three range types (no end, end date, numbered). Expansion follows Exchange's
semantics: wall-clock time in the series' time zone, a day of month beyond the month's length
falls on its last day, the first occurrence is the first date on or after the series start that
fits the pattern, and a numbered range counts from there. `engine.recurrence` is the public face
(parse_rrule, to_rrule and the accepted subset); this module is the model it converts into.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from engine.errors import InvalidRecurrence


class Weekday(StrEnum):
    MONDAY = "monday"
    TUESDAY = "tuesday"
    WEDNESDAY = "wednesday"
    THURSDAY = "thursday"
    FRIDAY = "friday"
    SATURDAY = "saturday"
    SUNDAY = "sunday"

    @property
    def number(self) -> int:
        """Monday is 0, as in `date.weekday()`."""
        return WEEKDAYS.index(self)


WEEKDAYS = list(Weekday)


class DaySpec(StrEnum):
    """What a relative pattern counts: one weekday, or Exchange's Day/Weekday/WeekendDay."""

    MONDAY = "monday"
    TUESDAY = "tuesday"
    WEDNESDAY = "wednesday"
    THURSDAY = "thursday"
    FRIDAY = "friday"
    SATURDAY = "saturday"
    SUNDAY = "sunday"
    DAY = "day"
    WEEKDAY = "weekday"
    WEEKEND_DAY = "weekend_day"

    def weekdays(self) -> frozenset[int]:
        if self is DaySpec.DAY:
            return frozenset(range(7))
        if self is DaySpec.WEEKDAY:
            return frozenset(range(5))
        if self is DaySpec.WEEKEND_DAY:
            return frozenset({5, 6})
        return frozenset({Weekday(self.value).number})


class WeekIndex(StrEnum):
    FIRST = "first"
    SECOND = "second"
    THIRD = "third"
    FOURTH = "fourth"
    LAST = "last"

    @property
    def position(self) -> int:
        """1..4 for First..Fourth, -1 for Last (RRULE's BYSETPOS / BYDAY ordinal)."""
        return -1 if self is WeekIndex.LAST else list(WeekIndex).index(self) + 1


PatternType = Literal[
    "daily",
    "weekly",
    "absolute_monthly",
    "relative_monthly",
    "absolute_yearly",
    "relative_yearly",
]

# The largest Interval Exchange accepts per pattern (yearly patterns have none).
MAX_INTERVAL = {"daily": 999, "weekly": 999, "monthly": 99, "yearly": 1}
MAX_COUNT = 999
MAX_DAYS = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}


def pattern_family(pattern: PatternType) -> str:
    """'daily', 'weekly', 'monthly' or 'yearly'."""
    return pattern.rsplit("_", 1)[-1]


class Recurrence(BaseModel):
    """One of Exchange's six patterns plus its range (the series start is the item's start)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pattern: PatternType
    interval: int = 1
    weekdays: tuple[Weekday, ...] = ()  # weekly
    day: DaySpec | None = None  # relative monthly/yearly
    week_index: WeekIndex | None = None  # relative monthly/yearly
    day_of_month: int | None = None  # absolute monthly/yearly
    month: int | None = None  # yearly
    first_day_of_week: Weekday = Weekday.MONDAY
    end_date: date | None = None  # range: end date (inclusive, local)
    count: int | None = None  # range: numbered

    @field_validator("weekdays")
    @classmethod
    def _sorted_weekdays(cls, value: tuple[Weekday, ...]) -> tuple[Weekday, ...]:
        return tuple(sorted(value, key=lambda day: day.number))

    @model_validator(mode="after")
    def _check(self) -> Recurrence:
        p = self.pattern
        most = MAX_INTERVAL[pattern_family(p)]
        if not 1 <= self.interval <= most:
            raise InvalidRecurrence(
                f"a {p} pattern's interval {self.interval} is outside 1..{most}"
            )
        if self.end_date is not None and self.count is not None:
            raise InvalidRecurrence("a series ends either at a date or after a count, not both")
        if self.count is not None and not 1 <= self.count <= MAX_COUNT:
            raise InvalidRecurrence(f"occurrence count {self.count} is outside 1..{MAX_COUNT}")
        needs = {
            "daily": (),
            "weekly": ("weekdays",),
            "absolute_monthly": ("day_of_month",),
            "relative_monthly": ("day", "week_index"),
            "absolute_yearly": ("day_of_month", "month"),
            "relative_yearly": ("day", "week_index", "month"),
        }[p]
        for name in ("weekdays", "day", "week_index", "day_of_month", "month"):
            value = getattr(self, name)
            present = bool(value) if name == "weekdays" else value is not None
            if present != (name in needs):
                verb = "needs" if name in needs else "does not take"
                raise InvalidRecurrence(f"a {p} pattern {verb} {name}")
        if len(set(self.weekdays)) != len(self.weekdays):
            raise InvalidRecurrence("weekly pattern lists a weekday twice")
        if self.day_of_month is not None and not 1 <= self.day_of_month <= 31:
            raise InvalidRecurrence(f"day of month {self.day_of_month} is outside 1..31")
        if self.month is not None:
            if not 1 <= self.month <= 12:
                raise InvalidRecurrence(f"month {self.month} is outside 1..12")
            if self.day_of_month is not None and self.day_of_month > MAX_DAYS[self.month]:
                raise InvalidRecurrence(
                    f"{calendar.month_name[self.month]} has no day {self.day_of_month}"
                )
        if (p != "weekly" or self.interval == 1) and self.first_day_of_week is not Weekday.MONDAY:
            # It changes no occurrence then; one value keeps equal series equal on both sides.
            object.__setattr__(self, "first_day_of_week", Weekday.MONDAY)
        return self

    # ---- RFC 5545 -------------------------------------------------------------------------

    def to_rrule(self, dtstart: datetime) -> str:
        """The exact RRULE for this pattern in a series starting at `dtstart` (tz-aware).

        UNTIL is the end date's occurrence time in UTC (RFC 5545 wants UTC next to a zoned
        DTSTART); `engine.recurrence.parse_rrule(rule, dtstart=dtstart)` gives this pattern back.
        """
        parts: list[str] = ["FREQ=" + pattern_family(self.pattern).upper()]
        p = self.pattern
        if self.interval != 1:
            parts.append(f"INTERVAL={self.interval}")
        if p == "weekly":
            parts.append("BYDAY=" + ",".join(RRULE_DAY[d] for d in self.weekdays))
        if self.month is not None:
            parts.append(f"BYMONTH={self.month}")
        if self.day_of_month is not None:
            parts.extend(_month_day_parts(self.day_of_month, self.month))
        if self.day is not None and self.week_index is not None:
            pos = self.week_index.position
            if self.day in (DaySpec.DAY, DaySpec.WEEKDAY, DaySpec.WEEKEND_DAY):
                days = sorted(self.day.weekdays())
                parts.append("BYDAY=" + ",".join(RRULE_DAY[WEEKDAYS[i]] for i in days))
                parts.append(f"BYSETPOS={pos}")
            else:
                parts.append(f"BYDAY={pos}{RRULE_DAY[Weekday(self.day.value)]}")
        if self.end_date is not None:
            parts.append(f"UNTIL={until_for(self.end_date, dtstart):%Y%m%dT%H%M%SZ}")
        if self.count is not None:
            parts.append(f"COUNT={self.count}")
        if p == "weekly" and self.interval > 1:
            parts.append(f"WKST={RRULE_DAY[self.first_day_of_week]}")
        return ";".join(parts)

    # ---- expansion --------------------------------------------------------------------------

    def dates(self, first: date, *, until: date | None = None) -> Iterator[date]:
        """Local dates of the occurrences of a series starting on `first`, in order.

        Stops at the range's end, and at `until` (inclusive) when given; a series with no end
        and no `until` is infinite.
        """
        produced = 0
        for day in self._candidates(first):
            if day < first:
                continue
            if self.end_date is not None and day > self.end_date:
                return
            if until is not None and day > until:
                return
            yield day
            produced += 1
            if self.count is not None and produced >= self.count:
                return

    def _candidates(self, first: date) -> Iterator[date]:
        p = self.pattern
        if p == "daily":
            day = first
            while day.year < 9999:
                yield day
                if (date.max - day).days < self.interval:
                    return  # the calendar ends (datetime's year 9999)
                day += timedelta(days=self.interval)
        elif p == "weekly":
            wanted = {d.number for d in self.weekdays}
            week_start = first - timedelta(
                days=(first.weekday() - self.first_day_of_week.number) % 7
            )
            while week_start.year < 9999:
                for offset in range(7):
                    day = week_start + timedelta(days=offset)
                    if day.weekday() in wanted:
                        yield day
                if (date.max - week_start).days < 7 * self.interval:
                    return
                week_start += timedelta(weeks=self.interval)
        else:
            year, month = first.year, first.month
            if self.month is not None:  # yearly: every year's month, from the start's year
                year, month = year + (month > self.month), self.month
            step = 12 if self.month is not None else self.interval
            while year < 9999:
                yield exchange_day(year, month, self.day_of_month, self.day, self.week_index)
                month += step
                year += (month - 1) // 12
                month = (month - 1) % 12 + 1


def exchange_day(
    year: int,
    month: int,
    day_of_month: int | None,
    day: DaySpec | None,
    week_index: WeekIndex | None,
) -> date:
    """The day an absolute (day_of_month) or relative (day, week_index) pattern picks."""
    last = calendar.monthrange(year, month)[1]
    if day_of_month is not None:
        return date(year, month, min(day_of_month, last))
    assert day is not None and week_index is not None
    allowed = day.weekdays()
    matches = [d for d in range(1, last + 1) if date(year, month, d).weekday() in allowed]
    pos = week_index.position
    return date(year, month, matches[pos - 1] if pos > 0 else matches[-1])


def series_time(dtstart: datetime) -> time:
    """The wall-clock time of every occurrence (RFC 5545 works in whole seconds)."""
    return dtstart.time().replace(microsecond=0, fold=0)


def until_for(end_date: date, dtstart: datetime) -> datetime:
    """UNTIL (UTC) for a series ending on local `end_date`: the occurrence time that day."""
    local = datetime.combine(end_date, series_time(dtstart), tzinfo=dtstart.tzinfo)
    return local.astimezone(UTC)


RRULE_DAY = {
    Weekday.MONDAY: "MO",
    Weekday.TUESDAY: "TU",
    Weekday.WEDNESDAY: "WE",
    Weekday.THURSDAY: "TH",
    Weekday.FRIDAY: "FR",
    Weekday.SATURDAY: "SA",
    Weekday.SUNDAY: "SU",
}


def _month_day_parts(day: int, month: int | None) -> list[str]:
    """Exchange moves day 29-31 to a shorter month's last day; RFC 5545 says that with BYSETPOS."""
    shortest = 28 if month in (None, 2) else MAX_DAYS[month]
    if day <= shortest:
        return [f"BYMONTHDAY={day}"]
    if day == 31 and month is None:
        return ["BYMONTHDAY=-1"]
    return ["BYMONTHDAY=" + ",".join(str(d) for d in range(shortest, day + 1)), "BYSETPOS=-1"]


def local_occurrence_starts(
    recurrence: Recurrence, first_local: datetime, *, until: date | None = None
) -> Iterator[datetime]:
    """Naive local start times of every occurrence: the series' time of day on each date."""
    for day in recurrence.dates(first_local.date(), until=until):
        yield datetime.combine(day, first_local.time())
