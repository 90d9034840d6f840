"""To Do over Graph: the default list is the mailbox's Tasks folder; task CRUD and tasks/delta."""

from __future__ import annotations

from typing import Any

from tests.graph_sim.support import Graph
from tests.sim.support import ALICE

LISTS = f"/users/{ALICE}/todo/lists"


def default_list(graph: Graph) -> str:
    lists = graph.ok(graph.get(LISTS))["value"]
    [default] = [entry for entry in lists if entry["wellknownListName"] == "defaultList"]
    assert default["displayName"] == "Tasks" and default["isOwner"] is True
    assert graph.ok(graph.get(f"{LISTS}/{default['id']}"))["id"] == default["id"]
    return str(default["id"])


def task(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Angebot nachfassen",
        "body": {"contentType": "text", "content": "Kunde 4711"},
        "importance": "high",
        "status": "inProgress",
        "categories": ["ERP"],
        "startDateTime": {"dateTime": "2026-03-09T00:00:00", "timeZone": "W. Europe Standard Time"},
        "dueDateTime": {"dateTime": "2026-03-13T00:00:00", "timeZone": "W. Europe Standard Time"},
        "isReminderOn": True,
        "reminderDateTime": {"dateTime": "2026-03-12T08:00:00", "timeZone": "UTC"},
        "linkedResources": [
            {"applicationName": "einklang", "externalId": "sync-42", "displayName": "Aufgabe 42"}
        ],
    }
    body.update(overrides)
    return body


def test_r20_todo_task_create_get_update_delete_with_every_synced_field(graph: Graph) -> None:
    tasks = f"{LISTS}/{default_list(graph)}/tasks"
    created = graph.ok(graph.post(tasks, task()), 201)
    url = f"{tasks}/{created['id']}"
    got = graph.ok(graph.get(url, params={"$expand": "linkedResources"}))
    assert (got["title"], got["status"], got["importance"]) == (
        "Angebot nachfassen",
        "inProgress",
        "high",
    )
    assert got["body"] == {"content": "Kunde 4711", "contentType": "text"}
    # dates come back in UTC (todotask-update sample)
    assert got["dueDateTime"] == {"dateTime": "2026-03-12T23:00:00.0000000", "timeZone": "UTC"}
    assert got["startDateTime"] == {"dateTime": "2026-03-08T23:00:00.0000000", "timeZone": "UTC"}
    assert got["reminderDateTime"]["dateTime"] == "2026-03-12T08:00:00.0000000"
    assert got["isReminderOn"] is True and got["categories"] == ["ERP"]
    [link] = got["linkedResources"]
    assert link["externalId"] == "sync-42" and link["applicationName"] == "einklang" and link["id"]
    assert "completedDateTime" not in got

    done = graph.ok(
        graph.patch(url, {"status": "completed"}, headers={"If-Match": got["@odata.etag"]})
    )
    assert done["status"] == "completed" and "completedDateTime" in done
    stale = graph.patch(url, {"title": "x"}, headers={"If-Match": got["@odata.etag"]})
    assert stale.status_code == 412
    assert graph.delete(url).status_code == 204
    assert graph.get(url).status_code == 404


def test_r20_todo_tasks_delta_reports_new_changed_and_removed_tasks(graph: Graph) -> None:
    tasks = f"{LISTS}/{default_list(graph)}/tasks"
    first = graph.ok(graph.post(tasks, task(title="eins")), 201)
    second = graph.ok(graph.post(tasks, task(title="zwei")), 201)
    page = graph.ok(graph.get(f"{tasks}/delta", headers={"Prefer": "odata.maxpagesize=1"}))
    titles = [t["title"] for t in page["value"]]
    while "@odata.nextLink" in page:
        page = graph.ok(graph.get(page["@odata.nextLink"]))
        titles += [t["title"] for t in page["value"]]
    assert sorted(titles) == ["eins", "zwei"]
    delta_link = page["@odata.deltaLink"]
    graph.ok(graph.patch(f"{tasks}/{first['id']}", {"title": "eins!"}))
    assert graph.delete(f"{tasks}/{second['id']}").status_code == 204
    changes = graph.ok(graph.get(delta_link))["value"]
    by_id = {entry["id"]: entry for entry in changes}
    assert by_id[first["id"]]["title"] == "eins!"
    assert by_id[second["id"]] == {
        "@odata.type": "#microsoft.graph.todoTask",
        "id": second["id"],
        "@removed": {"reason": "deleted"},
    }


def test_r20_todo_unsupported_and_unknown_properties_are_400(graph: Graph) -> None:
    tasks = f"{LISTS}/{default_list(graph)}/tasks"
    assert graph.post(tasks, task(percentComplete=50)).status_code == 400
    assert graph.post(tasks, task(checklistItems=[])).status_code == 400
    assert graph.get(f"{LISTS}/not-a-list/tasks").status_code == 404


def test_r20_bad_task_bodies_are_400_never_500(graph: Graph) -> None:
    tasks = f"{LISTS}/{default_list(graph)}/tasks"
    bad: list[Any] = [
        [],
        {"title": 5},
        {"body": "text"},
        {"status": "done"},
        {"importance": "urgent"},
        {"isReminderOn": "yes"},
        {"categories": "ERP"},
        {"dueDateTime": "2026-03-10"},
        {"dueDateTime": {"dateTime": "2026-03-10T00:00:00", "timeZone": "Nowhere/City"}},
        {"linkedResources": {"externalId": "x"}},
        {"linkedResources": ["x"]},
    ]
    for body in bad:
        response = graph.post(tasks, body)
        assert response.status_code == 400, (body, response.text)
    assert graph.ok(graph.get(tasks))["value"] == []
