"""Waiting for the feed: woken at once by a commit (R3), never a busy loop, bounded by time."""

from __future__ import annotations

import threading
import time

import pytest

from adapters.erp.editing import ErpEditor
from adapters.erp.store import ErpStore
from tests.erp.conftest import Worker


def test_r3_a_commit_wakes_a_waiting_reader_within_100_ms(
    store: ErpStore, erp: ErpEditor, monkeypatch: pytest.MonkeyPatch
) -> None:
    position = store.feed_position()
    armed = threading.Event()
    feed_state = store.feed_state

    def feed_state_arming(position: int) -> tuple[bool, bool]:
        armed.set()  # the waiter checks the feed once it listens (NOTIFY) or polls (SQLite)
        return feed_state(position)

    monkeypatch.setattr(store, "feed_state", feed_state_arming)

    def wait() -> tuple[bool, float]:
        moved = store.wait_for_changes(position, 10.0)
        return moved, time.monotonic()

    reader = Worker(wait)
    reader.start()
    assert armed.wait(10.0)
    erp.add("task", {"user_login": "mueller", "subject": "wake up"})
    committed = time.monotonic()
    moved, woke = reader.finish()

    assert moved is True
    assert woke - committed < 0.1


def test_waiting_on_a_feed_that_does_not_move_ends_at_the_timeout(store: ErpStore) -> None:
    assert store.wait_for_changes(store.feed_position(), 0.05) is False


def test_waiting_returns_at_once_when_the_feed_already_moved(
    store: ErpStore, erp: ErpEditor
) -> None:
    position = store.feed_position()
    erp.add("task", {"user_login": "mueller", "subject": "already there"})
    assert store.wait_for_changes(position, 0.0) is True
