"""Reads over Graph: delta rounds, the items they name, lookups by sync id.

Events: `calendarView/delta` in the window of assumption GA1 reports singles, occurrences and
exceptions (never masters, simulator assumption G3); an occurrence or exception names its master
by `seriesMasterId`, and the master is read in full (exceptions and cancelled occurrences). The
occurrence → master pairs seen are remembered per folder, so that an occurrence reported
`@removed` re-reads its master (gone: the series is reported deleted). Assumption GA3: after a
restart the pairs are learnt again from the next rounds; a removed id not known as an occurrence
is reported deleted as it is (the engine ignores ids it does not know).
Tasks: `tasks/delta` of the default To Do list, each task then read with its linkedResources.
Items are read with `$batch` (20 per request).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import quote

from adapters.exchange.graph.client import GraphClient, Request, user_path
from adapters.exchange.graph.items import (
    EXPAND_PROPERTIES,
    SYNC_ID_PROPERTY,
    UTC_PREFER,
)
from engine.errors import NotFound, SideError
from engine.model import ItemKind

EVENT_SELECT: Final = ",".join(
    (
        "subject",
        "body",
        "start",
        "end",
        "isAllDay",
        "location",
        "showAs",
        "sensitivity",
        "isReminderOn",
        "reminderMinutesBeforeStart",
        "originalStartTimeZone",
        "recurrence",
        "attendees",
        "type",
        "seriesMasterId",
        "changeKey",
        "lastModifiedDateTime",
        "cancelledOccurrences",
        "singleValueExtendedProperties",
    )
)
EVENT_EXPAND: Final = f"exceptionOccurrences,{EXPAND_PROPERTIES}"  # one expand, `or` (GA4)


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_path(mailbox: str, event_id: str) -> str:
    return f"{user_path(mailbox)}/events/{quote(event_id, safe='')}"


def event_url(mailbox: str, event_id: str) -> str:
    return f"{event_path(mailbox, event_id)}?$select={EVENT_SELECT}&$expand={EVENT_EXPAND}"


def task_path(mailbox: str, list_id: str, task_id: str = "") -> str:
    base = f"{user_path(mailbox)}/todo/lists/{quote(list_id, safe='')}/tasks"
    return f"{base}/{quote(task_id, safe='')}" if task_id else base


def first_delta(
    mailbox: str, kind: ItemKind, list_id: str, now: datetime, past: int, future: int
) -> str:
    if kind is ItemKind.TASK:
        return f"{task_path(mailbox, list_id)}/delta"
    start, end = now - timedelta(days=past), now + timedelta(days=future)
    return (
        f"{user_path(mailbox)}/calendarView/delta"
        f"?startDateTime={stamp(start)}&endDateTime={stamp(end)}"
    )


def default_list(client: GraphClient, mailbox: str) -> str:
    answer = client.call(mailbox, "GET", f"{user_path(mailbox)}/todo/lists")
    for entry in (answer or {}).get("value", ()):
        if entry.get("wellknownListName") == "defaultList":
            return str(entry["id"])
    raise NotFound(f"the mailbox {mailbox} has no default To Do list")


def delta_page(client: GraphClient, mailbox: str, url: str, page_size: int) -> dict[str, Any]:
    headers = {**UTC_PREFER, "Prefer": f"{UTC_PREFER['Prefer']}, odata.maxpagesize={page_size}"}
    answer = client.call(mailbox, "GET", url, headers=headers)
    return answer if isinstance(answer, dict) else {}


def get_many(
    client: GraphClient, mailbox: str, urls: list[str], headers: dict[str, str]
) -> list[Any]:
    """GET of each url in $batch rounds: the JSON body, or the SideError (NotFound…)."""
    if len(urls) == 1:
        try:
            return [client.call(mailbox, "GET", urls[0], headers=headers)]
        except SideError as error:
            return [error]
    return client.batch(mailbox, [Request("GET", url, headers=dict(headers)) for url in urls])


def find_event(client: GraphClient, mailbox: str, stream_id: str) -> str | None:
    condition = (
        f"singleValueExtendedProperties/Any(ep: ep/id eq '{SYNC_ID_PROPERTY}' "
        f"and ep/value eq '{stream_id}')"
    )
    answer = client.call(
        mailbox,
        "GET",
        f"{user_path(mailbox)}/events",
        params={"$filter": condition, "$select": "id"},
    )
    found = [str(e["id"]) for e in (answer or {}).get("value", ())]
    return found[0] if found else None


def find_task(client: GraphClient, mailbox: str, list_id: str, stream_id: str) -> str | None:
    url: str | None = f"{task_path(mailbox, list_id)}?$expand=linkedResources&$top=100"
    while url:
        answer = client.call(mailbox, "GET", url) or {}
        for task in answer.get("value", ()):
            for resource in task.get("linkedResources") or ():
                if resource.get("externalId") == stream_id:
                    return str(task["id"])
        url = answer.get("@odata.nextLink")
    return None


def task_stream_ids(client: GraphClient, mailbox: str, list_id: str) -> set[str]:
    """The stream ids the list's tasks carry (their linked resources), in one listing."""
    found: set[str] = set()
    url: str | None = f"{task_path(mailbox, list_id)}?$expand=linkedResources&$top=100"
    while url:
        answer = client.call(mailbox, "GET", url) or {}
        for task in answer.get("value", ()):
            found.update(
                str(r["externalId"])
                for r in task.get("linkedResources") or ()
                if r.get("externalId")
            )
        url = answer.get("@odata.nextLink")
    return found
