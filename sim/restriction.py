"""FindItem restrictions and sort orders, evaluated over item snapshots.

Supports the search expressions clients use to look items up: IsEqualTo, IsNotEqualTo,
IsGreaterThan(OrEqualTo), IsLessThan(OrEqualTo), Exists, Contains, And, Or, Not, over every
property of calendar items and tasks with a value to compare (text, number, boolean, time or list
of strings: as the item returns it) and over extended properties (how a client finds "the item
with my sync id"). Structured properties (attendees, recurrence, ...) answer
ErrorUnsupportedPathForQuery, as Exchange does for unsearchable properties.
Strings (Subject, each of the Categories, ...) compare and sort case-insensitively, as in
Exchange; Contains follows its ContainmentComparison.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sim.envelope import Element, child, children, local_name
from sim.errors import EwsError, ResponseCode
from sim.itemparse import ParseContext, parse_bool, parse_datetime
from sim.itemxml import item_element
from sim.model import CalendarItem, Item, ItemKind, TaskItem
from sim.properties import (
    BOOLEAN_ELEMENTS,
    DATETIME_ELEMENTS,
    NUMBER_ELEMENTS,
    STRING_ARRAY_ELEMENTS,
    STRUCTURED_ELEMENTS,
    by_uri,
)
from sim.shapes import BaseShape, FieldPath, Shape, parse_field_path

Predicate = Callable[[Item], bool]

_GETTERS: dict[str, Callable[[Item], Any]] = {
    "item:Subject": lambda item: item.fields.subject,
    "item:Importance": lambda item: str(item.fields.importance),
    "item:Sensitivity": lambda item: str(item.fields.sensitivity),
    "item:Categories": lambda item: item.fields.categories,
    "item:DateTimeCreated": lambda item: item.created,
    "item:DateTimeReceived": lambda item: item.created,
    "item:LastModifiedTime": lambda item: item.last_modified,
    "item:ItemClass": lambda item: (
        "IPM.Appointment" if isinstance(item, CalendarItem) else "IPM.Task"
    ),
    "calendar:Start": lambda item: item.fields.start if isinstance(item, CalendarItem) else None,
    "calendar:End": lambda item: item.fields.end if isinstance(item, CalendarItem) else None,
    "calendar:Location": lambda item: (
        item.fields.location if isinstance(item, CalendarItem) else None
    ),
    "calendar:IsAllDayEvent": lambda item: (
        item.fields.is_all_day if isinstance(item, CalendarItem) else None
    ),
    "calendar:CalendarItemType": lambda item: (
        str(item.item_type) if isinstance(item, CalendarItem) else None
    ),
    "calendar:UID": lambda item: item.uid if isinstance(item, CalendarItem) else None,
    "task:Status": lambda item: str(item.fields.status) if isinstance(item, TaskItem) else None,
    "task:DueDate": lambda item: item.fields.due_date if isinstance(item, TaskItem) else None,
    "task:StartDate": lambda item: item.fields.start_date if isinstance(item, TaskItem) else None,
}

_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "IsEqualTo": operator.eq,
    "IsNotEqualTo": operator.ne,
    "IsGreaterThan": operator.gt,
    "IsGreaterThanOrEqualTo": operator.ge,
    "IsLessThan": operator.lt,
    "IsLessThanOrEqualTo": operator.le,
}


def value_getter(path: FieldPath) -> Callable[[Item], Any]:
    if path.extended is not None:
        key = path.extended
        return lambda item: item.extended_properties.get(key)
    getter = _GETTERS.get(path.uri or "") or _rendered_getter(path.uri or "")
    if getter is None:
        raise EwsError(
            ResponseCode.UNSUPPORTED_PATH_FOR_QUERY,
            f"The property {path.uri} can't be used in a restriction or sort order.",
        )
    return getter


def _rendered_getter(uri: str) -> Callable[[Item], Any] | None:
    """Any other comparable property: its value as the item returns it, read by its type."""
    props = {kind: by_uri(uri, kind) for kind in ItemKind}
    elements = {prop.element for prop in props.values() if prop is not None}
    if not elements or elements & STRUCTURED_ELEMENTS:
        return None
    [element] = elements
    shape = Shape(BaseShape.ID_ONLY, (FieldPath(uri=uri),))

    def get(item: Item) -> Any:
        kind = ItemKind.CALENDAR_ITEM if isinstance(item, CalendarItem) else ItemKind.TASK
        if props[kind] is None:
            return None
        found = child(item_element(item, shape), element)
        if found is None:
            return None
        if element in STRING_ARRAY_ELEMENTS:
            return tuple(part.text or "" for part in children(found))
        text = (found.text or "").strip()
        if element in BOOLEAN_ELEMENTS:
            return parse_bool(text)
        if element in DATETIME_ELEMENTS:
            return parse_datetime(text, ParseContext())
        if element in NUMBER_ELEMENTS:
            return float(text)
        return text

    return get


def _coerce(constant: str, sample: Any, context: ParseContext) -> Any:
    if isinstance(sample, datetime):
        return parse_datetime(constant, context)
    if isinstance(sample, bool):
        return parse_bool(constant)
    if isinstance(sample, int | float):
        return float(constant)
    return constant


def parse_restriction(elem: Element, context: ParseContext) -> Predicate:
    """A predicate for the single search expression inside m:Restriction."""
    expressions = children(elem)
    if len(expressions) != 1:
        raise EwsError(ResponseCode.INVALID_RESTRICTION, "Restriction needs one expression.")
    return _expression(expressions[0], context)


def _path(elem: Element) -> FieldPath:
    for part in children(elem):
        if local_name(part) in ("FieldURI", "IndexedFieldURI", "ExtendedFieldURI"):
            return parse_field_path(part)
    raise EwsError(ResponseCode.INVALID_RESTRICTION, "The expression names no property.")


def _expression(elem: Element, context: ParseContext) -> Predicate:
    name = local_name(elem)
    if name in ("And", "Or"):
        parts = [_expression(part, context) for part in children(elem)]
        combine = all if name == "And" else any
        return lambda item: combine(part(item) for part in parts)
    if name == "Not":
        inner = [_expression(part, context) for part in children(elem)]
        if len(inner) != 1:
            raise EwsError(ResponseCode.INVALID_RESTRICTION, "Not needs one expression.")
        return lambda item: not inner[0](item)
    if name == "Exists":
        getter = value_getter(_path(elem))
        return lambda item: getter(item) not in (None, "", ())
    if name == "Contains":
        getter = value_getter(_path(elem))
        constant = child(elem, "Constant")
        wanted = "" if constant is None else constant.get("Value", "")
        mode = elem.get("ContainmentMode", "Substring")
        ignore_case = "Ignore" in elem.get("ContainmentComparison", "Exact")
        return lambda item: _contains(getter(item), wanted, mode, ignore_case)
    if name in _COMPARISONS:
        getter = value_getter(_path(elem))
        holder = child(elem, "FieldURIOrConstant")
        constant = child(holder, "Constant")
        if constant is None:
            raise EwsError(ResponseCode.INVALID_RESTRICTION, "Only comparisons with constants.")
        text = constant.get("Value", "")
        compare = _COMPARISONS[name]

        def matches(item: Item) -> bool:
            value = getter(item)
            if value is None:
                return name == "IsNotEqualTo"
            if isinstance(value, tuple):
                return any(compare(part.casefold(), text.casefold()) for part in value)
            if isinstance(value, str):
                return compare(value.casefold(), text.casefold())
            try:
                return compare(value, _coerce(text, value, context))
            except (TypeError, EwsError):
                return False

        return matches
    raise EwsError(ResponseCode.INVALID_RESTRICTION, f"Unsupported search expression {name}.")


def _contains(value: Any, wanted: str, mode: str, ignore_case: bool) -> bool:
    if value is None:
        return False
    texts = value if isinstance(value, tuple) else (str(value),)
    for text in texts:
        haystack, needle = (text.lower(), wanted.lower()) if ignore_case else (text, wanted)
        if mode == "FullString" and haystack == needle:
            return True
        if mode == "Prefixed" and haystack.startswith(needle):
            return True
        if mode not in ("FullString", "Prefixed") and needle in haystack:
            return True
    return False


def sort_key(elem: Element | None) -> list[tuple[Callable[[Item], Any], bool]]:
    """(getter, descending) pairs of an m:SortOrder."""
    orders = []
    for order in children(elem, "FieldOrder"):
        orders.append((value_getter(_path(order)), order.get("Order") == "Descending"))
    return orders


def apply_sort(items: list[Item], orders: list[tuple[Callable[[Item], Any], bool]]) -> list[Item]:
    for getter, descending in reversed(orders):
        present = [item for item in items if getter(item) is not None]
        missing = [item for item in items if getter(item) is None]
        present.sort(key=lambda item: _sortable(getter(item)), reverse=descending)
        items = present + missing
    return items


def _sortable(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value
