"""The mailbox store's Python API: the Exchange rules, without SOAP in between."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest

from sim.clock import ManualClock
from sim.errors import EwsError, ResponseCode
from sim.events import EventType
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
from sim.recurrence import DailyPattern, EwsRecurrence, NoEndRange, NumberedRange, WeeklyPattern
from sim.recurrence import DayOfWeek as Day
from sim.store import ConflictResolution, MailboxStore, SyncChangeKind
from tests.sim.support import original_start

MAILBOX = "alice@example.com"
MONDAY = dt.datetime(2026, 3, 16, 8, tzinfo=dt.UTC)
SYNC_ID = ExtendedPropertyKey(
    property_type="String",
    property_set_id="C11FF724-AA03-4555-9952-8FA248A11C3E",
    property_name="EinklangSyncId",
)


def code_of(error: pytest.ExceptionInfo[EwsError]) -> str:
    return error.value.code


@pytest.fixture
def store(clock: ManualClock) -> MailboxStore:
    store = MailboxStore(clock=clock)
    store.add_mailbox(MAILBOX)
    return store


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


def test_sync_feed_reports_changes_since_a_state_in_pages(store: MailboxStore) -> None:
    first, second, third = (single(store, f"item {n}") for n in range(3))
    page = store.sync_folder_items(MAILBOX, "calendar", None, max_changes=2)
    rest = store.sync_folder_items(MAILBOX, "calendar", page.sync_state, max_changes=2)
    assert [c.item_id for c in page.changes] == [first.item_id, second.item_id]
    assert not page.includes_last_item_in_range
    assert [c.item_id for c in rest.changes] == [third.item_id] and rest.includes_last_item_in_range

    store.update_item(first.item_id, subject="changed")
    store.delete_item(second.item_id)
    short_lived = single(store, "short-lived")
    store.delete_item(short_lived.item_id)
    later = store.sync_folder_items(MAILBOX, "calendar", rest.sync_state)

    assert [(c.kind, c.item_id) for c in later.changes] == [
        (SyncChangeKind.UPDATE, first.item_id),
        (SyncChangeKind.DELETE, second.item_id),
    ]
    assert later.changes[0].item is not None and later.changes[0].item.subject == "changed"
    assert store.sync_folder_items(MAILBOX, "calendar", later.sync_state).changes == ()


def test_sync_feed_ignore_list_and_moves(store: MailboxStore) -> None:
    kept, ignored = single(store, "kept"), single(store, "ignored")
    state = store.sync_folder_items(MAILBOX, "calendar").sync_state
    store.update_item(kept.item_id, subject="k2")
    store.update_item(ignored.item_id, subject="i2")
    store.delete_item(kept.item_id, move_to_deleted_items=True)

    calendar = store.sync_folder_items(MAILBOX, "calendar", state, ignore=[ignored.item_id])
    trash = store.sync_folder_items(MAILBOX, "deleteditems")

    assert [(c.kind, c.item_id) for c in calendar.changes] == [
        (SyncChangeKind.DELETE, kept.item_id)
    ]
    [moved] = trash.changes
    assert moved.kind is SyncChangeKind.CREATE and moved.item_id != kept.item_id
    with pytest.raises(EwsError) as too_many:
        store.sync_folder_items(MAILBOX, "calendar", max_changes=513)
    assert code_of(too_many) == ResponseCode.INVALID_ARGUMENT


def test_pull_events_follow_the_store_and_filter_by_folder(store: MailboxStore) -> None:
    calendar = store.folder(MAILBOX, "calendar").folder_id
    subscription, watermark = store.subscribe_pull(MAILBOX, ["calendar"], list(EventType)[:4])
    item = single(store)
    store.create_task(MAILBOX, TaskFields(subject="elsewhere"))
    store.delete_item(item.item_id)

    notification = store.get_events(MAILBOX, subscription, watermark)

    assert [(d.event.event_type, d.event.item_id) for d in notification.events] == [
        (EventType.CREATED, item.item_id),
        (EventType.DELETED, item.item_id),
    ]
    assert {d.event.parent_folder_id for d in notification.events} == {calendar}


def test_a_waiting_stream_wakes_up_when_an_event_is_published(store: MailboxStore) -> None:
    subscription = store.subscribe_streaming(MAILBOX, ["calendar"], [EventType.CREATED])
    handle = store.open_stream(MAILBOX, [subscription])
    _, generation = store.take_streamed(handle)
    woke = threading.Event()

    def wait() -> None:
        store.wait_for_events(30, since=generation)
        woke.set()

    waiter = threading.Thread(target=wait)
    waiter.start()
    started = time.monotonic()
    single(store)
    assert woke.wait(timeout=10)
    waiter.join(timeout=10)

    assert time.monotonic() - started < 5
    [notification] = store.take_streamed(handle)[0]
    assert [d.event.event_type for d in notification.events] == [EventType.CREATED]
    store.close_stream(handle)


def test_subscription_count_is_limited_per_mailbox(store: MailboxStore) -> None:
    limit = store.notifications.settings.max_subscriptions_per_mailbox
    for _ in range(limit):
        store.subscribe_streaming(MAILBOX, None, [EventType.CREATED])

    with pytest.raises(EwsError) as exceeded:
        store.subscribe_streaming(MAILBOX, None, [EventType.CREATED])

    assert code_of(exceeded) == ResponseCode.EXCEEDED_SUBSCRIPTION_COUNT


def test_concurrent_writers_keep_the_store_consistent(store: MailboxStore) -> None:
    errors: list[BaseException] = []

    def writer(number: int) -> None:
        try:
            for round_ in range(25):
                item = single(store, f"w{number}-{round_}")
                store.update_item(item.item_id, location=str(round_))
                if round_ % 5 == 0:
                    store.delete_item(item.item_id)
        except BaseException as error:  # collected and re-raised in the test thread
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    items = store.list_items(MAILBOX)
    assert errors == []
    assert len(items) == 8 * 20
    assert len({item.change_key for item in items}) == len(items)
    assert len(store.sync_folder_items(MAILBOX, "calendar", max_changes=512).changes) == 160


def test_mailboxes_and_folders(store: MailboxStore) -> None:
    calendar = store.folder(MAILBOX, "calendar")

    assert store.folder(MAILBOX, calendar.folder_id) == calendar
    assert store.folder_mailbox(calendar.folder_id) == MAILBOX
    assert {f.distinguished for f in store.folders(MAILBOX)} >= {
        "calendar",
        "tasks",
        "deleteditems",
    }
    with pytest.raises(ValueError):
        store.add_mailbox(MAILBOX.upper())
    with pytest.raises(EwsError) as unknown:
        store.folder(MAILBOX, "AAAAAVNJTQMAAAABAAAA/w==")
    assert code_of(unknown) in (ResponseCode.FOLDER_NOT_FOUND, ResponseCode.INVALID_ID_MALFORMED)


def test_a_subject_is_cut_to_255_characters_as_exchange_does(store: MailboxStore) -> None:
    item = single(store, subject="x" * 300)
    task = store.create_task(MAILBOX, TaskFields(subject="y" * 256))
    store.update_item(item.item_id, subject="z" * 1000)

    assert store.get_item(item.item_id).subject == "z" * 255
    assert task.subject == "y" * 255


@pytest.mark.parametrize(
    ("start", "end", "zone", "expected"),
    [
        # Times inside the day: Start back to midnight, End on to the next midnight (Berlin).
        ("2026-04-17T10:30:00+02:00", "2026-04-17T15:00:00+02:00", "W. Europe Standard Time",
         ("2026-04-16T22:00:00+00:00", "2026-04-17T22:00:00+00:00")),
        # Already whole days in Tokyo: unchanged, two days stay two days.
        ("2026-04-17T00:00:00+09:00", "2026-04-19T00:00:00+09:00", "Tokyo Standard Time",
         ("2026-04-16T15:00:00+00:00", "2026-04-18T15:00:00+00:00")),
        # No length at all: one whole day.
        ("2026-04-17T00:00:00+00:00", "2026-04-17T00:00:00+00:00", "UTC",
         ("2026-04-17T00:00:00+00:00", "2026-04-18T00:00:00+00:00")),
    ],
)  # fmt: skip
def test_an_all_day_event_covers_whole_local_days(
    store: MailboxStore, start: str, end: str, zone: str, expected: tuple[str, str]
) -> None:
    fields = CalendarFields(
        start=dt.datetime.fromisoformat(start),
        end=dt.datetime.fromisoformat(end),
        is_all_day=True,
        start_time_zone=zone,
        end_time_zone=zone,
    )
    item = store.create_calendar_item(MAILBOX, fields)
    assert (item.start.isoformat(), item.end.isoformat()) == expected

    timed = store.update_item(item.item_id, is_all_day=False, start=item.start, end=item.end)
    updated = store.update_item(
        timed.item_id, is_all_day=True, start=item.start + dt.timedelta(hours=3)
    )
    assert isinstance(updated, CalendarItem)
    assert (updated.start.isoformat(), updated.end.isoformat()) == expected


def test_an_all_day_occurrence_moved_by_hours_keeps_whole_days(store: MailboxStore) -> None:
    berlin = dt.timezone(dt.timedelta(hours=1))
    fields = CalendarFields(
        start=dt.datetime(2026, 3, 2, tzinfo=berlin),
        end=dt.datetime(2026, 3, 3, tzinfo=berlin),
        is_all_day=True,
        start_time_zone="W. Europe Standard Time",
        end_time_zone="W. Europe Standard Time",
    )
    master = store.create_calendar_item(
        MAILBOX, fields, EwsRecurrence(DailyPattern(2), NumberedRange(dt.date(2026, 3, 2), 3))
    )
    first = store.occurrence(master.item_id, index=1)

    moved = store.update_item(first.item_id, end=first.end + dt.timedelta(hours=5))

    assert isinstance(moved, CalendarItem)
    assert (moved.start, moved.end) == (first.start, first.end + dt.timedelta(days=1))


@pytest.mark.parametrize(
    ("offset_start", "offset_end", "listed"),
    [
        (dt.timedelta(hours=-1), dt.timedelta(0), True),  # ends exactly at the view's start
        (dt.timedelta(hours=-2), dt.timedelta(hours=-1), False),  # ends before it
        (dt.timedelta(0), dt.timedelta(0), True),  # no length, at the view's start
        (dt.timedelta(hours=4), dt.timedelta(hours=5), False),  # starts exactly at its end
        (dt.timedelta(hours=3), dt.timedelta(hours=5), True),  # starts before its end
    ],
)
def test_a_calendar_view_lists_items_ending_on_or_after_its_start_and_starting_before_its_end(
    store: MailboxStore, offset_start: dt.timedelta, offset_end: dt.timedelta, listed: bool
) -> None:
    view_start, view_end = MONDAY, MONDAY + dt.timedelta(hours=4)
    fields = CalendarFields(start=MONDAY + offset_start, end=MONDAY + offset_end)
    single_id = store.create_calendar_item(MAILBOX, fields).item_id
    series = store.create_calendar_item(
        MAILBOX, fields, EwsRecurrence(DailyPattern(1), NumberedRange(MONDAY.date(), 1))
    )

    found = [item.item_id for item in store.calendar_view(MAILBOX, view_start, view_end)]

    expected = [single_id, store.occurrence_id(series.item_id, 1)] if listed else []
    assert sorted(found) == sorted(expected)


def test_a_complete_date_set_by_a_client_completes_the_task_on_that_date(
    store: MailboxStore,
) -> None:
    task = store.create_task(MAILBOX, TaskFields(subject="file taxes"))
    done = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)

    completed = store.update_item(task.item_id, complete_date=done)

    assert isinstance(completed, TaskItem)
    assert (completed.fields.status, completed.fields.percent_complete) == (
        TaskStatus.COMPLETED,
        100.0,
    )
    assert completed.fields.complete_date == done
