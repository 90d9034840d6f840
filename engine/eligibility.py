"""Whether the ERP allows syncing a user (R8), as of a day; the mailbox is checked elsewhere."""

from __future__ import annotations

from datetime import date

from engine.model import User


def eligibility(user: User, today: date) -> tuple[bool, str]:
    """(eligible, reason): the first ERP condition that excludes the user, or "eligible"."""
    if not user.allow_sync:
        return False, "not allowed to sync"
    if user.locked:
        return False, "locked"
    if user.valid_from is not None and today < user.valid_from:
        return False, f"login valid from {user.valid_from.isoformat()}"
    if user.valid_until is not None and today > user.valid_until:
        return False, f"login valid until {user.valid_until.isoformat()}"
    return True, "eligible"
