"""calendarView/delta: paging with nextLink, deltaLink rounds, @removed, occurrence stubs, the
window fixed in the token, and expired tokens (410 syncStateNotFound)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from sim.clock import ManualClock
from sim.graph.context import GraphSettings
from sim.server import EwsServer
from sim.tls import TlsFiles
from tests.graph_sim.support import Graph, graph_token, msal_app
from tests.sim.support import ALICE, BOB

EVENTS = f"/users/{ALICE}/events"
DELTA = f"/users/{ALICE}/calendarView/delta"
WINDOW = {"startDateTime": "2026-03-01T00:00:00Z", "endDateTime": "2026-04-01T00:00:00Z"}


def event(day: int, subject: str = "Termin", month: int = 3) -> dict[str, Any]:
    return {
        "subject": subject,
        "start": {"dateTime": f"2026-{month:02d}-{day:02d}T09:00:00", "timeZone": "UTC"},
        "end": {"dateTime": f"2026-{month:02d}-{day:02d}T10:00:00", "timeZone": "UTC"},
    }


def round_of(
    graph: Graph, first: str, page_size: int = 100, **kwargs: Any
) -> tuple[list[dict[str, Any]], str, int]:
    """Every entry of one round, the deltaLink that ends it, and the number of pages."""
    headers = {"Prefer": f"odata.maxpagesize={page_size}"}
    entries: list[dict[str, Any]] = []
    url, pages = first, 0
    while True:
        page = graph.ok(graph.get(url, headers=headers, **kwargs))
        kwargs = {}
        pages += 1
        entries += page["value"]
        if "@odata.deltaLink" in page:
            assert "@odata.nextLink" not in page
            return entries, page["@odata.deltaLink"], pages
        url = page["@odata.nextLink"]


def initial(graph: Graph, page_size: int = 100) -> tuple[list[dict[str, Any]], str, int]:
    return round_of(graph, DELTA, page_size, params=WINDOW)


def test_r20_delta_pages_with_maxpagesize_and_ends_with_a_delta_link(graph: Graph) -> None:
    for day in range(2, 9):
        graph.ok(graph.post(EVENTS, event(day, f"T{day}")), 201)
    entries, delta_link, pages = initial(graph, page_size=3)
    assert pages == 3 and sorted(e["subject"] for e in entries) == [f"T{d}" for d in range(2, 9)]
    assert "$deltatoken=" in delta_link and "startDateTime" not in delta_link
    quiet, _, _ = round_of(graph, delta_link)
    assert quiet == []


def test_r20_delta_reports_updates_and_deletions_as_removed(graph: Graph) -> None:
    kept = graph.ok(graph.post(EVENTS, event(3, "bleibt")), 201)
    dropped = graph.ok(graph.post(EVENTS, event(4, "geht")), 201)
    _, delta_link, _ = initial(graph)
    graph.ok(graph.patch(f"{EVENTS}/{kept['id']}", {"subject": "geändert"}))
    assert graph.delete(f"{EVENTS}/{dropped['id']}").status_code == 204
    added = graph.ok(graph.post(EVENTS, event(5, "neu")), 201)
    entries, _, _ = round_of(graph, delta_link)
    by_id = {e["id"]: e for e in entries}
    assert by_id[kept["id"]]["subject"] == "geändert"
    assert by_id[dropped["id"]]["@removed"] == {"reason": "deleted"}
    assert by_id[added["id"]]["subject"] == "neu"
    assert len(entries) == 3


def test_r20_delta_reports_changes_outside_the_window_as_removed(
    graph: Graph, graph_settings: GraphSettings
) -> None:
    _, delta_link, _ = initial(graph)
    outside = graph.ok(graph.post(EVENTS, event(10, "Mai", month=5)), 201)
    entries, delta_link, _ = round_of(graph, delta_link)
    assert entries == [
        {
            "@odata.type": "#microsoft.graph.event",
            "id": outside["id"],
            "@removed": {"reason": "deleted"},
        }
    ]
    graph_settings.report_outside_window = False
    graph.ok(graph.patch(f"{EVENTS}/{outside['id']}", {"subject": "Juni"}))
    assert round_of(graph, delta_link)[0] == []


def test_r20_delta_occurrences_are_stubs_and_a_cancelled_one_comes_as_removed(
    graph: Graph,
) -> None:
    body = event(2, "Serie") | {
        "recurrence": {
            "pattern": {"type": "daily", "interval": 1},
            "range": {"type": "numbered", "startDate": "2026-03-02", "numberOfOccurrences": 3},
        }
    }
    master = graph.ok(graph.post(EVENTS, body), 201)
    entries, delta_link, _ = initial(graph)
    assert len(entries) == 3 and master["id"] not in {e["id"] for e in entries}
    assert set(entries[0]) == {
        "@odata.type",
        "@odata.etag",
        "id",
        "seriesMasterId",
        "type",
        "start",
        "end",
    }
    assert {e["seriesMasterId"] for e in entries} == {master["id"]}
    cancelled = entries[1]["id"]
    assert graph.delete(f"{EVENTS}/{cancelled}").status_code == 204
    changed, _, _ = round_of(graph, delta_link)
    removed = [e["id"] for e in changed if "@removed" in e]
    assert removed == [cancelled]
    # the series' changeKey moved on, so its other occurrences come again (replays are allowed)
    assert {e["id"] for e in changed if "@removed" not in e} == {entries[0]["id"], entries[2]["id"]}


def test_r20_delta_needs_a_window_and_so_do_calendar_view_and_instances(graph: Graph) -> None:
    master = graph.ok(graph.post(EVENTS, event(2)), 201)
    for url in (DELTA, f"/users/{ALICE}/calendarView", f"{EVENTS}/{master['id']}/instances"):
        response = graph.get(url, params={"startDateTime": "2026-03-01T00:00:00Z"})
        assert response.status_code == 400, url
        assert response.json()["error"]["code"] == "ErrorInvalidParameter"


@pytest.mark.parametrize("segment", ["delta", "delta()", "microsoft.graph.delta()"])
def test_r20_delta_answers_under_all_three_names(graph: Graph, segment: str) -> None:
    graph.ok(graph.post(EVENTS, event(2)), 201)
    page = graph.ok(graph.get(f"/users/{ALICE}/calendarView/{segment}", params=WINDOW))
    assert len(page["value"]) == 1 and "@odata.deltaLink" in page


def test_r20_expired_delta_token_is_410_sync_state_not_found_with_a_fresh_location(
    graph: Graph, graph_server: EwsServer
) -> None:
    graph.ok(graph.post(EVENTS, event(2)), 201)
    _, delta_link, _ = initial(graph)
    assert graph_server.graph is not None
    graph_server.graph.expire_delta_tokens(ALICE)
    gone = graph.get(delta_link)
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "syncStateNotFound"
    fresh = gone.headers["Location"]
    assert "startDateTime=2026-03-01" in fresh and "$deltatoken=" in fresh.replace("%24", "$")
    entries, _, _ = round_of(graph, fresh)  # a full pass again: everything, once
    assert len(entries) == 1


def test_r20_an_older_next_link_dies_once_the_chain_has_moved_on(
    graph: Graph, graph_settings: GraphSettings
) -> None:
    for day in range(2, 8):
        graph.ok(graph.post(EVENTS, event(day)), 201)
    headers = {"Prefer": "odata.maxpagesize=1"}
    first = graph.ok(graph.get(DELTA, params=WINDOW, headers=headers))["@odata.nextLink"]
    link = first
    for _ in range(graph_settings.delta_generations):
        link = graph.ok(graph.get(link, headers=headers))["@odata.nextLink"]
    assert graph.get(first, headers=headers).status_code == 410
    assert graph.get(link, headers=headers).status_code == 200


def test_r20_delta_tokens_age_out_and_belong_to_their_mailbox(
    graph: Graph,
    graph_settings: GraphSettings,
    clock: ManualClock,
    graph_server: EwsServer,
    graph_tls: TlsFiles,
) -> None:
    _, delta_link, _ = initial(graph)
    other = delta_link.replace(ALICE, BOB)
    assert graph.get(other).status_code == 410
    graph_settings.delta_max_age = timedelta(days=7)
    clock.advance(timedelta(days=8))
    graph.token = graph_token(msal_app(graph_server, graph_tls.certificate))  # same clock
    assert graph.get(delta_link).status_code == 410


def test_r20_the_token_cache_keeps_the_newest_chains_per_mailbox(
    graph: Graph, graph_settings: GraphSettings
) -> None:
    graph_settings.delta_chains_per_mailbox = 2
    oldest = initial(graph)[1]
    newer = [initial(graph)[1] for _ in range(2)]
    assert graph.get(oldest).status_code == 410
    assert all(graph.get(link).status_code == 200 for link in newer)
