"""UpdateItem: SetItemField/AppendToItemField/DeleteItemField on items, masters and occurrences.

Updating an occurrence (by OccurrenceItemId or by its own id) turns it into an exception of its
series; setting a master's Recurrence (or moving the series) drops the exceptions. The ChangeKey
of the request is checked according to ConflictResolution.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from sim.envelope import (
    Element,
    build,
    child,
    children,
    error_message,
    local_name,
    m,
    response_messages,
    success_message,
    t,
)
from sim.errors import EwsError, ResponseCode
from sim.itemparse import parse_delete_field, parse_set_field
from sim.model import CalendarItem, ItemKind
from sim.operations.base import ItemRef, Operation, RequestContext, parse_item_ref, resolve_item_id
from sim.operations.create_item import created_item_element
from sim.shapes import FieldPath, parse_field_path
from sim.store import ConflictResolution


@dataclass(frozen=True)
class FieldUpdate:
    action: str  # "Set", "Append" or "Delete"
    path: FieldPath
    item: Element | None = None


@dataclass(frozen=True)
class ItemChange:
    target: ItemRef
    updates: list[FieldUpdate] = field(default_factory=list)


@dataclass(frozen=True)
class UpdateItemRequest:
    conflict_resolution: ConflictResolution
    changes: list[ItemChange]


_ACTIONS = {"SetItemField": "Set", "AppendToItemField": "Append", "DeleteItemField": "Delete"}


def _field_update(elem: Element) -> FieldUpdate:
    action = _ACTIONS.get(local_name(elem))
    if action is None:
        raise EwsError(ResponseCode.INVALID_REQUEST, f"Unexpected update {local_name(elem)}.")
    parts = children(elem)
    if not parts:
        raise EwsError(ResponseCode.INVALID_REQUEST, "An update needs a property path.")
    path = parse_field_path(parts[0])
    item = parts[1] if len(parts) > 1 else None
    if action != "Delete" and item is None:
        raise EwsError(ResponseCode.INCORRECT_UPDATE_PROPERTY_COUNT, "The update has no value.")
    return FieldUpdate(action, path, item)


_APPENDABLE = ("categories", "required_attendees", "optional_attendees", "body")


def _appended(current: Any, parsed: dict[str, Any], pending: dict[str, Any]) -> dict[str, Any]:
    """AppendToItemField: add to a list property or to the body instead of replacing it."""
    if len(parsed) != 1 or next(iter(parsed)) not in _APPENDABLE:
        raise EwsError(
            ResponseCode.INVALID_PROPERTY_APPEND, "The property does not support appending."
        )
    name, value = next(iter(parsed.items()))
    existing = pending.get(name, getattr(current.fields, name))
    if name == "body":
        text = (existing.text if existing else "") + value.text
        return {name: replace(value, text=text)}
    return {name: tuple(existing) + tuple(value)}


class UpdateItem(Operation):
    name = "UpdateItem"
    error_contents = ("Items",)

    def parse(self, payload: Element) -> UpdateItemRequest:
        try:
            resolution = ConflictResolution(payload.get("ConflictResolution", "AutoResolve"))
        except ValueError:
            raise EwsError(ResponseCode.INVALID_REQUEST, "Unknown ConflictResolution.") from None
        changes = []
        for change in children(child(payload, "ItemChanges"), "ItemChange"):
            parts = children(change)
            if not parts:
                raise EwsError(ResponseCode.INVALID_REQUEST, "An ItemChange needs an item id.")
            updates = [_field_update(update) for update in children(child(change, "Updates"))]
            changes.append(ItemChange(parse_item_ref(parts[0]), updates))
        return UpdateItemRequest(resolution, changes)

    def execute(self, context: RequestContext, request: UpdateItemRequest) -> Element:
        messages = []
        for change in request.changes:
            try:
                item = self._apply(context, request, change)
            except EwsError as error:
                messages.append(error_message(self.name, error, m("Items")))
                continue
            messages.append(
                success_message(
                    self.name,
                    build(m("Items"), created_item_element(item)),
                    build(m("ConflictResults"), t("Count", 0)),
                )
            )
        return response_messages(self.name, messages)

    def _apply(
        self, context: RequestContext, request: UpdateItemRequest, change: ItemChange
    ) -> Any:
        store = context.store
        item_id = resolve_item_id(context, change.target)
        current = store.get_item(item_id)
        kind = ItemKind.CALENDAR_ITEM if isinstance(current, CalendarItem) else ItemKind.TASK
        values: dict[str, Any] = {}
        extended = dict(current.extended_properties)
        extended_changed = False
        other = dict(current.fields.other_properties)
        other_changed = False
        for update in change.updates:
            if update.action == "Delete":
                parsed = parse_delete_field(update.path, kind)
            else:
                assert update.item is not None
                parsed = parse_set_field(update.path, update.item, kind, context.parse_context)
            if update.action == "Append":
                parsed = _appended(current, parsed, values)
            if "#extended" in parsed:
                key, value = parsed.pop("#extended")
                extended_changed = True
                if value is None:
                    extended.pop(key, None)
                else:
                    extended[key] = value
            if "#other" in parsed:
                name, xml = parsed.pop("#other")
                other_changed = True
                if xml is None:
                    other.pop(name, None)
                else:
                    other[name] = xml
            values.update(parsed)
        if extended_changed:
            values["extended_properties"] = extended
        if other_changed:
            values["other_properties"] = other
        if not values:
            return current
        try:
            return store.update_item(
                item_id,
                values,
                expected_change_key=change.target.change_key,
                conflict_resolution=request.conflict_resolution,
            )
        except (TypeError, ValueError) as error:
            raise EwsError(ResponseCode.INVALID_VALUE_FOR_PROPERTY, str(error)) from None
