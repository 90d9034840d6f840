"""GetFolder: folders by FolderId or DistinguishedFolderId, in the requested shape."""

from __future__ import annotations

from dataclasses import dataclass

from sim.envelope import (
    Element,
    build,
    child,
    error_message,
    m,
    response_messages,
    success_message,
    t,
)
from sim.errors import EwsError
from sim.model import FolderInfo, FolderKind
from sim.operations.base import (
    FolderRef,
    Operation,
    RequestContext,
    parse_folder_refs,
    resolve_folder,
)
from sim.shapes import Shape, parse_shape


@dataclass(frozen=True)
class GetFolderRequest:
    shape: Shape
    folders: list[FolderRef]


# (FieldURI, in Default shape) in BaseFolderType/FolderType element order.
_FIELDS = (
    ("folder:ParentFolderId", False),
    ("folder:FolderClass", False),
    ("folder:DisplayName", True),
    ("folder:TotalCount", True),
    ("folder:ChildFolderCount", True),
    ("folder:EffectiveRights", False),
    ("folder:DistinguishedFolderId", False),
    ("folder:UnreadCount", True),
)


def folder_element(folder: FolderInfo, shape: Shape) -> Element:
    elem = build(t(folder.kind), t("FolderId", Id=folder.folder_id, ChangeKey=folder.change_key))
    values: dict[str, Element | None] = {
        "folder:ParentFolderId": None
        if folder.parent_id is None
        else t("ParentFolderId", Id=folder.parent_id),
        "folder:FolderClass": None
        if folder.folder_class is None
        else t("FolderClass", folder.folder_class),
        "folder:DisplayName": t("DisplayName", folder.display_name),
        "folder:TotalCount": t("TotalCount", folder.total_count),
        "folder:ChildFolderCount": t("ChildFolderCount", folder.child_folder_count),
        "folder:EffectiveRights": build(
            t("EffectiveRights"),
            t("CreateAssociated", True),
            t("CreateContents", True),
            t("CreateHierarchy", True),
            t("Delete", True),
            t("Modify", True),
            t("Read", True),
            t("ViewPrivateItems", True),
        ),
        "folder:DistinguishedFolderId": None
        if folder.distinguished is None
        else t("DistinguishedFolderId", folder.distinguished),
        # Calendar folders (CalendarFolderType) have no UnreadCount.
        "folder:UnreadCount": None if folder.kind is FolderKind.CALENDAR else t("UnreadCount", 0),
    }
    for uri, in_default in _FIELDS:
        if shape.wants(uri, in_default, in_all=uri != "folder:DistinguishedFolderId"):
            build(elem, values[uri])
    return elem


class GetFolder(Operation):
    name = "GetFolder"

    def parse(self, payload: Element) -> GetFolderRequest:
        return GetFolderRequest(
            shape=parse_shape(child(payload, "FolderShape")),
            folders=parse_folder_refs(child(payload, "FolderIds")),
        )

    def execute(self, context: RequestContext, request: GetFolderRequest) -> Element:
        messages = []
        for ref in request.folders:
            try:
                mailbox, folder_id = resolve_folder(context, ref)
                folder = context.store.folder(mailbox, folder_id)
            except EwsError as error:
                messages.append(error_message(self.name, error, m("Folders")))
                continue
            messages.append(
                success_message(
                    self.name, build(m("Folders"), folder_element(folder, request.shape))
                )
            )
        return response_messages(self.name, messages)
