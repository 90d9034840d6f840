"""Who may reach which mailbox: impersonation, Basic auth, OAuth2 via msal, TLS."""

from __future__ import annotations

import datetime as dt
import logging
import time
from pathlib import Path

import msal
import pytest
from exchangelib import DELEGATE, Account, Credentials, Identity
from exchangelib.errors import (
    ErrorImpersonateUserDenied,
    ErrorInvalidExchangeImpersonationHeaderData,
    ErrorNonExistentMailbox,
    UnauthorizedError,
)

from sim.clock import ManualClock
from sim.faults import TokenRejected
from sim.server import EwsServer
from tests.sim.msal_credentials import MsalCredentials, msal_for, msal_token
from tests.sim.support import ALICE, APP, BOB, CAROL, AccountFactory, make_account


def test_admin_impersonates_each_permitted_mailbox(
    account_for: AccountFactory, server: EwsServer
) -> None:
    assert account_for(ALICE).calendar.name == "Calendar"
    assert account_for(BOB).tasks.name == "Tasks"

    assert {(r.operation, r.mailbox) for r in server.requests} >= {
        ("GetFolder", ALICE),
        ("GetFolder", BOB),
    }


def test_impersonating_a_mailbox_without_the_right_is_denied(account_for: AccountFactory) -> None:
    with pytest.raises(ErrorImpersonateUserDenied):
        _ = account_for(CAROL).calendar


def test_impersonating_an_unknown_mailbox_fails(account_for: AccountFactory) -> None:
    with pytest.raises(ErrorNonExistentMailbox):
        _ = account_for("nobody@example.com").calendar


def test_wrong_password_is_a_login_failure(account_for: AccountFactory) -> None:
    with pytest.raises(UnauthorizedError):
        _ = account_for(ALICE, credentials=Credentials("ews-admin", "wrong")).calendar


def test_basic_auth_works_over_tls(tls_server: EwsServer, trust_sim_certificate: Path) -> None:
    account = make_account(tls_server, ALICE)

    assert tls_server.url.startswith("https://127.0.0.1:")
    assert account.calendar.name == "Calendar"


@pytest.fixture
def msal_app(
    tls_server: EwsServer, trust_sim_certificate: Path
) -> msal.ConfidentialClientApplication:
    return msal_for(tls_server, trust_sim_certificate)


def oauth_account(
    server: EwsServer, app: msal.ConfidentialClientApplication, mailbox: str = ALICE
) -> tuple[Account, MsalCredentials]:
    credentials = MsalCredentials(
        app, msal_token(app), identity=Identity(primary_smtp_address=mailbox)
    )
    return make_account(server, mailbox, credentials), credentials


def test_oauth2_app_token_from_msal_opens_an_impersonated_mailbox(
    tls_server: EwsServer,
    msal_app: msal.ConfidentialClientApplication,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="sim")
    account, credentials = oauth_account(tls_server, msal_app)

    assert account.calendar.name == "Calendar"
    assert tls_server.tokens.issued_count == 1
    assert tls_server.requests[-1].principal == APP.client_id
    assert "token request" in caplog.text and "GetFolder" in caplog.text
    assert APP.client_secret not in caplog.text
    assert credentials.access_token["access_token"] not in caplog.text


def test_msal_rejects_a_wrong_client_secret(
    tls_server: EwsServer, trust_sim_certificate: Path
) -> None:
    app = msal_for(tls_server, trust_sim_certificate, secret="not-the-secret")

    result = app.acquire_token_for_client(scopes=["https://outlook.office365.com/.default"])

    assert result["error"] == "invalid_client"


def test_exchangelib_refreshes_an_expired_token_through_msal(
    tls_server: EwsServer, msal_app: msal.ConfidentialClientApplication
) -> None:
    credentials = MsalCredentials(
        msal_app,
        msal_token(msal_app, expires_in=-60),
        identity=Identity(primary_smtp_address=ALICE),
    )
    account = make_account(tls_server, ALICE, credentials)

    assert account.calendar.name == "Calendar"
    assert credentials.refreshes == 1
    assert credentials.access_token["expires_at"] > time.time()


def test_token_expired_at_the_server_is_refused_with_401(
    tls_server: EwsServer, msal_app: msal.ConfidentialClientApplication, clock: ManualClock
) -> None:
    account, _ = oauth_account(tls_server, msal_app)
    clock.advance(dt.timedelta(hours=2))

    with pytest.raises(UnauthorizedError):
        _ = account.calendar

    assert tls_server.requests[-1].status == 401


def test_revoked_token_is_refused_with_401(
    tls_server: EwsServer, msal_app: msal.ConfidentialClientApplication
) -> None:
    account, _ = oauth_account(tls_server, msal_app)
    _ = account.calendar
    tls_server.tokens.revoke_all()

    with pytest.raises(UnauthorizedError):
        account.calendar.refresh()


def test_injected_token_rejection_is_a_401(
    tls_server: EwsServer, msal_app: msal.ConfidentialClientApplication
) -> None:
    account, _ = oauth_account(tls_server, msal_app)
    tls_server.faults.add(TokenRejected("expired"), operation="GetFolder")

    with pytest.raises(UnauthorizedError):
        _ = account.calendar


def test_app_token_without_impersonation_header_is_refused(
    tls_server: EwsServer, msal_app: msal.ConfidentialClientApplication
) -> None:
    credentials = MsalCredentials(msal_app, msal_token(msal_app))
    account = make_account(tls_server, ALICE, credentials, access_type=DELEGATE)

    with pytest.raises(ErrorInvalidExchangeImpersonationHeaderData):
        _ = account.calendar
