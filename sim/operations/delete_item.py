"""DeleteItem: whole items (a master with its series) or single occurrences.

HardDelete and SoftDelete remove the item from its folder; MoveToDeletedItems moves it to the
Deleted Items folder (a new ItemId, a MovedEvent). Deleting an occurrence adds it to the
master's DeletedOccurrences.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.envelope import Element, child, error_message, response_messages, success_message
from sim.errors import EwsError, ResponseCode
from sim.operations.base import ItemRef, Operation, RequestContext, parse_item_refs, resolve_item_id

DELETE_TYPES = ("HardDelete", "SoftDelete", "MoveToDeletedItems")


@dataclass(frozen=True)
class DeleteItemRequest:
    delete_type: str
    items: list[ItemRef]


class DeleteItem(Operation):
    name = "DeleteItem"

    def parse(self, payload: Element) -> DeleteItemRequest:
        delete_type = payload.get("DeleteType", "")
        if delete_type not in DELETE_TYPES:
            raise EwsError(ResponseCode.INVALID_REQUEST, f"Unknown DeleteType {delete_type!r}.")
        return DeleteItemRequest(delete_type, parse_item_refs(child(payload, "ItemIds")))

    def execute(self, context: RequestContext, request: DeleteItemRequest) -> Element:
        messages = []
        for ref in request.items:
            try:
                context.store.delete_item(
                    resolve_item_id(context, ref),
                    move_to_deleted_items=request.delete_type == "MoveToDeletedItems",
                )
            except EwsError as error:
                messages.append(error_message(self.name, error))
                continue
            messages.append(success_message(self.name))
        return response_messages(self.name, messages)
