"""The event store: eventsourcing's recorders with pydantic events, orjson and checkpoints.

SQLite (one file, WAL, synchronous=NORMAL) by default; PostgreSQL when the URL says so. Source
positions — the ERP feed sequence, each Exchange folder's sync state — are saved in the same
transaction as the events they produced, so after a crash a lost tail is simply read again
(R15) and echo/idempotency rules make the repeat harmless.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, cast
from urllib.parse import parse_qs, unquote, urlsplit

import orjson
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import BaseAggregate
from eventsourcing.persistence import Mapper, Notification, StoredEvent, Transcoder
from eventsourcing.postgres import PostgresFactory, PostgresProcessRecorder
from eventsourcing.sqlite import (
    SQLiteAggregateRecorder,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteCursor,
    SQLiteFactory,
    SQLiteProcessRecorder,
)
from eventsourcing.utils import Environment, get_topic, resolve_topic
from pydantic import BaseModel

from engine.aggregates import SyncItem, UserLedger, ledger_id, snapshot_of
from engine.checkpointer import WAL_PRAGMAS, WalCheckpointer
from engine.eventlog import LogEntry, LogScan, read_page, read_scan

CHECKPOINTS_TABLE = "einklang_checkpoints"


_IN_COLUMNS = {"originator_id", "originator_version"}  # stored beside the state, not in it


class PydanticMapper(Mapper[uuid.UUID]):
    """Stores pydantic events as orjson bytes, without repeating id and version in the body."""

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        # Python mode: orjson turns datetimes, UUIDs and enums into JSON faster than pydantic.
        state = cast(BaseModel, domain_event).model_dump(exclude=_IN_COLUMNS)
        data = self.transcoder.encode(state)
        if self.compressor:
            data = self.compressor.compress(data)
        if self.cipher:
            data = self.cipher.encrypt(data)
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=get_topic(type(domain_event)),
            state=data,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        data = stored_event.state
        if self.cipher:
            data = self.cipher.decrypt(data)
        if self.compressor:
            data = self.compressor.decompress(data)
        state = self.transcoder.decode(data)
        state["originator_id"] = stored_event.originator_id
        state["originator_version"] = stored_event.originator_version
        cls = resolve_topic(stored_event.topic)
        return cls.model_validate(state)


class OrjsonTranscoder(Transcoder):
    def encode(self, obj: Any) -> bytes:
        # UTC as "Z", as pydantic writes it: stored times compare as text in the read models.
        data = orjson.dumps(obj, option=orjson.OPT_UTC_Z)
        # orjson's result keeps the whole buffer it wrote into (8 KB behind a 1 KB event): a
        # right-sized copy, so that a batch of thousands of events waiting for its transaction
        # is not eight times its size (nor left to malloc afterwards).
        return bytes(memoryview(data))

    def decode(self, data: bytes) -> Any:
        return orjson.loads(data)


def _checkpoint_rows(kwargs: Mapping[str, Any]) -> list[tuple[str, str]]:
    checkpoints: Mapping[str, str] | None = kwargs.get("checkpoints")
    return sorted(checkpoints.items()) if checkpoints else []


class SQLiteRecorder(SQLiteProcessRecorder):
    """Events plus source checkpoints, in one SQLite transaction."""

    def construct_create_table_statements(self) -> list[str]:
        statements = super().construct_create_table_statements()
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {CHECKPOINTS_TABLE} (name TEXT PRIMARY KEY, value TEXT NOT NULL)"
        )
        return statements

    # Private hook: no public one writes rows in the transaction of `insert_events` (the library's
    # process recorder extends it for tracking). The events go in as the aggregate recorder puts
    # them, in one statement; the application recorder's row-by-row insert only learns rowids,
    # which nobody here reads (tests/test_eventsourcing_seams.py pins all three).
    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if kwargs.get("tracking") is not None:
            raise NotImplementedError("the event store follows no other log: no tracking")
        SQLiteAggregateRecorder._insert_events(self, c, stored_events)
        rows = _checkpoint_rows(kwargs)
        if rows:
            c.executemany(
                f"INSERT INTO {CHECKPOINTS_TABLE} (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                rows,
            )
        return None

    def checkpoints(self) -> dict[str, str]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT name, value FROM {CHECKPOINTS_TABLE}")
            return {row["name"]: row["value"] for row in c.fetchall()}


# SQLite's page cache per connection, in KiB (`[store] sqlite_cache_kb`): stream ids are
# random, so index pages are touched all over and more of them kept help a busy engine; but
# every connection fills its own, and it is resident memory.
SQLITE_CACHE_KB = 16_384
# Aggregates kept in memory (`[store] aggregate_cache`), least recently used evicted: an item
# not in it is read from the store when something happens to it.
AGGREGATE_CACHE = 20_000
# An item's state is kept as a snapshot every this many of its events (about ten changes).
SNAPSHOT_EVERY = 50


class TunedSQLitePool(SQLiteConnectionPool):
    """Connections with synchronous=NORMAL: safe here because positions commit with their events."""

    cache_kb = SQLITE_CACHE_KB

    @property
    def pragmas(self) -> tuple[str, ...]:
        return (
            "PRAGMA synchronous=NORMAL",
            f"PRAGMA cache_size=-{self.cache_kb}",
            *WAL_PRAGMAS,  # the log is checkpointed by a thread of its own (engine/checkpointer.py)
        )

    # Private hook: the pool's abstract method for subclasses, the one place that sees each new
    # connection (SQLite pragmas are per connection; tests/test_eventsourcing_seams.py).
    def _create_connection(self) -> SQLiteConnection:
        connection = super()._create_connection()
        with connection.cursor() as cursor:
            for pragma in self.pragmas:
                cursor.execute(pragma)
        return connection


class SQLiteStoreFactory(SQLiteFactory):
    """The library's SQLite factory, its datastore drawing connections from `TunedSQLitePool`."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        # The datastore builds its pool itself: replace it (unused so far) by one made alike.
        default = self.datastore.pool
        self.datastore.pool = TunedSQLitePool(
            db_name=default.db_name,
            lock_timeout=default.lock_timeout,
            pool_size=default.pool_size,
            max_overflow=default.max_overflow,
            pool_timeout=default.pool_timeout,
            max_age=default.max_age,
            pre_ping=default.pre_ping,
        )
        self.datastore.pool.cache_kb = int(env.get("SQLITE_CACHE_KB") or SQLITE_CACHE_KB)
        default.close()


class PostgresRecorder(PostgresProcessRecorder):
    """Events plus source checkpoints, in one PostgreSQL transaction."""

    def __init__(self, datastore: Any, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        from psycopg.sql import SQL, Identifier

        self._checkpoints = SQL("{schema}.{table}").format(
            schema=Identifier(self.datastore.schema), table=Identifier(CHECKPOINTS_TABLE)
        )
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {t} (name text PRIMARY KEY, value text NOT NULL)"
            ).format(t=self._checkpoints)
        )
        if self.datastore.enable_db_functions:
            # That path of `insert_events` never calls `_insert_events`: positions would be lost.
            raise ValueError(
                "POSTGRES_ENABLE_DB_FUNCTIONS must be off: source checkpoints are written "
                "with the events only on the library's pipelined insert"
            )

    # Private hook: no public one writes rows in the transaction of `insert_events`; this is the
    # one the library's process recorder extends for tracking (tests/test_eventsourcing_seams.py).
    def _insert_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        from psycopg.sql import SQL

        super()._insert_events(curs, stored_events, **kwargs)
        rows = _checkpoint_rows(kwargs)
        if rows:
            curs.executemany(
                SQL(
                    "INSERT INTO {t} (name, value) VALUES (%s, %s) "
                    "ON CONFLICT (name) DO UPDATE SET value = excluded.value"
                ).format(t=self._checkpoints),
                rows,
            )

    def checkpoints(self) -> dict[str, str]:
        from psycopg.sql import SQL

        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT name, value FROM {t}").format(t=self._checkpoints))
            return {row["name"]: row["value"] for row in curs.fetchall()}


@dataclass(frozen=True)
class StoreLocation:
    """Where events live: a SQLite file or a PostgreSQL database (and schema)."""

    url: str

    @property
    def is_postgres(self) -> bool:
        return self.url.startswith(("postgresql:", "postgres:", "postgresql+psycopg:"))

    @property
    def sqlite_path(self) -> str:
        if self.url.startswith("sqlite:///"):
            return self.url.removeprefix("sqlite:///")
        return self.url

    @property
    def postgres_schema(self) -> str:
        return parse_qs(urlsplit(self.url).query).get("schema", ["public"])[0]

    def eventsourcing_env(self) -> dict[str, str]:
        if not self.is_postgres:
            return {
                "PERSISTENCE_MODULE": get_topic(SQLiteStoreFactory),
                "SQLITE_DBNAME": self.sqlite_path,
                "SQLITE_LOCK_TIMEOUT": "30",
                "APPLICATION_RECORDER_TOPIC": get_topic(SQLiteRecorder),
            }
        parts = urlsplit(self.url)
        return {
            "PERSISTENCE_MODULE": get_topic(PostgresFactory),
            "POSTGRES_DBNAME": parts.path.lstrip("/") or "postgres",
            "POSTGRES_HOST": parts.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            "POSTGRES_SCHEMA": self.postgres_schema,
            "APPLICATION_RECORDER_TOPIC": get_topic(PostgresRecorder),
        }

    def sqlalchemy_url(self) -> str:
        if not self.is_postgres:
            return f"sqlite:///{self.sqlite_path}"
        parts = urlsplit(self.url)
        return parts._replace(scheme="postgresql+psycopg", query="").geturl()


class EventStore(Application[uuid.UUID]):
    """einklang's event-sourced application: item streams, user ledgers and checkpoints."""

    name = "einklang"
    env: ClassVar[dict[str, str]] = {
        "MAPPER_TOPIC": get_topic(PydanticMapper),
        "TRANSCODER_TOPIC": get_topic(OrjsonTranscoder),
        "AGGREGATE_CACHE_MAXSIZE": str(AGGREGATE_CACHE),
        # One writer per mailbox (DESIGN §1 R21): the cache is the truth, no re-reads per get.
        "AGGREGATE_CACHE_FASTFORWARD": "n",
        "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",
        "IS_SNAPSHOTTING_ENABLED": "y",
    }

    def __init__(
        self,
        location: StoreLocation,
        env: Mapping[str, str] | None = None,
        *,
        aggregate_cache: int | None = None,
        sqlite_cache_kb: int | None = None,
    ) -> None:
        """`aggregate_cache`: aggregates kept in memory; `sqlite_cache_kb`: SQLite's page cache
        per connection (None: the defaults above)."""
        self.location = location
        env = {**location.eventsourcing_env(), **(env or {})}
        if aggregate_cache is not None:
            env["AGGREGATE_CACHE_MAXSIZE"] = str(aggregate_cache)
        if sqlite_cache_kb is not None:
            env["SQLITE_CACHE_KB"] = str(sqlite_cache_kb)
        self.checkpointer: WalCheckpointer | None = None
        # Two processes opening a new store at once (the engine starting while `einklang status`
        # runs) race in creating its tables ("CREATE … IF NOT EXISTS" is not atomic in
        # PostgreSQL's catalog, and the library records its SQLite migrations as it goes): the
        # DDL is done one process at a time.
        with ddl_lock(location):
            if location.is_postgres:
                _ensure_schema(location)
            super().__init__(env=env)
        if not location.is_postgres:
            recorder = self.recorder
            assert isinstance(recorder, SQLiteRecorder)
            if not recorder.datastore.pool.is_sqlite_memory_mode:
                self.checkpointer = WalCheckpointer(location.sqlite_path)

    def close(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.close()
        super().close()

    def construct_env(self, name: str, env: Mapping[str, str] | None = None) -> Environment:
        # As the library's, except that the location alone says where events live: database
        # settings in os.environ (POSTGRES_*, SQLITE_*) must not mix in.
        values = dict(type(self).env)
        values.update(
            (k, v) for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "SQLITE_"))
        )
        values.update(env or {})
        return Environment(name, values)

    def item(self, stream_id: uuid.UUID) -> SyncItem | None:
        try:
            return cast(SyncItem, self.repository.get(stream_id, projector_func=fold))
        except AggregateNotFoundError:
            return None

    def ledger(self, user: str) -> UserLedger | None:
        try:
            return cast(UserLedger, self.repository.get(ledger_id(user), projector_func=fold))
        except AggregateNotFoundError:
            return None

    def save_batch(
        self,
        aggregates: Iterable[BaseAggregate[uuid.UUID]],
        checkpoints: Mapping[str, str] | None = None,
    ) -> int:
        """Save many aggregates (and source positions) in one transaction; events written."""
        batch = [a for a in aggregates if a.pending_events]
        if not batch and not checkpoints:
            return 0
        try:
            written = self._save_collected(batch, dict(checkpoints or {}))
        except Exception:
            # The cached aggregates now hold unsaved events: forget them, reload on next use.
            cache = self.repository.cache
            if cache is not None:
                for aggregate in batch:
                    with contextlib.suppress(KeyError):
                        cache.get(aggregate.id, evict=True)
            raise
        return written

    def _save_collected(
        self, batch: list[BaseAggregate[uuid.UUID]], checkpoints: dict[str, str]
    ) -> int:
        """`Application.save` without its per-object protocol checks (tens of µs per aggregate):
        our objects are known to be aggregates. Through public parts only — the event store's
        `put`, and the repository's cache kept as `Application._record` keeps it; the rest of
        `save` (snapshots, `_notify`) does nothing for this application (no snapshotting
        intervals, not a process application)."""
        events = [event for aggregate in batch for event in aggregate.collect_events()]
        self.events.put(events, checkpoints=checkpoints)
        cache = self.repository.cache
        if cache is not None and not self.repository.fastforward:
            for aggregate in batch:
                cache.put(aggregate.id, aggregate)
        if self.snapshots is not None:
            # Items whose history just passed a multiple of SNAPSHOT_EVERY events: a reload
            # reads that many at most (after the events' transaction: a lost one costs nothing).
            crossed = {
                e.originator_id for e in events if e.originator_version % SNAPSHOT_EVERY == 0
            }
            due = [snapshot_of(a) for a in batch if a.id in crossed]
            if due:
                self.snapshots.put([snapshot for snapshot in due if snapshot is not None])
        return len(events)

    def checkpoints(self) -> dict[str, str]:
        recorder = self.recorder
        assert isinstance(recorder, SQLiteRecorder | PostgresRecorder)
        return recorder.checkpoints()

    def notifications(self, start: int, limit: int = 1000) -> Sequence[Notification]:
        """Stored events from notification id `start` (inclusive), in order."""
        return self.recorder.select_notifications(start=start, limit=limit)

    def log_page(self, start: int, limit: int = 1000, topics: Sequence[str] = ()) -> list[LogEntry]:
        """Like `notifications`, as plain tuples for followers that read JSON themselves
        (engine/eventlog.py); given `topics`, only their events carry a state."""
        return read_page(self.recorder, start, limit, topics)

    def log_scan(self, start: int, limit: int, topics: Sequence[str]) -> LogScan:
        """The next `limit` events from `start`, only those of `topics` read (engine/eventlog.py)."""
        return read_scan(self.recorder, start, limit, topics)

    def max_notification_id(self) -> int:
        return self.recorder.max_notification_id() or 0

    def events_of(self, stream_id: uuid.UUID) -> list[Any]:
        return list(self.events.get(stream_id))


def fold(aggregate: Any, events: Iterable[Any]) -> Any:
    """An aggregate from its events, as the library's `project_aggregate` without its protocol
    `isinstance` check per event (a quarter of reloading an item): the mapper gives only our
    events."""
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


@contextlib.contextmanager
def ddl_lock(location: StoreLocation) -> Iterator[None]:
    """Holds a lock of the store's while its tables are created or migrated, so that processes
    opening it at once do so one after the other: PostgreSQL's advisory lock named after the
    schema; for a SQLite file, an exclusive transaction on a lock file beside it (SQLite's own
    file locking, on every platform; the store file itself cannot be locked, its tables are
    being written)."""
    if not location.is_postgres:
        with _sqlite_lock(location.sqlite_path):
            yield
        return
    import psycopg

    key = int.from_bytes(hashlib.sha256(location.postgres_schema.encode()).digest()[:8], "big")
    key -= 1 << 63 if key >= 1 << 63 else 0
    url = location.sqlalchemy_url().replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


@contextlib.contextmanager
def _sqlite_lock(path: str) -> Iterator[None]:
    if path.startswith(":memory:") or "mode=memory" in path:  # one process sees it
        yield
        return
    lock = sqlite3.connect(f"{path}-lock", timeout=60, isolation_level=None)
    try:
        lock.execute("BEGIN EXCLUSIVE")
        yield
    finally:
        lock.close()  # the transaction ends with the connection


def _ensure_schema(location: StoreLocation) -> None:
    schema = location.postgres_schema
    if schema == "public":
        return
    import psycopg
    from psycopg.sql import SQL, Identifier

    with psycopg.connect(
        location.sqlalchemy_url().replace("postgresql+psycopg", "postgresql"), autocommit=True
    ) as conn:
        conn.execute(SQL("CREATE SCHEMA IF NOT EXISTS {}").format(Identifier(schema)))
