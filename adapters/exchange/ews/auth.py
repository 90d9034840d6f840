"""OAuth2 client credentials through msal, handed to exchangelib (DESIGN §5).

One msal `ConfidentialClientApplication` per process: `acquire_token_for_client` serves the
token from msal's cache and asks the authority again when it is about to expire. exchangelib
gets it through a subclass of `OAuth2AuthorizationCodeCredentials` built with a ready
`OAuth2Token` whose `refresh(session)` asks msal again (subclassing `OAuth2Credentials` would
not work: it fetches its own token from a hard-coded authority on refresh).

The token is handed over with an `expires_at` a margin before its real expiry, so that
requests-oauthlib raises `TokenExpiredError` before sending an expired token; exchangelib then
calls `refresh` and retries at once — the token is renewed before it expires. A token the
server refuses anyway (revoked, clocks apart) is dropped from msal's cache by `renew()`.

msal's `verify=` loses against `REQUESTS_CA_BUNDLE` in the environment, so msal gets its own
requests session with `trust_env = False` and the configured CA bundle.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import msal
import requests
from exchangelib import Identity, OAuth2AuthorizationCodeCredentials
from oauthlib.oauth2 import OAuth2Token

from adapters.exchange.ews.settings import MICROSOFT_AUTHORITY, EwsSettings

EWS_SCOPES = ["https://outlook.office365.com/.default"]
# Renew this long before the token expires (or at half its life, for short-lived tokens).
RENEW_MARGIN_S = 300.0
RENEWED_RECENTLY_S = 5.0


class TokenError(Exception):
    """msal could not get a token. The message carries msal's error code, never a secret."""


def tls_session(settings: EwsSettings) -> requests.Session:
    """A requests session that verifies TLS as configured, whatever the environment says."""
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE and proxies from the environment do not win
    session.verify = settings.verify
    return session


class MsalTokenSource:
    """The process's one msal app (made on first use: starting needs no network); thread-safe.

    After the authority refused or could not be reached, the same error is raised again for a
    while (1 s, doubling up to a minute) without asking: a thousand mailboxes needing a token
    make one request, not a thousand."""

    def __init__(self, settings: EwsSettings) -> None:
        assert settings.client_secret is not None  # EwsSettings checks it for oauth2
        self.settings = settings
        self.http = tls_session(settings)
        self._lock = threading.Lock()
        self._app: msal.ConfidentialClientApplication | None = None
        self._failure: TokenError | None = None
        self._failures = 0
        self._quiet_until = 0.0
        self.requests = 0  # asked the authority (cache misses)
        self.renewed_at = -RENEWED_RECENTLY_S  # when a refused token was last replaced

    def __repr__(self) -> str:
        return f"MsalTokenSource(client_id={self.settings.client_id!r})"

    @property
    def app(self) -> msal.ConfidentialClientApplication:
        if self._app is None:
            settings = self.settings
            assert settings.client_secret is not None
            authority = settings.authority.rstrip("/")
            self._app = msal.ConfidentialClientApplication(
                settings.client_id,
                client_credential=settings.client_secret.get_secret_value(),
                authority=f"{authority}/{settings.tenant_id}",
                # A non-Microsoft authority (a test server, a sovereign cloud) is taken as is.
                instance_discovery=authority == MICROSOFT_AUTHORITY,
                http_client=self.http,
            )
        return self._app

    def token(self) -> OAuth2Token:
        """A valid token, from msal's cache while it lasts; TokenError when there is none."""
        with self._lock:
            if self._failure is not None and time.monotonic() < self._quiet_until:
                raise self._failure
            try:
                result: dict[str, Any] = self.app.acquire_token_for_client(scopes=EWS_SCOPES)
            except Exception as error:  # unreachable authority, bad TLS, …
                result = {"error": type(error).__name__, "error_description": str(error)}
            if result.get("token_source") != "cache":
                self.requests += 1
            if "access_token" not in result:
                # error and error_description name the problem; neither contains the secret.
                self._failure = TokenError(
                    f"no OAuth2 token: {result.get('error')}: {result.get('error_description')}"
                )
                self._quiet_until = time.monotonic() + min(60.0, 2.0**self._failures)
                self._failures += 1
                raise self._failure
            self._failure, self._failures = None, 0
        lifetime = float(result["expires_in"])
        margin = min(RENEW_MARGIN_S, lifetime / 2)
        return OAuth2Token(
            {
                "access_token": result["access_token"],
                "token_type": result.get("token_type", "Bearer"),
                "expires_in": lifetime - margin,
                "expires_at": time.time() + lifetime - margin,
            }
        )

    def forget(self) -> None:
        """Drop the cached tokens: the server refused one before it expired (revoked)."""
        with self._lock:
            if self._app is None:
                return
            cache = self._app.token_cache
            for entry in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
                cache.remove_at(entry)


def _placeholder(seconds: float) -> OAuth2Token:
    """A token that is no token: exchangelib needs one to build a session without fetching its
    own from Microsoft; the server refuses it (401) and the watcher asks msal again."""
    return OAuth2Token(
        {
            "access_token": "none",
            "token_type": "Bearer",
            "expires_in": seconds,
            "expires_at": time.time() + seconds,
        }
    )


class MsalCredentials(OAuth2AuthorizationCodeCredentials):  # type: ignore[misc]
    """exchangelib credentials fed by msal; `refresh` asks msal again.

    Starts with an expired placeholder, so the first request asks msal (through `refresh`).
    `refresh` never raises: exchangelib 5.6.0 calls it between taking a pooled session and
    giving it back, so an exception there loses the session, and after `max_connections` such
    losses every request waits forever. When msal has no token, a placeholder goes out instead,
    the server answers 401, and the watcher's `renew()` raises msal's error in its own code."""

    def __init__(self, source: MsalTokenSource, identity: Identity | None = None) -> None:
        super().__init__(access_token=_placeholder(-1), identity=identity)
        # exchangelib 5.6.0 hashes every attribute but the token into its connection pool's
        # cache key: what changes lives in `source` (hashed by identity), or a new Account
        # would get a pool of its own.
        self.source = source

    def refresh(self, session: Any) -> None:
        try:
            self.access_token = self.source.token()
        except TokenError:
            self.access_token = _placeholder(RENEWED_RECENTLY_S)

    def renew(self) -> None:
        """After the server refused the token: a new one from the authority, not the cache
        (TokenError when there is none). Requests that failed together with the same token
        renew it once: a token fetched in the last seconds answers their refusal."""
        with self.lock:
            recent = time.monotonic() - self.source.renewed_at < RENEWED_RECENTLY_S
            if recent and self.access_token and self.access_token["access_token"] != "none":
                return
            self.source.forget()
            self.access_token = self.source.token()
            self.source.renewed_at = time.monotonic()

    def __repr__(self) -> str:
        return f"MsalCredentials(client_id={self.source.settings.client_id!r}, token='***')"

    __str__ = __repr__
