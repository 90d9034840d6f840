"""Waiting for the change feed to move, without a busy loop.

PostgreSQL: the capture triggers NOTIFY on commit; a dedicated connection LISTENs. SQLite has no
notifications across processes, so a dedicated connection polls `PRAGMA data_version`, which
changes when any other connection commits, every few milliseconds; only then is the feed read.
Both check the feed after arming, so a commit between check and wait is never missed.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Protocol

import psycopg

from engine.errors import TransientError

Moved = Callable[[], bool]


class FeedWaiter(Protocol):
    def wait(self, moved: Moved, timeout_s: float) -> bool:
        """Return True as soon as `moved()` is, False once `timeout_s` passed without it."""
        ...

    def close(self) -> None: ...


class DataVersionWaiter:
    """SQLite: a short poll on `PRAGMA data_version` (a read of shared memory, no disk I/O)."""

    def __init__(self, database: str | None, *, poll_s: float = 0.005) -> None:
        self._database = database  # None: in-memory, where only `moved()` can tell
        self._poll_s = poll_s
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def _version(self) -> int | None:
        if self._database is None:
            return None
        if self._conn is None:
            self._conn = sqlite3.connect(
                self._database, isolation_level=None, check_same_thread=False
            )
        row = self._conn.execute("PRAGMA data_version").fetchone()
        return int(row[0])

    def wait(self, moved: Moved, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._lock:
            seen = self._version()
            if moved():
                return True
            while (remaining := deadline - time.monotonic()) > 0:
                time.sleep(min(self._poll_s, remaining))
                current = self._version()
                if (current is None or current != seen) and moved():
                    return True
                seen = current
            return False

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class NotifyWaiter:
    """PostgreSQL: LISTEN on the schema's feed channel on a connection kept for it."""

    def __init__(self, conninfo: str, channel: str) -> None:
        self._conninfo = conninfo
        self._channel = channel
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None

    def _listening(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._conn is None or self._conn.closed:
            conn = psycopg.connect(self._conninfo, autocommit=True)
            conn.execute(f'LISTEN "{self._channel}"')
            self._conn = conn
        return self._conn

    def wait(self, moved: Moved, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._lock:
            try:
                conn = self._listening()
                if moved():
                    return True
                while (remaining := deadline - time.monotonic()) > 0:
                    if not any(True for _ in conn.notifies(timeout=remaining, stop_after=1)):
                        return False
                    # Several commits may have notified since the last wait: one feed read.
                    for _ in conn.notifies(timeout=0):
                        pass
                    if moved():
                        return True
                return False
            except psycopg.OperationalError as exc:
                self._drop()
                raise TransientError(f"listening for ERP changes failed: {exc}") from None

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        with self._lock:
            self._drop()
