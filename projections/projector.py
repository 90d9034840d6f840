"""Follows the event store's notification log and keeps the read models current.

Each page of ~1,000 notifications is applied in memory and written — view rows and the tracking
position together — in one transaction: exactly once, restartable after a crash at any point,
and rebuildable from zero. (eventsourcing's own followers commit once per event, which is ~20×
slower here; DESIGN §3.) Events are read as plain JSON: no pydantic on this path.
"""

from __future__ import annotations

import gc
import operator
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from eventsourcing.utils import get_topic
from sqlalchemy.dialects import postgresql, sqlite

from engine import aggregates as ev
from engine.model import Side
from engine.state import Status
from engine.store import EventStore, LogEntry
from projections.schema import SCHEMA_VERSION, build_metadata

NAME = "einklang.projections"
SCHEMA_KEY = "einklang.projections.schema"
STARTED = get_topic(ev.ItemStarted)
OBSERVED = get_topic(ev.Observed)
DECIDED = get_topic(ev.Decided)
WRITTEN = get_topic(ev.Written)
FAILED = get_topic(ev.WriteFailedEvent)
LEDGER_STARTED = get_topic(ev.LedgerStarted)
SET_UP = get_topic(ev.SetUp)
SCOPE = get_topic(ev.ScopeChanged)
RELEASED = get_topic(ev.DeletionsReleased)
PAUSED = get_topic(ev.DeletionsPaused)
NEW_STATUS, IN_SYNC_STATUS, FAILED_STATUS = (
    Status.NEW.value,
    Status.IN_SYNC.value,
    Status.FAILED.value,
)
# Decisions name their item and outcomes name what was written: other events need no reading.
ITEM_TOPICS = {DECIDED, WRITTEN, FAILED}
USER_TOPICS = {LEDGER_STARTED, SET_UP, SCOPE, PAUSED, RELEASED}
_READ_TOPICS = tuple(sorted(ITEM_TOPICS | USER_TOPICS))
_CHUNK = 500
_ROW_CACHE = 500_000


def open_database(store: EventStore) -> sa.Engine:
    url = store.location.sqlalchemy_url()
    if store.location.is_postgres:
        return sa.create_engine(url, pool_pre_ping=True)
    engine = sa.create_engine(url, connect_args={"timeout": 30})

    @sa.event.listens_for(engine, "connect")
    def _pragmas(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.execute("PRAGMA wal_autocheckpoint=16384")
        cursor.close()

    return engine


class Projector:
    """The mapping, transfer log and user status, kept in step with the event log."""

    def __init__(self, store: EventStore, *, page_size: int = 1000) -> None:
        self.store = store
        self.page_size = page_size
        self.db = open_database(store)
        schema = store.location.postgres_schema if store.location.is_postgres else None
        self.metadata = build_metadata(schema)
        t = self.metadata.tables
        prefix = f"{schema}." if schema else ""
        self.tracking_name = f"{prefix}projection_tracking"
        self.tracking = t[self.tracking_name]
        self.items = t[f"{prefix}item_mapping"]
        self.occurrences = t[f"{prefix}occurrence_mapping"]
        self.log = t[f"{prefix}transfer_log"]
        self.users = t[f"{prefix}user_status"]
        self._insert = postgresql.insert if store.location.is_postgres else sqlite.insert
        self._sql = _Statements(self, postgres=store.location.is_postgres)
        self._rows: dict[str, dict[str, Any]] = {}  # item rows as written: we are the only writer
        self._migrate()

    def close(self) -> None:
        self.db.dispose()

    # ---- following the log ----------------------------------------------------------------

    def position(self) -> int:
        with self.db.connect() as conn:
            value = conn.execute(
                sa.select(self.tracking.c.position).where(self.tracking.c.name == NAME)
            ).scalar()
        return int(value or 0)

    def run(self, *, per_transaction: int | None = None) -> int:
        """Apply every notification not yet projected; returns how many were applied.

        The log is read in pages of `page_size`; each transaction applies `per_transaction`
        events (one page by default), rows and tracking position together.
        """
        applied = 0
        position = self.position()
        limit = per_transaction or self.page_size
        exhausted = False
        while not exhausted:
            batch: list[LogEntry] = []
            while len(batch) < limit:
                page = self.store.log_page(position + 1, self.page_size, _READ_TOPICS)
                batch.extend(page)
                if page:
                    position = page[-1][0]
                if len(page) < self.page_size:
                    exhausted = True
                    break
            if batch:
                self._apply_page(batch)
                applied += len(batch)
        return applied

    def rebuild(self) -> int:
        """Forget every view row and project the whole log again from the first event.

        The secondary indexes are dropped while the rows are loaded and built once at the end
        (several times faster than maintaining them row by row); a rebuild cut short leaves
        them to the next start, which creates whatever is missing.
        """
        indexes = [ix for table in self.metadata.sorted_tables for ix in table.indexes]
        with self.db.begin() as conn:
            for table in (self.log, self.occurrences, self.items, self.users):
                conn.execute(table.delete())
            conn.execute(self.tracking.delete().where(self.tracking.c.name == NAME))
            for index in indexes:
                index.drop(conn, checkfirst=True)
        self._rows.clear()
        collecting = gc.isenabled()
        gc.disable()  # rows are plain dicts without cycles; collections would only cost time
        try:
            # Large transactions while rebuilding: an item touched on many pages is written once.
            applied = self.run(per_transaction=100 * self.page_size)
        finally:
            if collecting:
                gc.enable()
        self._ensure_indexes()
        return applied

    def _migrate(self) -> None:
        """Read models are disposable: tables of another version are dropped and rebuilt."""
        tracking = self.metadata.tables[self.tracking_name]
        inspector = sa.inspect(self.db)
        if inspector.has_table(tracking.name, schema=tracking.schema):
            with self.db.connect() as conn:
                found = conn.execute(
                    sa.select(tracking.c.position).where(tracking.c.name == SCHEMA_KEY)
                ).scalar()
            if found != SCHEMA_VERSION:
                self.metadata.drop_all(self.db)
        self.metadata.create_all(self.db)
        with self.db.begin() as conn:
            stmt = self._insert(tracking).values(name=SCHEMA_KEY, position=SCHEMA_VERSION)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["name"], set_={"position": SCHEMA_VERSION}
                )
            )
        self._ensure_indexes()

    def _ensure_indexes(self) -> None:
        with self.db.begin() as conn:
            for table in self.metadata.sorted_tables:
                for index in table.indexes:
                    index.create(conn, checkfirst=True)

    def _apply_page(self, page: Sequence[LogEntry]) -> None:
        page_state = _Page(self._load_items(page))
        for note_id, stream_id, topic, state in page:
            if topic in ITEM_TOPICS:
                page_state.item_event(topic, stream_id, note_id, orjson.loads(state))
            elif topic in USER_TOPICS:
                page_state.user_event(topic, orjson.loads(state))
        with self.db.begin() as conn:
            self._write(conn, page_state)
            self._track(conn, page[-1][0])
        if len(self._rows) > _ROW_CACHE:
            self._rows.clear()
        self._rows.update(page_state.items)  # only after the commit: the cache stays true

    def _load_items(self, page: Sequence[LogEntry]) -> dict[str, dict[str, Any]]:
        """The item rows this page touches: copies from the cache, the rest from the table."""
        ids = {stream for _, stream, topic, _ in page if topic in ITEM_TOPICS}
        rows = {i: dict(self._rows[i]) for i in ids if i in self._rows}
        missing = sorted(ids - rows.keys())
        if missing:
            with self.db.connect() as conn:
                for start in range(0, len(missing), _CHUNK):
                    chunk = missing[start : start + _CHUNK]
                    query = sa.select(self.items).where(self.items.c.stream_id.in_(chunk))
                    for row in conn.execute(query).mappings():
                        rows[row["stream_id"]] = dict(row)
        return rows

    def _write(self, conn: sa.Connection, page: _Page) -> None:
        sql = self._sql
        if page.items:
            conn.exec_driver_sql(sql.upsert_items, list(map(sql.item_values, page.items.values())))
        if page.occurrences:
            conn.exec_driver_sql(sql.delete_occurrences, [(stream,) for stream in page.occurrences])
            rows = [
                (r["stream_id"], r["original_start"], r["state"])
                for rs in page.occurrences.values()
                for r in rs
            ]
            if rows:
                conn.exec_driver_sql(sql.insert_occurrences, rows)
        if page.log_rows:
            conn.exec_driver_sql(sql.insert_log, list(map(sql.log_values, page.log_rows)))
        if page.outcomes:
            conn.exec_driver_sql(
                sql.update_outcome,
                [
                    (v["outcome"], v["error"], v["erp_id"], v["exchange_id"], k)
                    for k, v in page.outcomes.items()
                ],
            )
        for user, changes in page.users.items():
            stmt = self._insert(self.users).values(user=user, **changes)
            conn.execute(stmt.on_conflict_do_update(index_elements=["user"], set_=changes))

    def _track(self, conn: sa.Connection, position: int) -> None:
        stmt = self._insert(self.tracking).values(name=NAME, position=position)
        conn.execute(
            stmt.on_conflict_do_update(index_elements=["name"], set_={"position": position})
        )

    # ---- queries the runtime needs --------------------------------------------------------

    def streams_of_user(self, user: str, *, status: Status | None = None) -> list[uuid.UUID]:
        query = sa.select(self.items.c.stream_id).where(self.items.c.user == user)
        if status is not None:
            query = query.where(self.items.c.status == status.value)
        with self.db.connect() as conn:
            return [uuid.UUID(s) for s in conn.execute(query).scalars()]

    def stream_of_native(self, side: Side, user: str, native_id: str) -> uuid.UUID | None:
        column = self.items.c.erp_id if side is Side.ERP else self.items.c.exchange_id
        query = (
            sa.select(self.items.c.stream_id)
            .where(self.items.c.user == user, column == native_id)
            .limit(1)
        )
        with self.db.connect() as conn:
            found = conn.execute(query).scalar()
        return uuid.UUID(found) if found else None

    def stream_ids(self) -> set[uuid.UUID]:
        """Every item stream projected so far (a stream always starts with a decision)."""
        with self.db.connect() as conn:
            return {uuid.UUID(s) for s in conn.execute(sa.select(self.items.c.stream_id)).scalars()}

    def streams_in_flight(self) -> list[uuid.UUID]:
        """Items with writes decided but not known to be done (e.g. after a crash)."""
        query = sa.select(self.items.c.stream_id).where(
            self.items.c.status.in_(
                [Status.EXPORTING.value, Status.IMPORTING.value, Status.CONFLICT.value]
            )
        )
        with self.db.connect() as conn:
            return [uuid.UUID(s) for s in conn.execute(query).scalars()]

    def exchange_ids(self) -> dict[tuple[str, str], uuid.UUID]:
        """(user, Exchange ItemId) → stream, for every item known in Exchange."""
        query = sa.select(
            self.items.c.user, self.items.c.exchange_id, self.items.c.stream_id
        ).where(self.items.c.exchange_id.is_not(None))
        with self.db.connect() as conn:
            return {(u.lower(), e): uuid.UUID(s) for u, e, s in conn.execute(query)}

    def retries(self) -> dict[uuid.UUID, datetime]:
        """Failed items waiting for a retry, and when it is due."""
        query = sa.select(self.items.c.stream_id, self.items.c.next_retry_at).where(
            self.items.c.status == FAILED_STATUS, self.items.c.next_retry_at.is_not(None)
        )
        with self.db.connect() as conn:
            return {uuid.UUID(s): datetime.fromisoformat(at) for s, at in conn.execute(query)}

    def retries_due(self, now: datetime) -> list[uuid.UUID]:
        query = sa.select(self.items.c.stream_id).where(
            self.items.c.status == FAILED_STATUS,
            self.items.c.next_retry_at.is_not(None),
            self.items.c.next_retry_at <= _iso(now),
        )
        with self.db.connect() as conn:
            return [uuid.UUID(s) for s in conn.execute(query).scalars()]


class _Statements:
    """Plain SQL for the hot path (the same text on SQLite and PostgreSQL but for placeholders)."""

    def __init__(self, projector: Projector, *, postgres: bool) -> None:
        mark = "%s" if postgres else "?"

        def table(t: sa.Table) -> str:
            return f'"{t.schema}"."{t.name}"' if t.schema else f'"{t.name}"'

        def insert(t: sa.Table, columns: list[str]) -> str:
            names = ", ".join(f'"{c}"' for c in columns)
            return f"INSERT INTO {table(t)} ({names}) VALUES ({', '.join([mark] * len(columns))})"

        self.item_columns = [c.name for c in projector.items.columns]
        updates = ", ".join(
            f'"{c}" = excluded."{c}"' for c in self.item_columns if c != "stream_id"
        )
        self.upsert_items = (
            insert(projector.items, self.item_columns)
            + f' ON CONFLICT ("stream_id") DO UPDATE SET {updates}'
        )
        self.log_columns = [c.name for c in projector.log.columns]
        self.item_values = operator.itemgetter(*self.item_columns)  # row dict → values in order
        self.log_values = operator.itemgetter(*self.log_columns)
        self.insert_log = insert(projector.log, self.log_columns)
        self.insert_occurrences = insert(
            projector.occurrences, ["stream_id", "original_start", "state"]
        )
        self.delete_occurrences = (
            f'DELETE FROM {table(projector.occurrences)} WHERE "stream_id" = {mark}'
        )
        self.update_outcome = (
            f'UPDATE {table(projector.log)} SET "outcome" = {mark}, "error" = {mark}, '
            f'"erp_id" = {mark}, "exchange_id" = {mark} WHERE "id" = {mark}'
        )


def log_time(text: str) -> str:
    """A JSON time as the transfer log keeps it: always with microseconds, so text order is
    time order ("…00Z" would sort after "…00.5Z")."""
    if "." not in text and text.endswith("Z"):
        return text[:-1] + ".000000Z"
    return text


def decision_time(at: str | None, timestamp: str) -> str:
    """The transfer log's time of a decision: the time the decision carries (the engine's
    injected clock, from its observation or trigger), in UTC; the event's timestamp for
    decisions recorded before they carried one."""
    if at is None:
        return log_time(timestamp)
    moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
    return log_time(_iso(moment.astimezone(UTC)))


def _iso(value: datetime) -> str:
    """Sortable UTC text, the same form JSON events carry."""
    return value.isoformat().replace("+00:00", "Z")


class _Page:
    """The effect of one page of events, accumulated in memory before one transaction."""

    def __init__(self, items: dict[str, dict[str, Any]]) -> None:
        self.items = items
        self.occurrences: dict[str, list[dict[str, Any]]] = {}
        self.log_rows: list[dict[str, Any]] = []
        self.log_index: dict[int, dict[str, Any]] = {}
        self.outcomes: dict[int, dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {}

    def item_event(self, topic: str, stream_id: str, note_id: int, state: dict[str, Any]) -> None:
        if topic == DECIDED:
            self._decided(stream_id, note_id, state)
            return
        row = self.items.get(stream_id)
        if row is None:
            return  # an outcome is always preceded by its decision; nothing to attach it to
        outcome = state["outcome"]
        row["updated_at"] = decision_time(outcome.get("at"), state["timestamp"])
        if topic == WRITTEN:
            row["erp_id" if outcome["side"] == "erp" else "exchange_id"] = outcome["native_id"]
            row["pending_writes"] = max(0, row["pending_writes"] - 1)
            if row["pending_writes"] == 0:
                row["status"] = row["settled"] or IN_SYNC_STATUS
                row["linked"] = row["linked"] or row["status"] == IN_SYNC_STATUS
                row["next_retry_at"] = None
                self._outcome(row, "done", None)
        else:
            row["status"] = FAILED_STATUS
            row["next_retry_at"] = outcome.get("next_retry_at")
            row["reason"] = f"WRITE_FAILED:{outcome['error_class']}"
            row["sentence"] = outcome["message"]
            error = f"{outcome['side']} {outcome['operation']}: {outcome['error_class']}: {outcome['message']}"
            self._outcome(row, "failed", error)

    def _row(self, stream_id: str, item: dict[str, Any], timestamp: str) -> dict[str, Any]:
        row = self.items.get(stream_id)
        if row is None:
            row = self.items[stream_id] = {
                "stream_id": stream_id,
                "user": item["user"],
                "kind": item["kind"],
                "erp_id": None,
                "exchange_id": None,
                "subject": None,
                "status": NEW_STATUS,
                "reason": None,
                "sentence": None,
                "linked": False,
                "pending_writes": 0,
                "settled": None,
                "last_decision_id": None,
                "next_retry_at": None,
                "updated_at": timestamp,
                "exceptions": 0,
            }
        return row

    def _decided(self, stream_id: str, note_id: int, state: dict[str, Any]) -> None:
        decision = state["decision"]
        item = decision["item"]
        at = decision_time(decision.get("at"), state["timestamp"])
        row = self._row(stream_id, item, at)
        row["updated_at"] = at
        row["erp_id"] = item["erp_id"] or row["erp_id"]
        row["exchange_id"] = item["exchange_id"] or row["exchange_id"]
        row["subject"] = item["subject"] or row["subject"]
        writes = decision["writes"]
        if row["pending_writes"] and row["status"] != FAILED_STATUS:
            self._outcome(row, "superseded", None)  # a newer decision replaced its writes
        row.update(
            status=decision["status"],
            reason=decision["reason"],
            sentence=decision["sentence"],
            pending_writes=len(writes),
            settled=decision["settled"],
            last_decision_id=note_id,
        )
        if decision["status"] != FAILED_STATUS:
            row["next_retry_at"] = None
        if not writes and decision["status"] == IN_SYNC_STATUS:
            row["linked"] = True
        base = decision.get("base")
        if base is not None:
            row["subject"] = base.get("subject") or row["subject"]
            modified = base.get("modified_occurrences") or ()
            deleted = base.get("deleted_occurrences") or ()
            if modified or deleted or row["exceptions"]:
                self.occurrences[stream_id] = [
                    {
                        "stream_id": stream_id,
                        "original_start": o["original_start"],
                        "state": "modified",
                    }
                    for o in modified
                ] + [
                    {"stream_id": stream_id, "original_start": d, "state": "deleted"}
                    for d in deleted
                ]
                row["exceptions"] = len(modified) + len(deleted)
        details: dict[str, Any] = {}
        if decision["conflicts"]:
            details["conflicts"] = decision["conflicts"]
        if decision["dropped_occurrences"]:
            details["dropped_occurrences"] = decision["dropped_occurrences"]
        log_row = {
            "id": note_id,
            "at": at,
            "user": row["user"],
            "stream_id": stream_id,
            "kind": row["kind"],
            "erp_id": row["erp_id"],
            "exchange_id": row["exchange_id"],
            "subject": row["subject"],
            "trigger": decision["trigger"],
            "verdict": decision["verdict"],
            "direction": decision["direction"],
            "operation": decision["operation"],
            "changed_fields": ",".join(decision["changed_fields"]),
            "reason": decision["reason"],
            "sentence": decision["sentence"],
            "outcome": "pending" if writes else "none",
            "error": None,
            "details": orjson.dumps(details).decode() if details else None,
            "options_hash": decision["options"]["hash"],
        }
        self.log_rows.append(log_row)
        self.log_index[note_id] = log_row

    def _outcome(self, row: dict[str, Any], outcome: str, error: str | None) -> None:
        """Complete the decision's log row: its outcome and the ids the item has now."""
        decision_id = row["last_decision_id"]
        if decision_id is None:
            return
        values = {
            "outcome": outcome,
            "error": error,
            "erp_id": row["erp_id"],
            "exchange_id": row["exchange_id"],
        }
        in_page = self.log_index.get(decision_id)
        if in_page is not None:
            in_page.update(values)
        else:
            self.outcomes[decision_id] = values

    def user_event(self, topic: str, state: dict[str, Any]) -> None:
        if topic == LEDGER_STARTED:
            user = state["user"]
            self.users.setdefault(user, {"updated_at": state["timestamp"]})
            return
        user = state.get("user")
        if user is None:
            return
        changes = self.users.setdefault(user, {})
        changes["updated_at"] = decision_time(state.get("at"), state["timestamp"])
        if topic == SET_UP:
            changes["set_up_at"] = state["at"]
        elif topic == SCOPE:
            changes["eligible"], changes["reason"] = state["eligible"], state["reason"]
        elif topic == PAUSED:
            changes["deletions_paused"], changes["paused_at"] = True, state["at"]
        elif topic == RELEASED:
            changes["deletions_paused"], changes["paused_at"] = False, None
