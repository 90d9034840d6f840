"""Passwords and client secrets beyond ASCII: right ones let the caller in, wrong ones are refused.

Basic credentials are taken as UTF-8 (RFC 7617); requests encodes a `str` password as Latin-1,
so these tests hand it the UTF-8 bytes, as a client that follows the RFC does.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import requests

from sim.auth import AdminAccount, OAuthApp
from sim.server import EwsServer, ServerConfig
from tests.sim.msal_credentials import msal_for
from tests.sim.support import ALICE, APP, BOB, TENANT, envelope, impersonating

ADMIN_PASSWORD = "Kennwört-€-密码"
CLIENT_SECRET = "Gehëimnis-€-秘密"
GET_CALENDAR = (
    "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>"
    '<m:FolderIds><t:DistinguishedFolderId Id="calendar"/></m:FolderIds></m:GetFolder>'
)


@pytest.fixture
def server_config(server_config: ServerConfig) -> ServerConfig:
    admin = AdminAccount("ews-admin", ADMIN_PASSWORD, frozenset({ALICE, BOB}))
    app = OAuthApp(TENANT, APP.client_id, CLIENT_SECRET)
    return replace(server_config, admins=(admin,), apps=(app,))


def get_calendar(server: EwsServer, password: str) -> requests.Response:
    return requests.post(
        server.url,
        data=envelope(GET_CALENDAR, impersonating(ALICE)),
        auth=requests.auth.HTTPBasicAuth(b"ews-admin", password.encode()),
        headers={"X-AnchorMailbox": ALICE},
        timeout=30,
    )


def test_a_non_ascii_admin_password_lets_the_admin_in(server: EwsServer) -> None:
    response = get_calendar(server, ADMIN_PASSWORD)

    assert response.status_code == 200
    assert b"NoError" in response.content


@pytest.mark.parametrize("password", ["Kennwort-€-密码", "admin-pass-123"])
def test_a_wrong_password_against_a_non_ascii_one_is_a_401(
    server: EwsServer, password: str
) -> None:
    response = get_calendar(server, password)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_a_non_ascii_client_secret_gets_a_token(
    tls_server: EwsServer, trust_sim_certificate: Path
) -> None:
    app = msal_for(tls_server, trust_sim_certificate, secret=CLIENT_SECRET)

    result = app.acquire_token_for_client(scopes=["https://outlook.office365.com/.default"])

    assert "access_token" in result, result.get("error_description")


@pytest.mark.parametrize("secret", ["Geheimnis-€-秘密", "app-secret-XYZ-987"])
def test_a_wrong_client_secret_against_a_non_ascii_one_is_invalid_client(
    tls_server: EwsServer, trust_sim_certificate: Path, secret: str
) -> None:
    app = msal_for(tls_server, trust_sim_certificate, secret=secret)

    result = app.acquire_token_for_client(scopes=["https://outlook.office365.com/.default"])

    assert result.get("error") == "invalid_client"
