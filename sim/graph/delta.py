"""calendarView/delta and To Do tasks/delta: rounds of changes behind opaque state tokens.

A round starts at the initial request (window in `startDateTime`/`endDateTime`, baked into the
chain: later requests carry only `$skiptoken`/`$deltatoken`, reference §3.3) or at a deltaLink.
Its changes are computed once, at its first page, by comparing what the client knew after the
previous round with the mailbox now; they are sent in pages of `Prefer: odata.maxpagesize`
(`@odata.nextLink` with `$skiptoken`), the last page carrying `@odata.deltaLink` (`$deltatoken`).
An entry is rendered when its page is sent (an item gone by then comes as @removed: replays and
duplicates are allowed, delta-query-overview.md).

calendarView/delta reports singles, occurrences and exceptions overlapping the window (never
masters): new or changed ones in full (occurrences as stubs: id, seriesMasterId, type, start,
end — observed behaviour, `GraphSettings.occurrence_stubs`), gone ones as
`{"id", "@removed": {"reason": "deleted"}}`. An occurrence changes when its series does (its
changeKey is the series'), so a pattern change reports every old occurrence removed and every
new one added, and a cancelled occurrence comes as @removed (assumption G3). Items outside the
window that were added, changed or deleted since the last round come as @removed too
(event-delta.md; `GraphSettings.report_outside_window`): clients must ignore ids they do not know.
Expired tokens: 410 syncStateNotFound (see `sim.graph.state`, assumption G8).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sim.graph.context import Call, prefer, store_errors
from sim.graph.errors import GraphError
from sim.graph.eventjson import View, event_json
from sim.graph.events import _window, view_for
from sim.graph.ids import ews_id, rest_id
from sim.graph.state import Chain, Position
from sim.model import CalendarItem, CalendarItemType, Item

EVENT_DELTA = "microsoft.graph.event.deltaResponse"
TASK_DELTA = "microsoft.graph.todoTask.deltaResponse"
Entries = dict[str, str]
# Stored items with an entry in the window are reported through their entries only.
IN_WINDOW = "in-window"
Snapshot = Callable[[Call, Chain], tuple[Entries, Entries]]
Render = Callable[[Call, Item | None, str], dict[str, Any]]


def _window_snapshot(call: Call, chain: Chain) -> tuple[Entries, Entries]:
    start = datetime.fromisoformat(chain.params["start"])
    end = datetime.fromisoformat(chain.params["end"])
    with store_errors():
        shown = call.store.calendar_view(call.mailbox, start, end)
        stored = call.store.list_items(call.mailbox, "calendar")
    entries = {
        rest_id(item.item_id): f"{item.change_key}|{item.start.isoformat()}|{item.end.isoformat()}"
        for item in shown
    }
    in_window = {item.master_id or item.item_id for item in shown}
    items = {
        rest_id(item.item_id): IN_WINDOW if item.item_id in in_window else item.change_key
        for item in stored
    }
    return entries, items


def _changes(
    known: Entries | None, known_items: Entries | None, now: Entries, items: Entries, outside: bool
) -> list[tuple[str, bool]]:
    if known is None:
        return [(key, False) for key in now]
    changes = [(key, False) for key, version in now.items() if known.get(key) != version]
    changes += [(key, True) for key in known if key not in now]
    if outside and known_items is not None:
        reported = set(now) | set(known)
        moved = {k for k, v in items.items() if v != IN_WINDOW and known_items.get(k) != v}
        moved |= {k for k in known_items if k not in items}  # deleted from the mailbox
        changes += [(key, True) for key in sorted(moved - reported)]
    return changes


def _serve(
    call: Call,
    position: Position | None,
    chain: Chain,
    snapshot: Snapshot,
    render: Render,
    schema: str,
) -> Any:
    state = call.state
    if position is None or position.final:
        entries, items = snapshot(call, chain)
        known = position.known if position else None
        known_items = position.known_items if position else None
        outside = chain.kind == "calendarView" and call.settings.report_outside_window
        pending = _changes(known, known_items, entries, items, outside)
    else:
        pending, entries, items = position.pending, position.known or {}, position.known_items or {}
    size = call.page_size()
    chunk, rest = pending[:size], pending[size:]
    with state.lock:
        token = state.delta.issue(chain, rest, entries, items, final=not rest)
    base = call.url(call.request.path, {})
    value = [render(call, None if removed else _load(call, key), key) for key, removed in chunk]
    body: dict[str, Any] = {"@odata.context": call.context("events/delta()"), "value": value}
    if rest:
        body["@odata.nextLink"] = f"{base}?$skiptoken={token}"
    else:
        body["@odata.deltaLink"] = f"{base}?$deltatoken={token}"
    if "odata.track-changes" in prefer(call.request.headers):
        call.applied.append("odata.track-changes")
    return call.answer(200, body, schema)


def _load(call: Call, key: str) -> Item | None:
    try:
        item = call.store.get_item(ews_id(key))
    except Exception:
        return None
    return item if item.mailbox.lower() == call.mailbox.lower() else None


def _resume(call: Call, kind: str, fresh: Callable[[Position | None], str]) -> Position | None:
    query = call.request.query
    token = query.get("$deltatoken") or query.get("$skiptoken") or query.get("$deltaToken")
    if token is None:
        return None
    with call.state.lock:
        known = call.state.delta.peek(token)
        return call.state.delta.resume(token, call.mailbox, kind, fresh(known))


def calendar_view_delta(call: Call) -> Any:
    view = view_for(call)
    zone_view = View(zone=view.zone, properties=view.properties)
    stubs = call.settings.occurrence_stubs

    def fresh(position: Position | None) -> str:
        params = {}
        if position is not None:
            params = {
                "startDateTime": position.chain.params["start"],
                "endDateTime": position.chain.params["end"],
            }
        return call.url(call.request.path, {**params, "$deltatoken": ""})

    def render(call: Call, item: Item | None, key: str) -> dict[str, Any]:
        if not isinstance(item, CalendarItem):
            return _removed("#microsoft.graph.event", key)
        stub = stubs and item.item_type is CalendarItemType.OCCURRENCE
        return event_json(item, zone_view, stub=stub)

    position = _resume(call, "calendarView", fresh)
    if position is None:
        start, end = _window(call)
        with call.state.lock:
            chain = call.state.delta.new_chain(
                call.mailbox, "calendarView", {"start": start.isoformat(), "end": end.isoformat()}
            )
    else:
        chain = position.chain
    return _serve(call, position, chain, _window_snapshot, render, EVENT_DELTA)


def tasks_delta(
    call: Call, list_id: str, folder_id: str, render_task: Callable[[Call, Item], dict[str, Any]]
) -> Any:
    def snapshot(call: Call, chain: Chain) -> tuple[Entries, Entries]:
        with store_errors():
            tasks = call.store.list_items(call.mailbox, folder_id)
        entries = {rest_id(task.item_id): task.change_key for task in tasks}
        return entries, {}

    def render(call: Call, item: Item | None, key: str) -> dict[str, Any]:
        if item is None or isinstance(item, CalendarItem) or item.folder_id != folder_id:
            return _removed("#microsoft.graph.todoTask", key)
        return render_task(call, item)

    def fresh(position: Position | None) -> str:
        return call.url(call.request.path, {"$deltatoken": ""})

    position = _resume(call, "todoTasks", fresh)
    if position is not None and position.chain.params.get("list") != list_id:
        raise GraphError(
            410,
            "syncStateNotFound",
            "The sync state belongs to another list.",
            headers={"Location": fresh(None)},
        )
    if position is None:
        with call.state.lock:
            chain = call.state.delta.new_chain(call.mailbox, "todoTasks", {"list": list_id})
    else:
        chain = position.chain
    return _serve(call, position, chain, snapshot, render, TASK_DELTA)


def _removed(odata_type: str, key: str) -> dict[str, Any]:
    return {"@odata.type": odata_type, "id": key, "@removed": {"reason": "deleted"}}
