"""Our recurrence (`engine.recurrence.Recurrence`) as Graph's patternedRecurrence, and back (R2).

Both are Exchange's six patterns and three ranges: one to one. Graph's yearly patterns carry
interval 1 (assumption G10 of the simulator); `recurrenceTimeZone` is the series' zone.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import ValidationError

from engine.errors import InvalidRecurrence
from engine.model import typed_error
from engine.recurrence import DaySpec, Recurrence

_PATTERNS = {
    "daily": "daily",
    "weekly": "weekly",
    "absolute_monthly": "absoluteMonthly",
    "relative_monthly": "relativeMonthly",
    "absolute_yearly": "absoluteYearly",
    "relative_yearly": "relativeYearly",
}
_OURS = {v: k for k, v in _PATTERNS.items()}
_SPECIAL = {
    DaySpec.DAY: [
        "sunday",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
    ],
    DaySpec.WEEKDAY: ["monday", "tuesday", "wednesday", "thursday", "friday"],
    DaySpec.WEEKEND_DAY: ["sunday", "saturday"],
}


def to_graph(r: Recurrence, start: date, zone: str) -> dict[str, Any]:
    """patternedRecurrence for ours, in a series whose first local date is `start`."""
    pattern: dict[str, Any] = {"type": _PATTERNS[r.pattern], "interval": r.interval}
    if r.pattern in ("absolute_yearly", "relative_yearly"):
        pattern["interval"] = 1
    if r.pattern == "weekly":
        pattern["daysOfWeek"] = [day.value for day in r.weekdays]
        pattern["firstDayOfWeek"] = r.first_day_of_week.value
    if r.pattern in ("absolute_monthly", "absolute_yearly"):
        pattern["dayOfMonth"] = r.day_of_month
    if r.pattern in ("absolute_yearly", "relative_yearly"):
        pattern["month"] = r.month
    if r.pattern in ("relative_monthly", "relative_yearly"):
        assert r.day is not None and r.week_index is not None
        pattern["daysOfWeek"] = _SPECIAL.get(r.day, [r.day.value])
        pattern["index"] = r.week_index.value
    span: dict[str, Any] = {"startDate": start.isoformat(), "recurrenceTimeZone": zone}
    if r.end_date is not None:
        span.update(type="endDate", endDate=r.end_date.isoformat())
    elif r.count is not None:
        span.update(type="numbered", numberOfOccurrences=r.count)
    else:
        span["type"] = "noEnd"
    return {"pattern": pattern, "range": span}


def from_graph(raw: dict[str, Any]) -> Recurrence:
    """Ours for a Graph recurrence; InvalidRecurrence when it has no equivalent."""
    pattern, span = raw.get("pattern") or {}, raw.get("range") or {}
    kind = _OURS.get(pattern.get("type", ""))
    if kind is None:
        raise InvalidRecurrence(
            f"Graph pattern {pattern.get('type')!r} has no equivalent in the ERP",
            field="recurrence",
        )
    values: dict[str, Any] = {"pattern": kind}
    if kind not in ("absolute_yearly", "relative_yearly"):
        values["interval"] = pattern.get("interval") or 1
    days = [str(d).lower() for d in pattern.get("daysOfWeek") or ()]
    if kind == "weekly":
        values["weekdays"] = days
        values["first_day_of_week"] = pattern.get("firstDayOfWeek") or "sunday"
    if kind in ("absolute_monthly", "absolute_yearly"):
        values["day_of_month"] = pattern.get("dayOfMonth")
    if kind in ("absolute_yearly", "relative_yearly"):
        values["month"] = pattern.get("month")
    if kind in ("relative_monthly", "relative_yearly"):
        special = [spec for spec, names in _SPECIAL.items() if sorted(names) == sorted(days)]
        values["day"] = special[0].value if special else (days[0] if days else None)
        values["week_index"] = pattern.get("index") or "first"
    if span.get("type") == "endDate":
        values["end_date"] = span.get("endDate")
    elif span.get("type") == "numbered":
        values["count"] = span.get("numberOfOccurrences")
    try:
        return Recurrence.model_validate(values)
    except ValidationError as error:
        raise typed_error(error) from None
