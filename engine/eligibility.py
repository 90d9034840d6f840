"""Who is synchronised (R8) and through which mailbox (R9): pure functions of the ERP user.

R8 has two parts the ERP answers: the login (allowed, not locked, inside its validity period,
`eligibility`) and the mailbox (`mailbox_address`). Only then does the engine ask Exchange whether
the mailbox can be reached. The mailbox is the one stored on the user when the option "use
Exchange mailboxes" is on, else the login name at the configured mail domain; there is no other
default. A user whose mailbox is missing, malformed, or marked as a shared (team) mailbox is not
eligible, with the reason — a personal calendar never goes into a mailbox that is not the user's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from email_validator import EmailNotValidError, validate_email

from engine.model import User

ELIGIBLE = "eligible"


@dataclass(frozen=True)
class MailboxIdentity:
    """R9's options: whose address the engine acts in."""

    use_exchange_mailboxes: bool = True  # the mailbox stored on the ERP user
    mail_domain: str | None = None  # login name @ this domain (also when none is stored)


@dataclass(frozen=True)
class Scope:
    """What the ERP says about syncing a user: whether, why, and through which mailbox."""

    eligible: bool
    reason: str
    mailbox: str | None


def eligibility(user: User, today: date) -> tuple[bool, str]:
    """Whether the ERP allows syncing this user's login today, and if not, why (in words)."""
    if user.unreadable is not None:
        return False, f"the ERP's row of this user cannot be read: {user.unreadable}"
    if not user.allow_sync:
        return False, 'the user\'s "allow automatic Exchange sync" flag is not set'
    if user.locked:
        return False, "the login is locked"
    if user.valid_from is not None and today < user.valid_from:
        return False, f"the login is valid only from {user.valid_from.isoformat()}"
    if user.valid_until is not None and today > user.valid_until:
        return False, f"the login expired on {user.valid_until.isoformat()}"
    return True, ELIGIBLE


def mailbox_address(
    user: User, *, use_exchange_mailboxes: bool, mail_domain: str | None
) -> str | None:
    """The mailbox to act in (R9): the one stored on the user, or login name + mail domain.

    None when neither is available. The address is not checked here (see `resolve_mailbox`).
    """
    stored = (user.mailbox or "").strip()
    if use_exchange_mailboxes and stored:
        return stored.lower()
    domain = (mail_domain or "").strip().lstrip("@")
    if domain:
        return f"{user.login.strip()}@{domain}".lower()
    return None


def address_problem(address: str) -> str | None:
    """Why `address` is no SMTP address, or None. Internal domains (firma.intern) are fine;
    names reserved by RFC 6761 (.local, .localhost, .invalid, .test) are not, as for email-validator."""
    try:
        validate_email(address, check_deliverability=False, globally_deliverable=False)
    except EmailNotValidError as error:
        return str(error)
    return None


def resolve_mailbox(user: User, identity: MailboxIdentity) -> tuple[str | None, str]:
    """The user's mailbox address, or None with the reason why the user has none (R8, R9)."""
    address = mailbox_address(
        user,
        use_exchange_mailboxes=identity.use_exchange_mailboxes,
        mail_domain=identity.mail_domain,
    )
    stored_used = identity.use_exchange_mailboxes and bool((user.mailbox or "").strip())
    if address is None:
        if identity.use_exchange_mailboxes:
            return None, "the user has no Exchange mailbox, and no mail domain is configured"
        return None, (
            'the option "use Exchange mailboxes" is off and no mail domain is configured '
            "for login-name mailboxes"
        )
    if stored_used and user.mailbox_shared:
        return None, f"the mailbox {address} is a shared mailbox, not the user's own"
    problem = address_problem(address)
    if problem is not None:
        source = "Exchange mailbox" if stored_used else "login-name mailbox"
        return None, f"the {source} {address[:80]!r} is not a valid address: {problem}"
    return address, ELIGIBLE


def sync_scope(user: User, today: date, identity: MailboxIdentity) -> Scope:
    """R8 and R9 as the ERP answers them; the engine then asks Exchange about the mailbox."""
    eligible, reason = eligibility(user, today)
    if not eligible:
        return Scope(False, reason, None)
    mailbox, reason = resolve_mailbox(user, identity)
    return Scope(mailbox is not None, reason, mailbox)
