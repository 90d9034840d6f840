"""exchangelib credentials backed by msal, the way DESIGN §5 prescribes for the engine.

Subclass OAuth2AuthorizationCodeCredentials with a ready access token (OAuth2Token) and override
`refresh(session)` to get a new one from msal. (Subclassing OAuth2Credentials would not work: it
fetches its own token from login.microsoftonline.com on refresh.)
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import msal
import requests
from exchangelib import Identity, OAuth2AuthorizationCodeCredentials
from oauthlib.oauth2 import OAuth2Token

from sim.server import EwsServer
from tests.sim.support import APP, TENANT

EWS_SCOPES = ["https://outlook.office365.com/.default"]


def msal_for(
    server: EwsServer, certificate: Path, secret: str = APP.client_secret
) -> msal.ConfidentialClientApplication:
    """The app registration APP as msal sees it, trusting the simulator's certificate."""
    # msal's verify= loses against REQUESTS_CA_BUNDLE in the environment (requests merges the
    # environment over Session.verify), so msal gets a session that ignores the environment.
    session = requests.Session()
    session.trust_env = False
    session.verify = str(certificate)
    return msal.ConfidentialClientApplication(
        APP.client_id,
        client_credential=secret,
        authority=server.authority(TENANT),
        instance_discovery=False,
        http_client=session,
    )


def msal_token(
    app: msal.ConfidentialClientApplication, expires_in: float | None = None
) -> OAuth2Token:
    """An OAuth2Token from msal's client-credentials flow (msal caches and renews it)."""
    result = app.acquire_token_for_client(scopes=EWS_SCOPES)
    if "access_token" not in result:
        raise RuntimeError(f"msal could not get a token: {result.get('error')}")
    lifetime = float(result["expires_in"] if expires_in is None else expires_in)
    return OAuth2Token(
        {
            "access_token": result["access_token"],
            "token_type": result.get("token_type", "Bearer"),
            "expires_in": lifetime,
            "expires_at": time.time() + lifetime,
        }
    )


class MsalCredentials(OAuth2AuthorizationCodeCredentials):  # type: ignore[misc]  # exchangelib has no type information
    """Hands exchangelib msal's token; `refresh` asks msal again when exchangelib needs one."""

    def __init__(
        self,
        app: msal.ConfidentialClientApplication,
        access_token: OAuth2Token,
        identity: Identity | None = None,
    ) -> None:
        super().__init__(access_token=access_token, identity=identity)
        self.msal_app = app
        self.refreshes = 0

    def refresh(self, session: Any) -> None:
        self.access_token = msal_token(self.msal_app)
        self.refreshes += 1
