"""App-only tokens for Graph from ONE msal `ConfidentialClientApplication` (secret or certificate).

msal serves the token from its cache and asks the authority again when it is about to expire; a
token Graph refuses anyway (401: revoked, clocks apart) is dropped by `forget()` and the request
is sent once more with a new one. msal gets its own requests session with `trust_env = False` and
the configured CA bundle (its `verify=` loses against `REQUESTS_CA_BUNDLE`), as in the EWS adapter.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import msal
import requests

from adapters.exchange.graph.settings import GRAPH_SCOPES, MICROSOFT_AUTHORITY, GraphSettings


class TokenError(Exception):
    """msal could not get a token. The message carries msal's error code, never a secret."""


class GraphTokens:
    """The process's msal app for Graph (made on first use); thread-safe. After a failure the
    same error is raised again for a while (1 s doubling to 60 s) without asking."""

    def __init__(self, settings: GraphSettings) -> None:
        self.settings = settings
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.verify = settings.verify
        self._lock = threading.Lock()
        self._app: msal.ConfidentialClientApplication | None = None
        self._failure: TokenError | None = None
        self._failures = 0
        self._quiet_until = 0.0
        self.requests = 0  # how often the authority was asked (cache misses)

    def __repr__(self) -> str:
        return f"GraphTokens(client_id={self.settings.client_id!r})"

    def _credential(self) -> Any:
        s = self.settings
        if s.client_secret is not None:
            return s.client_secret.get_secret_value()
        assert s.certificate_key is not None
        return {
            "private_key": s.certificate_key.get_secret_value(),
            "thumbprint": s.certificate_thumbprint,
        }

    @property
    def app(self) -> msal.ConfidentialClientApplication:
        if self._app is None:
            authority = self.settings.authority.rstrip("/")
            self._app = msal.ConfidentialClientApplication(
                self.settings.client_id,
                client_credential=self._credential(),
                authority=f"{authority}/{self.settings.tenant_id}",
                instance_discovery=authority == MICROSOFT_AUTHORITY,
                http_client=self.http,
            )
        return self._app

    def token(self) -> str:
        """A valid access token, from msal's cache while it lasts; TokenError when none."""
        with self._lock:
            if self._failure is not None and time.monotonic() < self._quiet_until:
                raise self._failure
            try:
                result: dict[str, Any] = self.app.acquire_token_for_client(scopes=GRAPH_SCOPES)
            except Exception as error:  # unreachable authority, bad TLS, …
                result = {"error": type(error).__name__, "error_description": str(error)}
            if result.get("token_source") != "cache":
                self.requests += 1
            if "access_token" not in result:
                self._failure = TokenError(
                    f"no OAuth2 token: {result.get('error')}: {result.get('error_description')}"
                )
                self._quiet_until = time.monotonic() + min(60.0, 2.0**self._failures)
                self._failures += 1
                raise self._failure
            self._failure, self._failures = None, 0
            return str(result["access_token"])

    def forget(self, refused: str) -> None:
        """Drop `refused` from msal's cache (Graph answered 401 to it)."""
        with self._lock:
            if self._app is None:
                return
            cache = self._app.token_cache
            for entry in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
                if entry.get("secret") == refused:
                    cache.remove_at(entry)
