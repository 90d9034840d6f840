"""Bad input from Exchange never crashes the EWS adapter: an item it cannot read is reported as
`invalid` with a typed reason (R18) and the folder goes on; pre-existing ones stay baseline (R5).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest

from adapters.exchange.ews.items import item_times
from engine.errors import InvalidField
from engine.model import Appointment, ItemKind
from engine.observation import Change
from sim.model import ExtendedPropertyKey, FreeBusyStatus
from tests.doubles.store_items import SYNC_ID
from tests.exchange.ews_outlook import EwsOutlook, ews_outlook
from tests.exchange.support import MAILBOX, USER, creating
from tests.harness import Clock, at

KICKOFF = Appointment(subject="Kickoff", start=at(1, 9), end=at(1, 10))


@pytest.fixture
def ews(clock: Clock) -> Iterator[EwsOutlook]:
    with ews_outlook(clock) as outlook:
        yield outlook


def test_r18_a_sync_id_that_is_no_stream_id_makes_the_item_invalid(ews: EwsOutlook) -> None:
    item_id = ews.apply(USER, uuid.uuid4(), creating(KICKOFF)).native_id
    key = ExtendedPropertyKey(
        property_type=SYNC_ID.property_type,
        property_set_id=SYNC_ID.property_set_id,
        property_name=SYNC_ID.property_name,
    )
    ews.store.set_extended_property(item_id, key, "not-a-uuid")
    seen = ews.fetch(USER, ItemKind.APPOINTMENT, item_id)
    assert seen.change is Change.INVALID and seen.error is not None
    assert (seen.error.code, seen.error.field) == ("INVALID_FIELD", "sync_id")


def test_r5_an_unreadable_item_seen_at_setup_is_still_a_baseline(ews: EwsOutlook) -> None:
    item_id = ews.create(MAILBOX, KICKOFF)
    ews.store.update_item(item_id, {"legacy_free_busy_status": FreeBusyStatus.NO_DATA})
    fine = ews.create(MAILBOX, KICKOFF.replace(subject="Fine"))
    batch = ews.read_changes(USER, ItemKind.APPOINTMENT, None)
    seen = {o.native_id: o for o in batch.observations}
    unreadable = seen[item_id]
    assert unreadable.change is Change.BASELINE and unreadable.error is not None
    assert unreadable.error.field == "busy_status"
    assert seen[fine].change is Change.BASELINE and seen[fine].snapshot is not None


def _all_day_item(duration: str | None) -> SimpleNamespace:
    # As exchangelib 5.6 hands an all-day item over: dates, the end a day short in spring.
    return SimpleNamespace(
        is_all_day=True, start=date(2026, 3, 28), end=date(2026, 3, 28), duration=duration
    )


def test_an_all_day_end_is_the_start_plus_exchanges_duration() -> None:
    start, end = item_times(_all_day_item("P1DT23H"), "Europe/Berlin")
    assert start == datetime(2026, 3, 27, 23, tzinfo=UTC)
    assert end - start == timedelta(days=1, hours=23)


def test_an_all_day_item_without_a_duration_keeps_exchangelibs_end() -> None:
    start, end = item_times(_all_day_item(None), "Europe/Berlin")
    assert (start, end) == (
        datetime(2026, 3, 27, 23, tzinfo=UTC),
        datetime(2026, 3, 28, 23, tzinfo=UTC),
    )


def test_a_malformed_duration_is_a_typed_error_not_a_crash() -> None:
    with pytest.raises(InvalidField, match="ISO 8601"):
        item_times(_all_day_item("two days"), "Europe/Berlin")
