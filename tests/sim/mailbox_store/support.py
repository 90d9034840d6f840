"""What the mailbox store's tests share: one mailbox, a Monday, the sync-id property and the
appointments they start from."""

from __future__ import annotations

import datetime as dt

import pytest

from sim.errors import EwsError
from sim.model import (
    CalendarFields,
    CalendarItem,
    ExtendedPropertyKey,
)
from sim.recurrence import DailyPattern, EwsRecurrence, NoEndRange, NumberedRange
from sim.store import MailboxStore

MAILBOX = "alice@example.com"
MONDAY = dt.datetime(2026, 3, 16, 8, tzinfo=dt.UTC)
SYNC_ID = ExtendedPropertyKey(
    property_type="String",
    property_set_id="C11FF724-AA03-4555-9952-8FA248A11C3E",
    property_name="EinklangSyncId",
)


def code_of(error: pytest.ExceptionInfo[EwsError]) -> str:
    return error.value.code


def single(
    store: MailboxStore, subject: str = "single", start: dt.datetime = MONDAY
) -> CalendarItem:
    fields = CalendarFields(subject=subject, start=start, end=start + dt.timedelta(hours=1))
    return store.create_calendar_item(MAILBOX, fields)


def daily(store: MailboxStore, count: int | None = 5) -> CalendarItem:
    fields = CalendarFields(
        subject="daily",
        start=MONDAY,
        end=MONDAY + dt.timedelta(hours=1),
        start_time_zone="W. Europe Standard Time",
        end_time_zone="W. Europe Standard Time",
    )
    rng = NoEndRange(MONDAY.date()) if count is None else NumberedRange(MONDAY.date(), count)
    return store.create_calendar_item(MAILBOX, fields, EwsRecurrence(DailyPattern(), rng))
