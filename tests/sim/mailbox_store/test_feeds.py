"""The mailbox store's feeds and the rest of its rules: sync states, pull and streaming events,
subscriptions, concurrent writers, mailboxes, subjects, all-day events, calendar views."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest

from sim.errors import EwsError, ResponseCode
from sim.events import EventType
from sim.model import (
    CalendarFields,
    CalendarItem,
    TaskFields,
    TaskItem,
    TaskStatus,
)
from sim.recurrence import DailyPattern, EwsRecurrence, NumberedRange
from sim.store import MailboxStore, SyncChangeKind
from tests.sim.mailbox_store.support import MAILBOX, MONDAY, code_of, single


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
