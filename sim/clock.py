"""Clocks for the simulator: real time, or a manual clock that tests move by hand.

Everything in the simulator that depends on the time of day (LastModifiedTime, the expiry of
subscriptions, watermarks, sync states and OAuth tokens) asks a `Clock`, so that expiry tests are
deterministic: a test advances a `ManualClock` instead of sleeping. Connection timeouts of
streaming requests are wall-clock durations and use the server's time scale instead (see
`sim.server.ServerConfig`).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Source of the current time; always timezone-aware UTC."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real time, truncated to whole milliseconds as Exchange reports it."""

    def now(self) -> datetime:
        current = datetime.now(UTC)
        return current.replace(microsecond=current.microsecond // 1000 * 1000)


class ManualClock:
    """A clock that only moves when told to; thread-safe."""

    def __init__(self, start: datetime | None = None) -> None:
        if start is None:
            start = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start time")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward by `delta` and return the new time."""
        if delta < timedelta(0):
            raise ValueError("time only moves forward")
        with self._lock:
            self._now += delta
            return self._now

    def set(self, when: datetime) -> None:
        """Jump to `when` (must not be earlier than the current time)."""
        if when.tzinfo is None:
            raise ValueError("ManualClock needs timezone-aware times")
        with self._lock:
            if when.astimezone(UTC) < self._now:
                raise ValueError("time only moves forward")
            self._now = when.astimezone(UTC)
