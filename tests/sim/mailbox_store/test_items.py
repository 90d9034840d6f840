"""The mailbox store's Exchange rules for items: ChangeKeys, series and their occurrences,
calendar rules, extended properties and tasks."""

from __future__ import annotations

import datetime as dt

import pytest

from sim.clock import ManualClock
from sim.errors import EwsError, ResponseCode
from sim.model import (
    CalendarFields,
    CalendarItem,
    CalendarItemType,
    ExtendedPropertyKey,
    Item,
    TaskFields,
    TaskItem,
    TaskStatus,
)
from sim.recurrence import DayOfWeek as Day
from sim.recurrence import EwsRecurrence, NumberedRange, WeeklyPattern
from sim.store import ConflictResolution, MailboxStore
from tests.sim.mailbox_store.support import MAILBOX, MONDAY, SYNC_ID, code_of, daily, single
from tests.sim.support import original_start


def test_every_write_changes_the_change_key_and_last_modified_time(
    store: MailboxStore, clock: ManualClock
) -> None:
    item: Item = single(store)
    keys = {item.change_key}
    for minute in range(1, 4):
        clock.advance(dt.timedelta(minutes=1))
        item = store.update_item(item.item_id, subject=f"v{minute}")
        keys.add(item.change_key)
        assert item.last_modified == clock.now()
    assert len(keys) == 4


def test_auto_resolve_refuses_a_stale_change_key_only_for_properties_changed_since(
    store: MailboxStore,
) -> None:
    item = single(store)
    stale_key = item.change_key
    store.update_item(item.item_id, location="Room 1")

    merged = store.update_item(item.item_id, subject="other field", expected_change_key=stale_key)
    with pytest.raises(EwsError) as conflict:
        store.update_item(item.item_id, location="Room 2", expected_change_key=stale_key)
    with pytest.raises(EwsError) as never:
        store.update_item(
            item.item_id,
            subject="x",
            expected_change_key=stale_key,
            conflict_resolution=ConflictResolution.NEVER_OVERWRITE,
        )
    overwritten = store.update_item(
        item.item_id,
        location="Room 3",
        expected_change_key=stale_key,
        conflict_resolution=ConflictResolution.ALWAYS_OVERWRITE,
    )

    assert merged.subject == "other field"
    assert code_of(conflict) == code_of(never) == ResponseCode.IRRESOLVABLE_CONFLICT
    assert isinstance(overwritten, CalendarItem)
    assert overwritten.fields.location == "Room 3"


def test_editing_an_occurrence_makes_it_an_exception_of_its_master(store: MailboxStore) -> None:
    master = daily(store)
    second = store.occurrence(master.item_id, index=2)
    assert second.item_type is CalendarItemType.OCCURRENCE and second.master_id == master.item_id

    exception = store.update_occurrence(master.item_id, original_start(second), subject="special")
    updated_master = store.get_calendar_item(master.item_id)

    assert exception.item_type is CalendarItemType.EXCEPTION
    assert exception.item_id == second.item_id  # an occurrence keeps its id
    assert store.get_calendar_item(second.item_id).subject == "special"
    assert [info.original_start for info in updated_master.modified_occurrences] == [
        second.original_start
    ]
    assert updated_master.change_key != master.change_key
    assert store.occurrence(master.item_id, index=3).subject == "daily"


def test_a_deleted_occurrence_is_listed_and_can_no_longer_be_addressed(store: MailboxStore) -> None:
    master = daily(store)
    third = store.occurrence(master.item_id, index=3)
    store.delete_item(third.item_id)

    with pytest.raises(EwsError) as by_index:
        store.occurrence(master.item_id, index=3)
    with pytest.raises(EwsError) as by_id:
        store.get_item(third.item_id)
    with pytest.raises(EwsError) as out_of_range:
        store.occurrence(master.item_id, index=6)

    assert store.get_calendar_item(master.item_id).deleted_occurrences == (third.original_start,)
    assert code_of(by_index) == code_of(by_id) == ResponseCode.CALENDAR_OCCURRENCE_DELETED
    assert code_of(out_of_range) == ResponseCode.CALENDAR_OCCURRENCE_INDEX_OUT_OF_RANGE


def test_a_new_pattern_drops_exceptions_but_rewriting_the_same_values_does_not(
    store: MailboxStore,
) -> None:
    master = daily(store)
    store.update_occurrence(
        master.item_id, original_start(store.occurrence(master.item_id, index=2)), subject="x"
    )
    store.delete_occurrence(
        master.item_id, original_start(store.occurrence(master.item_id, index=4))
    )

    # Clients resend whole items; the same pattern and times are not a change of the series.
    same = store.update_item(
        master.item_id, recurrence=master.recurrence, start=master.start, subject="renamed"
    )
    assert isinstance(same, CalendarItem)
    assert len(same.modified_occurrences) == 1 and len(same.deleted_occurrences) == 1

    weekly = EwsRecurrence(
        WeeklyPattern((Day.MONDAY, Day.THURSDAY)), NumberedRange(MONDAY.date(), 4)
    )
    changed = store.set_recurrence(master.item_id, weekly)

    assert changed.modified_occurrences == () and changed.deleted_occurrences == ()
    assert changed.subject == "renamed"


def test_moving_the_series_moves_its_range_and_drops_exceptions(store: MailboxStore) -> None:
    master = daily(store)
    store.update_occurrence(
        master.item_id, original_start(store.occurrence(master.item_id, index=2)), subject="x"
    )

    moved = store.update_item(
        master.item_id,
        start=MONDAY + dt.timedelta(days=1, hours=2),
        end=MONDAY + dt.timedelta(days=1, hours=3),
    )

    assert isinstance(moved, CalendarItem) and moved.modified_occurrences == ()
    assert moved.recurrence is not None and moved.recurrence.range.start_date == dt.date(
        2026, 3, 17
    )
    assert moved.first_occurrence is not None
    assert moved.first_occurrence.start == MONDAY + dt.timedelta(days=1, hours=2)


def test_removing_the_recurrence_makes_a_single_appointment(store: MailboxStore) -> None:
    master = daily(store)

    item = store.set_recurrence(master.item_id, None)

    assert item.item_type is CalendarItemType.SINGLE and item.recurrence is None
    assert len(store.calendar_view(MAILBOX, MONDAY, MONDAY + dt.timedelta(days=10))) == 1


def test_a_series_without_end_has_a_first_but_no_last_occurrence(store: MailboxStore) -> None:
    master = daily(store, count=None)

    far = store.calendar_view(
        MAILBOX, dt.datetime(2027, 3, 1, tzinfo=dt.UTC), dt.datetime(2027, 3, 8, tzinfo=dt.UTC)
    )

    assert master.first_occurrence is not None and master.last_occurrence is None
    assert len(far) == 7


def test_series_start_snaps_to_the_first_day_of_the_pattern(store: MailboxStore) -> None:
    fields = CalendarFields(subject="thursdays", start=MONDAY, end=MONDAY + dt.timedelta(hours=1))

    master = store.create_calendar_item(
        MAILBOX,
        fields,
        EwsRecurrence(WeeklyPattern((Day.THURSDAY,)), NumberedRange(MONDAY.date(), 2)),
    )

    assert master.start == MONDAY + dt.timedelta(days=3)


def test_an_occurrence_cannot_move_onto_its_neighbours_day(store: MailboxStore) -> None:
    master = daily(store)
    second = store.occurrence(master.item_id, index=2)

    with pytest.raises(EwsError) as crossing:
        store.update_occurrence(
            master.item_id,
            original_start(second),
            start=second.start + dt.timedelta(days=1),
            end=second.end + dt.timedelta(days=1),
        )
    same_day = store.update_occurrence(
        master.item_id,
        original_start(second),
        start=second.start + dt.timedelta(hours=5),
        end=second.end + dt.timedelta(hours=5),
    )

    assert code_of(crossing) == ResponseCode.OCCURRENCE_CROSSING_BOUNDARY
    assert same_day.start == second.start + dt.timedelta(hours=5)


def test_calendar_rules_on_creation(store: MailboxStore) -> None:
    with pytest.raises(EwsError) as end_first:
        store.create_calendar_item(
            MAILBOX, CalendarFields(start=MONDAY, end=MONDAY - dt.timedelta(hours=1))
        )
    with pytest.raises(EwsError) as bad_zone:
        store.create_calendar_item(
            MAILBOX, CalendarFields(start=MONDAY, end=MONDAY, start_time_zone="Mars Standard Time")
        )
    with pytest.raises(EwsError) as wrong_folder:
        store.create_calendar_item(
            MAILBOX, CalendarFields(start=MONDAY, end=MONDAY), folder="tasks"
        )
    with pytest.raises(EwsError) as no_mailbox:
        store.create_calendar_item("nobody@example.com", CalendarFields(start=MONDAY, end=MONDAY))

    assert code_of(end_first) == ResponseCode.CALENDAR_END_BEFORE_START
    assert code_of(bad_zone) == ResponseCode.TIME_ZONE
    assert code_of(wrong_folder) == ResponseCode.CANNOT_CREATE_CALENDAR_ITEM_IN_NON_CALENDAR_FOLDER
    assert code_of(no_mailbox) == ResponseCode.NON_EXISTENT_MAILBOX


def test_extended_properties_are_kept_per_item_and_occurrence(store: MailboxStore) -> None:
    item = single(store)
    master = daily(store)
    occurrence = store.occurrence(master.item_id, index=2)
    categories = ExtendedPropertyKey(
        property_type="StringArray",
        distinguished_property_set_id="PublicStrings",
        property_id=0x8001,
    )

    store.set_extended_property(item.item_id, SYNC_ID, "erp-1")
    store.set_extended_property(item.item_id, categories, ("a", "b"))
    store.set_extended_property(occurrence.item_id, SYNC_ID, "erp-occurrence")

    assert store.get_extended_property(item.item_id, SYNC_ID) == "erp-1"
    assert store.get_extended_property(item.item_id, categories) == ("a", "b")
    # The GUID is case-insensitive; the occurrence's value does not leak into the series.
    assert SYNC_ID.property_set_id is not None
    lower = ExtendedPropertyKey(
        "String", property_set_id=SYNC_ID.property_set_id.lower(), property_name="EinklangSyncId"
    )
    assert [
        found.item_id
        for found in store.find_by_extended_property(MAILBOX, "calendar", lower, "erp-1")
    ] == [item.item_id]
    assert store.get_extended_property(master.item_id, SYNC_ID) is None
    assert store.get_extended_property(occurrence.item_id, SYNC_ID) == "erp-occurrence"
    store.set_extended_property(item.item_id, SYNC_ID, None)
    assert store.get_extended_property(item.item_id, SYNC_ID) is None
    with pytest.raises(ValueError):
        ExtendedPropertyKey("String", property_name="no property set")


def test_task_status_percent_and_completion_stay_consistent(
    store: MailboxStore, clock: ManualClock
) -> None:
    task = store.create_task(MAILBOX, TaskFields(subject="t"))

    done = store.update_item(task.item_id, percent_complete=100.0)
    reopened = store.update_item(task.item_id, status=TaskStatus.NOT_STARTED)
    halfway = store.update_item(task.item_id, percent_complete=50.0)
    completed = store.update_item(task.item_id, status=TaskStatus.COMPLETED)

    assert isinstance(done, TaskItem) and isinstance(reopened, TaskItem)
    assert isinstance(halfway, TaskItem) and isinstance(completed, TaskItem)
    assert done.fields.status is TaskStatus.COMPLETED and done.fields.complete_date == clock.now()
    assert reopened.fields.percent_complete == 0 and reopened.fields.complete_date is None
    assert halfway.fields.status is TaskStatus.IN_PROGRESS
    assert completed.fields.percent_complete == 100
