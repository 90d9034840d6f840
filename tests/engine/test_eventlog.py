"""Reading the event log in stretches with only some event types fetched (issue 13: the read
models skip the observations in the database), on SQLite and on the PostgreSQL server."""

from __future__ import annotations

import uuid

import pytest
from eventsourcing.utils import get_topic

from engine.aggregates import ItemStarted, Observed, SyncItem
from engine.model import ItemKind
from engine.store import EventStore, StoreLocation
from tests.engine.test_store_and_projections import observed_items


@pytest.fixture
def store(store_url: str) -> EventStore:
    store = EventStore(StoreLocation(store_url))
    store.save_batch(observed_items(40))  # 80 events: ItemStarted, Observed per item, in order
    return store


def test_a_scan_counts_every_event_and_returns_only_the_types_asked_for(store: EventStore) -> None:
    every = store.log_page(1, 1000)
    assert len(every) == 80
    started = get_topic(ItemStarted)
    scan = store.log_scan(every[10][0], 25, (started,))
    stretch = every[10:35]
    assert scan.scanned == 25 and scan.last == stretch[-1][0]
    assert [e[0] for e in scan.entries] == [e[0] for e in stretch if e[2] == started]
    assert {e[2] for e in scan.entries} == {started}
    # As the page reader gives them where it reads a state: the same ids, bytes, order.
    full = {e[0]: e for e in store.log_page(every[10][0], 25, (started,))}
    assert scan.entries == [full[e[0]] for e in scan.entries]
    assert all(str(uuid.UUID(e[1])) == e[1] for e in scan.entries)
    store.close()


def test_a_scan_at_the_end_of_the_log_is_short_then_empty(store: EventStore) -> None:
    last = store.max_notification_id()
    tail = store.log_scan(last - 4, 1000, (get_topic(Observed),))
    assert (tail.scanned, tail.last) == (5, last)
    assert len(tail.entries) in (2, 3) and all(e[0] >= last - 4 for e in tail.entries)
    empty = store.log_scan(last + 1, 1000, (get_topic(Observed),))
    assert (empty.entries, empty.scanned, empty.last) == ([], 0, last)
    store.close()


def test_a_scan_with_no_event_of_its_types_still_moves_on(store: EventStore) -> None:
    scan = store.log_scan(1, 30, ("no.such:Topic",))
    assert scan.entries == [] and scan.scanned == 30
    assert scan.last == store.log_page(1, 30)[-1][0]
    store.close()


def test_a_scan_counts_the_events_there_are_after_a_failed_save(store: EventStore) -> None:
    """A save that fails leaves no hole in SQLite's rowids (the scan's stretch is a range of
    them) and PostgreSQL's holes are counted around: each scan counts the events it held."""
    first = store.log_page(1, 1)[0][1]
    clash = SyncItem.start(uuid.UUID(first), "mueller", ItemKind.APPOINTMENT)  # a stream again
    fresh = [SyncItem.start(uuid.uuid4(), "mueller", ItemKind.TASK) for _ in range(5)]
    with pytest.raises(Exception, match=r"(?i)unique|duplicate|integrity"):
        store.save_batch([*fresh, clash])
    store.save_batch([SyncItem.start(uuid.uuid4(), "mueller", ItemKind.TASK) for _ in range(7)])
    every = store.log_page(1, 1000)
    assert len(every) == 87
    counted, position = 0, 1
    while True:
        scan = store.log_scan(position, 10, (get_topic(ItemStarted),))
        if not scan.scanned:
            break
        counted += scan.scanned
        position = scan.last + 1
    assert counted == 87 and position == every[-1][0] + 1
    store.close()
