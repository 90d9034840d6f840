"""To Do over Graph: `/users/{id}/todo/lists`, `/lists/{id}/tasks` CRUD and `/tasks/delta`.

Lists are the mailbox's task folders (the distinguished Tasks folder is `defaultList`), so a
task written over EWS is in the default list and the reverse. Task fields (store ⇄ Graph):
subject ⇄ title; body ⇄ body; status ⇄ status (camelCase); importance; categories;
start_date/due_date/complete_date/reminder_due_by ⇄ startDateTime/dueDateTime/
completedDateTime/reminderDateTime (dateTimeTimeZone; returned in UTC as Graph returns them,
reference §3.6; omitted when unset); reminder_is_set ⇄ isReminderOn.
PercentComplete has no To Do property: it follows the status by the store's (Exchange's) rules —
completed is 100, notStarted 0 — and any other EWS percentage is invisible over Graph
(assumption G14). A task's recurrence, checklist items and attachments are not simulated (400).
`linkedResources` (the To Do way to link a task to the app it came from; assumption G7) are kept
on the task as one string extended property (JSON) and each gets a server id.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from typing import Any

from sim.graph.context import Call, page, store_errors
from sim.graph.delta import tasks_delta
from sim.graph.errors import bad_request, not_found
from sim.graph.events import check_if_match
from sim.graph.ids import ews_id, rest_id
from sim.graph.values import (
    UTC_ZONE,
    boolean,
    dtz,
    enum_in,
    only_keys,
    parse_body,
    parse_dtz,
    text_or_none,
    timestamp,
)
from sim.model import (
    Body,
    DistinguishedFolder,
    ExtendedPropertyKey,
    FolderInfo,
    FolderKind,
    Importance,
    Item,
    TaskFields,
    TaskItem,
    TaskStatus,
)

TASK = "microsoft.graph.todoTask"
TASKS = "microsoft.graph.todoTaskCollectionResponse"
LIST = "microsoft.graph.todoTaskList"
LISTS = "microsoft.graph.todoTaskListCollectionResponse"
LINKS = ExtendedPropertyKey(
    "String",
    property_set_id="8c0e3f0e-4a5b-4c1d-9e2f-1a2b3c4d5e6f",
    property_name="LinkedResources",
)
_STATUS = {
    TaskStatus.NOT_STARTED: "notStarted",
    TaskStatus.IN_PROGRESS: "inProgress",
    TaskStatus.COMPLETED: "completed",
    TaskStatus.WAITING_ON_OTHERS: "waitingOnOthers",
    TaskStatus.DEFERRED: "deferred",
}
_DATES = {
    "startDateTime": "start_date",
    "dueDateTime": "due_date",
    "completedDateTime": "complete_date",
    "reminderDateTime": "reminder_due_by",
}
_READ_ONLY = frozenset(
    {"id", "createdDateTime", "lastModifiedDateTime", "bodyLastModifiedDateTime", "hasAttachments"}
)
_UNSUPPORTED = frozenset({"recurrence", "checklistItems", "attachments", "extensions"})


def exact_enum(value: Any, allowed: list[str], field: str) -> str:
    if isinstance(value, str) and value in allowed:
        return value
    return enum_in(None, allowed, field)  # the documented error for a value not allowed


def _list_json(folder: FolderInfo) -> dict[str, Any]:
    default = folder.distinguished is DistinguishedFolder.TASKS
    return {
        "@odata.etag": f'W/"{folder.change_key}"',
        "id": rest_id(folder.folder_id),
        "displayName": folder.display_name,
        "isOwner": True,
        "isShared": False,
        "wellknownListName": "defaultList" if default else "none",
    }


def _lists(call: Call) -> list[FolderInfo]:
    with store_errors():
        return [f for f in call.store.folders(call.mailbox) if f.kind is FolderKind.TASKS]


def _folder(call: Call, list_id: str) -> FolderInfo:
    for folder in _lists(call):
        if folder.folder_id == ews_id(list_id):
            return folder
    raise not_found("The specified object was not found in the store.")


def _links(task: TaskItem) -> list[dict[str, Any]]:
    raw = task.extended_properties.get(LINKS)
    return json.loads(raw) if isinstance(raw, str) else []


def task_json(call: Call, task: TaskItem) -> dict[str, Any]:
    fields = task.fields
    body = fields.body or Body("")
    out: dict[str, Any] = {
        "@odata.etag": f'W/"{task.change_key}"',
        "id": rest_id(task.item_id),
        "importance": fields.importance.value.lower(),
        "isReminderOn": fields.reminder_is_set,
        "status": _STATUS[fields.status],
        "title": fields.subject,
        "createdDateTime": timestamp(task.created),
        "lastModifiedDateTime": timestamp(task.last_modified),
        "bodyLastModifiedDateTime": timestamp(task.last_modified),
        "hasAttachments": False,
        "categories": list(fields.categories),
        "body": {"content": body.text, "contentType": body.body_type.value.lower()},
    }
    for name, field in _DATES.items():
        value = getattr(fields, field)
        if value is not None:
            out[name] = dtz(value, UTC_ZONE)
    if "linkedresources" in (call.request.query.get("$expand") or "").lower():
        out["linkedResources"] = _links(task)
    return out


def _changes(body: Any, current: TaskItem | None) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.", "RequestBodyRead")
    changes: dict[str, Any] = {}
    for name, value in body.items():
        if name.startswith("@") or name in _READ_ONLY:
            continue
        if name in _UNSUPPORTED:
            raise bad_request(f"The simulator does not support '{name}' on tasks.")
        if name == "title":
            changes["subject"] = text_or_none(value, name) or ""
        elif name == "body":
            changes["body"] = parse_body(value, name)
        elif name == "status":
            # Spelt exactly as the schema has it (G16): "Completed" is refused, as the strict
            # schema refuses it.
            shown = exact_enum(value, list(_STATUS.values()), name)
            changes["status"] = next(k for k, v in _STATUS.items() if v == shown)
        elif name == "importance":
            shown = exact_enum(value, [i.value.lower() for i in Importance], name)
            changes["importance"] = Importance(enum_in(shown, [i.value for i in Importance], name))
        elif name == "isReminderOn":
            changes["reminder_is_set"] = boolean(value, name)
        elif name == "categories":
            if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
                raise bad_request("categories must be a list of strings.")
            changes["categories"] = tuple(value)
        elif name in _DATES:
            changes[_DATES[name]] = None if value is None else parse_dtz(value, name)[0]
        elif name == "linkedResources":
            changes["extended_properties"] = _with_links(current, value)
        else:
            raise bad_request(
                f"The property '{name}' does not exist on type 'microsoft.graph.todoTask'.",
                "RequestBodyRead",
            )
    return changes


def _with_links(current: TaskItem | None, value: Any) -> dict[ExtendedPropertyKey, Any]:
    if not isinstance(value, list):
        raise bad_request("linkedResources must be a list.")
    links = []
    for entry in value:
        allowed = ("id", "applicationName", "displayName", "externalId", "webUrl")
        only_keys(entry, allowed, "linkedResource")
        link = {k: text_or_none(entry[k], k) for k in allowed if k in entry}
        link["id"] = link.get("id") or str(uuid.uuid4())
        links.append(link)
    properties = dict(current.extended_properties) if current else {}
    properties[LINKS] = json.dumps(links)
    return properties


def _task(call: Call, folder: FolderInfo, task_id: str) -> TaskItem:
    with store_errors():
        item: Item = call.store.get_item(ews_id(task_id))
    if not isinstance(item, TaskItem) or item.folder_id != folder.folder_id:
        raise not_found()
    return item


def list_lists(call: Call) -> Any:
    value = [_list_json(f) for f in _lists(call)]
    return call.answer(200, {"@odata.context": call.context("todo/lists"), "value": value}, LISTS)


def get_list(call: Call, list_id: str) -> Any:
    return call.answer(200, _list_json(_folder(call, list_id)), LIST)


def list_tasks(call: Call, list_id: str) -> Any:
    folder = _folder(call, list_id)
    with store_errors():
        tasks = [t for t in call.store.list_items(call.mailbox, folder.folder_id)]
    ordered = sorted((t for t in tasks if isinstance(t, TaskItem)), key=lambda t: t.created)
    chunk, next_link = page(call, ordered)
    body: dict[str, Any] = {
        "@odata.context": call.context(f"todo/lists('{list_id}')/tasks"),
        "value": [task_json(call, t) for t in chunk],
    }
    if next_link:
        body["@odata.nextLink"] = next_link
    return call.answer(200, body, TASKS)


def create_task(call: Call, list_id: str) -> Any:
    folder = _folder(call, list_id)
    changes = _changes(call.request.body, None)
    with store_errors():
        task = call.store.create_task(call.mailbox, TaskFields(**changes), folder=folder.folder_id)
    call.accepted(TASK, call.request.body)
    return call.answer(201, task_json(call, task), TASK)


def get_task(call: Call, list_id: str, task_id: str) -> Any:
    return call.answer(200, task_json(call, _task(call, _folder(call, list_id), task_id)), TASK)


def update_task(call: Call, list_id: str, task_id: str) -> Any:
    current = _task(call, _folder(call, list_id), task_id)
    check_if_match(call, current.change_key)
    changes = _changes(call.request.body, current)
    dataclasses.replace(current.fields, **changes)  # field checks before writing
    with store_errors():
        updated = call.store.update_item(current.item_id, changes)
    assert isinstance(updated, TaskItem)
    call.accepted(TASK, call.request.body)
    return call.answer(200, task_json(call, updated), TASK)


def delete_task(call: Call, list_id: str, task_id: str) -> Any:
    current = _task(call, _folder(call, list_id), task_id)
    check_if_match(call, current.change_key)
    with store_errors():
        call.store.delete_item(current.item_id)
    return call.answer(204)


def delta(call: Call, list_id: str) -> Any:
    folder = _folder(call, list_id)

    def render(call: Call, item: Item) -> dict[str, Any]:
        assert isinstance(item, TaskItem)
        return task_json(call, item)

    return tasks_delta(call, list_id, folder.folder_id, render)
