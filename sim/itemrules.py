"""Exchange's rules for item values that do not need the store: pure functions over fields."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sim.model import CalendarFields, TaskFields, TaskStatus
from sim.timezones import zoneinfo_for


def overlaps_view(start: datetime, end: datetime, view_start: datetime, view_end: datetime) -> bool:
    """Whether a CalendarView from `view_start` to `view_end` returns an item.

    Microsoft's CalendarView reference: items that end before StartDate are not returned, nor
    items that start on or after EndDate. So an item ending exactly at the view's start is in
    the view, and one starting exactly at its end is not.
    """
    return end >= view_start and start < view_end


def _local_midnight(value: datetime, zone: ZoneInfo, *, up: bool) -> datetime:
    local = value.astimezone(zone)
    midnight = datetime.combine(local.date(), time(), zone)
    if up and midnight.replace(tzinfo=None) != local.replace(tzinfo=None):
        midnight = datetime.combine(local.date() + timedelta(days=1), time(), zone)
    return midnight.astimezone(UTC)


def all_day_bounds(fields: CalendarFields) -> CalendarFields:
    """An all-day event covers whole days: Start moves back to midnight in its time zone, End
    forward to the next midnight in its own, and it lasts at least one day (as in Exchange)."""
    if not fields.is_all_day:
        return fields
    start_zone = zoneinfo_for(fields.start_time_zone)
    start = _local_midnight(fields.start, start_zone, up=False)
    end = _local_midnight(fields.end, zoneinfo_for(fields.end_time_zone), up=True)
    if end <= start:
        end = _local_midnight(start + timedelta(seconds=1), start_zone, up=True)
    return dataclasses.replace(fields, start=start, end=end)


def task_rules(before: TaskFields | None, after: TaskFields, now: datetime) -> TaskFields:
    """Exchange keeps Status, PercentComplete and CompleteDate consistent.

    A CompleteDate set by a client completes the task on that date.
    """
    status, percent = after.status, after.percent_complete
    set_complete_date = after.complete_date is not None and (
        before is None or before.complete_date != after.complete_date
    )
    if set_complete_date and status is not TaskStatus.COMPLETED:
        status = TaskStatus.COMPLETED
    status_changed = before is None or before.status != status
    percent_changed = before is None or before.percent_complete != percent
    if status_changed and status is TaskStatus.COMPLETED:
        percent = 100.0
    elif status_changed and status is TaskStatus.NOT_STARTED:
        percent = 0.0
    elif percent_changed and percent >= 100:
        status = TaskStatus.COMPLETED
    elif (
        percent_changed and percent > 0 and status in (TaskStatus.NOT_STARTED, TaskStatus.COMPLETED)
    ):
        status = TaskStatus.IN_PROGRESS
    elif percent_changed and percent == 0 and status is TaskStatus.COMPLETED:
        status = TaskStatus.NOT_STARTED
    complete_date = None
    if status is TaskStatus.COMPLETED:
        if set_complete_date:
            complete_date = after.complete_date
        else:
            complete_date = before.complete_date if before and before.complete_date else now
    return dataclasses.replace(
        after, status=status, percent_complete=percent, complete_date=complete_date
    )
