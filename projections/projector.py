"""Follows the event store's notification log and keeps the read models current.

Pages of 5,000 notifications are applied in memory (`projections.rows`, one handler per event
type) and written — view rows and the tracking position together — in one transaction per page
(per 500,000 events while rebuilding; `projections.statements`): exactly once, restartable
after a crash at any point, and rebuildable from zero. Item rows are keyed by a number given in
the order items appear (`projections.schema`); the most recently written are kept in a bounded
cache (`row_cache`), the others read back when they change again. (eventsourcing's own followers commit once per event, which is ~20×
slower here; DESIGN §3.) The engine reads the mapping through `engine.ports.ItemIndex`.
"""

from __future__ import annotations

import gc
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa

from engine.checkpointer import WAL_PRAGMAS
from engine.eventlog import LogEntry, LogScan
from engine.model import ItemKind, Side
from engine.state import Status
from engine.store import EventStore, ddl_lock
from projections.rows import HANDLERS, ITEM_HANDLERS, PageRows, Row
from projections.schema import SCHEMA_VERSION, build_metadata
from projections.statements import Statements

NAME = "einklang.projections"
SCHEMA_KEY = "einklang.projections.schema"
_READ_TOPICS = tuple(sorted(HANDLERS))
ROW_CACHE = 20_000  # item rows kept between pages, most recently written first: ~1.6 KB each
REBUILD_BATCH = 500_000  # events per transaction while rebuilding
REBUILD_ROW_CACHE = 100_000  # a rebuild (a process of its own) keeps more: ~160 MB at most
# Events per page while rebuilding: a decision whose outcome comes on a later page has its log
# row written, then updated; the engine records outcomes a tick after their decisions, which
# at 5,000 a page was two rows in five (153,010 updates at 1M events; 36,181 at 20,000).
REBUILD_PAGE = 20_000


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
        for pragma in WAL_PRAGMAS:  # the event store's thread checkpoints the log
            cursor.execute(pragma)
        # Debian's SQLite zeroes every freed page (SECURE_DELETE): a rebuild wrote its tables'
        # size twice over just to empty them. FAST still clears deleted rows in the pages it
        # writes anyway, without writing freed pages.
        cursor.execute("PRAGMA secure_delete=FAST")
        cursor.close()

    return engine


class Projector:
    """The mapping, transfer log and user status, kept in step with the event log."""

    def __init__(
        self, store: EventStore, *, page_size: int = 5000, row_cache: int = ROW_CACHE
    ) -> None:
        self.store = store
        self.page_size = page_size
        self.row_cache = row_cache
        self.db = open_database(store)
        schema = store.location.postgres_schema if store.location.is_postgres else None
        self.metadata = build_metadata(schema)
        tables = {t.name: t for t in self.metadata.sorted_tables}
        self.tracking = tables["projection_tracking"]
        self.items = tables["item_mapping"]
        self.occurrences = tables["occurrence_mapping"]
        self.log = tables["transfer_log"]
        self.users = tables["user_status"]
        self._sql = Statements(tables, postgres=store.location.is_postgres)
        self._next_item = 1  # the number of the next item to appear (read at each run)
        # Item rows as written (we are the only writer), least recently written first.
        self._rows: OrderedDict[str, Row] = OrderedDict()
        self._all_cached = False  # whether every stored item row is in `_rows` (while rebuilding)
        with ddl_lock(store.location):  # see EventStore: opened by two processes at once
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

        The log is read in pages of `page_size` events, of which only the types the read models
        use are fetched (`EventStore.log_scan`: the observations are skipped in the database);
        each transaction applies `per_transaction` events (one page by default), rows and
        tracking position together. Within it, each page's transfer-log rows are written as the
        page is applied, and the item rows once, at the end: an item changed on many pages is
        written once per transaction.
        """
        applied = 0
        position = self.position()
        self._next_item = self._last_item() + 1
        limit = per_transaction or self.page_size
        scan = self.store.log_scan(position + 1, self.page_size, _READ_TOPICS)
        while scan.scanned:
            rows = PageRows({}, self._next_item)
            count = 0
            with self.db.begin() as conn:
                while scan.scanned:
                    self._apply_page(conn, rows, scan.entries)
                    count += scan.scanned
                    position = scan.last
                    if scan.scanned < self.page_size:
                        scan = LogScan([], 0, position)  # the end of the log
                    else:
                        scan = self.store.log_scan(position + 1, self.page_size, _READ_TOPICS)
                    if count >= limit:
                        break
                self._sql.write_items(conn, rows)
                self._track(conn, position)
            self._written(rows)
            applied += count
        return applied

    def rebuild(self) -> int:
        """Forget every view row and project the whole log again from the first event.

        The secondary indexes are dropped while the rows are loaded and built once at the end
        (several times faster than maintaining them row by row); a rebuild cut short leaves
        them to the next start, which creates whatever is missing.
        """
        indexes = [
            ix
            for table in self.metadata.sorted_tables
            for ix in table.indexes
            if ix.name != "ix_item_mapping_stream"  # rows are read back by stream id meanwhile
        ]
        with self.db.begin() as conn:
            for table in (self.log, self.occurrences, self.items, self.users):
                conn.execute(table.delete())
            conn.execute(self.tracking.delete().where(self.tracking.c.name == NAME))
            for index in indexes:
                index.drop(conn, checkfirst=True)
        self._rows.clear()
        self._all_cached = True  # the tables are empty: a row not in the cache is a new item
        collecting = gc.isenabled()
        gc.disable()  # rows are plain dicts without cycles; collections would only cost time
        bound, self.row_cache = self.row_cache, max(self.row_cache, REBUILD_ROW_CACHE)
        page_size, self.page_size = self.page_size, max(self.page_size, REBUILD_PAGE)
        try:
            # Large transactions while rebuilding: an item touched on many pages is written once,
            # and read back only when it has fallen out of the (larger) cache.
            applied = self.run(per_transaction=REBUILD_BATCH)
        finally:
            self.row_cache, self.page_size = bound, page_size
            while len(self._rows) > bound:
                self._rows.popitem(last=False)
                self._all_cached = False
            if collecting:
                gc.enable()
        self._ensure_indexes()
        return applied

    def _migrate(self) -> None:
        """Read models are disposable: tables of another version are dropped and rebuilt."""
        tracking = self.tracking
        if sa.inspect(self.db).has_table(tracking.name, schema=tracking.schema):
            with self.db.connect() as conn:
                found = conn.execute(
                    sa.select(tracking.c.position).where(tracking.c.name == SCHEMA_KEY)
                ).scalar()
            if found != SCHEMA_VERSION:
                self.metadata.drop_all(self.db)
        self.metadata.create_all(self.db)
        with self.db.begin() as conn:
            self._sql.upsert(conn, tracking, {"name": SCHEMA_KEY}, {"position": SCHEMA_VERSION})
        self._ensure_indexes()

    def _ensure_indexes(self) -> None:
        with self.db.begin() as conn:
            for table in self.metadata.sorted_tables:
                for index in table.indexes:
                    index.create(conn, checkfirst=True)

    def _apply_page(self, conn: sa.Connection, rows: PageRows, page: Sequence[LogEntry]) -> None:
        self._load_items(conn, rows.items, page)
        for note_id, stream_id, topic, state in page:  # only the topics of HANDLERS
            HANDLERS[topic](rows, stream_id, note_id, orjson.loads(state))
        self._sql.write_log(conn, rows)

    def _written(self, rows: PageRows) -> None:
        """After the commit (so that they stay true): the item counter and the row cache."""
        self._next_item = rows.next_item
        cache = self._rows
        for stream_id, row in rows.items.items():
            row["stored"] = (row["erp_id"], row["exchange_id"])
            cache[stream_id] = row
            cache.move_to_end(stream_id)
        while len(cache) > self.row_cache:
            cache.popitem(last=False)
            self._all_cached = False

    def _load_items(
        self, conn: sa.Connection, rows: dict[str, Row], page: Sequence[LogEntry]
    ) -> None:
        """Adds the item rows this page touches: copies from the cache, the rest from the table."""
        cache = self._rows
        wanted = {s for _, s, topic, _ in page if topic in ITEM_HANDLERS and s not in rows}
        missing = []
        for stream_id in wanted:
            cached = cache.get(stream_id)
            if cached is None:
                missing.append(stream_id)
            else:
                rows[stream_id] = cached.copy()
        if missing and not self._all_cached:
            rows.update(self._sql.load_items(conn, sorted(missing)))

    def _last_item(self) -> int:
        with self.db.connect() as conn:
            return int(conn.execute(sa.select(sa.func.max(self.items.c.item))).scalar() or 0)

    def _track(self, conn: sa.Connection, position: int) -> None:
        self._sql.upsert(conn, self.tracking, {"name": NAME}, {"position": position})

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

    def erp_ids(self) -> dict[tuple[ItemKind, str], uuid.UUID]:
        """(kind, ERP row id) → the stream holding that row now: of the streams that held it,
        the one not moved away from it (issue 10: a row the ERP moved to another user)."""
        items = self.items
        moved = Status.MOVED.value
        query = sa.select(items.c.kind, items.c.erp_id, items.c.stream_id).where(
            items.c.erp_id.is_not(None),
            items.c.status != moved,
            sa.or_(items.c.settled.is_(None), items.c.settled != moved),
        )
        with self.db.connect() as conn:
            return {(ItemKind(k), e): uuid.UUID(s) for k, e, s in conn.execute(query)}

    def retries(self) -> dict[uuid.UUID, datetime]:
        """Failed items waiting for a retry, and when it is due."""
        query = sa.select(self.items.c.stream_id, self.items.c.next_retry_at).where(
            self.items.c.status == Status.FAILED.value, self.items.c.next_retry_at.is_not(None)
        )
        with self.db.connect() as conn:
            return {uuid.UUID(s): datetime.fromisoformat(at) for s, at in conn.execute(query)}
