"""SyncFolderItems: the Create/Update/Delete changes of a folder since a sync state."""

from __future__ import annotations

from dataclasses import dataclass

from sim.envelope import (
    Element,
    build,
    child,
    child_text,
    error_message,
    m,
    response_messages,
    success_message,
    t,
)
from sim.errors import EwsError, ResponseCode
from sim.itemxml import item_element
from sim.operations.base import (
    FolderRef,
    ItemRef,
    Operation,
    RequestContext,
    parse_folder_refs,
    parse_item_refs,
    resolve_folder,
)
from sim.shapes import Shape, parse_shape
from sim.store import SyncChangeKind


@dataclass(frozen=True)
class SyncFolderItemsRequest:
    shape: Shape
    folder: FolderRef
    sync_state: str | None
    ignore: list[ItemRef]
    max_changes: int


class SyncFolderItems(Operation):
    name = "SyncFolderItems"

    def parse(self, payload: Element) -> SyncFolderItemsRequest:
        folders = parse_folder_refs(child(payload, "SyncFolderId"))
        if len(folders) != 1:
            raise EwsError(ResponseCode.INVALID_REQUEST, "SyncFolderItems needs one SyncFolderId.")
        try:
            max_changes = int(child_text(payload, "MaxChangesReturned") or "")
        except ValueError:
            raise EwsError(
                ResponseCode.INVALID_REQUEST, "MaxChangesReturned must be a number."
            ) from None
        return SyncFolderItemsRequest(
            shape=parse_shape(child(payload, "ItemShape")),
            folder=folders[0],
            sync_state=(child_text(payload, "SyncState") or "").strip() or None,
            ignore=parse_item_refs(child(payload, "Ignore")),
            max_changes=max_changes,
        )

    def error_response(self, error: EwsError) -> Element:
        # Exchange answers errors with an empty SyncState too; exchangelib reads it first.
        message = error_message(
            self.name, error, m("SyncState"), m("IncludesLastItemInRange", True)
        )
        return response_messages(self.name, [message])

    def execute(self, context: RequestContext, request: SyncFolderItemsRequest) -> Element:
        try:
            mailbox, folder_id = resolve_folder(context, request.folder)
        except EwsError as error:
            if error.code == ResponseCode.FOLDER_NOT_FOUND:
                raise EwsError(ResponseCode.SYNC_FOLDER_NOT_FOUND, error.message) from None
            raise
        batch = context.store.sync_folder_items(
            mailbox,
            folder_id,
            request.sync_state,
            request.max_changes,
            [ref.item_id for ref in request.ignore],
        )
        changes = m("Changes")
        for change in batch.changes:
            if change.kind is SyncChangeKind.DELETE or change.item is None:
                changes.append(build(t("Delete"), t("ItemId", Id=change.item_id)))
            else:
                changes.append(build(t(change.kind), item_element(change.item, request.shape)))
        return response_messages(
            self.name,
            [
                success_message(
                    self.name,
                    m("SyncState", batch.sync_state),
                    m("IncludesLastItemInRange", batch.includes_last_item_in_range),
                    changes,
                )
            ],
        )
