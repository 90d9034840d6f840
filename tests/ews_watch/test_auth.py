"""OAuth2 through msal, TLS with a CA bundle, and secrets kept out of reprs, logs, errors."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from adapters.exchange.ews.auth import MsalTokenSource, TokenError
from adapters.exchange.ews.connection import EwsConnection
from adapters.exchange.ews.settings import EXCHANGE_ONLINE_EWS, EwsSettings
from sim.clock import ManualClock
from sim.server import EwsServer
from sim.store import MailboxStore
from sim.tls import TlsFiles
from tests.ews_watch.conftest import WatcherFactory, basic_settings, oauth_settings
from tests.ews_watch.support import ALICE_USER, APPOINTMENT, BOB_USER, alive, appointment, collect
from tests.ews_watch.support import settle as drain
from tests.sim.support import ADMIN, ALICE, APP, BOB


@pytest.fixture
def ca_bundle(tls_files: TlsFiles, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The simulator's certificate; the environment names a CA bundle that trusts nothing."""
    empty = tmp_path / "empty-bundle.pem"
    empty.write_text("")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(empty))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(empty))
    return tls_files.certificate


def test_r9_oauth2_through_msal_with_the_ca_bundle_whatever_the_environment_says(
    tls_server: EwsServer, store: MailboxStore, ca_bundle: Path, make_watcher: WatcherFactory
) -> None:
    watcher = make_watcher(oauth_settings(tls_server, ca_bundle))
    watcher.watch([ALICE_USER])

    assert alive(watcher, "alice")
    drain(watcher)
    store.create_calendar_item(ALICE, appointment("over https"))
    assert collect(watcher, {("alice", APPOINTMENT)}, within=1.0) == {("alice", APPOINTMENT)}
    assert {r.principal for r in tls_server.requests} == {APP.client_id}


def test_tls_is_verified_by_default(tls_server: EwsServer, make_watcher: WatcherFactory) -> None:
    watcher = make_watcher(basic_settings(tls_server.url))  # no CA bundle: the sim is not trusted
    watcher.watch([ALICE_USER])

    assert _eventually(lambda: "TransportError" in watcher.status("alice").reason)
    assert tls_server.requests == []


def test_r9_a_token_the_server_no_longer_takes_is_renewed_through_msal_mid_run(
    tls_server: EwsServer, clock: ManualClock, ca_bundle: Path, make_watcher: WatcherFactory
) -> None:
    watcher = make_watcher(oauth_settings(tls_server, ca_bundle))
    watcher.watch([ALICE_USER])
    assert alive(watcher, "alice")
    issued = tls_server.tokens.issued_count

    clock.advance(dt.timedelta(minutes=61))  # the server's tokens live 60 minutes
    watcher.watch([ALICE_USER, BOB_USER])

    assert alive(watcher, "bob")
    assert tls_server.tokens.issued_count == issued + 1
    refused = [r for r in tls_server.requests if r.status == 401]
    assert len(refused) >= 1


def test_secrets_stay_out_of_reprs_logs_and_errors(
    tls_server: EwsServer,
    ca_bundle: Path,
    make_watcher: WatcherFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    basic = basic_settings(tls_server.url, ca_bundle=ca_bundle)
    oauth = oauth_settings(tls_server, ca_bundle)
    watchers = [make_watcher(basic), make_watcher(oauth)]
    for watcher in watchers:
        watcher.watch([ALICE_USER])
        assert alive(watcher, "alice")
    wrong = basic_settings(
        tls_server.url, ca_bundle=ca_bundle, password=SecretStr("wrong-" + ADMIN.password)
    )
    refused = make_watcher(wrong)
    refused.watch([ALICE_USER])
    assert _eventually(lambda: "Unauthorized" in refused.status("alice").reason)
    bad_secret = oauth.model_copy(update={"client_secret": SecretStr("not-" + APP.client_secret)})
    with pytest.raises(TokenError) as no_token:
        MsalTokenSource(bad_secret).token()

    tokens = [str(w.connection.credentials.access_token["access_token"]) for w in watchers[1:]]
    secrets = [ADMIN.password, APP.client_secret, *tokens]
    shown = "\n".join(
        [
            caplog.text,
            repr(basic),
            str(basic),
            repr(oauth),
            repr(watchers[0].connection),
            repr(watchers[0].connection.credentials),
            repr(watchers[1].connection.credentials),
            str(watchers[1].connection.credentials),
            repr(watchers[1].connection.token_source),
            refused.status("alice").reason,
            str(no_token.value),
        ]
    )
    assert "invalid_client" in str(no_token.value)
    assert "Authorization" in caplog.text  # exchangelib's debug log did print the headers
    for secret in secrets:
        assert secret not in shown
    assert "ZXdzLWFkbWlu" not in caplog.text  # base64 of "ews-admin": no Basic header shown


def test_settings_exchange_online_default_endpoint_and_coherence() -> None:
    online = EwsSettings(
        online_oauth2=True,
        auth="oauth2",
        tenant_id="t",
        client_id="c",
        client_secret=SecretStr("s"),
    )
    assert online.endpoint == EXCHANGE_ONLINE_EWS
    assert online.verify is True
    with pytest.raises(ValidationError, match="online_oauth2"):
        EwsSettings(online_oauth2=True, auth="basic", username="u", password=SecretStr("p"))
    with pytest.raises(ValidationError, match="needs password"):
        EwsSettings(url="https://ex/EWS/Exchange.asmx", auth="ntlm", username="u")
    with pytest.raises(ValidationError, match="max_connections must be at least 15"):
        basic_settings("https://ex/EWS/Exchange.asmx", max_connections=14)
    with pytest.raises(ValidationError, match="mail_domain"):
        basic_settings("https://ex/EWS/Exchange.asmx", use_exchange_mailboxes=False)
    by_login = basic_settings(
        "https://ex/EWS/Exchange.asmx", use_exchange_mailboxes=False, mail_domain="firma.de"
    )
    assert by_login.mailbox_of(ALICE_USER) == "alice@firma.de"
    assert basic_settings("https://ex/x").mailbox_of(ALICE_USER) == ALICE
    # R9 as the engine decides eligibility: no stored mailbox falls back to login @ domain.
    no_mailbox = ALICE_USER.model_copy(update={"mailbox": None})
    with_domain = basic_settings("https://ex/x", mail_domain="firma.de")
    assert with_domain.mailbox_of(no_mailbox) == "alice@firma.de"
    assert basic_settings("https://ex/x").mailbox_of(no_mailbox) is None
    ntlm = basic_settings("https://ex/EWS/Exchange.asmx", auth="ntlm")
    assert EwsConnection(ntlm).configuration.service_endpoint == "https://ex/EWS/Exchange.asmx"


def _eventually(condition: object, within: float = 8) -> bool:
    from tests.ews_watch.support import until

    assert callable(condition)
    return until(condition, within)


def test_r12_a_refused_client_secret_is_every_users_status_after_one_request_to_the_authority(
    tls_server: EwsServer, ca_bundle: Path, make_watcher: WatcherFactory
) -> None:
    wrong = oauth_settings(
        tls_server, ca_bundle, client_secret=SecretStr("wrong-secret"), retry_initial_s=5
    )
    watcher = make_watcher(wrong)
    users = [ALICE_USER, BOB_USER] + [
        ALICE_USER.model_copy(update={"login": f"clone{n}"}) for n in range(4)
    ]
    watcher.watch(users)

    assert _eventually(
        lambda: all("invalid_client" in watcher.status(u.login).reason for u in users)
    )
    source = watcher.connection.token_source
    assert source is not None and source.requests == 1
    assert all(r.status == 401 for r in tls_server.requests)  # only placeholders went out


def test_accounts_made_after_a_token_renewal_share_the_one_connection_pool(
    tls_server: EwsServer, clock: ManualClock, ca_bundle: Path, make_watcher: WatcherFactory
) -> None:
    watcher = make_watcher(oauth_settings(tls_server, ca_bundle))
    connection = watcher.connection
    before = connection.account(ALICE).protocol

    clock.advance(dt.timedelta(minutes=61))
    watcher.watch([ALICE_USER])
    assert alive(watcher, "alice")
    connection.renew_token()

    assert connection.account(BOB).protocol is before
