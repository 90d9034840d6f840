"""Graph app-only auth: msal's client-credentials tokens, Bearer on every call, permissions and
the Application Access Policy (R9: a denied mailbox is a user status, not a crash)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx

from sim.clock import ManualClock
from sim.graph.context import CALENDARS_READWRITE, GraphSettings
from sim.graph.ids import user_id
from sim.server import EwsServer
from sim.tls import TlsFiles
from tests.graph_sim.support import Graph, graph_token, msal_app
from tests.sim.support import ADMIN, ALICE, APP, BOB, CAROL

EVENTS = f"/users/{ALICE}/events"


def _error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["message"]
    assert "request-id" in body["error"]["innerError"]
    return str(body["error"]["code"])


def test_r9_msal_token_from_the_simulators_authority_opens_graph(graph: Graph) -> None:
    listed = graph.ok(graph.get(EVENTS))
    assert listed["value"] == []
    assert listed["@odata.context"].endswith("/events")


def test_r9_calls_without_a_bearer_token_are_401_invalid_authentication_token(
    graph: Graph,
) -> None:
    bare = graph.http.get(EVENTS)
    basic = graph.http.get(EVENTS, auth=(ADMIN.username, ADMIN.password))
    forged = graph.http.get(EVENTS, headers={"Authorization": "Bearer not-a-token"})
    for response in (bare, basic, forged):
        assert _error(response, 401) == "InvalidAuthenticationToken"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_r9_tokens_expire_and_msal_gets_a_new_one(
    graph: Graph, graph_server: EwsServer, graph_tls: TlsFiles, clock: ManualClock
) -> None:
    clock.advance(timedelta(minutes=61))
    expired = graph.get(EVENTS)
    assert _error(expired, 401) == "InvalidAuthenticationToken"
    assert "expired" in expired.json()["error"]["message"]
    graph.token = graph_token(msal_app(graph_server, graph_tls.certificate))
    assert graph.get(EVENTS).status_code == 200


def test_r9_wrong_client_secret_gets_no_token(graph_server: EwsServer, graph_tls: TlsFiles) -> None:
    result: dict[str, Any] = msal_app(
        graph_server, graph_tls.certificate, secret="wrong"
    ).acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
    assert "access_token" not in result and result["error"] == "invalid_client"


def test_r9_application_access_policy_denies_one_mailbox_with_403_error_access_denied(
    graph: Graph, graph_settings: GraphSettings
) -> None:
    graph_settings.deny(BOB)
    denied = graph.get(f"/users/{BOB}/calendarView/delta")
    assert _error(denied, 403) == "ErrorAccessDenied"
    assert "AccessPolicy" in denied.json()["error"]["message"]
    assert graph.get(EVENTS).status_code == 200
    graph_settings.allow(BOB)
    assert graph.get(f"/users/{BOB}/events").status_code == 200


def test_r9_missing_app_permission_is_403(graph: Graph, graph_settings: GraphSettings) -> None:
    graph_settings.permissions[APP.client_id] = frozenset({CALENDARS_READWRITE})
    assert graph.get(EVENTS).status_code == 200
    assert _error(graph.get(f"/users/{ALICE}/todo/lists"), 403) == "ErrorAccessDenied"


def test_r9_mailbox_by_address_encoded_address_or_user_id_and_unknown_user_is_404(
    graph: Graph,
) -> None:
    for user in (ALICE, ALICE.upper(), quote(ALICE, safe=""), user_id(ALICE)):
        assert graph.get(f"/users/{user}/events").status_code == 200, user
    assert _error(graph.get("/users/nobody@example.com/events"), 404) == "ErrorInvalidUser"
    assert graph.get(f"/users/{CAROL}/events").status_code == 200


def test_r9_me_means_nothing_in_app_only_calls(graph: Graph) -> None:
    assert _error(graph.get("/me/events"), 400) == "BadRequest"
    assert _error(graph.get(f"/users/{ALICE}/nonsense"), 400) == "BadRequest"
