"""CreateItem: calendar items (single or recurring, with Windows time zones) and tasks."""

from __future__ import annotations

from dataclasses import dataclass

from sim.envelope import (
    Element,
    build,
    child,
    children,
    error_message,
    m,
    response_messages,
    success_message,
    t,
)
from sim.errors import EwsError, ResponseCode
from sim.itemparse import kind_of_element, parse_item
from sim.itemxml import item_id_element, item_kind_tag
from sim.model import CalendarFields, Item, ItemKind, TaskFields
from sim.operations.base import (
    FolderRef,
    Operation,
    RequestContext,
    parse_folder_refs,
    resolve_folder,
)


@dataclass(frozen=True)
class CreateItemRequest:
    folder: FolderRef | None
    items: list[Element]
    send_meeting_invitations: str | None


def created_item_element(item: Item) -> Element:
    """What CreateItem/UpdateItem return per item: the item element with its new ItemId."""
    return build(t(item_kind_tag(item)), item_id_element(item))


class CreateItem(Operation):
    name = "CreateItem"
    error_contents = ("Items",)

    def parse(self, payload: Element) -> CreateItemRequest:
        folders = parse_folder_refs(child(payload, "SavedItemFolderId"))
        items = children(child(payload, "Items"))
        if not items:
            raise EwsError(ResponseCode.INVALID_REQUEST, "CreateItem needs at least one item.")
        return CreateItemRequest(
            folder=folders[0] if folders else None,
            items=items,
            send_meeting_invitations=payload.get("SendMeetingInvitations"),
        )

    def execute(self, context: RequestContext, request: CreateItemRequest) -> Element:
        messages = []
        for elem in request.items:
            try:
                item = self._create(context, request, elem)
            except EwsError as error:
                messages.append(error_message(self.name, error, m("Items")))
                continue
            messages.append(
                success_message(self.name, build(m("Items"), created_item_element(item)))
            )
        return response_messages(self.name, messages)

    def _create(self, context: RequestContext, request: CreateItemRequest, elem: Element) -> Item:
        kind = kind_of_element(elem)
        if kind is None:
            raise EwsError(
                ResponseCode.INVALID_REQUEST, "The simulator stores calendar items and tasks only."
            )
        default = FolderRef(distinguished="calendar" if kind is ItemKind.CALENDAR_ITEM else "tasks")
        mailbox, folder_id = resolve_folder(context, request.folder or default)
        values = parse_item(elem, kind, context.parse_context)
        try:
            if kind is ItemKind.CALENDAR_ITEM:
                recurrence = values.pop("recurrence", None)
                uid = values.pop("uid", None)
                if "start" not in values or "end" not in values:
                    raise EwsError(
                        ResponseCode.MISSING_ARGUMENT, "A calendar item needs Start and End."
                    )
                return context.store.create_calendar_item(
                    mailbox, CalendarFields(**values), recurrence, folder=folder_id, uid=uid
                )
            return context.store.create_task(mailbox, TaskFields(**values), folder=folder_id)
        except (TypeError, ValueError) as error:
            raise EwsError(ResponseCode.INVALID_VALUE_FOR_PROPERTY, str(error)) from None
