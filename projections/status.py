"""R12's server status: per user, whether and why (not) synchronised, the mailbox, whether it
can be reached and its subscription is alive, when a change last went each way, items failed."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa

from projections.projector import Projector


@dataclass(frozen=True)
class UserStatus:
    user: str
    mailbox: str | None
    eligible: bool
    reason: str
    reachable: bool | None
    subscribed: bool | None  # None: never reported (the engine has not watched it yet)
    subscription_reason: str
    failed_items: int
    last_export: str | None  # the last transfer ERP → Exchange
    last_import: str | None  # the last transfer Exchange → ERP
    updated_at: str | None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def user_statuses(views: Projector, user: str | None = None) -> list[UserStatus]:
    users, items, log = views.users, views.items, views.log
    failed = (
        sa.select(items.c.user, sa.func.count().label("n"))
        .where(items.c.status == "failed")
        .group_by(items.c.user)
        .subquery()
    )
    last = {
        direction: sa.select(log.c.user, sa.func.max(log.c.at).label("at"))
        # The literal lets the database use the index of done transfers (a partial index).
        .where(log.c.direction == direction, log.c.outcome == sa.literal_column("'done'"))
        .group_by(log.c.user)
        .subquery()
        for direction in ("erp_to_exchange", "exchange_to_erp")
    }
    export, imported = last["erp_to_exchange"], last["exchange_to_erp"]
    query = (
        sa.select(
            users,
            sa.func.coalesce(failed.c.n, 0).label("failed_items"),
            export.c.at.label("last_export"),
            imported.c.at.label("last_import"),
        )
        .outerjoin(failed, failed.c.user == users.c.user)
        .outerjoin(export, export.c.user == users.c.user)
        .outerjoin(imported, imported.c.user == users.c.user)
        .order_by(users.c.user)
    )
    if user is not None:
        query = query.where(sa.func.lower(users.c.user) == user.lower())
    with views.db.connect() as conn:
        return [
            UserStatus(
                user=row["user"],
                mailbox=row["mailbox"],
                eligible=bool(row["eligible"]),
                reason=row["reason"] or "",
                reachable=row["reachable"],
                subscribed=row["subscribed"],
                subscription_reason=row["subscription_reason"] or "",
                failed_items=int(row["failed_items"]),
                last_export=row["last_export"],
                last_import=row["last_import"],
                updated_at=row["updated_at"],
            )
            for row in conn.execute(query).mappings()
        ]
