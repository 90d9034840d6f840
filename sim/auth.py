"""Who may call the simulator and which mailboxes they may act on.

Two kinds of callers, as in the two deployments the engine supports:
- admin accounts with Basic credentials and the right to impersonate a set of mailboxes
  (on-premises Exchange with the ApplicationImpersonation role);
  — or with NTLM (`sim.ntlm`), as on-premises Exchange's default;
- OAuth2 applications (client credentials) whose Bearer tokens the simulator issues itself;
  an app may act on its mailboxes through the ExchangeImpersonation header (Exchange Online's
  full_access_as_app).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class AdminAccount:
    """Basic-auth account; `mailboxes` it may impersonate, None for every mailbox."""

    username: str
    password: str
    mailboxes: frozenset[str] | None = None

    def __repr__(self) -> str:
        return f"AdminAccount(username={self.username!r}, password='***')"


@dataclass(frozen=True)
class OAuthApp:
    """An app registration: tenant, client id and secret; `mailboxes` it may access (None: all)."""

    tenant: str
    client_id: str
    client_secret: str
    mailboxes: frozenset[str] | None = None

    def __repr__(self) -> str:
        return (
            f"OAuthApp(tenant={self.tenant!r}, client_id={self.client_id!r}, client_secret='***')"
        )


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    name: str
    is_app: bool
    mailboxes: frozenset[str] | None

    def may_access(self, mailbox: str) -> bool:
        return self.mailboxes is None or mailbox.lower() in self.mailboxes


def normalise_mailboxes(mailboxes: Iterable[str] | None) -> frozenset[str] | None:
    return None if mailboxes is None else frozenset(address.lower() for address in mailboxes)


class Unauthorized(Exception):
    """HTTP 401; `challenge` is the WWW-Authenticate header value."""

    def __init__(self, challenge: str, reason: str) -> None:
        super().__init__(reason)
        self.challenge = challenge
        self.reason = reason
        # A step of a handshake (NTLM's CHALLENGE): the connection must stay open for the next.
        self.handshake = False


BASIC_CHALLENGE = 'Basic realm="127.0.0.1"'


def same_secret(expected: str, given: str) -> bool:
    """Constant-time comparison that also takes non-ASCII text (compare_digest refuses such str)."""
    return hmac.compare_digest(
        expected.encode("utf-8", "surrogatepass"), given.encode("utf-8", "surrogatepass")
    )


def basic_principal(header: str, accounts: dict[str, AdminAccount]) -> Principal:
    """The admin a `Basic ...` Authorization header names, or Unauthorized."""
    try:
        decoded = base64.b64decode(header.split(" ", 1)[1], validate=True).decode("utf-8")
        username, password = decoded.split(":", 1)
    except (IndexError, ValueError, binascii.Error, UnicodeDecodeError):
        raise Unauthorized(BASIC_CHALLENGE, "malformed Basic credentials") from None
    account = accounts.get(username.lower())
    if account is None or not same_secret(account.password, password):
        raise Unauthorized(BASIC_CHALLENGE, "invalid user name or password")
    return Principal(
        account.username, is_app=False, mailboxes=normalise_mailboxes(account.mailboxes)
    )
