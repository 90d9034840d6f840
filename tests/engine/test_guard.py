"""The deletion burst guard (R17) as a value: the window's edge, the threshold, the pause."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.guard import DeletionGuard
from engine.options import SyncOptions

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
OPTIONS = SyncOptions(deletion_burst_threshold=2, deletion_burst_window_s=10)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_deletions_up_to_the_threshold_within_the_window_pass() -> None:
    guard = DeletionGuard().count(at(0), OPTIONS).count(at(1), OPTIONS)
    assert guard == DeletionGuard(recent=(at(0), at(1)))


def test_a_deletion_exactly_one_window_old_has_left_the_window() -> None:
    guard = DeletionGuard().count(at(0), OPTIONS).count(at(1), OPTIONS).count(at(10), OPTIONS)
    assert guard == DeletionGuard(recent=(at(1), at(10)))  # the one at 0 is out: not paused


def test_one_deletion_more_than_the_threshold_within_the_window_pauses() -> None:
    guard = DeletionGuard().count(at(0), OPTIONS).count(at(1), OPTIONS).count(at(9.5), OPTIONS)
    assert guard == DeletionGuard(paused=True, paused_at=at(9.5), paused_count=3)
    assert guard.count(at(30), OPTIONS) is guard  # paused: nothing more is counted
    assert guard.release() == DeletionGuard()


def test_with_deletion_keeps_only_the_window() -> None:
    guard = DeletionGuard(recent=(at(0), at(5)))
    assert guard.with_deletion(at(12), 10).recent == (at(5), at(12))
    assert guard.with_deletion(at(15), 10).recent == (at(15),)
