"""The write-ahead log is copied back into the store file by a thread of its own, not by the
engine's commits (issue 12: at 100,000 items the commit that checkpointed stalled the engine)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from engine.checkpointer import BACKSTOP_PAGES, JOURNAL_SIZE_LIMIT, WalCheckpointer
from engine.store import EventStore, StoreLocation
from projections.projector import Projector
from tests.engine.test_store_and_projections import observed_items
from tests.ews_watch.support import until


def _fill(store: EventStore, items: int) -> None:
    store.save_batch(observed_items(items))


def test_the_store_checkpoints_its_log_in_a_thread_of_its_own(tmp_path: Path) -> None:
    path = tmp_path / "einklang.db"
    store = EventStore(StoreLocation(str(path)))
    assert store.checkpointer is not None
    store.checkpointer.close()  # the default one waits for 64 MiB: one that acts sooner
    checkpointer = store.checkpointer = WalCheckpointer(str(path), pages=64, every_s=0.02)
    _fill(store, 400)  # ~400 pages of events and index: past the 64 pages
    assert checkpointer.wal_bytes() > 64 * 4096
    assert until(lambda: checkpointer.checkpoints > 0, within=10)
    # The log was copied back: the next commit starts it over, truncated to the limit.
    _fill(store, 1)
    assert checkpointer.wal_bytes() <= JOURNAL_SIZE_LIMIT
    store.close()
    assert not any(t.name == "einklang-wal" and t.is_alive() for t in threading.enumerate())
    reopened = EventStore(StoreLocation(str(path)))
    assert reopened.max_notification_id() == 802
    reopened.close()


def test_the_engine_and_read_model_connections_checkpoint_only_as_a_backstop(
    tmp_path: Path,
) -> None:
    store = EventStore(StoreLocation(str(tmp_path / "einklang.db")))
    projector = Projector(store)
    with store.recorder.datastore.transaction(commit=False) as c:  # type: ignore[attr-defined]
        c.execute("PRAGMA wal_autocheckpoint")
        assert c.fetchone()[0] == BACKSTOP_PAGES
        c.execute("PRAGMA journal_size_limit")
        assert c.fetchone()[0] == JOURNAL_SIZE_LIMIT
    with projector.db.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == BACKSTOP_PAGES
        assert conn.exec_driver_sql("PRAGMA journal_size_limit").scalar() == JOURNAL_SIZE_LIMIT
    projector.close()
    store.close()


def test_a_file_the_checkpointer_cannot_open_leaves_the_checkpoints_to_the_connections(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = tmp_path / "missing" / "einklang.db"
    with caplog.at_level(logging.WARNING, logger="einklang.store"):
        checkpointer = WalCheckpointer(str(missing), every_s=0.01)
        checkpointer.close()  # returns: the thread ended at once, nothing raised
    assert checkpointer.checkpoints == 0
    assert [r.getMessage() for r in caplog.records] == [
        f"no write-ahead log checkpoints for {missing}: unable to open database file"
    ]
