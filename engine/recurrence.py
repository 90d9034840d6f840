"""Recurrence patterns as Exchange knows them, and their RFC 5545 RRULE form.

Exchange has six pattern types (daily, weekly, absolute/relative monthly, absolute/relative
yearly) and three range types (no end, end date, numbered). The ERP stores an RRULE. Both
directions are exact: an RRULE that Exchange cannot express raises `UnsupportedRecurrence`
instead of being approximated.

Expansion follows Exchange's semantics (wall-clock time in the series' time zone, a day of month
beyond the month's length falls on its last day, the first occurrence is the first date on or
after the series start that fits the pattern). It is our own code; the tests check it against
python-dateutil's rrule.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from engine.errors import InvalidRecurrence, UnsupportedRecurrence


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
        return _WEEKDAYS.index(self)


_WEEKDAYS = list(Weekday)


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
        return tuple(sorted(value, key=_weekday_order))

    @model_validator(mode="after")
    def _check(self) -> Recurrence:
        p = self.pattern
        if self.interval < 1 or self.interval > 999:
            raise InvalidRecurrence(f"interval {self.interval} is outside 1..999")
        if self.end_date is not None and self.count is not None:
            raise InvalidRecurrence("a series ends either at a date or after a count, not both")
        if self.count is not None and not 1 <= self.count <= 999:
            raise InvalidRecurrence(f"occurrence count {self.count} is outside 1..999")
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
        if self.weekdays and len(set(self.weekdays)) != len(self.weekdays):
            raise InvalidRecurrence("weekly pattern lists a weekday twice")
        if self.day_of_month is not None and not 1 <= self.day_of_month <= 31:
            raise InvalidRecurrence(f"day of month {self.day_of_month} is outside 1..31")
        if self.month is not None:
            if not 1 <= self.month <= 12:
                raise InvalidRecurrence(f"month {self.month} is outside 1..12")
            if self.day_of_month is not None and self.day_of_month > _MAX_DAYS[self.month]:
                raise InvalidRecurrence(
                    f"{calendar.month_name[self.month]} has no day {self.day_of_month}"
                )
        if p.endswith("yearly") and self.interval != 1:
            raise InvalidRecurrence("Exchange's yearly patterns have no interval")
        if (p != "weekly" or self.interval == 1) and self.first_day_of_week is not Weekday.MONDAY:
            # It changes no occurrence then; one value keeps equal series equal on both sides.
            object.__setattr__(self, "first_day_of_week", Weekday.MONDAY)
        return self

    # ---- RFC 5545 -------------------------------------------------------------------------

    def to_rrule(self) -> str:
        """The exact RRULE (without DTSTART) for this pattern; parse_rrule gives it back."""
        parts: list[str] = []
        p = self.pattern
        if p == "daily":
            parts.append("FREQ=DAILY")
        elif p == "weekly":
            parts.append("FREQ=WEEKLY")
        elif p.endswith("monthly"):
            parts.append("FREQ=MONTHLY")
        else:
            parts.append("FREQ=YEARLY")
        if self.interval != 1:
            parts.append(f"INTERVAL={self.interval}")
        if p == "weekly":
            parts.append("BYDAY=" + ",".join(_RRULE_DAY[d] for d in self.weekdays))
        if p.endswith("yearly"):
            parts.append(f"BYMONTH={self.month}")
        if p.startswith("absolute"):
            assert self.day_of_month is not None
            parts.extend(_clamped_month_day(self.day_of_month, self.month))
        if p.startswith("relative"):
            assert self.day is not None and self.week_index is not None
            pos = self.week_index.position
            if self.day in (DaySpec.DAY, DaySpec.WEEKDAY, DaySpec.WEEKEND_DAY):
                days = sorted(self.day.weekdays())
                parts.append("BYDAY=" + ",".join(_RRULE_DAY[_WEEKDAYS[i]] for i in days))
                parts.append(f"BYSETPOS={pos}")
            else:
                parts.append(f"BYDAY={pos}{_RRULE_DAY[Weekday(self.day.value)]}")
        if self.end_date is not None:
            parts.append(f"UNTIL={self.end_date:%Y%m%d}T235959")
        if self.count is not None:
            parts.append(f"COUNT={self.count}")
        if p == "weekly" and self.interval > 1:
            parts.append(f"WKST={_RRULE_DAY[self.first_day_of_week]}")
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
            while True:
                yield day
                day += timedelta(days=self.interval)
        elif p == "weekly":
            wanted = sorted(d.number for d in self.weekdays)
            week_start = first - timedelta(
                days=(first.weekday() - self.first_day_of_week.number) % 7
            )
            while True:
                for offset in range(7):
                    day = week_start + timedelta(days=offset)
                    if day.weekday() in wanted:
                        yield day
                week_start += timedelta(weeks=self.interval)
        else:
            year, month = first.year, first.month
            step = self.interval if p.endswith("monthly") else 12
            if p.endswith("yearly"):
                assert self.month is not None
                if month > self.month:
                    year += 1
                month = self.month
            while True:
                yield self._day_in_month(year, month)
                month += step
                year += (month - 1) // 12
                month = (month - 1) % 12 + 1
                if year > 9998:
                    return

    def _day_in_month(self, year: int, month: int) -> date:
        last = calendar.monthrange(year, month)[1]
        if self.day_of_month is not None:
            return date(year, month, min(self.day_of_month, last))
        assert self.day is not None and self.week_index is not None
        allowed = self.day.weekdays()
        matches = [
            date(year, month, d)
            for d in range(1, last + 1)
            if date(year, month, d).weekday() in allowed
        ]
        pos = self.week_index.position
        return matches[pos - 1] if pos > 0 else matches[-1]


_MAX_DAYS = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}

_RRULE_DAY = {
    Weekday.MONDAY: "MO",
    Weekday.TUESDAY: "TU",
    Weekday.WEDNESDAY: "WE",
    Weekday.THURSDAY: "TH",
    Weekday.FRIDAY: "FR",
    Weekday.SATURDAY: "SA",
    Weekday.SUNDAY: "SU",
}
_DAY_FROM_RRULE = {v: k for k, v in _RRULE_DAY.items()}


def _weekday_order(day: Weekday) -> int:
    return day.number


def _clamped_month_day(day: int, month: int | None) -> list[str]:
    """Exchange moves day 29-31 to a shorter month's last day; RFC 5545 says that with BYSETPOS."""
    shortest = 28 if month is None else (28 if month == 2 else _MAX_DAYS[month])
    if day <= shortest:
        return [f"BYMONTHDAY={day}"]
    return ["BYMONTHDAY=" + ",".join(str(d) for d in range(shortest, day + 1)), "BYSETPOS=-1"]


_ALLOWED_KEYS = {
    "FREQ",
    "INTERVAL",
    "BYDAY",
    "BYMONTHDAY",
    "BYMONTH",
    "BYSETPOS",
    "COUNT",
    "UNTIL",
    "WKST",
}
_BYDAY_ITEM = re.compile(r"^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$")


def parse_rrule(text: str, *, series_start: date | None = None) -> Recurrence:
    """The Exchange pattern for an RFC 5545 RRULE.

    Raises `InvalidRecurrence` when the text is not a valid rule and `UnsupportedRecurrence` when
    it is valid but none of Exchange's patterns expresses exactly the same dates. `series_start`
    (the local date of DTSTART) is needed only for yearly rules without BYMONTH.
    """
    rule = _split_rrule(text)
    freq = rule.pop("FREQ", None)
    if freq is None:
        raise InvalidRecurrence(f"RRULE {text!r} has no FREQ")
    interval = _int(rule.pop("INTERVAL", "1"), "INTERVAL", 1, 999)
    wkst = _DAY_FROM_RRULE.get(rule.pop("WKST", "MO"))
    if wkst is None:
        raise InvalidRecurrence(f"RRULE {text!r} has an invalid WKST")
    end_date, count = _range(rule, text)
    byday = _byday(rule.pop("BYDAY", None), text)
    bymonthday = _int_list(rule.pop("BYMONTHDAY", None), "BYMONTHDAY", -31, 31)
    bymonth = _int_list(rule.pop("BYMONTH", None), "BYMONTH", 1, 12)
    bysetpos = _int_list(rule.pop("BYSETPOS", None), "BYSETPOS", -366, 366)
    common = {"interval": interval, "end_date": end_date, "count": count}

    if freq == "DAILY":
        if bymonthday or bymonth or bysetpos:
            raise UnsupportedRecurrence(f"Exchange cannot express the daily rule {text!r}")
        if byday:
            # Outlook's "every weekday" is a weekly pattern; only every week matches exactly.
            if interval != 1 or any(n is not None for n, _ in byday):
                raise UnsupportedRecurrence(f"Exchange cannot express the daily rule {text!r}")
            return Recurrence(
                pattern="weekly",
                weekdays=tuple(d for _, d in byday),
                end_date=end_date,
                count=count,
            )
        return Recurrence(pattern="daily", **common)

    if freq == "WEEKLY":
        if bymonthday or bymonth or bysetpos or any(n is not None for n, _ in byday):
            raise UnsupportedRecurrence(f"Exchange cannot express the weekly rule {text!r}")
        if not byday:
            if series_start is None:
                raise UnsupportedRecurrence(
                    f"weekly rule {text!r} without BYDAY needs the series start"
                )
            byday = [(None, _WEEKDAYS[series_start.weekday()])]
        return Recurrence(
            pattern="weekly",
            weekdays=tuple(d for _, d in byday),
            first_day_of_week=wkst,
            **common,
        )

    if freq in ("MONTHLY", "YEARLY"):
        yearly = freq == "YEARLY"
        month: int | None = None
        if yearly:
            if len(bymonth) > 1:
                raise UnsupportedRecurrence(f"Exchange's yearly patterns name one month: {text!r}")
            if bymonth:
                month = bymonth[0]
            elif series_start is not None:
                month = series_start.month
            else:
                raise UnsupportedRecurrence(
                    f"yearly rule {text!r} without BYMONTH needs the series start"
                )
        elif bymonth:
            raise UnsupportedRecurrence(
                f"Exchange cannot restrict a monthly rule to months: {text!r}"
            )
        pattern_kind = _month_pattern(byday, bymonthday, bysetpos, month, text, series_start)
        if yearly and interval != 1:
            if series_start is None or series_start.month != month:
                raise UnsupportedRecurrence(
                    f"yearly rule {text!r} with an interval needs a series starting in its month"
                )
            if pattern_kind[0] != "absolute":
                raise UnsupportedRecurrence(
                    f"Exchange repeats relative yearly rules every year only: {text!r}"
                )
            # Exchange stores "every N years" as an absolute monthly pattern every 12*N months.
            return Recurrence(
                pattern="absolute_monthly",
                day_of_month=pattern_kind[1],
                interval=interval * 12,
                end_date=end_date,
                count=count,
            )
        prefix = "absolute" if pattern_kind[0] == "absolute" else "relative"
        suffix = "yearly" if yearly else "monthly"
        extra: dict[str, object] = {"month": month} if yearly else {}
        if prefix == "absolute":
            extra["day_of_month"] = pattern_kind[1]
        else:
            extra["day"] = pattern_kind[2]
            extra["week_index"] = pattern_kind[3]
        if yearly:
            return Recurrence(pattern=f"{prefix}_{suffix}", end_date=end_date, count=count, **extra)
        return Recurrence(pattern=f"{prefix}_{suffix}", **common, **extra)

    raise UnsupportedRecurrence(f"Exchange has no {freq.lower()} recurrence (RRULE {text!r})")


def _split_rrule(text: str) -> dict[str, str]:
    body = text.strip()
    if body.upper().startswith("RRULE:"):
        body = body[6:]
    if not body or "\n" in body:
        raise InvalidRecurrence(f"not a single RRULE: {text!r}")
    rule: dict[str, str] = {}
    for part in body.split(";"):
        if not part:
            continue
        if "=" not in part:
            raise InvalidRecurrence(f"RRULE part {part!r} has no '=' in {text!r}")
        key, _, value = part.partition("=")
        key = key.strip().upper()
        value = value.strip().upper()
        if key in rule:
            raise InvalidRecurrence(f"RRULE {text!r} names {key} twice")
        if key not in _ALLOWED_KEYS:
            if key in {"BYHOUR", "BYMINUTE", "BYSECOND", "BYWEEKNO", "BYYEARDAY"}:
                raise UnsupportedRecurrence(f"Exchange cannot express {key} (RRULE {text!r})")
            raise InvalidRecurrence(f"unknown RRULE part {key!r} in {text!r}")
        rule[key] = value
    if rule.get("FREQ") not in {
        None,
        "SECONDLY",
        "MINUTELY",
        "HOURLY",
        "DAILY",
        "WEEKLY",
        "MONTHLY",
        "YEARLY",
    }:
        raise InvalidRecurrence(f"invalid FREQ in {text!r}")
    return rule


def _int(value: str, name: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise InvalidRecurrence(f"{name}={value!r} is not a number") from None
    if not low <= number <= high or number == 0:
        raise InvalidRecurrence(f"{name}={number} is outside {low}..{high}")
    return number


def _int_list(value: str | None, name: str, low: int, high: int) -> list[int]:
    if value is None:
        return []
    return [_int(v, name, low, high) for v in value.split(",")]


def _byday(value: str | None, text: str) -> list[tuple[int | None, Weekday]]:
    if value is None:
        return []
    items: list[tuple[int | None, Weekday]] = []
    for raw in value.split(","):
        match = _BYDAY_ITEM.match(raw)
        if match is None:
            raise InvalidRecurrence(f"BYDAY item {raw!r} is invalid in {text!r}")
        ordinal = int(match.group(1)) if match.group(1) else None
        if ordinal == 0:
            raise InvalidRecurrence(f"BYDAY item {raw!r} is invalid in {text!r}")
        items.append((ordinal, _DAY_FROM_RRULE[match.group(2)]))
    if len({d for _, d in items}) != len(items):
        raise UnsupportedRecurrence(f"Exchange cannot express a weekday named twice: {text!r}")
    return sorted(items, key=lambda item: item[1].number)


def _range(rule: dict[str, str], text: str) -> tuple[date | None, int | None]:
    until = rule.pop("UNTIL", None)
    count = rule.pop("COUNT", None)
    if until is not None and count is not None:
        raise InvalidRecurrence(f"RRULE {text!r} has both UNTIL and COUNT")
    if count is not None:
        return None, _int(count, "COUNT", 1, 999)
    if until is None:
        return None, None
    match = re.fullmatch(r"(\d{4})(\d{2})(\d{2})(T\d{6}Z?)?", until)
    if match is None:
        raise InvalidRecurrence(f"UNTIL={until!r} is not a date in {text!r}")
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3))), None
    except ValueError:
        raise InvalidRecurrence(f"UNTIL={until!r} is not a date in {text!r}") from None


def _month_pattern(
    byday: list[tuple[int | None, Weekday]],
    bymonthday: list[int],
    bysetpos: list[int],
    month: int | None,
    text: str,
    series_start: date | None,
) -> tuple[str, int | None, DaySpec | None, WeekIndex | None]:
    """('absolute', day, None, None) or ('relative', None, DaySpec, WeekIndex) for a month rule."""
    unsupported = UnsupportedRecurrence(f"Exchange cannot express the monthly/yearly rule {text!r}")
    if bymonthday and byday:
        raise unsupported
    if bymonthday:
        if len(bymonthday) == 1 and not bysetpos:
            day = bymonthday[0]
            shortest = 28 if month in (None, 2) else _MAX_DAYS[month]
            if day < 1:
                raise unsupported
            if day > shortest:
                # RFC 5545 skips months without that day; Exchange moves it to the last day.
                raise UnsupportedRecurrence(
                    f"BYMONTHDAY={day} skips shorter months, Exchange moves it to their last day; "
                    f"write BYMONTHDAY={','.join(str(d) for d in range(shortest, day + 1))};BYSETPOS=-1 "
                    f"(RRULE {text!r})"
                )
            return ("absolute", day, None, None)
        if bysetpos == [-1] and len(bymonthday) > 1:
            day = bymonthday[-1]
            if bymonthday == list(range(bymonthday[0], day + 1)) and _clamped_month_day(
                day, month
            ) == [
                "BYMONTHDAY=" + ",".join(str(d) for d in bymonthday),
                "BYSETPOS=-1",
            ]:
                return ("absolute", day, None, None)
        raise unsupported
    if not byday:
        if series_start is None or bysetpos:
            raise unsupported
        return ("absolute", series_start.day, None, None)
    ordinals = {n for n, _ in byday}
    days = frozenset(d.number for _, d in byday)
    if len(byday) == 1 and not bysetpos:
        ordinal, weekday = byday[0]
        if ordinal is None:
            raise unsupported  # every Monday of the month: no Exchange pattern
        return ("relative", None, DaySpec(weekday.value), _week_index(ordinal, unsupported))
    if ordinals != {None} or len(bysetpos) != 1:
        raise unsupported
    for spec in (DaySpec.DAY, DaySpec.WEEKDAY, DaySpec.WEEKEND_DAY):
        if spec.weekdays() == days:
            return ("relative", None, spec, _week_index(bysetpos[0], unsupported))
    if len(days) == 1:
        only = next(d for _, d in byday)
        return ("relative", None, DaySpec(only.value), _week_index(bysetpos[0], unsupported))
    raise unsupported


def _week_index(ordinal: int, error: Exception) -> WeekIndex:
    if ordinal == -1:
        return WeekIndex.LAST
    if 1 <= ordinal <= 4:
        return list(WeekIndex)[ordinal - 1]
    raise error


def local_occurrence_starts(
    recurrence: Recurrence, first_local: datetime, *, until: date | None = None
) -> Iterator[datetime]:
    """Naive local start times of every occurrence: the series' time of day on each date."""
    for day in recurrence.dates(first_local.date(), until=until):
        yield datetime.combine(day, first_local.time())
