"""`/users/{id}/events`: list, create, get, update, delete; `/events/{id}/instances`; calendarView.

- GET /events: single instances and series masters (Calendar.yml), with `$filter` on a
  single-value extended property, `$expand` of named ones, `$select`, `$top`/`$skip` paging.
- POST /events → 201; PATCH /events/{id} → 200 (a master changes the whole series; an
  occurrence becomes an exception; moving one across a neighbour is 400
  ErrorOccurrenceCrossingBoundary); DELETE → 204 (an occurrence id cancels that occurrence).
- `If-Match` on PATCH and DELETE is enforced: a changeKey other than the item's current one is
  412 ErrorIrresolvableConflict (assumption G4); `*` matches any.
- GET /events/{id}: `$select=cancelledOccurrences` lists a master's cancelled occurrences;
  `$expand=exceptionOccurrences` its exceptions.
- /instances and /calendarView need startDateTime and endDateTime (400 otherwise, assumption
  G6): occurrences, exceptions and single instances that overlap the window, never masters nor
  cancelled occurrences.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sim.graph import extended
from sim.graph.context import Call, page, store_errors
from sim.graph.errors import GraphError, bad_request, not_found
from sim.graph.eventjson import View, changes_from, check_all_day, event_json
from sim.graph.ids import change_key_of_etag, ews_id, rest_id
from sim.graph.values import window_bound
from sim.model import CalendarFields, CalendarItem, CalendarItemType

EVENT = "microsoft.graph.event"
EVENTS = "microsoft.graph.eventCollectionResponse"


def view_for(call: Call, *, by_id: bool = False) -> View:
    query = call.request.query
    select = query.get("$select")
    selected = frozenset(s.strip() for s in select.split(",")) if select else None
    expand = query.get("$expand")
    return View(
        zone=call.output_zone(),
        properties=extended.parse_expand(expand),
        select=selected,
        cancelled=by_id and selected is not None and "cancelledOccurrences" in selected,
    )


def render(call: Call, item: CalendarItem, view: View) -> dict[str, Any]:
    with call.state.lock:
        transaction = call.state.transaction_of.get(item.item_id)
    return event_json(item, dataclasses.replace(view, transaction_id=transaction))


def load(call: Call, graph_id: str) -> CalendarItem:
    """The mailbox's calendar item (or occurrence) with this Graph id; 404 for anything else."""
    with store_errors():
        item = call.store.get_item(ews_id(graph_id))
    if not isinstance(item, CalendarItem) or item.mailbox.lower() != call.mailbox.lower():
        raise not_found()
    return item


def check_if_match(call: Call, change_key: str) -> None:
    wanted = call.request.headers.get("if-match")
    if wanted is None or wanted.strip() == "*":
        return
    if change_key_of_etag(wanted) != change_key:
        raise GraphError(
            412,
            "ErrorIrresolvableConflict",
            "The send or update operation could not be performed because the change key passed "
            "in the request does not match the current change key for the item.",
        )


def list_events(call: Call) -> Any:
    view = view_for(call)
    with store_errors():
        items = [
            item
            for item in call.store.list_items(call.mailbox, "calendar")
            if isinstance(item, CalendarItem)
        ]
    wanted = call.request.query.get("$filter")
    if wanted:
        key, value = extended.parse_filter(wanted)
        items = [
            item
            for item in items
            if (found := extended.find(item.extended_properties, key)) and found[1] == value
        ]
    items.sort(key=lambda item: (item.created, item.item_id))
    chunk, next_link = page(call, items)
    body: dict[str, Any] = {
        "@odata.context": call.context("events"),
        "value": [render(call, item, view) for item in chunk],
    }
    if next_link:
        body["@odata.nextLink"] = next_link
    return call.answer(200, body, EVENTS)


def get_event(call: Call, event_id: str) -> Any:
    item = load(call, event_id)
    view = view_for(call, by_id=True)
    body = render(call, item, view)
    expand = (call.request.query.get("$expand") or "").lower()
    if "exceptionoccurrences" in expand and item.item_type is CalendarItemType.RECURRING_MASTER:
        plain = dataclasses.replace(view, select=None, cancelled=False)
        body["exceptionOccurrences"] = [
            render(call, call.store.get_calendar_item(info.item_id), plain)
            for info in item.modified_occurrences
        ]
    return call.answer(200, body, EVENT)


def create_event(call: Call) -> Any:
    changes = changes_from(call.request.body, creating=True)
    recurrence = changes.pop("recurrence", None)
    transaction = changes.pop("transaction_id", None)
    with call.state.lock:
        if transaction is not None:
            existing = call.state.transactions.get((call.mailbox.lower(), transaction))
            if existing is not None:
                try:
                    return call.answer(
                        201, render(call, load(call, rest_id(existing)), view_for(call)), EVENT
                    )
                except GraphError:
                    pass  # the earlier event is gone: create anew
        fields = CalendarFields(**changes)
        check_all_day(fields)
        with store_errors():
            item = call.store.create_calendar_item(call.mailbox, fields, recurrence)
        if transaction is not None:
            call.state.transactions[(call.mailbox.lower(), transaction)] = item.item_id
            call.state.transaction_of[item.item_id] = transaction
    call.accepted(EVENT, call.request.body)
    return call.answer(201, render(call, item, view_for(call)), EVENT)


def update_event(call: Call, event_id: str) -> Any:
    current = load(call, event_id)
    check_if_match(call, current.change_key)
    changes = changes_from(call.request.body, creating=False, current=current)
    changes.pop("transaction_id", None)  # immutable after create (event.md)
    if "recurrence" in changes and current.item_type in (
        CalendarItemType.OCCURRENCE,
        CalendarItemType.EXCEPTION,
    ):
        raise bad_request("The recurrence of an occurrence cannot be set.")
    field_changes = {k: v for k, v in changes.items() if k != "recurrence"}
    check_all_day(dataclasses.replace(current.fields, **field_changes))
    with store_errors():
        updated = call.store.update_item(ews_id(event_id), changes)
    assert isinstance(updated, CalendarItem)
    call.accepted(EVENT, call.request.body)
    return call.answer(200, render(call, updated, view_for(call)), EVENT)


def delete_event(call: Call, event_id: str) -> Any:
    current = load(call, event_id)
    check_if_match(call, current.change_key)
    with store_errors():
        call.store.delete_item(ews_id(event_id))
    return call.answer(204)


def _window(call: Call) -> tuple[Any, Any]:
    query = call.request.query
    start = window_bound(query.get("startDateTime"), "startDateTime")
    end = window_bound(query.get("endDateTime"), "endDateTime")
    if end < start:
        raise bad_request("endDateTime must not be before startDateTime.", "ErrorInvalidParameter")
    return start, end


def calendar_view(call: Call) -> Any:
    start, end = _window(call)
    view = view_for(call)
    with store_errors():
        items = call.store.calendar_view(call.mailbox, start, end)
    chunk, next_link = page(call, items)
    body: dict[str, Any] = {
        "@odata.context": call.context("calendarView"),
        "value": [render(call, item, view) for item in chunk],
    }
    if next_link:
        body["@odata.nextLink"] = next_link
    return call.answer(200, body, EVENTS)


def instances(call: Call, event_id: str) -> Any:
    master = load(call, event_id)
    start, end = _window(call)
    view = view_for(call)
    with store_errors():
        items = [
            item
            for item in call.store.calendar_view(call.mailbox, start, end)
            if item.master_id == master.item_id
        ]
    chunk, next_link = page(call, items)
    body: dict[str, Any] = {
        "@odata.context": call.context(f"events('{event_id}')/instances"),
        "value": [render(call, item, view) for item in chunk],
    }
    if next_link:
        body["@odata.nextLink"] = next_link
    return call.answer(200, body, EVENTS)
