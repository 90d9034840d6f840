"""Feed order: a reader that stores its position after each batch never skips an entry."""

from __future__ import annotations

import time
from functools import partial

import pytest
import sqlalchemy as sa

from adapters.erp.editing import ErpEditor
from adapters.erp.feed import FeedEntry
from adapters.erp.schema import tasks
from adapters.erp.store import ErpStore
from tests.erp.conftest import ErpDatabase, Worker, wait_until

WRITERS = 2
TRANSACTIONS = 40


def write_tasks(erp_db: ErpDatabase, writer: int) -> None:
    """Transactions of two statements each, so that writers overlap inside transactions."""
    engine = erp_db.engine()
    try:
        for n in range(TRANSACTIONS):
            with engine.begin() as conn:
                row_id = conn.execute(
                    tasks.insert()
                    .values(user_login=f"writer{writer}", subject=f"{writer}-{n}")
                    .returning(tasks.c.id)
                ).scalar_one()
                conn.execute(
                    tasks.update().where(tasks.c.id == row_id).values(subject=f"{writer}-{n}!")
                )
    finally:
        engine.dispose()


def follow(store: ErpStore, position: int, expected: int) -> list[FeedEntry]:
    """What a reader storing its position after every small batch sees."""
    seen: list[FeedEntry] = []
    deadline = time.monotonic() + 60
    while len(seen) < expected and time.monotonic() < deadline:
        store.wait_for_changes(position, 1.0)
        batch = store.read_feed(position, limit=3)
        seen += batch
        if batch:
            position = batch[-1].seq
    return seen


def test_r15_concurrent_writers_lose_and_reorder_no_feed_entry(
    erp_db: ErpDatabase, store: ErpStore
) -> None:
    start = store.feed_position()
    expected = WRITERS * TRANSACTIONS * 2
    reader = Worker(lambda: follow(store, start, expected))
    reader.start()
    writers = [Worker(partial(write_tasks, erp_db, w)) for w in range(WRITERS)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.finish()
    seen = reader.finish()

    everything = store.read_feed(start, limit=10 * expected)
    assert len(everything) == expected
    assert seen == everything  # nothing lost, nothing repeated, same order
    seqs = [e.seq for e in everything]
    assert len(set(seqs)) == len(seqs)
    inserted = {e.row_id: e.seq for e in everything if e.operation == "insert"}
    updated = {e.row_id: e.seq for e in everything if e.operation == "update"}
    assert inserted.keys() == updated.keys()
    assert all(inserted[row] < updated[row] for row in inserted)


def test_a_transaction_committing_after_a_later_one_is_not_skipped_by_the_reader(
    erp_db: ErpDatabase, store: ErpStore, erp: ErpEditor, erp_engine: sa.Engine
) -> None:
    if erp_db.backend == "sqlite":
        pytest.skip("SQLite runs one writer at a time: commit order is sequence order by itself")
    start = store.feed_position()
    late_pid: list[int] = []

    def later_writer() -> None:
        with erp_engine.connect() as conn:
            late_pid.append(int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()))
            conn.execute(tasks.insert().values(user_login="mueller", subject="drawn second"))
            conn.commit()

    later = Worker(later_writer)

    def later_done_or_waiting_for_a_lock() -> bool:
        if not later.is_alive():
            return True
        if not late_pid:
            return False
        with erp_engine.connect() as conn:
            waiting = conn.execute(
                sa.text("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = :pid AND NOT granted)"),
                {"pid": late_pid[0]},
            )
            return bool(waiting.scalar_one())

    early = erp_engine.connect()
    try:
        early_tx = early.begin()
        early.execute(tasks.insert().values(user_login="mueller", subject="drawn first"))
        later.start()
        wait_until(later_done_or_waiting_for_a_lock)
        seen = store.read_feed(start)
        position = seen[-1].seq if seen else start
        early_tx.commit()
    finally:
        early.close()  # an open transaction would hold the schema: the teardown's DROP would wait
    later.finish()
    seen += store.read_feed(position)

    assert [e.row_id for e in seen] == [e.row_id for e in store.read_feed(start)]
    assert len(seen) == 2
    assert seen[0].seq < seen[1].seq
