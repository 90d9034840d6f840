"""The simulator's own OAuth2 authority: OpenID discovery and a client-credentials token endpoint.

Enough of the Microsoft identity platform for msal's ConfidentialClientApplication (with
`instance_discovery=False`, over https): `GET /{tenant}/v2.0/.well-known/openid-configuration`
and `POST /{tenant}/oauth2/v2.0/token` with grant_type=client_credentials. Tokens are opaque
random strings with an expiry on the store's clock; they can be revoked. Secrets and tokens are
never logged or put into error messages.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sim.auth import OAuthApp, Principal, Unauthorized, normalise_mailboxes, same_secret
from sim.clock import Clock


@dataclass
class _Token:
    app: OAuthApp
    expires: datetime
    revoked: bool = False


class TokenService:
    """Issues and checks Bearer tokens for registered apps; thread-safe."""

    def __init__(
        self, clock: Clock, apps: list[OAuthApp], lifetime: timedelta = timedelta(minutes=60)
    ) -> None:
        self._clock = clock
        self._apps = {(app.tenant.lower(), app.client_id): app for app in apps}
        self.lifetime = lifetime
        self._tokens: dict[str, _Token] = {}
        self._lock = threading.Lock()
        self.issued_count = 0

    @property
    def enabled(self) -> bool:
        return bool(self._apps)

    def tenants(self) -> set[str]:
        return {tenant for tenant, _ in self._apps}

    def openid_configuration(self, base_url: str, tenant: str) -> dict[str, Any] | None:
        if tenant.lower() not in self.tenants():
            return None
        authority = f"{base_url}/{tenant}"
        return {
            "issuer": f"{authority}/v2.0",
            "authorization_endpoint": f"{authority}/oauth2/v2.0/authorize",
            "token_endpoint": f"{authority}/oauth2/v2.0/token",
            "device_authorization_endpoint": f"{authority}/oauth2/v2.0/devicecode",
            "jwks_uri": f"{authority}/discovery/v2.0/keys",
            "response_types_supported": ["code", "id_token", "token"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "tenant_region_scope": "EU",
        }

    def token_request(self, tenant: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """Answer a token endpoint POST: (HTTP status, JSON body), as Entra ID does."""
        if form.get("grant_type") != "client_credentials":
            return 400, _error(
                "unsupported_grant_type", "AADSTS70003: The grant type is not supported."
            )
        app = self._apps.get((tenant.lower(), form.get("client_id", "")))
        if app is None:
            return 400, _error(
                "unauthorized_client", "AADSTS700016: Application not found in the directory."
            )
        if not same_secret(app.client_secret, form.get("client_secret", "")):
            return 401, _error("invalid_client", "AADSTS7000215: Invalid client secret provided.")
        scopes = form.get("scope", "").split()
        if not any(scope.endswith("/.default") for scope in scopes):
            return 400, _error("invalid_scope", "AADSTS1002012: The provided scope is invalid.")
        access_token = secrets.token_urlsafe(48)
        with self._lock:
            self._tokens[access_token] = _Token(app, self._clock.now() + self.lifetime)
            self.issued_count += 1
        seconds = int(self.lifetime.total_seconds())
        return 200, {
            "token_type": "Bearer",
            "expires_in": seconds,
            "ext_expires_in": seconds,
            "access_token": access_token,
        }

    def principal(self, header: str) -> Principal:
        """The app a `Bearer ...` Authorization header belongs to, or Unauthorized (401)."""
        token = header.split(" ", 1)[1].strip() if " " in header else ""
        with self._lock:
            entry = self._tokens.get(token)
        if entry is None or entry.revoked:
            raise Unauthorized(
                'Bearer error="invalid_token", error_description="The token is invalid or revoked"',
                "invalid or revoked token",
            )
        if self._clock.now() >= entry.expires:
            raise Unauthorized(
                'Bearer error="invalid_token", error_description="The token is expired"',
                "expired token",
            )
        app = entry.app
        return Principal(app.client_id, is_app=True, mailboxes=normalise_mailboxes(app.mailboxes))

    def revoke_all(self) -> None:
        """Revoke every token issued so far (as an administrator revoking the app's sessions)."""
        with self._lock:
            for entry in self._tokens.values():
                entry.revoked = True


def _error(code: str, description: str) -> dict[str, Any]:
    return {"error": code, "error_description": description, "error_codes": [], "timestamp": ""}
