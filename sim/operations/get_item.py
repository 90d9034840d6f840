"""GetItem: items by ItemId, OccurrenceItemId or RecurringMasterItemId, in the requested shape."""

from __future__ import annotations

from dataclasses import dataclass

from sim.envelope import Element, build, child, error_message, m, response_messages, success_message
from sim.errors import EwsError
from sim.itemxml import item_element
from sim.operations.base import ItemRef, Operation, RequestContext, parse_item_refs, resolve_item_id
from sim.shapes import Shape, parse_shape


@dataclass(frozen=True)
class GetItemRequest:
    shape: Shape
    items: list[ItemRef]


class GetItem(Operation):
    name = "GetItem"
    error_contents = ("Items",)

    def parse(self, payload: Element) -> GetItemRequest:
        return GetItemRequest(
            shape=parse_shape(child(payload, "ItemShape")),
            items=parse_item_refs(child(payload, "ItemIds")),
        )

    def execute(self, context: RequestContext, request: GetItemRequest) -> Element:
        messages = []
        for ref in request.items:
            try:
                item = context.store.get_item(resolve_item_id(context, ref))
            except EwsError as error:
                messages.append(error_message(self.name, error, m("Items")))
                continue
            messages.append(
                success_message(self.name, build(m("Items"), item_element(item, request.shape)))
            )
        return response_messages(self.name, messages)
