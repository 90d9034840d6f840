"""The ERP side of the engine: `ErpStore` implements `engine.ports.ErpPort` over SQL.

It reports what the change feed says, item by item, as observations (rows as normalised
snapshots, loaded in batches) and user changes (R11), and writes the engine's decisions marked
with origin `sync` so that they come back recognisable as echoes.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import URL

from adapters.erp import feed
from adapters.erp.capture import capture_for
from adapters.erp.capture.postgresql import feed_channel
from adapters.erp.database import (
    check_schema_name,
    create_erp_engine,
    erp_url,
    reading,
    redact,
    writing,
)
from adapters.erp.feed import FeedEntry
from adapters.erp.migrations import migrate
from adapters.erp.snapshots import LoadedItem, item_ids_of_user, load_items, load_users
from adapters.erp.waiting import DataVersionWaiter, FeedWaiter, NotifyWaiter
from adapters.erp.writes import apply_write
from engine.eligibility import MailboxIdentity, Scope, sync_scope
from engine.errors import PermanentError, TransientError, VersionConflict
from engine.model import ItemKind, Side, User
from engine.observation import Change, Observation, Origin, UserChange
from engine.ports import ErpBatch, Write, WriteResult

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


_ORIGINS = {"erp": Origin.USER, "sync": Origin.SYNC}
# How often to look again while committed entries wait for an older transaction to end.
# How long a feed read waits, by default, for older PostgreSQL transactions to end before it reads
# what is settled (capture/postgresql.py): the rest comes with the next read.
DEFAULT_SETTLE_S = 1.0
SETTLE_FIRST_POLL_S = 0.002
SETTLE_MAX_POLL_S = 0.05
_OBSERVED_KINDS = {"user", "appointment", "task"}


class ErpStore:
    """The ERP database at `url` (SQLite file or PostgreSQL; `schema` for PostgreSQL)."""

    def __init__(
        self,
        url: str | URL,
        *,
        schema: str | None = None,
        clock: Clock = _utc_now,
        poll_s: float = 0.005,
        settle_s: float | None = None,
    ) -> None:
        self._url = erp_url(url)
        self._schema = None if schema is None else check_schema_name(schema)
        self._engine = create_erp_engine(self._url, schema=self._schema)
        self._capture = capture_for(self._engine.dialect.name)
        self._clock = clock
        self._poll_s = poll_s
        self._settle_s = DEFAULT_SETTLE_S if settle_s is None else settle_s
        self._waiter: FeedWaiter | None = None

    @property
    def engine(self) -> sa.Engine:
        return self._engine

    @property
    def display_url(self) -> str:
        """Where the store is, fit to print (no password)."""
        where = redact(self._url)
        return where if self._schema is None else f"{where} (schema {self._schema})"

    def init(self) -> int:
        """Create or upgrade the schema; returns its version."""
        with _translated_errors():
            if self._schema is not None:
                with self._engine.begin() as conn:
                    conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{self._schema}"')
            return migrate(self._engine)

    def close(self) -> None:
        if self._waiter is not None:
            self._waiter.close()
            self._waiter = None
        self._engine.dispose()

    def __enter__(self) -> ErpStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- users (R8, R11) -----------------------------------------------------------------

    def users(self) -> Sequence[User]:
        with _translated_errors(), reading(self._engine) as conn:
            return list(load_users(conn).values())

    def users_with_scope(self, today: date, identity: MailboxIdentity) -> list[tuple[User, Scope]]:
        """Every ERP user with whether the ERP allows syncing them today, why, and through
        which mailbox (R8, R9) — what the engine decides before it asks Exchange."""
        return [(user, sync_scope(user, today, identity)) for user in self.users()]

    # ---- the change feed -----------------------------------------------------------------

    def feed_position(self) -> int:
        """The end of the feed: after every entry committed before this call (held-back ones
        included, as long as their older transaction ends within `settle_s`)."""
        with self._settled(None) as conn:
            return feed.feed_end(conn)

    def prune_feed(self, position: int) -> int:
        """Delete the feed entries before `position` (a position the engine has committed as
        read); the ERP keeps no history of ours. Returns how many entries went."""
        with _translated_errors(), writing(self._engine) as conn:
            return feed.prune(conn, position)

    def read_feed(self, position: int, limit: int = 1000) -> list[FeedEntry]:
        """The raw feed entries after `position` (for tools and tests)."""
        with self._settled(position) as conn:
            return feed.read_feed(conn, position, limit)

    @contextmanager
    def _settled(self, position: int | None) -> Iterator[sa.Connection]:
        """A read transaction, begun once no committed entry after `position` (or anywhere, for
        None) waits for an older transaction to end, or `settle_s` has passed: a short ERP
        transaction running elsewhere delays a read instead of cutting it short."""
        deadline = time.monotonic() + self._settle_s
        pause = SETTLE_FIRST_POLL_S
        while True:
            with _translated_errors(), reading(self._engine) as conn:
                if time.monotonic() >= deadline or not feed.held_back(conn, position):
                    yield conn
                    return
            time.sleep(pause)
            pause = min(pause * 2, SETTLE_MAX_POLL_S)

    def read_changes(self, position: int, limit: int = 1000) -> ErpBatch:
        """The feed entries after `position` as observations, one per item and batch.

        Entries and rows are read in one snapshot. A row may be newer than the batch's last
        entry (later entries are committed but not in this batch); its origin then comes from
        its newest entry, which the next batch repeats harmlessly.
        """
        with self._settled(position) as conn:
            entries = feed.read_feed(conn, position, limit)
            if not entries:
                return ErpBatch(changes=(), position=position)
            end = entries[-1].seq
            latest: dict[tuple[str, int], FeedEntry] = {}
            for entry in entries:
                if entry.item_kind not in _OBSERVED_KINDS:
                    continue  # written by a newer version of these triggers: not ours to read
                known = latest.pop(entry.item, None)  # keep the order of each item's last entry
                # An item's entries are in commit order by seq (its row lock orders them).
                latest[entry.item] = entry if known is None or known.seq < entry.seq else known
            ids: dict[str, list[int]] = {"user": [], "appointment": [], "task": []}
            for kind, item_id in latest:
                ids.setdefault(kind, []).append(item_id)
            found_users = load_users(conn, ids["user"])
            rows = {
                kind: load_items(conn, kind, ids[kind.value])
                for kind in (ItemKind.APPOINTMENT, ItemKind.TASK)
            }
            newer = self._newer_entries(conn, latest, rows)
            now = self._clock()
            changes: list[Observation | UserChange] = []
            for (kind_name, item_id), entry in latest.items():
                if kind_name == "user":
                    user = found_users.get(item_id)
                    changes.append(
                        UserChange(
                            user=user or User(login=entry.user_login),
                            deleted=user is None,
                            observed_at=now,
                        )
                    )
                    continue
                kind = ItemKind(kind_name)
                last = newer.get(entry.item, entry)
                origin = _ORIGINS.get(last.origin, Origin.UNKNOWN)
                loaded = rows[kind].get(item_id)
                if loaded is None:
                    changes.append(
                        self._deletion(kind, item_id, entry.user_login, entry.sync_id, origin, now)
                    )
                else:
                    changes.append(
                        self._observation(
                            loaded, Change.CHANGED, origin, now, _modified_at(loaded, last)
                        )
                    )
            return ErpBatch(changes=tuple(changes), position=end)

    def _newer_entries(
        self,
        conn: sa.Connection,
        latest: dict[tuple[str, int], FeedEntry],
        rows: dict[ItemKind, dict[int, LoadedItem]],
    ) -> dict[tuple[str, int], FeedEntry]:
        stale: dict[str, list[int]] = {}
        for (kind_name, item_id), entry in latest.items():
            if kind_name == "user":
                continue
            loaded = rows[ItemKind(kind_name)].get(item_id)
            explained = (
                entry.operation == "delete"
                if loaded is None
                else loaded.row_version == entry.row_version
            )
            if not explained:
                stale.setdefault(kind_name, []).append(item_id)
        newer: dict[tuple[str, int], FeedEntry] = {}
        for kind_name, item_ids in stale.items():
            for entry in feed.latest_entries(conn, kind_name, item_ids).values():
                newer[entry.item] = entry
        return newer

    def wait_for_changes(self, position: int, timeout_s: float) -> bool:
        """Wait until entries after `position` are committed. Some may still wait for an older
        transaction to end: reading them (`read_changes`) waits up to `settle_s` for that."""

        def moved() -> bool:
            readable, held_back = self.feed_state(position)
            return readable or held_back

        return self._feed_waiter().wait(moved, timeout_s)

    def feed_state(self, position: int) -> tuple[bool, bool]:
        """Whether entries after `position` can be read now, and whether committed ones wait
        for an older transaction to end."""
        with _translated_errors(), reading(self._engine) as conn:
            return feed.pending_after(conn, position)

    def _feed_waiter(self) -> FeedWaiter:
        if self._waiter is None:
            if self._engine.dialect.name == "postgresql":
                with self._engine.connect() as conn:
                    schema = conn.execute(sa.text("SELECT current_schema()")).scalar_one()
                conninfo = self._url.set(drivername="postgresql").render_as_string(
                    hide_password=False
                )
                self._waiter = NotifyWaiter(conninfo, feed_channel(schema))
            else:
                database = self._url.database
                if database in ("", ":memory:"):
                    database = None
                self._waiter = DataVersionWaiter(database, poll_s=self._poll_s)
        return self._waiter

    # ---- items ---------------------------------------------------------------------------

    def baseline(self, user: str, kinds: Iterable[ItemKind]) -> Iterator[Observation]:
        """Every existing item of the user, as `baseline` observations (R5), in batches.

        A row that is not a valid item is still a baseline: it carries its error, no snapshot.
        """
        for kind in kinds:
            after = 0
            while True:
                with _translated_errors(), reading(self._engine) as conn:
                    ids = item_ids_of_user(conn, kind, user, after=after, limit=500)
                    loaded = load_items(conn, kind, ids)
                if not ids:
                    break
                now = self._clock()
                for row_id in ids:
                    if row_id in loaded:
                        yield self._observation(
                            loaded[row_id], Change.BASELINE, Origin.UNKNOWN, now
                        )
                after = ids[-1]

    def fetch(self, user: str, kind: ItemKind, native_id: str) -> Observation:
        try:
            row_id = int(native_id)
        except ValueError:
            raise PermanentError(f"{native_id!r} is not an ERP row id") from None
        with _translated_errors(), reading(self._engine) as conn:
            loaded = load_items(conn, kind, [row_id]).get(row_id)
            entry = feed.latest_entries(conn, kind.value, [row_id]).get(row_id)
        now = self._clock()
        if loaded is None or loaded.user_login.lower() != user.lower():
            # Gone, or given to another user: either way no longer this user's item.
            origin = Origin.UNKNOWN if entry is None else _ORIGINS.get(entry.origin, Origin.UNKNOWN)
            sync_id = None if entry is None else entry.sync_id
            return self._deletion(kind, row_id, user, sync_id, origin, now)
        origin = Origin.UNKNOWN
        if entry is not None and entry.row_version == loaded.row_version:
            origin = _ORIGINS.get(entry.origin, Origin.UNKNOWN)
        return self._observation(loaded, Change.CHANGED, origin, now, _modified_at(loaded, entry))

    def apply(self, user: str, stream_id: uuid.UUID, write: Write) -> WriteResult:
        with _translated_errors(), _lost_races(), writing(self._engine) as conn:
            self._capture.begin_sync_write(conn)
            result = apply_write(conn, user, stream_id, write)
            self._capture.end_sync_write(conn)
            return result

    # ---- observations --------------------------------------------------------------------

    def _observation(
        self,
        loaded: LoadedItem,
        change: Change,
        origin: Origin,
        now: datetime,
        modified_at: datetime | None = None,
    ) -> Observation:
        if loaded.error is not None and change is Change.CHANGED:
            change = Change.INVALID
        return Observation(
            side=Side.ERP,
            kind=loaded.kind,
            user=loaded.user_login,
            native_id=str(loaded.row_id),
            change=change,
            observed_at=now,
            modified_at=modified_at,
            native_version=str(loaded.row_version),
            snapshot=loaded.snapshot,
            error=loaded.error,
            sync_id=loaded.sync_id,
            origin=origin,
        )

    def _deletion(
        self,
        kind: ItemKind,
        row_id: int,
        user: str,
        sync_id: str | None,
        origin: Origin,
        now: datetime,
    ) -> Observation:
        return Observation(
            side=Side.ERP,
            kind=kind,
            user=user,
            native_id=str(row_id),
            change=Change.DELETED,
            observed_at=now,
            sync_id=_uuid_or_none(sync_id),
            origin=origin,
        )


def _modified_at(loaded: LoadedItem, entry: FeedEntry | None) -> datetime | None:
    """The row's change time: that of the feed entry which wrote the version we read."""
    if entry is None or entry.row_version != loaded.row_version:
        return None
    return entry.changed_at


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    try:
        return None if value is None else uuid.UUID(value)
    except ValueError:
        return None


# A lock wait the engine gave up (see the capture's begin_sync_write), a deadlock it was chosen
# to end, a serialisation failure: an ERP transaction is changing the item right now.
_CONCURRENT_CHANGE = {"55P03", "40P01", "40001"}


@contextmanager
def _lost_races() -> Iterator[None]:
    """The engine's write that lost a race with an ERP transaction is a version conflict."""
    try:
        yield
    except sa.exc.OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) not in _CONCURRENT_CHANGE:
            raise
        raise VersionConflict(f"changed in the ERP meanwhile: {_short(exc)}") from None


@contextmanager
def _translated_errors() -> Iterator[None]:
    """Database failures as the engine's side errors: retry on the transient ones."""
    try:
        yield
    except sa.exc.OperationalError as exc:
        raise TransientError(f"ERP database unavailable: {_short(exc)}") from None
    except (sa.exc.IntegrityError, sa.exc.DataError) as exc:
        raise PermanentError(f"ERP database refused the write: {_short(exc)}") from None


def _short(exc: sa.exc.DBAPIError) -> str:
    return str(exc.orig).strip().splitlines()[0][:300]
