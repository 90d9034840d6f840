"""A stored series as the editing API checks it: its rule and which starts are its occurrences.

`series_recurrence` is the one place here that calls `engine.recurrence.parse_rrule`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from adapters.erp.columns import as_utc
from engine.errors import InvalidItem
from engine.model import zone
from engine.recurrence import Recurrence, local_occurrence_starts, parse_rrule


def series_recurrence(rule: str, start: datetime, tz: ZoneInfo) -> Recurrence:
    """The Exchange pattern of `rule` for a series that starts at `start` in `tz`."""
    return parse_rrule(rule, dtstart=start.astimezone(tz))


def rule_problem(rule: str, start: datetime, time_zone: str) -> str | None:
    """Why the engine could not sync this rule, or None."""
    try:
        series_recurrence(rule, start, zone(time_zone))
    except InvalidItem as error:
        return error.message
    return None


def occurrence_problem(
    rule: str | None, stored_start: object, time_zone: str, original_start: datetime
) -> str | None:
    """Why `original_start` is not an occurrence of the series, or None if it is one."""
    if rule is None or not rule.strip():
        return "it is not a series (it has no rrule), so it has no occurrences to change"
    try:
        tz = zone(time_zone)
        start = as_utc(stored_start, "start")
        recurrence = series_recurrence(rule, start, tz)
    except InvalidItem as error:
        return f"its series cannot be read ({error.message}): correct the series first"
    wanted = original_start.astimezone(UTC)
    first = start.astimezone(tz).replace(tzinfo=None)
    before: datetime | None = None
    for local in local_occurrence_starts(recurrence, first, until=wanted.astimezone(tz).date()):
        occurrence = local.replace(tzinfo=tz).astimezone(UTC)
        if occurrence == wanted:
            return None
        if occurrence > wanted:
            return _not_on_pattern(wanted, tz, before, occurrence)
        before = occurrence
    after = next(
        (
            local.replace(tzinfo=tz).astimezone(UTC)
            for local in local_occurrence_starts(recurrence, first)
            if local.replace(tzinfo=tz).astimezone(UTC) > wanted
        ),
        None,
    )
    return _not_on_pattern(wanted, tz, before, after)


def _not_on_pattern(
    wanted: datetime, tz: ZoneInfo, before: datetime | None, after: datetime | None
) -> str:
    nearest = [f"{o.astimezone(tz).isoformat(timespec='minutes')}" for o in (before, after) if o]
    hint = f"; the nearest are {' and '.join(nearest)}" if nearest else "; the series has none"
    return (
        f"{wanted.astimezone(tz).isoformat(timespec='minutes')} is not an occurrence of the "
        f"series: give the original start of one of its occurrences{hint}"
    )
