"""The event store: eventsourcing's recorders with pydantic events, orjson and checkpoints.

SQLite (one file, WAL, synchronous=NORMAL) by default; PostgreSQL when the URL says so. Source
positions — the ERP feed sequence, each Exchange folder's sync state — are saved in the same
transaction as the events they produced, so after a crash a lost tail is simply read again
(R15) and echo/idempotency rules make the repeat harmless.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, cast
from urllib.parse import parse_qs, unquote, urlsplit

import orjson
from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import BaseAggregate
from eventsourcing.persistence import Mapper, Notification, StoredEvent, Transcoder
from eventsourcing.postgres import PostgresFactory, PostgresProcessRecorder
from eventsourcing.sqlite import SQLiteCursor, SQLiteFactory, SQLiteProcessRecorder
from eventsourcing.utils import get_topic, resolve_topic
from pydantic import BaseModel

from engine.aggregates import SyncItem, UserLedger, ledger_id

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
        return orjson.dumps(obj, option=orjson.OPT_UTC_Z)

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

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        # One statement for the batch (the library inserts row by row to learn each rowid,
        # which nobody here reads: followers find events by position).
        c.executemany(
            self.insert_events_statement,
            [
                (
                    e.originator_id.hex
                    if isinstance(e.originator_id, uuid.UUID)
                    else e.originator_id,
                    e.originator_version,
                    e.topic,
                    e.state,
                )
                for e in stored_events
            ],
        )
        tracking = kwargs.get("tracking")
        if tracking is not None:
            self._insert_tracking(c, tracking)
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


class SQLiteStoreFactory(SQLiteFactory):
    """SQLite with synchronous=NORMAL: safe here because positions commit with their events."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        pool = self.datastore.pool
        create = pool._create_connection

        def create_connection() -> Any:
            connection = create()
            sqlite = connection._sqlite_conn
            sqlite.execute("PRAGMA synchronous=NORMAL")
            # Stream ids are random: index pages are touched all over, so keep more of them.
            sqlite.execute("PRAGMA cache_size=-65536")
            # Checkpoint the WAL less often: pages written again before then are written once.
            sqlite.execute("PRAGMA wal_autocheckpoint=16384")
            return connection

        pool._create_connection = create_connection  # type: ignore[method-assign]


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

    def redacted(self) -> str:
        parts = urlsplit(self.url)
        if parts.password:
            netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
            return parts._replace(netloc=netloc).geturl()
        return self.url


class EventStore(Application[uuid.UUID]):
    """einklang's event-sourced application: item streams, user ledgers and checkpoints."""

    name = "einklang"
    env: ClassVar[dict[str, str]] = {
        "MAPPER_TOPIC": get_topic(PydanticMapper),
        "TRANSCODER_TOPIC": get_topic(OrjsonTranscoder),
        "AGGREGATE_CACHE_MAXSIZE": "200000",
        # One writer per mailbox (DESIGN §1 R21): the cache is the truth, no re-reads per get.
        "AGGREGATE_CACHE_FASTFORWARD": "n",
        "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",
    }

    def __init__(self, location: StoreLocation, env: Mapping[str, str] | None = None) -> None:
        self.location = location
        if location.is_postgres:
            _ensure_schema(location)
        merged = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "SQLITE_"))}
        merged.update(location.eventsourcing_env())
        merged.update(env or {})
        super().__init__(env=merged)

    def construct_env(self, name: str, env: Any = None) -> Any:
        # Only our own settings: stray PERSISTENCE_MODULE etc. in os.environ must not leak in.
        from eventsourcing.utils import Environment

        values = dict(type(self).env)
        values.update(env or {})
        return Environment(name, values)

    def item(self, stream_id: uuid.UUID) -> SyncItem | None:
        try:
            return cast(SyncItem, self.repository.get(stream_id))
        except AggregateNotFoundError:
            return None

    def ledger(self, user: str) -> UserLedger | None:
        try:
            return cast(UserLedger, self.repository.get(ledger_id(user)))
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
        """`Application.save` without its per-object protocol checks (costly per aggregate):
        our objects are known to be aggregates."""
        processing: ProcessingEvent[uuid.UUID] = ProcessingEvent()
        for aggregate in batch:
            processing.events.extend(aggregate.collect_events())
            processing.aggregates[aggregate.id] = aggregate
        processing.saved_kwargs["checkpoints"] = checkpoints
        recordings = self._record(processing)
        self._take_snapshots(processing)
        self._notify(recordings)
        return len(processing.events)

    def checkpoints(self) -> dict[str, str]:
        recorder = self.recorder
        assert isinstance(recorder, SQLiteRecorder | PostgresRecorder)
        return recorder.checkpoints()

    def notifications(self, start: int, limit: int = 1000) -> Sequence[Notification]:
        """Stored events from notification id `start` (inclusive), in order."""
        return self.recorder.select_notifications(start=start, limit=limit)

    def log_page(self, start: int, limit: int = 1000, topics: Sequence[str] = ()) -> list[LogEntry]:
        """Like `notifications`, as plain tuples for followers that read JSON themselves.

        The library's reader builds a UUID per event, which alone caps a projection at about a
        third of the rate it reaches otherwise; this reads the same rows of the same table.
        Given `topics`, only their events carry a state (the others come with b"", in order).
        """
        recorder = self.recorder
        if isinstance(recorder, SQLiteRecorder):
            state = "state"
            if topics:
                state = (
                    f"CASE WHEN topic IN ({','.join('?' * len(topics))}) THEN state ELSE x'' END"
                )
            with recorder.datastore.transaction(commit=False) as c:
                c.execute(
                    f"SELECT rowid, originator_id, topic, {state} FROM {recorder.events_table_name} "
                    "WHERE rowid >= ? ORDER BY rowid LIMIT ?",
                    (*topics, start, limit),
                )
                # The id is given in the usual form only where a state is read with it.
                return [(r[0], _dashed(r[1]) if r[3] else r[1], r[2], r[3]) for r in c.fetchall()]
        assert isinstance(recorder, PostgresRecorder)
        from psycopg.sql import SQL, Identifier

        wanted = (
            SQL("CASE WHEN topic = ANY(%s) THEN state ELSE ''::bytea END")
            if topics
            else SQL("state")
        )
        statement = SQL(
            "SELECT notification_id, originator_id, topic, {} AS state FROM {}.{} "
            "WHERE notification_id >= %s ORDER BY notification_id LIMIT %s"
        ).format(
            wanted, Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name)
        )
        params: tuple[Any, ...] = (list(topics), start, limit) if topics else (start, limit)
        with recorder.datastore.transaction(commit=False) as curs:
            curs.execute(statement, params)
            return [
                (r["notification_id"], str(r["originator_id"]), r["topic"], bytes(r["state"]))
                for r in curs.fetchall()
            ]

    def max_notification_id(self) -> int:
        return self.recorder.max_notification_id() or 0

    def events_of(self, stream_id: uuid.UUID) -> list[Any]:
        return list(self.events.get(stream_id))


LogEntry = tuple[int, str, str, bytes]  # notification id, stream id, topic, JSON state


def _dashed(originator_id: str) -> str:
    """SQLite keeps UUIDs as 32 hex digits; the read models show them in the usual form."""
    if len(originator_id) == 32:
        h = originator_id
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    return originator_id


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
