"""Change capture adds no lock of its own on PostgreSQL: no deadlock the ERP would not have had.

The capture triggers once took a global feed lock: two ordinary ERP transactions (a row lock,
then an update of another row) deadlocked every time, and so did ERP transactions with the
engine's write path. Now entries carry their transaction's id and the reader reads only below
the oldest running transaction; these tests hold the ERP to its own locks on the real server,
and check that the reader still sees every entry exactly once and no update is lost.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from adapters.erp.editing import ErpEditor
from adapters.erp.feed import FeedEntry
from adapters.erp.schema import appointments, follow_ups, tasks
from adapters.erp.store import ErpStore
from engine.model import ItemKind, Side
from engine.ports import Write, WriteResult
from tests.erp.conftest import ErpDatabase, Worker, wait_until
from tests.erp.samples import imported_series

WRITING = ("INSERT", "UPDATE", "DELETE")


@pytest.fixture
def postgres_only(erp_db: ErpDatabase) -> None:
    if erp_db.backend == "sqlite":
        pytest.skip("SQLite runs one writer at a time: it has no row locks to deadlock on")


@contextmanager
def transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    """An ERP transaction that a test drives statement by statement; always ended."""
    with engine.connect() as conn:
        conn.execute(sa.text("SET lock_timeout = '20s'"))
        conn.commit()
        with conn.begin():
            yield conn


def pid(conn: sa.Connection) -> int:
    return int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


def waits_for_a_lock(engine: sa.Engine, backend: int) -> bool:
    with engine.connect() as conn:
        waiting = conn.execute(
            sa.text("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = :pid AND NOT granted)"),
            {"pid": backend},
        )
        return bool(waiting.scalar_one())


def lock_row(conn: sa.Connection, table: sa.Table, row_id: int) -> None:
    conn.execute(sa.select(table.c.id).where(table.c.id == row_id).with_for_update())


def set_subject(conn: sa.Connection, table: sa.Table, row_id: int, subject: str) -> None:
    conn.execute(table.update().where(table.c.id == row_id).values(subject=subject))


def subjects(engine: sa.Engine, table: sa.Table) -> dict[int, str]:
    with engine.connect() as conn:
        return {int(i): str(s) for i, s in conn.execute(sa.select(table.c.id, table.c.subject))}


@pytest.mark.usefixtures("postgres_only")
def test_two_erp_transactions_locking_a_row_then_updating_another_do_not_deadlock(
    store: ErpStore, erp: ErpEditor, erp_engine: sa.Engine
) -> None:
    x, y, z = (erp.add("task", {"user_login": "mueller", "subject": n}) for n in "xyz")
    before = store.feed_position()
    second_pid: list[int] = []

    with transaction(erp_engine) as first:
        lock_row(first, tasks, x)

        def second() -> None:
            with transaction(erp_engine) as conn:
                second_pid.append(pid(conn))
                set_subject(conn, tasks, y, "y by the second")
                set_subject(conn, tasks, x, "x by the second")  # waits for the first

        waiting = Worker(second)
        waiting.start()
        wait_until(lambda: bool(second_pid) and waits_for_a_lock(erp_engine, second_pid[0]))
        set_subject(first, tasks, z, "z by the first")  # deadlocked on the feed lock before
    waiting.finish()

    assert subjects(erp_engine, tasks) == {
        x: "x by the second",
        y: "y by the second",
        z: "z by the first",
    }
    assert sorted(e.row_id for e in store.read_feed(before)) == sorted([x, y, z])


def engine_update(store: ErpStore, row_id: int, version: int) -> WriteResult:
    snapshot = imported_series().model_copy(update={"location": "Room 9 (engine)"})
    write = Write(
        side=Side.ERP,
        operation="update",
        kind=ItemKind.APPOINTMENT,
        native_id=str(row_id),
        expected_version=str(version),
        snapshot=snapshot,
    )
    return store.apply("mueller", STREAM, write)


STREAM = uuid.UUID("9f6f1c7e-0d5b-4d0e-8a53-6a2f0f3c1e55")


def engine_row(store: ErpStore) -> tuple[int, int]:
    created = store.apply(
        "mueller",
        STREAM,
        Write(
            side=Side.ERP, operation="create", kind=ItemKind.APPOINTMENT, snapshot=imported_series()
        ),
    )
    assert created.native_version is not None
    return int(created.native_id), int(created.native_version)


@contextmanager
def engine_backend(
    store: ErpStore,
    pause_after_first_write: threading.Event | None = None,
    holding: threading.Event | None = None,
) -> Iterator[list[int]]:
    """The engine's backend pid (once it writes); optionally paused after its first write."""
    pids: list[int] = []

    def before(conn: sa.Connection, cursor: Any, statement: str, *args: Any) -> None:
        if not pids and statement.lstrip().upper().startswith(WRITING):
            pids.append(int(cursor.connection.info.backend_pid))

    def after(conn: sa.Connection, cursor: Any, statement: str, *args: Any) -> None:
        if (
            holding is not None
            and not holding.is_set()
            and statement.lstrip().upper().startswith(WRITING)
        ):
            holding.set()
            assert pause_after_first_write is not None
            assert pause_after_first_write.wait(20.0)

    event.listen(store.engine, "before_cursor_execute", before)
    event.listen(store.engine, "after_cursor_execute", after)
    try:
        yield pids
    finally:
        event.remove(store.engine, "before_cursor_execute", before)
        event.remove(store.engine, "after_cursor_execute", after)


@pytest.mark.usefixtures("postgres_only")
def test_an_erp_transaction_holding_the_engines_row_then_writing_elsewhere_does_not_deadlock(
    store: ErpStore, erp: ErpEditor, erp_engine: sa.Engine
) -> None:
    row_id, version = engine_row(store)
    other = erp.add("task", {"user_login": "mueller", "subject": "other"})

    with engine_backend(store) as engine_pid:
        with transaction(erp_engine) as erp_tx:
            lock_row(erp_tx, appointments, row_id)  # the ERP first: a row the engine will write
            writing = Worker(partial(engine_update, store, row_id, version))
            writing.start()
            wait_until(lambda: bool(engine_pid) and waits_for_a_lock(erp_engine, engine_pid[0]))
            set_subject(erp_tx, tasks, other, "written while the engine waits")
        result = writing.finish()

    assert result.native_version == str(version + 1)
    assert subjects(erp_engine, tasks)[other] == "written while the engine waits"


@pytest.mark.usefixtures("postgres_only")
def test_the_engine_holding_its_row_while_an_erp_transaction_locks_it_does_not_deadlock(
    store: ErpStore, erp: ErpEditor, erp_engine: sa.Engine
) -> None:
    row_id, version = engine_row(store)
    other = erp.add("task", {"user_login": "mueller", "subject": "other"})
    release, holding = threading.Event(), threading.Event()
    erp_pid: list[int] = []

    def erp_transaction() -> None:
        with transaction(erp_engine) as erp_tx:
            erp_pid.append(pid(erp_tx))
            lock_row(erp_tx, appointments, row_id)
            set_subject(erp_tx, tasks, other, "written after the engine's write")

    with engine_backend(store, release, holding):
        writing = Worker(partial(engine_update, store, row_id, version))
        writing.start()
        assert holding.wait(20.0)  # the engine has made its first write and holds its locks
        erp_writer = Worker(erp_transaction)
        erp_writer.start()
        wait_until(
            lambda: (
                not erp_writer.is_alive()
                or (bool(erp_pid) and waits_for_a_lock(erp_engine, erp_pid[0]))
            )
        )
        release.set()
        result = writing.finish()
        erp_writer.finish()

    assert result.native_version == str(version + 1)
    assert subjects(erp_engine, tasks)[other] == "written after the engine's write"


def writer(erp_db: ErpDatabase, name: str, transactions: int, seed: int) -> list[int]:
    """Short transactions of two statements with random pauses: commits in random order."""
    chance = random.Random(seed)
    engine = erp_db.engine()
    rows: list[int] = []
    try:
        for n in range(transactions):
            with engine.begin() as conn:
                row_id = conn.execute(
                    tasks.insert()
                    .values(user_login="mueller", subject=f"{name}-{n}")
                    .returning(tasks.c.id)
                ).scalar_one()
                time.sleep(chance.uniform(0, 0.003))
                set_subject(conn, tasks, row_id, f"{name}-{n}!")
                time.sleep(chance.uniform(0, 0.003))
            rows.append(int(row_id))
    finally:
        engine.dispose()
    return rows


def follow(store: ErpStore, position: int, expected: int) -> list[FeedEntry]:
    """A reader storing its position after every small batch, as the engine does."""
    seen: list[FeedEntry] = []
    deadline = time.monotonic() + 60
    while len(seen) < expected and time.monotonic() < deadline:
        store.wait_for_changes(position, 0.5)
        batch = store.read_feed(position, limit=3)
        seen += batch
        if batch:
            position = batch[-1].seq
    return seen


def test_concurrent_writers_committing_in_random_order_are_read_once_each_and_none_skipped(
    erp_db: ErpDatabase, store: ErpStore
) -> None:
    writers, transactions = 4, 12
    start = store.feed_position()
    expected = writers * transactions * 2
    reader = Worker(lambda: follow(store, start, expected))
    reader.start()
    workers = [
        Worker(partial(writer, erp_db, f"w{w}", transactions, seed=w)) for w in range(writers)
    ]
    for w in workers:
        w.start()
    written = [row for w in workers for row in w.finish()]
    seen = reader.finish()

    assert len(seen) == expected
    assert [e.seq for e in seen] == [e.seq for e in store.read_feed(start, limit=10 * expected)]
    assert len({e.seq for e in seen}) == expected
    for row in written:
        assert [e.operation for e in seen if e.row_id == row] == ["insert", "update"]


@pytest.mark.usefixtures("postgres_only")
def test_an_entry_with_a_lower_sequence_committed_after_a_higher_one_is_not_skipped(
    store: ErpStore, erp_engine: sa.Engine
) -> None:
    """The transaction committing first has the older id (it wrote first, uncaptured) and the
    higher sequence; the one committing after it has the lower sequence."""
    start = store.feed_position()
    older_pid: list[int] = []
    go = threading.Event()

    def older_transaction() -> None:
        with transaction(erp_engine) as conn:
            older_pid.append(pid(conn))
            conn.execute(follow_ups.insert().values(user_login="mueller", subject="first"))
            assert go.wait(20.0)
            conn.execute(tasks.insert().values(user_login="mueller", subject="drawn second"))

    older = Worker(older_transaction)
    older.start()
    wait_until(lambda: bool(older_pid))
    with transaction(erp_engine) as younger:
        younger.execute(tasks.insert().values(user_login="mueller", subject="drawn first"))
        go.set()
        wait_until(lambda: not older.is_alive() or waits_for_a_lock(erp_engine, older_pid[0]))
        seen = store.read_feed(start)
        position = seen[-1].seq if seen else start
    older.finish()
    seen += store.read_feed(position)

    everything = store.read_feed(start)
    assert len(everything) == 2
    assert [e.seq for e in seen] == [e.seq for e in everything]


def test_no_update_is_lost_when_many_erp_connections_update_one_row(
    erp_db: ErpDatabase, store: ErpStore, erp: ErpEditor, erp_engine: sa.Engine
) -> None:
    counter = erp.add("task", {"user_login": "mueller", "subject": "counter"})
    others = [erp.add("task", {"user_login": "mueller", "subject": f"o{n}"}) for n in range(4)]
    before = store.feed_position()
    connections, increments = 4, 10

    def increment(seed: int) -> None:
        chance = random.Random(seed)
        engine = erp_db.engine()
        try:
            for _ in range(increments):
                with engine.begin() as conn:
                    set_subject(conn, tasks, chance.choice(others), f"touched by {seed}")
                    conn.execute(
                        tasks.update()
                        .where(tasks.c.id == counter)
                        .values(percent_complete=tasks.c.percent_complete + 1)
                    )
        finally:
            engine.dispose()

    workers = [Worker(partial(increment, n)) for n in range(connections)]
    for w in workers:
        w.start()
    for w in workers:
        w.finish()

    total = connections * increments
    with erp_engine.connect() as conn:
        done = conn.execute(
            sa.select(tasks.c.percent_complete, tasks.c.row_version).where(tasks.c.id == counter)
        ).one()
    assert tuple(done) == (total, total + 1)
    versions = [e.row_version for e in store.read_feed(before, limit=1000) if e.row_id == counter]
    assert None not in versions
    assert sorted(v for v in versions if v is not None) == list(range(2, total + 2))
