"""Copying SQLite's write-ahead log back into the database file, off the engine's path.

In WAL mode every commit appends the pages it changed to the log; by default the commit that
finds the log past a size copies all of it into the database file and syncs it (a checkpoint),
and that commit waits. At 100,000 items the pages a change touches are spread over the whole
file (the event store's and the read models' indexes are keyed by random stream ids), so the
log fills about six times faster per change than at 1,000 items and the commit that
checkpoints stalls for most of a second (bench/core_scale.py, issue 12).

Here a thread of its own checkpoints the log once it passes `pages`, passively: writers go on
meanwhile, and SQLite releases the GIL while it copies, so the copy runs on the other core. The
connections keep their own automatic checkpoint as a backstop at `BACKSTOP_PAGES`, so that the
log stays bounded should this thread fall behind. They also truncate the log when it starts
over (`JOURNAL_SIZE_LIMIT`), which makes the file's size tell how much it holds.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading

log = logging.getLogger("einklang.store")

CHECKPOINT_PAGES = 16_384  # 64 MiB of 4 KiB pages: the log is copied back once past this
BACKSTOP_PAGES = 4 * CHECKPOINT_PAGES  # past this, a committing connection checkpoints itself
JOURNAL_SIZE_LIMIT = 4 * 2**20  # bytes the log file keeps when it starts over

# What every connection to a store file sets (the event store's and the read models').
WAL_PRAGMAS = (
    f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}",
    f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}",
)


class WalCheckpointer:
    """Checkpoints the write-ahead log of the SQLite file at `path` in a daemon thread."""

    def __init__(self, path: str, *, pages: int = CHECKPOINT_PAGES, every_s: float = 0.5) -> None:
        self.path = path
        self.pages = pages
        self.every_s = every_s
        self.checkpoints = 0  # completed ones (tests, figures)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="einklang-wal", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def wal_bytes(self) -> int:
        try:
            return os.stat(f"{self.path}-wal").st_size
        except FileNotFoundError:
            return 0

    def _run(self) -> None:
        try:
            connection = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            page_size = int(connection.execute("PRAGMA page_size").fetchone()[0])
        except sqlite3.Error as error:  # the connections' own checkpoints stay in charge
            log.warning("no write-ahead log checkpoints for %s: %s", self.path, error)
            return
        try:
            while not self._stop.wait(self.every_s):
                if self.wal_bytes() >= self.pages * page_size:
                    self._checkpoint(connection)
        finally:
            connection.close()

    def _checkpoint(self, connection: sqlite3.Connection) -> None:
        try:
            busy = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[0]
        except sqlite3.Error as error:  # locked just now: the next turn tries again
            log.debug("write-ahead log checkpoint deferred: %s", error)
            return
        if not busy:
            self.checkpoints += 1
