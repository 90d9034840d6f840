"""`einklang sim` as a subprocess: the contract outside clients rely on; no secrets in output."""

from __future__ import annotations

import subprocess

import msal
import pytest
import requests
from exchangelib import Credentials, Identity
from exchangelib.protocol import BaseProtocol

from tests.sim.msal_credentials import MsalCredentials, msal_token
from tests.sim.sim_process import EINKLANG, SimStarter
from tests.sim.support import EXCHANGE_2016, envelope, make_account_at, trusting

SECRET = "cli-client-secret-0815"
PASSWORD = "cli-admin-password-4711"


def test_cli_serves_listed_mailboxes_over_tls_with_oauth2_and_stops_on_sigterm(
    start_sim: SimStarter, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = start_sim(
        "--host", "127.0.0.1", "--port", "0", "--tls",
        "--admin", f"ops:{PASSWORD}",
        "--mailbox", "dora@example.com", "--mailbox", "emil@example.com",
        "--tenant", "acme", "--client-id", "app-1", "--client-secret", SECRET,
    )  # fmt: skip
    endpoint = sim.wait_for("EWS endpoint:")
    token_endpoint = sim.wait_for("Token endpoint:")
    certificate = sim.wait_for("TLS certificate:")
    assert endpoint.startswith("https://127.0.0.1:") and endpoint.endswith("/EWS/Exchange.asmx")
    assert token_endpoint.endswith("/acme/oauth2/v2.0/token")

    monkeypatch.setattr(BaseProtocol, "HTTP_ADAPTER_CLS", trusting(certificate))
    admin_account = make_account_at(endpoint, "emil@example.com", Credentials("ops", PASSWORD))
    assert admin_account.calendar.name == "Calendar"

    session = requests.Session()
    session.trust_env = False
    session.verify = certificate
    app = msal.ConfidentialClientApplication(
        "app-1",
        client_credential=SECRET,
        authority=token_endpoint.removesuffix("/oauth2/v2.0/token"),
        instance_discovery=False,
        http_client=session,
    )
    token = msal_token(app)
    credentials = MsalCredentials(
        app, token, identity=Identity(primary_smtp_address="dora@example.com")
    )
    assert make_account_at(endpoint, "dora@example.com", credentials).tasks.name == "Tasks"

    stdout, stderr = sim.stop_without_violations()

    output = stdout + stderr
    for secret in (SECRET, PASSWORD, token["access_token"]):
        assert secret not in output
    assert "GetFolder" in stderr  # the server did log the requests


def test_cli_without_options_serves_demo_mailboxes(start_sim: SimStarter) -> None:
    sim = start_sim("--port", "0")
    endpoint = sim.wait_for("EWS endpoint:")
    mailboxes = sim.wait_for("Mailboxes:").split(", ")

    account = make_account_at(endpoint, mailboxes[0], Credentials("admin", "demo"))

    assert endpoint.startswith("http://127.0.0.1:")
    assert len(mailboxes) >= 2 and account.calendar.name == "Calendar"
    sim.stop_without_violations()


def test_cli_reports_schema_violations_when_it_stops(start_sim: SimStarter) -> None:
    sim = start_sim("--port", "0")
    endpoint = sim.wait_for("EWS endpoint:")
    mailbox = sim.wait_for("Mailboxes:").split(", ")[0]
    invalid = "<m:GetFolder><m:FolderIds/></m:GetFolder>"  # FolderShape is required

    response = requests.post(
        endpoint,
        data=envelope(invalid),
        auth=("admin", "demo"),
        headers={"X-AnchorMailbox": mailbox},
        timeout=30,
    )
    code, stdout, stderr = sim.stop()

    assert response.status_code == 500 and b"ErrorSchemaValidation" in response.content
    assert code == 0
    assert "Schema violations: 1\n" in stdout
    assert "schema violation: request GetFolder" in stderr


def test_cli_rejects_incomplete_oauth_options() -> None:
    result = subprocess.run(
        [str(EINKLANG), "sim", "--port", "0", "--tenant", "t"],
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode == 2
    assert "--client-secret" in result.stderr


def test_cli_ntlm_lets_a_domain_admin_in_and_refuses_a_password_it_cannot_store(
    start_sim: SimStarter,
) -> None:
    from exchangelib import IMPERSONATION, NTLM, Account, Configuration, FailFast

    sim = start_sim(
        "--port", "0", "--ntlm", "--admin", f"FIRMA\\svc:{PASSWORD}", "--mailbox", "dora@example.com"
    )  # fmt: skip
    endpoint = sim.wait_for("EWS endpoint:")
    config = Configuration(
        service_endpoint=endpoint,
        credentials=Credentials("FIRMA\\svc", PASSWORD),
        auth_type=NTLM,
        version=EXCHANGE_2016,
        retry_policy=FailFast(),
    )
    account = Account(
        "dora@example.com", config=config, autodiscover=False, access_type=IMPERSONATION
    )
    assert account.calendar.name == "Calendar"
    stdout, stderr = sim.stop_without_violations()
    assert PASSWORD not in stdout + stderr

    refused = subprocess.run(
        [str(EINKLANG), "sim", "--ews", "--port", "0", "--ntlm", "--admin", "svc:pass:word"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "':'" in refused.stderr
    assert "pass:word" not in refused.stderr
