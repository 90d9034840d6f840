"""Reading the change feed: entries after a position, and the position at its end."""

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
        row_version=None if m["row_version"] is None else int(m["row_version"]),
    )


def read_feed(conn: Connection, position: int, limit: int) -> list[FeedEntry]:
    query = sa.select(*_COLUMNS).where(_f.seq > position).order_by(_f.seq).limit(limit)
    rows = conn.execute(query).mappings()
    return [_entry(row) for row in rows]


def feed_end(conn: Connection) -> int:
    return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(_f.seq), 0))).scalar_one())


def latest_entries(
    conn: Connection, kind: str, item_ids: Iterable[int], *, after: int = 0
) -> dict[int, FeedEntry]:
    """The newest feed entry of each item (after `after`), by item id."""
    ids: Sequence[int] = sorted(set(item_ids))
    latest: dict[int, FeedEntry] = {}
    for chunk in chunks(ids):
        rows = conn.execute(
            sa.select(*_COLUMNS)
            .where(_f.item_kind == kind, _f.item_id.in_(chunk), _f.seq > after)
            .order_by(_f.seq)
        ).mappings()
        for row in rows:
            entry = _entry(row)
            latest[entry.item_id] = entry
    return latest


def chunks(ids: Sequence[int], size: int = 500) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]
