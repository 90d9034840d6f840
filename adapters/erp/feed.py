"""Reading the change feed: entries after a position, the position at its end, items' newest.

Entries are read in the order (tx_id, seq), and on PostgreSQL only those of transactions below
the oldest one still running (`final`, see capture/postgresql.py): no later commit can then
place an entry before what was read. A position is the `seq` of the last entry read; the entry
itself says where it stands in that order (its `tx_id`). On SQLite every tx_id is 0 and the order
is the sequence's. An item's own entries are in commit order by `seq` alone: its writers hold its
row lock until they commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adapters.erp.columns import as_utc
from adapters.erp.schema import change_feed

_f = change_feed.c


@dataclass(frozen=True, slots=True)
class FeedEntry:
    seq: int
    table_name: str
    row_id: int
    operation: str  # insert | update | delete
    origin: str  # erp | sync
    changed_at: datetime
    item_kind: str  # user | appointment | task
    item_id: int
    user_login: str
    sync_id: str | None
    row_version: int | None

    @property
    def item(self) -> tuple[str, int]:
        return (self.item_kind, self.item_id)


_COLUMNS = (
    _f.seq,
    _f.table_name,
    _f.row_id,
    _f.operation,
    _f.origin,
    _f.changed_at,
    _f.item_kind,
    _f.item_id,
    _f.user_login,
    _f.sync_id,
    _f.row_version,
)

# The oldest transaction still running when the reader's snapshot was taken (xid8 as bigint).
_OLDEST_RUNNING: sa.ColumnElement[int] = sa.literal_column(
    "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
)


def _entry(m: sa.RowMapping) -> FeedEntry:
    return FeedEntry(
        seq=int(m["seq"]),
        table_name=str(m["table_name"]),
        row_id=int(m["row_id"]),
        operation=str(m["operation"]),
        origin=str(m["origin"]),
        changed_at=as_utc(m["changed_at"], "changed_at"),
        item_kind=str(m["item_kind"]),
        item_id=int(m["item_id"]),
        user_login=str(m["user_login"]),
        sync_id=None if m["sync_id"] is None else str(m["sync_id"]),
        row_version=_optional_int(m["row_version"]),
    )


def _optional_int(value: object) -> int | None:
    """A version copied from its row, which an ERP may have filled with anything."""
    try:
        return None if value is None else int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def final(conn: Connection) -> sa.ColumnElement[bool]:
    """Entries no transaction can still precede: all of them where writers are serialised."""
    if conn.dialect.name == "postgresql":
        return _f.tx_id < _OLDEST_RUNNING
    return sa.true()


def _after(conn: Connection, position: int) -> sa.ColumnElement[bool]:
    """Entries after `position` in read order."""
    # The entry at the position (or, for a position given by hand, the one before it).
    tx_id = conn.execute(
        sa.select(_f.tx_id).where(_f.seq <= position).order_by(_f.seq.desc()).limit(1)
    ).scalar()
    return sa.tuple_(_f.tx_id, _f.seq) > sa.tuple_(
        sa.literal(-1 if tx_id is None else int(tx_id)), sa.literal(position)
    )


def read_feed(conn: Connection, position: int, limit: int) -> list[FeedEntry]:
    query = (
        sa.select(*_COLUMNS)
        .where(_after(conn, position), final(conn))
        .order_by(_f.tx_id, _f.seq)
        .limit(limit)
    )
    return [_entry(row) for row in conn.execute(query).mappings()]


def prune(conn: Connection, position: int) -> int:
    """Delete the entries a reader at `position` has consumed; returns how many went.

    The entry at the position stays: it says where the position stands in the read order
    (`_after`). Entries held back behind a running transaction are after it in that order, so
    they stay too. Only what the engine has committed as read may be given here."""
    at = conn.execute(sa.select(_f.tx_id).where(_f.seq == position)).scalar()
    if at is None:
        return 0  # a position given by hand, or already pruned up to: nothing is known before it
    consumed = sa.tuple_(_f.tx_id, _f.seq) < sa.tuple_(sa.literal(int(at)), sa.literal(position))
    return int(conn.execute(change_feed.delete().where(consumed)).rowcount or 0)


def feed_end(conn: Connection) -> int:
    """The position after the last entry that can be read now (0 for an empty feed)."""
    last = conn.execute(
        sa.select(_f.seq).where(final(conn)).order_by(_f.tx_id.desc(), _f.seq.desc()).limit(1)
    ).scalar()
    return 0 if last is None else int(last)


def held_back(conn: Connection, position: int | None) -> bool:
    """Whether committed entries (after `position`, if given) wait for an older transaction."""
    if conn.dialect.name != "postgresql":
        return False
    where = [sa.not_(final(conn))]
    if position is not None:
        where.append(_after(conn, position))
    return bool(conn.execute(sa.select(sa.exists().where(*where))).scalar())


def pending_after(conn: Connection, position: int) -> tuple[bool, bool]:
    """Whether entries after `position` can be read, and whether committed ones are held back
    (by a transaction still running that started before theirs)."""
    after = _after(conn, position)
    readable = sa.exists().where(after, final(conn))
    held_back = sa.exists().where(after, sa.not_(final(conn)))
    found = conn.execute(sa.select(readable, held_back)).one()
    return bool(found[0]), bool(found[1])


def latest_entry_query(kind: str, item_id: int) -> sa.Select[tuple[object, ...]]:
    """An item's newest entry: one step along the (item, seq) index, whatever its history."""
    return (
        sa.select(*_COLUMNS)
        .where(_f.item_kind == kind, _f.item_id == item_id)
        .order_by(_f.seq.desc())
        .limit(1)
    )


def latest_entries(conn: Connection, kind: str, item_ids: Iterable[int]) -> dict[int, FeedEntry]:
    """The newest feed entry of each item, by item id."""
    latest: dict[int, FeedEntry] = {}
    for item_id in sorted(set(item_ids)):
        row = conn.execute(latest_entry_query(kind, item_id)).mappings().first()
        if row is not None:
            latest[item_id] = _entry(row)
    return latest


def chunks(ids: Sequence[int], size: int = 500) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]
