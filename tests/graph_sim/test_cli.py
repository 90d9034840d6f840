"""`einklang sim` serves EWS and Graph on one port by default; `--ews`/`--graph` choose one."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Iterator

import httpx
import msal
import pytest
import requests

from tests.graph_sim.support import GRAPH_SCOPES
from tests.sim.sim_process import EINKLANG, SimStarter, sim_processes

SECRET = "graph-cli-secret-4242"


@pytest.fixture
def start_sim() -> Iterator[SimStarter]:
    yield from sim_processes()


def test_r20_sim_serves_both_protocols_on_one_port_and_prints_both_endpoints(
    start_sim: SimStarter,
) -> None:
    sim = start_sim(
        "--port", "0", "--tls", "--mailbox", "dora@example.com",
        "--tenant", "acme", "--client-id", "app-1", "--client-secret", SECRET,
        python_m=True,
    )  # fmt: skip
    ews = sim.wait_for("EWS endpoint:")
    graph = sim.wait_for("Graph endpoint:")
    token_endpoint = sim.wait_for("Token endpoint:")
    certificate = sim.wait_for("TLS certificate:")
    assert graph == ews.replace("/EWS/Exchange.asmx", "/v1.0")
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
    token = app.acquire_token_for_client(scopes=GRAPH_SCOPES)["access_token"]
    context = ssl.create_default_context(cafile=certificate)
    with httpx.Client(verify=context, trust_env=False) as client:
        answer = client.get(
            f"{graph}/users/dora@example.com/todo/lists",
            headers={"Authorization": f"Bearer {token}"},
        )
    assert answer.status_code == 200
    assert answer.json()["value"][0]["wellknownListName"] == "defaultList"
    stdout, stderr = sim.stop_without_violations()
    for secret in (SECRET, token):
        assert secret not in stdout + stderr


@pytest.mark.parametrize(("flag", "shown", "hidden", "refused"), [
    ("--graph", "Graph endpoint:", "EWS endpoint:", "/EWS/Exchange.asmx"),
    ("--ews", "EWS endpoint:", "Graph endpoint:", "/v1.0/users/anna.schmidt@example.com/events"),
])  # fmt: skip
def test_r20_sim_serves_one_protocol_when_told(
    start_sim: SimStarter, flag: str, shown: str, hidden: str, refused: str
) -> None:
    sim = start_sim("--port", "0", flag, python_m=True)
    url = sim.wait_for(shown)
    sim.wait_for("Mailboxes:")
    assert not any(line.startswith(hidden) for line in sim.seen)
    base = url.split("/EWS/")[0].removesuffix("/v1.0")
    assert httpx.post(f"{base}{refused}", content=b"{}", trust_env=False).status_code == 404
    sim.stop_without_violations()


def test_r20_sim_refuses_ews_and_graph_only_together() -> None:
    done = subprocess.run(
        [str(EINKLANG), "sim", "--ews", "--graph"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "not allowed with argument" in done.stderr
