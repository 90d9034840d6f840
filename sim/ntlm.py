"""NTLM for the admin accounts, as on-premises Exchange (IIS) accepts it; pyspnego is the acceptor.

NTLM authenticates a TCP connection, not a request: the client sends its NEGOTIATE message, the
server answers 401 with `WWW-Authenticate: NTLM <CHALLENGE>`, and the client sends its
AUTHENTICATE message with the request again, on the same connection. From then on the
connection is authenticated: IIS answers its later requests without a new handshake (requests_ntlm,
under exchangelib, starts each request without credentials and shakes hands only on a 401).

So the simulator keeps, per connection (the peer's address and port, which uvicorn gives every
request of a connection — its h11 server keeps a connection open between requests, for
`KEEP_ALIVE_S`), the handshake in progress and then the admin it authenticated. Assumption: an
address and port are not reused by another connection while the entry lives (the kernel hands
out ephemeral ports in turn; entries are dropped once a newer handshake pushes them out).

pyspnego reads the acceptor's credentials from the file the environment variable NTLM_USER_FILE
names (lines `DOMAIN:USER:PASSWORD`, spnego/_ntlm.py `_get_credential`); the variable is set
while pyspnego reads it, under a lock, so that it names this server's file.
"""

from __future__ import annotations

import base64
import binascii
import os
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import spnego
import spnego.exceptions

from sim.auth import AdminAccount, Principal, Unauthorized, normalise_mailboxes

NTLM_CHALLENGE = "NTLM"
_NEGOTIATE, _AUTHENTICATE = 1, 3
_REMEMBERED = 4096  # connections (handshakes and authenticated ones) kept at most
_ENVIRONMENT = threading.Lock()  # NTLM_USER_FILE is the process's


class NtlmAcceptor:
    """Accepts the admins' NTLM credentials, connection by connection."""

    def __init__(self, admins: tuple[AdminAccount, ...], directory: Path) -> None:
        lines = []
        self._admins: dict[str, AdminAccount] = {}
        for admin in admins:
            domain, _, user = admin.username.rpartition("\\")
            if ":" in admin.password or ":" in user or "\n" in admin.password:
                raise ValueError(f"{admin.username}: NTLM needs a password without ':'")
            lines.append(f"{domain}:{user}:{admin.password}")
            self._admins[user.lower()] = admin
        directory.mkdir(parents=True, exist_ok=True)
        self.user_file = directory / "ntlm_users"
        self.user_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.user_file.chmod(0o600)
        self._lock = threading.Lock()
        self._connections: OrderedDict[Hashable, Any] = OrderedDict()  # context or Principal

    def authenticated(self, connection: Hashable) -> Principal | None:
        """The admin this connection authenticated before, if it did."""
        with self._lock:
            known = self._connections.get(connection)
        return known if isinstance(known, Principal) else None

    def authenticate(self, header: str, connection: Hashable) -> Principal:
        """The admin an `NTLM <AUTHENTICATE>` header proves on this connection; Unauthorized
        otherwise — with the CHALLENGE to send back for an `NTLM <NEGOTIATE>` header."""
        try:
            token = base64.b64decode(header.split(" ", 1)[1], validate=True)
            kind = token[8]
        except (IndexError, ValueError, binascii.Error):
            raise Unauthorized(NTLM_CHALLENGE, "malformed NTLM message") from None
        if kind == _NEGOTIATE:
            challenge = self._step_negotiate(token, connection)
            refusal = Unauthorized(f"{NTLM_CHALLENGE} {challenge}", "NTLM challenge")
            refusal.handshake = True
            raise refusal
        if kind == _AUTHENTICATE:
            return self._step_authenticate(token, connection)
        raise Unauthorized(NTLM_CHALLENGE, "unexpected NTLM message")

    def _step_negotiate(self, token: bytes, connection: Hashable) -> str:
        with self._credentials():
            context = spnego.server(protocol="ntlm")
            challenge = context.step(token) or b""
        self._remember(connection, context)
        return base64.b64encode(challenge).decode()

    def _step_authenticate(self, token: bytes, connection: Hashable) -> Principal:
        with self._lock:
            context = self._connections.pop(connection, None)
        if context is None or isinstance(context, Principal):
            raise Unauthorized(NTLM_CHALLENGE, "no NTLM handshake on this connection")
        try:
            with self._credentials():
                context.step(token)
        except spnego.exceptions.SpnegoError:
            raise Unauthorized(NTLM_CHALLENGE, "invalid user name or password") from None
        user = str(context.client_principal or "").rpartition("\\")[2].lower()
        admin = self._admins.get(user)
        if not context.complete or admin is None:
            raise Unauthorized(NTLM_CHALLENGE, "invalid user name or password")
        principal = Principal(
            admin.username, is_app=False, mailboxes=normalise_mailboxes(admin.mailboxes)
        )
        self._remember(connection, principal)
        return principal

    def _remember(self, connection: Hashable, state: Any) -> None:
        with self._lock:
            self._connections[connection] = state
            self._connections.move_to_end(connection)
            while len(self._connections) > _REMEMBERED:
                self._connections.popitem(last=False)

    @contextmanager
    def _credentials(self) -> Iterator[None]:
        with _ENVIRONMENT:
            before = os.environ.get("NTLM_USER_FILE")
            os.environ["NTLM_USER_FILE"] = str(self.user_file)
            try:
                yield
            finally:
                if before is None:
                    del os.environ["NTLM_USER_FILE"]
                else:
                    os.environ["NTLM_USER_FILE"] = before
