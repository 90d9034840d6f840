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

from adapters.exchange.ews.settings import EwsSettings

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
    """The process's one msal app; thread-safe."""

    def __init__(self, settings: EwsSettings) -> None:
        assert settings.client_secret is not None  # EwsSettings checks it for oauth2
        self._lock = threading.Lock()
        self.tokens_fetched = 0
        self.app = msal.ConfidentialClientApplication(
            settings.client_id,
            client_credential=settings.client_secret.get_secret_value(),
            authority=f"{settings.authority.rstrip('/')}/{settings.tenant_id}",
            # A non-Microsoft authority (a test server, a sovereign cloud's host) is taken as is.
            instance_discovery=settings.authority.rstrip("/")
            == "https://login.microsoftonline.com",
            http_client=tls_session(settings),
        )

    def __repr__(self) -> str:
        return f"MsalTokenSource(client_id={self.app.client_id!r})"

    def token(self) -> OAuth2Token:
        """A valid token, from msal's cache while it lasts."""
        with self._lock:
            result: dict[str, Any] = self.app.acquire_token_for_client(scopes=EWS_SCOPES)
            if "access_token" not in result:
                # error and error_description name the problem; neither contains the secret.
                raise TokenError(
                    f"no OAuth2 token: {result.get('error')}: {result.get('error_description')}"
                )
            if result.get("token_source") == "identity_provider":
                self.tokens_fetched += 1
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
            cache = self.app.token_cache
            for entry in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
                cache.remove_at(entry)


class MsalCredentials(OAuth2AuthorizationCodeCredentials):  # type: ignore[misc]
    """exchangelib credentials fed by msal; `refresh` asks msal again."""

    def __init__(self, source: MsalTokenSource, identity: Identity | None = None) -> None:
        super().__init__(access_token=source.token(), identity=identity)
        self.source = source
        self._renewed_at = -RENEWED_RECENTLY_S

    def refresh(self, session: Any) -> None:
        self.access_token = self.source.token()

    def renew(self) -> None:
        """After the server refused the token: a new one from the authority, not the cache.
        Requests that failed together with the same token renew it once: a token fetched in
        the last seconds is taken as the answer to their refusal."""
        with self.lock:
            if time.monotonic() - self._renewed_at < RENEWED_RECENTLY_S:
                return
            self.source.forget()
            self.access_token = self.source.token()
            self._renewed_at = time.monotonic()

    def __repr__(self) -> str:
        return f"MsalCredentials(client_id={self.source.app.client_id!r}, token='***')"

    __str__ = __repr__
