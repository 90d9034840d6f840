"""Series over Graph: the six patterns, occurrences and exceptions, cancelled occurrences."""

from __future__ import annotations

from typing import Any

import pytest

from tests.graph_sim.support import Graph
from tests.sim.support import ALICE

EVENTS = f"/users/{ALICE}/events"
BERLIN = "W. Europe Standard Time"
WINDOW = {"startDateTime": "2026-03-01T00:00:00Z", "endDateTime": "2028-01-01T00:00:00Z"}
BERLIN_VIEW = {"Prefer": f'outlook.timezone="{BERLIN}"'}


def series(pattern: dict[str, Any], count: int, **extra: Any) -> dict[str, Any]:
    return {
        "subject": "Serie",
        "start": {"dateTime": "2026-03-02T09:00:00", "timeZone": BERLIN},
        "end": {"dateTime": "2026-03-02T10:00:00", "timeZone": BERLIN},
        "recurrence": {
            "pattern": pattern,
            "range": {"type": "numbered", "startDate": "2026-03-02", "numberOfOccurrences": count},
        },
        **extra,
    }


def instances(graph: Graph, master_id: str) -> list[dict[str, Any]]:
    page = graph.ok(
        graph.get(f"{EVENTS}/{master_id}/instances", params=WINDOW, headers=BERLIN_VIEW)
    )
    return list(page["value"])


PATTERNS = [
    ({"type": "daily", "interval": 2}, 3, ["2026-03-02", "2026-03-04", "2026-03-06"]),
    (
        {"type": "weekly", "interval": 1, "daysOfWeek": ["monday", "wednesday"],
         "firstDayOfWeek": "monday"},
        4, ["2026-03-02", "2026-03-04", "2026-03-09", "2026-03-11"],
    ),
    ({"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 2}, 3,
     ["2026-03-02", "2026-04-02", "2026-05-02"]),
    ({"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["monday"], "index": "first"}, 3,
     ["2026-03-02", "2026-04-06", "2026-05-04"]),
    ({"type": "absoluteYearly", "interval": 1, "dayOfMonth": 2, "month": 3}, 2,
     ["2026-03-02", "2027-03-02"]),
    ({"type": "relativeYearly", "interval": 1, "daysOfWeek": ["monday"], "index": "first",
      "month": 3}, 2, ["2026-03-02", "2027-03-01"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("pattern", "count", "days"), PATTERNS, ids=[str(p[0]["type"]) for p in PATTERNS]
)
def test_r20_each_recurrence_pattern_expands_to_its_occurrences_at_the_same_wall_time(
    graph: Graph, pattern: dict[str, Any], count: int, days: list[str]
) -> None:
    master = graph.ok(graph.post(EVENTS, series(pattern, count)), 201)
    assert master["type"] == "seriesMaster" and master["seriesMasterId"] is None
    echoed = master["recurrence"]
    assert echoed["pattern"]["type"] == pattern["type"]
    assert echoed["range"]["recurrenceTimeZone"] == BERLIN
    assert echoed["range"]["numberOfOccurrences"] == count
    found = instances(graph, master["id"])
    assert [o["start"]["dateTime"][:10] for o in found] == days
    assert {o["start"]["dateTime"][11:19] for o in found} == {"09:00:00"}  # across DST too
    assert {o["seriesMasterId"] for o in found} == {master["id"]}
    assert {o["type"] for o in found} == {"occurrence"}
    assert all(o["recurrence"] is None and o["iCalUId"] == master["iCalUId"] for o in found)
    view = graph.ok(graph.get(f"/users/{ALICE}/calendarView", params=WINDOW))
    assert master["id"] not in {e["id"] for e in view["value"]}  # masters are not in views


def test_r20_relative_pattern_with_weekdays_and_invalid_ones_are_refused(graph: Graph) -> None:
    weekdays = ["monday", "tuesday", "wednesday", "thursday", "friday"]
    pattern = {"type": "relativeMonthly", "interval": 1, "daysOfWeek": weekdays, "index": "last"}
    master = graph.ok(graph.post(EVENTS, series(pattern, 2)), 201)
    assert sorted(master["recurrence"]["pattern"]["daysOfWeek"]) == sorted(weekdays)
    assert [o["start"]["dateTime"][:10] for o in instances(graph, master["id"])] == [
        "2026-03-31",
        "2026-04-30",
    ]
    odd = {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["monday", "friday"]}
    assert graph.post(EVENTS, series(odd, 2)).status_code == 400


def test_r20_edited_occurrence_becomes_an_exception_and_may_not_cross_its_neighbour(
    graph: Graph,
) -> None:
    master = graph.ok(graph.post(EVENTS, series({"type": "daily", "interval": 1}, 5)), 201)
    second = instances(graph, master["id"])[1]
    moved = graph.ok(
        graph.patch(
            f"{EVENTS}/{second['id']}",
            {"subject": "Ausnahme", "start": {"dateTime": "2026-03-03T14:00:00", "timeZone": BERLIN},
             "end": {"dateTime": "2026-03-03T15:00:00", "timeZone": BERLIN}},
            headers=BERLIN_VIEW,
        )
    )  # fmt: skip
    assert moved["type"] == "exception" and moved["id"] == second["id"]
    assert moved["originalStart"] == "2026-03-03T08:00:00.0000000Z"
    assert moved["start"]["dateTime"] == "2026-03-03T14:00:00.0000000"
    crossing = graph.patch(
        f"{EVENTS}/{second['id']}",
        {"start": {"dateTime": "2026-03-04T09:00:00", "timeZone": BERLIN},
         "end": {"dateTime": "2026-03-04T10:00:00", "timeZone": BERLIN}},
    )  # fmt: skip
    assert crossing.status_code == 400
    assert crossing.json()["error"]["code"] == "ErrorOccurrenceCrossingBoundary"
    expanded = graph.ok(
        graph.get(f"{EVENTS}/{master['id']}", params={"$expand": "exceptionOccurrences"})
    )
    assert [e["subject"] for e in expanded["exceptionOccurrences"]] == ["Ausnahme"]
    no_pattern = graph.patch(f"{EVENTS}/{second['id']}", {"recurrence": None})
    assert no_pattern.status_code == 400


def test_r20_deleted_occurrence_is_listed_in_cancelled_occurrences_and_left_out_of_instances(
    graph: Graph,
) -> None:
    master = graph.ok(graph.post(EVENTS, series({"type": "daily", "interval": 1}, 4)), 201)
    third = instances(graph, master["id"])[2]
    assert graph.delete(f"{EVENTS}/{third['id']}").status_code == 204
    remaining = instances(graph, master["id"])
    assert [o["start"]["dateTime"][:10] for o in remaining] == [
        "2026-03-02",
        "2026-03-03",
        "2026-03-05",
    ]
    selected = graph.ok(
        graph.get(f"{EVENTS}/{master['id']}", params={"$select": "subject,cancelledOccurrences"})
    )
    assert selected["cancelledOccurrences"] == [f"OID.{master['id']}.2026-03-04"]
    assert "cancelledOccurrences" not in graph.ok(graph.get(f"{EVENTS}/{master['id']}"))
    assert graph.get(f"{EVENTS}/{third['id']}").status_code == 404


def test_r20_a_new_pattern_on_the_master_replaces_the_series_and_drops_exceptions(
    graph: Graph,
) -> None:
    master = graph.ok(graph.post(EVENTS, series({"type": "daily", "interval": 1}, 3)), 201)
    first = instances(graph, master["id"])[0]
    graph.ok(graph.patch(f"{EVENTS}/{first['id']}", {"subject": "Ausnahme"}))
    weekly = {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"], "firstDayOfWeek": "sunday"}
    changed = graph.ok(graph.patch(f"{EVENTS}/{master['id']}", series(weekly, 2)))
    assert changed["recurrence"]["pattern"]["type"] == "weekly"
    found = instances(graph, master["id"])
    assert [o["start"]["dateTime"][:10] for o in found] == ["2026-03-02", "2026-03-09"]
    assert {o["type"] for o in found} == {"occurrence"}
