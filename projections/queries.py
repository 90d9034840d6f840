"""Questions support asks of the transfer log (R13, R18): what happened to this item, to this
user, in this time range, for this reason — and why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa

from projections.projector import Projector
from projections.rows import log_time


@dataclass(frozen=True)
class Transfer:
    """One decision, as the transfer log keeps it."""

    id: int
    at: str
    user: str
    stream_id: str
    kind: str
    erp_id: str | None
    exchange_id: str | None
    subject: str | None
    trigger: str
    verdict: str
    direction: str
    operation: str
    changed_fields: tuple[str, ...]
    reason: str
    sentence: str
    outcome: str
    error: str | None
    details: dict[str, Any]
    options_hash: str


@dataclass(frozen=True)
class Filters:
    """What an audit query asks for; every given filter must hold."""

    user: str | None = None
    item: str | None = None  # stream id, ERP id or Exchange id
    kind: str | None = None
    direction: str | None = None
    operation: str | None = None
    outcome: str | None = None
    reason: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    text: str | None = None  # in the subject, case-insensitive


class AuditLog:
    """Read-only queries over the read models; filters combine (all must hold)."""

    def __init__(self, projector: Projector) -> None:
        self.projector = projector

    def history(
        self,
        *,
        item: str | None = None,
        user: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        reason: str | None = None,
        limit: int = 1000,
    ) -> list[Transfer]:
        """Decisions in the order they were made. `item` is a stream id, an ERP id or an
        Exchange id; times are compared in UTC."""
        log = self.projector.log
        query = sa.select(log).order_by(log.c.id).limit(limit)
        if item is not None:
            query = query.where(self._of_item(item))
        if user is not None:
            query = query.where(log.c.user == user)
        if since is not None:
            query = query.where(log.c.at >= _utc(since))
        if until is not None:
            query = query.where(log.c.at < _utc(until))
        if reason is not None:
            query = query.where(log.c.reason == reason)
        with self.projector.db.connect() as conn:
            return [_transfer(row) for row in conn.execute(query).mappings()]

    def streams_of(self, item: str) -> list[str]:
        """The streams an id names: a stream id itself, or the item with that ERP/Exchange id."""
        return [stream for _, stream in self._items_named(item)]

    def _items_named(self, item: str) -> list[tuple[int, str]]:
        items = self.projector.items
        query = sa.select(items.c.item, items.c.stream_id).where(
            sa.or_(items.c.stream_id == item, items.c.erp_id == item, items.c.exchange_id == item)
        )
        with self.projector.db.connect() as conn:
            return [(number, stream) for number, stream in conn.execute(query)]

    def _of_item(self, item: str) -> sa.ColumnElement[bool]:
        """The log's entries of the item(s) an id names (by the indexed item number)."""
        log = self.projector.log
        numbers = [number for number, _ in self._items_named(item)]
        return log.c.item.in_(numbers) if numbers else log.c.stream_id == item

    def search(self, where: Filters, *, limit: int = 100, offset: int = 0) -> list[Transfer]:
        """Transfers matching every given filter, oldest first, a page at a time."""
        log = self.projector.log
        query = sa.select(log).where(*self._conditions(where)).order_by(log.c.id)
        with self.projector.db.connect() as conn:
            rows = conn.execute(query.limit(limit).offset(offset)).mappings()
            return [_transfer(row) for row in rows]

    def stats(self, where: Filters, by: str) -> list[tuple[str, int, int]]:
        """(group, transfers, failures) per user, reason or day, for the matching entries."""
        log = self.projector.log
        group: sa.ColumnElement[Any]
        if by == "day":
            group = sa.func.substr(log.c.at, 1, 10)
        elif by in ("user", "reason", "direction", "kind", "outcome"):
            group = log.c[by]
        else:
            raise ValueError(f"cannot group by {by!r}: use user, reason, day, direction, kind")
        transferred = sa.func.sum(sa.case((log.c.operation != "none", 1), else_=0))
        failed = sa.func.sum(
            sa.case((sa.or_(log.c.outcome == "failed", log.c.verdict == "fail"), 1), else_=0)
        )
        query = (
            sa.select(group.label("group"), transferred, failed)
            .where(*self._conditions(where))
            .group_by(group)
            .order_by(group)
        )
        with self.projector.db.connect() as conn:
            return [(str(g), int(t or 0), int(f or 0)) for g, t, f in conn.execute(query)]

    def _conditions(self, where: Filters) -> list[sa.ColumnElement[bool]]:
        log = self.projector.log
        conditions: list[sa.ColumnElement[bool]] = []
        if where.item is not None:
            conditions.append(self._of_item(where.item))
        for name in ("user", "kind", "direction", "operation", "outcome", "reason"):
            value = getattr(where, name)
            if value is not None:
                conditions.append(log.c[name] == value)
        if where.since is not None:
            conditions.append(log.c.at >= _utc(where.since))
        if where.until is not None:
            conditions.append(log.c.at < _utc(where.until))
        if where.text:
            escaped = where.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern = f"%{escaped}%"
            conditions.append(log.c.subject.ilike(pattern, escape="\\"))
        return conditions

    def why(self, item: str) -> str:
        """The item's story in sentences, one line per decision (for a support ticket)."""
        return "\n".join(
            f"{t.at}  {t.reason:<28} {t.outcome:<10} {t.sentence}" for t in self.history(item=item)
        )


def _utc(moment: datetime) -> str:
    """The log's own text form of a time, which sorts like the time itself."""
    if moment.tzinfo is None:
        raise ValueError(f"{moment.isoformat()} has no time zone")
    return log_time(moment.astimezone(UTC).isoformat().replace("+00:00", "Z"))


def _transfer(row: sa.RowMapping) -> Transfer:
    return Transfer(
        id=row["id"],
        at=row["at"],
        user=row["user"],
        stream_id=row["stream_id"],
        kind=row["kind"],
        erp_id=row["erp_id"],
        exchange_id=row["exchange_id"],
        subject=row["subject"],
        trigger=row["trigger"],
        verdict=row["verdict"],
        direction=row["direction"],
        operation=row["operation"],
        changed_fields=tuple(f for f in row["changed_fields"].split(",") if f),
        reason=row["reason"],
        sentence=row["sentence"],
        outcome=row["outcome"],
        error=row["error"],
        details=orjson.loads(row["details"]) if row["details"] else {},
        options_hash=row["options_hash"],
    )
