"""Where engine/store.py leans on eventsourcing beyond its public API, and that it still holds.

The store extends the library through public parts where they exist (`construct_env`, recorder
and factory topics, `construct_create_table_statements`, `EventStore.put`, the repository's
cache). Three things have no public hook, so the store overrides or re-implements a private one:

- checkpoints written in the transaction of the events: `_insert_events` of the SQLite and
  PostgreSQL process recorders (the hook the library itself extends for tracking); on SQLite
  the events go in with the aggregate recorder's batch insert, as before;
- SQLite pragmas on every new connection: `SQLiteConnectionPool._create_connection`;
- `save_batch`: `Application.save` without its per-object protocol checks.

`test_r15_private_seams_are_the_ones_reviewed` fails when an upgrade of eventsourcing changes any
of those methods (signature or source), and says what to re-check; the other tests show that the
seams do their work (R15: source positions commit with their events).
"""

from __future__ import annotations

import hashlib
import inspect
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.application import Application
from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresProcessRecorder
from eventsourcing.sqlite import (
    SQLiteAggregateRecorder,
    SQLiteApplicationRecorder,
    SQLiteConnectionPool,
    SQLiteDatastore,
    SQLiteProcessRecorder,
)

from engine.aggregates import SyncItem
from engine.checkpointer import BACKSTOP_PAGES, JOURNAL_SIZE_LIMIT
from engine.model import ItemKind
from engine.store import (
    SQLITE_CACHE_KB,
    EventStore,
    PostgresRecorder,
    SQLiteRecorder,
    StoreLocation,
    TunedSQLitePool,
)


@dataclass(frozen=True)
class Seam:
    owner: type
    name: str
    signature: str
    source_sha256: str  # first 16 hex digits of the SHA-256 of inspect.getsource
    recheck: str
    overridden_by: type | None = None  # our subclass whose override reaches this one by super()


SEAMS = (
    Seam(
        SQLiteProcessRecorder,
        "_insert_events",
        "(self, c: 'SQLiteCursor', stored_events: 'Sequence[StoredEvent]', **kwargs: 'Any')"
        " -> 'Sequence[int] | None'",
        "235ed35ec8abfde8",
        "SQLiteRecorder._insert_events replaces it (and refuses tracking, which it adds): does it "
        "do anything more now?",
        overridden_by=SQLiteRecorder,
    ),
    Seam(
        SQLiteApplicationRecorder,
        "_insert_events",
        "(self, c: 'SQLiteCursor', stored_events: 'Sequence[StoredEvent]', **_: 'Any')"
        " -> 'Sequence[int] | None'",
        "413cdf219c7bae63",
        "SQLiteRecorder._insert_events replaces its row-by-row insert by the aggregate "
        "recorder's batch: does it do anything more now than insert and return the rowids?",
    ),
    Seam(
        SQLiteAggregateRecorder,
        "_insert_events",
        "(self, c: 'SQLiteCursor', stored_events: 'Sequence[StoredEvent]', **_: 'Any')"
        " -> 'Sequence[int] | None'",
        "452435d1ad175fa0",
        "SQLiteRecorder._insert_events calls it for the events: does it still insert the whole "
        "batch with insert_events_statement (the application recorder's table has the same "
        "columns), on the cursor it is given?",
    ),
    Seam(
        SQLiteAggregateRecorder,
        "insert_events",
        "(self, stored_events: 'Sequence[StoredEvent]', **kwargs: 'Any') -> 'Sequence[int] | None'",
        "32f60619a2ca6e6a",
        "does it still open one committing transaction and call _insert_events in it with the "
        "caller's **kwargs (the checkpoints)?",
    ),
    Seam(
        PostgresProcessRecorder,
        "_insert_events",
        "(self, curs: 'Cursor[DictRow]', stored_events: 'Sequence[StoredEvent]', **kwargs: 'Any')"
        " -> 'None'",
        "0c105d6d23c12d5e",
        "PostgresRecorder._insert_events calls it and then writes the checkpoint rows with the "
        "same cursor: is it still run inside the transaction that inserts the events?",
        overridden_by=PostgresRecorder,
    ),
    Seam(
        PostgresApplicationRecorder,
        "insert_events",
        "(self, stored_events: 'Sequence[StoredEvent]', **kwargs: 'Any') -> 'Sequence[int] | None'",
        "f1a98da0239e3ea7",
        "does it still call _insert_events with **kwargs in the transaction of the insert, and is "
        "the database-function path (which skips it; PostgresRecorder refuses it) still the only "
        "other one?",
    ),
    Seam(
        SQLiteConnectionPool,
        "_create_connection",
        "(self) -> 'SQLiteConnection'",
        "4635cb356e9ae4ec",
        "TunedSQLitePool extends it to set pragmas: is it still the one place where connections "
        "are made, and still returning a SQLiteConnection whose cursor() runs a statement?",
        overridden_by=TunedSQLitePool,
    ),
    Seam(
        SQLiteDatastore,
        "__init__",
        "(self, db_name: 'str', *, lock_timeout: 'int | None' = None, pool_size: 'int' = 5,"
        " max_overflow: 'int' = 10, pool_timeout: 'float' = 5.0, max_age: 'float | None' = None,"
        " pre_ping: 'bool' = False, single_row_tracking: 'bool' = True,"
        " originator_id_type: \"Literal['uuid', 'text']\" = 'uuid')",
        "6f70a3c7d7e9d8ae",
        "SQLiteStoreFactory replaces the pool it builds by a TunedSQLitePool made from the old "
        "pool's attributes: does the datastore pass the pool anything else now, or use it early?",
    ),
    Seam(
        Application,
        "save",
        "(self, *objs: 'MutableOrImmutableAggregate[TAggregateID] | DomainEventProtocol"
        "[TAggregateID] | None', **kwargs: 'Any') -> 'list[Recording[TAggregateID]]'",
        "4e9747d14b8fd046",
        "EventStore._save_collected does what save does (collect, record, snapshots, notify) "
        "with public parts: does save do anything more now?",
    ),
    Seam(
        Application,
        "_record",
        "(self, processing_event: 'ProcessingEvent[TAggregateID]')"
        " -> 'list[Recording[TAggregateID]]'",
        "104c6186b29d5059",
        "EventStore._save_collected repeats it (events.put, then the cache unless fast-forward): "
        "does it do anything more now?",
    ),
    Seam(
        Application,
        "_take_snapshots",
        "(self, processing_event: 'ProcessingEvent[TAggregateID]') -> 'None'",
        "ae98c5b97ed9a8e3",
        "EventStore._save_collected leaves it out because EventStore sets no snapshotting "
        "intervals: does it still do nothing without them?",
    ),
    Seam(
        Application,
        "_notify",
        "(self, recordings: 'list[Recording[TAggregateID]]') -> 'None'",
        "6b32f9fc4b4cf455",
        "EventStore._save_collected leaves it out because it does nothing on Application: "
        "still so?",
    ),
    Seam(
        Application,
        "construct_env",
        "(self, name: 'str', env: 'EnvType | None' = None) -> 'Environment'",
        "0369ca377c1fb372",
        "EventStore.construct_env repeats it but keeps POSTGRES_*/SQLITE_* of os.environ out: "
        "does the library's add anything EventStore should add too?",
    ),
)


def _digest(function: Callable[..., Any]) -> str:
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]


def test_r15_private_seams_are_the_ones_reviewed() -> None:
    changed = []
    for seam in SEAMS:
        function = inspect.unwrap(seam.owner.__dict__[seam.name])
        signature, digest = str(inspect.signature(function)), _digest(function)
        if (signature, digest) != (seam.signature, seam.source_sha256):
            changed.append(
                f"{seam.owner.__module__}.{seam.owner.__qualname__}.{seam.name} changed "
                f"(signature {signature}, source {digest}).\n  Re-check: {seam.recheck}\n"
                "  Then record the new signature and digest here."
            )
    assert not changed, "eventsourcing was upgraded under engine/store.py:\n" + "\n".join(changed)


@pytest.mark.parametrize(
    "seam", [s for s in SEAMS if s.overridden_by is not None], ids=lambda s: s.name
)
def test_r15_each_override_reaches_the_reviewed_method(seam: Seam) -> None:
    assert seam.overridden_by is not None
    mro = seam.overridden_by.__mro__
    below = next(c for c in mro[1:] if seam.name in c.__dict__)
    assert below is seam.owner, (
        f"{seam.overridden_by.__qualname__}.{seam.name} now reaches {below.__qualname__}'s"
    )


@pytest.mark.parametrize(("configured", "cache_kb"), [(None, SQLITE_CACHE_KB), (4096, 4096)])
def test_r15_every_sqlite_connection_is_tuned(
    tmp_path: Path, configured: int | None, cache_kb: int
) -> None:
    store = EventStore(StoreLocation(str(tmp_path / "einklang.db")), sqlite_cache_kb=configured)
    recorder = store.recorder
    assert isinstance(recorder, SQLiteRecorder)
    datastore = recorder.datastore
    assert isinstance(datastore.pool, TunedSQLitePool)
    # Two connections at once: the pool makes a second one, which must be tuned as well.
    with (
        datastore.get_connection(commit=True) as writer,
        datastore.get_connection(commit=False) as reader,
    ):
        assert writer is not reader
        for connection in (writer, reader):
            with connection.cursor() as cursor:
                settings = [
                    cursor.execute(f"PRAGMA {name}").fetchone()[0]
                    for name in (
                        "journal_mode",
                        "synchronous",
                        "cache_size",
                        "wal_autocheckpoint",
                        "journal_size_limit",
                    )
                ]
            # synchronous 1 = NORMAL; the log is checkpointed by the store's own thread
            assert settings == ["wal", 1, -cache_kb, BACKSTOP_PAGES, JOURNAL_SIZE_LIMIT]
    store.close()


def test_r15_the_store_file_is_the_location_not_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere.db"
    monkeypatch.setenv("SQLITE_DBNAME", str(elsewhere))
    monkeypatch.setenv("SQLITE_LOCK_TIMEOUT", "not a number")
    monkeypatch.setenv("AGGREGATE_CACHE_MAXSIZE", "7")  # not a database setting: it applies
    store = EventStore(StoreLocation(str(tmp_path / "einklang.db")))
    item = SyncItem.start(uuid.uuid4(), "mueller", ItemKind.APPOINTMENT)
    assert store.save_batch([item], {"erp:feed": "1"}) == 1
    assert store.env.get("SQLITE_LOCK_TIMEOUT") == "30"
    assert store.env.get("AGGREGATE_CACHE_MAXSIZE") == "7"
    store.close()
    assert (tmp_path / "einklang.db").exists() and not elsewhere.exists()


def test_r15_a_saved_item_is_the_cached_one_and_reads_back_after_reopening(
    store_url: str,
) -> None:
    store = EventStore(StoreLocation(store_url))
    item = SyncItem.start(uuid.uuid4(), "mueller", ItemKind.TASK)
    assert store.save_batch([item], {"exchange:mueller:task": "state-1"}) == 1
    assert store.item(item.id) is item  # kept in the cache as Application.save keeps it
    assert not item.pending_events
    store.close()
    reopened = EventStore(StoreLocation(store_url))
    again = reopened.item(item.id)
    assert again is not None and again is not item and again.state == item.state
    assert reopened.checkpoints() == {"exchange:mueller:task": "state-1"}
    assert [n.originator_id for n in reopened.notifications(1)] == [item.id]
    reopened.close()


def test_r15_postgres_database_functions_are_refused(postgres_schema_url: str) -> None:
    # With them, the library inserts events without `_insert_events`: positions would be lost.
    with pytest.raises(ValueError, match="POSTGRES_ENABLE_DB_FUNCTIONS"):
        EventStore(StoreLocation(postgres_schema_url), env={"POSTGRES_ENABLE_DB_FUNCTIONS": "y"})


def test_r15_postgres_settings_in_the_environment_do_not_move_the_store(
    postgres_schema_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSTGRES_ENABLE_DB_FUNCTIONS", "y")
    monkeypatch.setenv("POSTGRES_SCHEMA", "somewhere_else")
    store = EventStore(StoreLocation(postgres_schema_url))
    recorder = store.recorder
    assert isinstance(recorder, PostgresRecorder)
    assert recorder.datastore.schema == StoreLocation(postgres_schema_url).postgres_schema
    assert os.environ["POSTGRES_SCHEMA"] == "somewhere_else"
    store.close()


def test_r15_the_sqlite_recorder_refuses_tracking_it_would_not_write(tmp_path: Path) -> None:
    store = EventStore(StoreLocation(str(tmp_path / "einklang.db")))
    with pytest.raises(NotImplementedError, match="tracking"):
        store.recorder.insert_events([], tracking=Tracking("elsewhere", 1))
    store.close()
