"""Who is synchronised (R8) and through which mailbox (R9): pure functions of the ERP user."""

from __future__ import annotations

from datetime import date

from engine.model import User


def eligibility(user: User, today: date) -> tuple[bool, str]:
    """Whether the ERP allows syncing this user today, and if not, why (in words)."""
    if not user.allow_sync:
        return False, 'the user\'s "allow automatic Exchange sync" flag is not set'
    if user.locked:
        return False, "the login is locked"
    if user.valid_from is not None and today < user.valid_from:
        return False, f"the login is valid only from {user.valid_from.isoformat()}"
    if user.valid_until is not None and today > user.valid_until:
        return False, f"the login expired on {user.valid_until.isoformat()}"
    return True, "eligible"


def mailbox_address(
    user: User, *, use_exchange_mailboxes: bool, mail_domain: str | None
) -> str | None:
    """The mailbox to act in (R9): the one stored on the user, or login name + mail domain."""
    if use_exchange_mailboxes:
        return user.mailbox or None
    if not mail_domain:
        return user.mailbox or None
    return f"{user.login}@{mail_domain}".lower()
