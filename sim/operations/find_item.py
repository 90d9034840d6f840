"""FindItem: the items of folders, paged (IndexedPageItemView) or as a CalendarView.

A CalendarView expands recurring series into their occurrences and exceptions within the window
(no masters); the other views list the folder's items as stored (masters, not occurrences),
optionally filtered by a Restriction and a QueryString (`sim.querystring`) and ordered by a
SortOrder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sim.envelope import (
    Element,
    build,
    child,
    error_message,
    local_name,
    m,
    response_messages,
    success_message,
    t,
)
from sim.errors import EwsError, ResponseCode
from sim.itemparse import ParseContext, parse_datetime
from sim.itemxml import item_element
from sim.model import Item
from sim.operations.base import (
    FolderRef,
    Operation,
    RequestContext,
    parse_folder_refs,
    resolve_folder,
)
from sim.querystring import parse_query_string
from sim.restriction import Predicate, apply_sort, parse_restriction, sort_key
from sim.shapes import Shape, parse_shape

# Exchange refuses calendar views spanning more than two years.
MAX_CALENDAR_VIEW = timedelta(days=2 * 365 + 1)


@dataclass(frozen=True)
class PagedView:
    max_entries: int | None
    offset: int
    from_end: bool


@dataclass(frozen=True)
class CalendarView:
    start: datetime
    end: datetime
    max_entries: int | None


@dataclass(frozen=True)
class FindItemRequest:
    shape: Shape
    traversal: str
    view: PagedView | CalendarView | None
    restriction: Predicate | None
    query: Predicate | None
    order: list[tuple[Callable[[Item], Any], bool]]
    folders: list[FolderRef]


def _max_entries(elem: Element) -> int | None:
    text = elem.get("MaxEntriesReturned")
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        raise EwsError(
            ResponseCode.INVALID_PAGING_MAX_ROWS, "Invalid MaxEntriesReturned."
        ) from None
    if value < 1:
        raise EwsError(ResponseCode.INVALID_PAGING_MAX_ROWS, "MaxEntriesReturned must be positive.")
    return value


class FindItem(Operation):
    name = "FindItem"

    def parse(self, payload: Element) -> FindItemRequest:
        # The request's TimeZoneContext only matters for naive times, which EWS clients avoid.
        context = ParseContext()
        view: PagedView | CalendarView | None = None
        for part in payload:
            if not isinstance(part.tag, str):
                continue
            name = local_name(part)
            if name in ("IndexedPageItemView", "FractionalPageItemView"):
                offset = int(part.get("Offset", "0")) if name == "IndexedPageItemView" else 0
                view = PagedView(_max_entries(part), offset, part.get("BasePoint") == "End")
            elif name == "CalendarView":
                view = CalendarView(
                    parse_datetime(part.get("StartDate"), context),
                    parse_datetime(part.get("EndDate"), context),
                    _max_entries(part),
                )
        restriction_elem = child(payload, "Restriction")
        restriction = (
            None if restriction_elem is None else parse_restriction(restriction_elem, context)
        )
        query_elem = child(payload, "QueryString")
        query = None if query_elem is None else parse_query_string(query_elem.text or "")
        if isinstance(view, CalendarView) and (restriction is not None or query is not None):
            raise EwsError(
                ResponseCode.INVALID_RESTRICTION,
                "Restrictions and query strings are not allowed with a CalendarView.",
            )
        return FindItemRequest(
            shape=parse_shape(child(payload, "ItemShape")),
            traversal=payload.get("Traversal", "Shallow"),
            view=view,
            restriction=restriction,
            query=query,
            order=sort_key(child(payload, "SortOrder")),
            folders=parse_folder_refs(child(payload, "ParentFolderIds")),
        )

    def execute(self, context: RequestContext, request: FindItemRequest) -> Element:
        if request.traversal != "Shallow":
            raise EwsError(ResponseCode.INVALID_OPERATION, "Only Shallow traversal is supported.")
        messages = []
        for ref in request.folders:
            try:
                messages.append(self._find_in(context, request, ref))
            except EwsError as error:
                messages.append(error_message(self.name, error))
        return response_messages(self.name, messages)

    def _find_in(
        self, context: RequestContext, request: FindItemRequest, ref: FolderRef
    ) -> Element:
        mailbox, folder_id = resolve_folder(context, ref)
        view = request.view
        root = m("RootFolder")
        if isinstance(view, CalendarView):
            if view.end - view.start > MAX_CALENDAR_VIEW:
                raise EwsError(
                    ResponseCode.CALENDAR_VIEW_RANGE_TOO_BIG,
                    "The calendar view range exceeds the maximum of two years.",
                )
            found: list[Item] = list(
                context.store.calendar_view(mailbox, view.start, view.end, folder_id)
            )
            page = found[: view.max_entries] if view.max_entries else found
            root.set("TotalItemsInView", str(len(page)))
            root.set("IncludesLastItemInRange", "true" if len(page) == len(found) else "false")
        else:
            found = context.store.list_items(mailbox, folder_id)
            for predicate in (request.restriction, request.query):
                if predicate is not None:
                    found = [item for item in found if predicate(item)]
            found = apply_sort(found, request.order)
            offset = view.offset if view else 0
            if view and view.from_end:
                found = list(reversed(found))
            end = offset + view.max_entries if view and view.max_entries else len(found)
            page = found[offset:end]
            root.set("IndexedPagingOffset", str(offset + len(page)))
            root.set("TotalItemsInView", str(len(found)))
            root.set(
                "IncludesLastItemInRange", "true" if offset + len(page) >= len(found) else "false"
            )
        items = build(t("Items"), *(item_element(item, request.shape) for item in page))
        return success_message(self.name, build(root, items))
