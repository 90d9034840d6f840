"""One shared exchangelib `Configuration` per process and an impersonated `Account` per mailbox.

DESIGN §5: `Configuration(service_endpoint, credentials, auth_type, version=Version(build))`
with `Account(smtp, autodiscover=False, access_type=IMPERSONATION)` sends no probe requests.
Every account shares the configuration, hence one connection pool, sized for the streaming
connections (each holds a pooled session for its whole life) plus the workers.

The retry policy is exchangelib's `FailFast`: exchangelib 5.6.0's `FaultTolerance` keeps one
back-off for the whole process (one busy mailbox would stall all others) and retries a 401 as
if the server were busy. Retries are ours, per mailbox
(`adapters.exchange.ews.errors`).

TLS: verified by default; the CA bundle is honoured by exchangelib (its HTTP adapter class,
process-wide, which is why there is one connection per process) and by msal (its own session).

Secrets stay out of reprs (`SecretStr`, the credentials' own reprs) and out of log records:
a filter on exchangelib's loggers blanks the password, the client secret and the current token
in anything exchangelib logs (its debug log prints request headers).
"""

from __future__ import annotations

import base64
import logging
import re
import threading
import weakref
from typing import Any, ClassVar

import requests
from exchangelib import (
    BASIC,
    IMPERSONATION,
    NTLM,
    OAUTH2,
    Account,
    Build,
    Configuration,
    Credentials,
    FailFast,
    Version,
)
from exchangelib.protocol import BaseProtocol, Protocol

from adapters.exchange.ews.auth import MsalCredentials, MsalTokenSource
from adapters.exchange.ews.settings import EwsSettings

_AUTH_TYPES = {"ntlm": NTLM, "basic": BASIC, "oauth2": OAUTH2}
_REDACTED = "***"


class EwsConnection:
    """The process's connection to Exchange: configuration, credentials, accounts."""

    def __init__(self, settings: EwsSettings) -> None:
        self.settings = settings
        self.token_source: MsalTokenSource | None = None
        credentials: Any
        if settings.auth == "oauth2":
            self.token_source = MsalTokenSource(settings)
            credentials = MsalCredentials(self.token_source)
            # exchangelib 5.6.0 keys its connection pools by the credentials' hash, which takes
            # in `client` once that cached property is first read (at the first request): the
            # accounts made later would get a second pool. Read it now, so the hash never moves.
            assert credentials.client is not None
        else:
            assert settings.password is not None  # EwsSettings checks it
            credentials = Credentials(settings.username, settings.password.get_secret_value())
        self.credentials = credentials
        _install_tls(settings)
        self.configuration = Configuration(
            service_endpoint=settings.endpoint,
            credentials=credentials,
            auth_type=_AUTH_TYPES[settings.auth],
            version=Version(build=Build(*settings.build)),
            retry_policy=FailFast(),
            max_connections=settings.max_connections,
        )
        self._accounts: dict[str, Account] = {}
        self._lock = threading.Lock()
        _scrub_exchangelib_logs(self)

    def __repr__(self) -> str:
        return f"EwsConnection(endpoint={self.settings.endpoint!r}, auth={self.settings.auth!r})"

    def account(self, mailbox: str) -> Account:
        """The impersonated account of `mailbox` (cached; no request is sent)."""
        key = mailbox.lower()
        with self._lock:
            account = self._accounts.get(key)
            if account is None:
                account = Account(
                    mailbox,
                    config=self.configuration,
                    autodiscover=False,
                    access_type=IMPERSONATION,
                )
                self._accounts[key] = account
            return account

    def forget(self, mailbox: str) -> None:
        with self._lock:
            self._accounts.pop(mailbox.lower(), None)

    def renew_token(self) -> None:
        """The server refused the OAuth2 token: ask the authority for a new one."""
        if isinstance(self.credentials, MsalCredentials):
            self.credentials.renew()

    def secrets(self) -> list[str]:
        """The values that must never appear in a log line."""
        values: list[str] = []
        settings = self.settings
        for secret in (settings.password, settings.client_secret):
            if secret is not None and secret.get_secret_value():
                values.append(secret.get_secret_value())
        if settings.password is not None:  # as a Basic Authorization header carries it
            pair = f"{settings.username}:{settings.password.get_secret_value()}"
            values.append(base64.b64encode(pair.encode()).decode())
        if isinstance(self.credentials, MsalCredentials) and self.credentials.access_token:
            values.append(str(self.credentials.access_token["access_token"]))
        return values

    def close(self) -> None:
        """Close the HTTP sessions of this connection's accounts and forget them. exchangelib
        keeps one protocol (session pool) per endpoint and credentials, shared by the accounts
        and cached for the process; it is taken out of that cache, so that nothing of this
        connection is reused or kept open."""
        with self._lock:
            self._accounts.clear()
        try:
            cached, _ = Protocol[self.configuration]
            del Protocol[self.configuration]
        except KeyError:  # no request was ever sent, or closed already
            return
        if not isinstance(cached, Exception):  # the cache also remembers failed endpoints
            cached.close()


class _VerifyingAdapter(requests.adapters.HTTPAdapter):
    """exchangelib's HTTP adapter, verifying TLS as configured (environment or not)."""

    verify: bool | str = True

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float | None, float | None] | None = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        return super().send(request, stream, timeout, self.verify, cert, proxies)


def _install_tls(settings: EwsSettings) -> None:
    # exchangelib creates its adapters from this class attribute: process-wide by design.
    adapter = type("VerifyingAdapter", (_VerifyingAdapter,), {"verify": settings.verify})
    BaseProtocol.HTTP_ADAPTER_CLS = adapter


# An Authorization header as exchangelib's debug log prints it (a dict's repr).
_AUTHORIZATION = re.compile(
    r"(authorization['\"]?\s*[:=]\s*['\"]?)(?:basic|bearer|ntlm|negotiate)\s+[^'\"\s,}]+",
    re.IGNORECASE,
)


# A token as requests-oauthlib's debug log prints it (the token dict's repr).
_ACCESS_TOKEN = re.compile(r"(['\"]access_token['\"]\s*:\s*['\"])[^'\"]+")


class _SecretScrubber(logging.Filter):
    """Blanks the secrets of every live connection in the records of one logger."""

    connections: ClassVar[weakref.WeakSet[EwsConnection]] = weakref.WeakSet()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = _AUTHORIZATION.sub(rf"\1{_REDACTED}", message)
        scrubbed = _ACCESS_TOKEN.sub(rf"\1{_REDACTED}", scrubbed)
        for connection in list(self.connections):
            for secret in connection.secrets():
                scrubbed = scrubbed.replace(secret, _REDACTED)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


_SCRUBBER = _SecretScrubber()


def _scrub_exchangelib_logs(connection: EwsConnection) -> None:
    """A logger's filters see only its own records, so every exchangelib, msal and oauthlib
    logger gets the filter (they exist once their modules are imported, before this runs)."""
    _SecretScrubber.connections.add(connection)
    names = [
        name
        for name in list(logging.root.manager.loggerDict)
        if name.split(".")[0] in ("exchangelib", "msal", "requests_oauthlib", "oauthlib")
    ]
    for name in ["exchangelib", "msal", *names]:
        logger = logging.getLogger(name)
        if _SCRUBBER not in logger.filters:
            logger.addFilter(_SCRUBBER)
