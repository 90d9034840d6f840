"""Bad input never crashes the Graph simulator: any JSON in any field is an answer below 500,
and whatever it accepts validates against the strict schema (the fixture checks that)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.graph_sim.support import Graph
from tests.graph_sim.test_events import full_event
from tests.sim.support import ALICE

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
EVENT_FIELDS = [*sorted(full_event()), "recurrence", "transactionId", "isAllDay"]
TASK_FIELDS = [
    "title",
    "body",
    "status",
    "importance",
    "dueDateTime",
    "categories",
    "linkedResources",
]
QUICK = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


@QUICK
@given(field=st.sampled_from(EVENT_FIELDS), value=JSON)
def test_r20_any_value_in_any_event_field_is_answered_below_500(
    graph: Graph, field: str, value: Any
) -> None:
    response = graph.post(f"/users/{ALICE}/events", full_event(**{field: value}))
    assert response.status_code in (201, 400), response.text


@QUICK
@given(field=st.sampled_from(TASK_FIELDS), value=JSON)
def test_r20_any_value_in_any_task_field_is_answered_below_500(
    graph: Graph, field: str, value: Any
) -> None:
    lists = graph.ok(graph.get(f"/users/{ALICE}/todo/lists"))["value"]
    response = graph.post(
        f"/users/{ALICE}/todo/lists/{lists[0]['id']}/tasks", {"title": "t", field: value}
    )
    assert response.status_code in (201, 400), response.text


@QUICK
@given(batch=JSON)
def test_r20_any_batch_body_is_answered_below_500(graph: Graph, batch: Any) -> None:
    response = graph.post("/$batch", batch)
    assert response.status_code in (200, 400), response.text


@QUICK
@given(
    entry=st.fixed_dictionaries(
        {
            "id": st.just("1"),
            "method": st.sampled_from(["GET", "POST"]),
            "url": st.text(max_size=20),
        },
        optional={"headers": JSON, "body": JSON, "dependsOn": JSON},
    )
)
def test_r20_any_batch_request_is_answered_below_500(graph: Graph, entry: dict[str, Any]) -> None:
    response = graph.post("/$batch", {"requests": [entry]})
    assert response.status_code in (200, 400), response.text
    if response.status_code == 200:
        assert response.json()["responses"][0]["status"] < 500


def test_r20_a_task_status_or_importance_in_another_case_is_refused_as_the_schema_refuses_it(
    graph: Graph,
) -> None:
    """Found by the fuzz test above: "Completed" was taken although the strict schema (G16)
    allows only the members as Microsoft's metadata spells them."""
    lists = graph.ok(graph.get(f"/users/{ALICE}/todo/lists"))["value"]
    tasks = f"/users/{ALICE}/todo/lists/{lists[0]['id']}/tasks"
    assert graph.post(tasks, {"title": "t", "status": "Completed"}).status_code == 400
    assert graph.post(tasks, {"title": "t", "importance": "High"}).status_code == 400
    done = graph.post(tasks, {"title": "t", "status": "completed", "importance": "high"})
    assert done.status_code == 201, done.text
