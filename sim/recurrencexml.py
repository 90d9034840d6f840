"""Recurrences as EWS XML: t:Recurrence of calendar items, parsed and written.

A recurrence is a pattern (Daily, Weekly, Absolute/RelativeMonthly, Absolute/RelativeYearly)
and a range (NoEnd, EndDate, Numbered). The range's StartDate and EndDate are xs:date values;
Exchange writes them with the series' UTC offset on that day (`2014-03-08-08:00` in Microsoft's
samples), which clients such as exchangelib need to read them as dates, not date-times. The
offset never changes the day when read.
"""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sim.envelope import Element, build, child_text, children, local_name, t
from sim.errors import EwsError, ResponseCode
from sim.recurrence import (
    MONTH_NAMES,
    AbsoluteMonthlyPattern,
    AbsoluteYearlyPattern,
    DailyPattern,
    DayOfWeek,
    DayOfWeekIndex,
    EndDateRange,
    EwsRecurrence,
    NoEndRange,
    NumberedRange,
    Pattern,
    Range,
    RelativeMonthlyPattern,
    RelativeYearlyPattern,
    WeeklyPattern,
)


def parse_date(text: str | None) -> date:
    """xs:date, which may carry an offset (2014-03-08-08:00) that does not change the day."""
    try:
        return date.fromisoformat((text or "").strip()[:10])
    except ValueError:
        raise EwsError(ResponseCode.INVALID_VALUE_FOR_PROPERTY, f"Invalid date {text}") from None


_DAY_NAMES = {day.value: day for day in DayOfWeek}


def _days(text: str | None) -> tuple[DayOfWeek, ...]:
    try:
        return tuple(_DAY_NAMES[name] for name in (text or "").split())
    except KeyError:
        raise EwsError(
            ResponseCode.CALENDAR_INVALID_RECURRENCE, f"Invalid DaysOfWeek {text}"
        ) from None


def _month(text: str | None) -> int:
    if text not in MONTH_NAMES:
        raise EwsError(ResponseCode.CALENDAR_INVALID_RECURRENCE, f"Invalid Month {text}")
    return MONTH_NAMES.index(text) + 1


def _index(text: str | None) -> DayOfWeekIndex:
    try:
        return DayOfWeekIndex(text or "")
    except ValueError:
        raise EwsError(
            ResponseCode.CALENDAR_INVALID_RECURRENCE, f"Invalid DayOfWeekIndex {text}"
        ) from None


def _single_day(text: str | None) -> DayOfWeek:
    days = _days(text)
    if len(days) != 1:
        raise EwsError(
            ResponseCode.CALENDAR_INVALID_RECURRENCE, "DaysOfWeek must name one day here."
        )
    return days[0]


def _interval(elem: Element) -> int:
    try:
        return int(child_text(elem, "Interval") or "1")
    except ValueError:
        raise EwsError(ResponseCode.CALENDAR_INVALID_RECURRENCE, "Invalid Interval") from None


def parse_recurrence(elem: Element, context: object = None) -> EwsRecurrence:
    parts = children(elem)
    if len(parts) != 2:
        raise EwsError(
            ResponseCode.CALENDAR_INVALID_RECURRENCE, "A recurrence needs a pattern and a range."
        )
    pattern_elem, range_elem = parts
    kind = local_name(pattern_elem)
    pattern: Pattern
    try:
        if kind == "DailyRecurrence":
            pattern = DailyPattern(_interval(pattern_elem))
        elif kind == "WeeklyRecurrence":
            first = child_text(pattern_elem, "FirstDayOfWeek")
            pattern = WeeklyPattern(
                days_of_week=_days(child_text(pattern_elem, "DaysOfWeek")),
                interval=_interval(pattern_elem),
                first_day_of_week=_single_day(first) if first else None,
            )
        elif kind == "AbsoluteMonthlyRecurrence":
            pattern = AbsoluteMonthlyPattern(
                int(child_text(pattern_elem, "DayOfMonth") or "0"), _interval(pattern_elem)
            )
        elif kind == "RelativeMonthlyRecurrence":
            pattern = RelativeMonthlyPattern(
                _single_day(child_text(pattern_elem, "DaysOfWeek")),
                _index(child_text(pattern_elem, "DayOfWeekIndex")),
                _interval(pattern_elem),
            )
        elif kind == "AbsoluteYearlyRecurrence":
            pattern = AbsoluteYearlyPattern(
                int(child_text(pattern_elem, "DayOfMonth") or "0"),
                _month(child_text(pattern_elem, "Month")),
            )
        elif kind == "RelativeYearlyRecurrence":
            pattern = RelativeYearlyPattern(
                _single_day(child_text(pattern_elem, "DaysOfWeek")),
                _index(child_text(pattern_elem, "DayOfWeekIndex")),
                _month(child_text(pattern_elem, "Month")),
            )
        else:
            raise EwsError(ResponseCode.CALENDAR_INVALID_RECURRENCE, f"Unsupported pattern {kind}")
    except ValueError:
        raise EwsError(
            ResponseCode.CALENDAR_INVALID_RECURRENCE, "Invalid recurrence pattern"
        ) from None
    start = parse_date(child_text(range_elem, "StartDate"))
    range_kind = local_name(range_elem)
    rng: Range
    if range_kind == "NoEndRecurrence":
        rng = NoEndRange(start)
    elif range_kind == "EndDateRecurrence":
        rng = EndDateRange(start, parse_date(child_text(range_elem, "EndDate")))
    elif range_kind == "NumberedRecurrence":
        try:
            count = int(child_text(range_elem, "NumberOfOccurrences") or "0")
        except ValueError:
            raise EwsError(
                ResponseCode.CALENDAR_INVALID_RECURRENCE, "Invalid NumberOfOccurrences"
            ) from None
        rng = NumberedRange(start, count)
    else:
        raise EwsError(ResponseCode.CALENDAR_INVALID_RECURRENCE, f"Unsupported range {range_kind}")
    return EwsRecurrence(pattern, rng)


def recurrence_element(
    recurrence: EwsRecurrence, zone: ZoneInfo | None = None, tag: str = "Recurrence"
) -> Element:
    pattern, rng = recurrence.pattern, recurrence.range
    if isinstance(pattern, RelativeYearlyPattern):
        pattern_elem = build(
            t("RelativeYearlyRecurrence"),
            t("DaysOfWeek", pattern.day_of_week),
            t("DayOfWeekIndex", pattern.index),
            t("Month", MONTH_NAMES[pattern.month - 1]),
        )
    elif isinstance(pattern, AbsoluteYearlyPattern):
        pattern_elem = build(
            t("AbsoluteYearlyRecurrence"),
            t("DayOfMonth", pattern.day_of_month),
            t("Month", MONTH_NAMES[pattern.month - 1]),
        )
    elif isinstance(pattern, RelativeMonthlyPattern):
        pattern_elem = build(
            t("RelativeMonthlyRecurrence"),
            t("Interval", pattern.interval),
            t("DaysOfWeek", pattern.day_of_week),
            t("DayOfWeekIndex", pattern.index),
        )
    elif isinstance(pattern, AbsoluteMonthlyPattern):
        pattern_elem = build(
            t("AbsoluteMonthlyRecurrence"),
            t("Interval", pattern.interval),
            t("DayOfMonth", pattern.day_of_month),
        )
    elif isinstance(pattern, WeeklyPattern):
        pattern_elem = build(
            t("WeeklyRecurrence"),
            t("Interval", pattern.interval),
            t("DaysOfWeek", " ".join(pattern.days_of_week)),
            t("FirstDayOfWeek", pattern.first_day_of_week) if pattern.first_day_of_week else None,
        )
    else:
        pattern_elem = build(t("DailyRecurrence"), t("Interval", pattern.interval))
    if isinstance(rng, NumberedRange):
        range_elem = build(
            t("NumberedRecurrence"),
            t("StartDate", zoned_date(rng.start_date, zone)),
            t("NumberOfOccurrences", rng.count),
        )
    elif isinstance(rng, EndDateRange):
        range_elem = build(
            t("EndDateRecurrence"),
            t("StartDate", zoned_date(rng.start_date, zone)),
            t("EndDate", zoned_date(rng.end_date, zone)),
        )
    else:
        range_elem = build(t("NoEndRecurrence"), t("StartDate", zoned_date(rng.start_date, zone)))
    return build(t(tag), pattern_elem, range_elem)


def zoned_date(day: date, zone: ZoneInfo | None) -> str:
    """An xs:date with the zone's UTC offset at the start of that day, as Exchange writes it."""
    if zone is None:
        return day.isoformat()
    offset = datetime.combine(day, time(), zone).utcoffset()
    assert offset is not None
    minutes = int(offset.total_seconds()) // 60
    if minutes == 0:
        return f"{day.isoformat()}Z"
    sign = "+" if minutes > 0 else "-"
    return f"{day.isoformat()}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
