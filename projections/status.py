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
    users, items = views.users, views.items
    failed = (
        sa.select(items.c.user, sa.func.count().label("n"))
        .where(items.c.status == "failed")
        .group_by(items.c.user)
        .subquery()
    )
    query = (
        sa.select(users, sa.func.coalesce(failed.c.n, 0).label("failed_items"))
        .outerjoin(failed, failed.c.user == users.c.user)
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
