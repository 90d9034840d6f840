"""What every EWS operation handler has in common.

An operation is a class with a `name` (the request element, e.g. "GetItem"), a `parse` method
that turns the request element into a typed request (raising EwsError for content Exchange would
reject), and an `execute` method that runs it against the store and returns the response
element (m:GetItemResponse ...). Errors concerning one item become error ResponseMessages; an
EwsError escaping `execute` becomes the operation's `error_response`.

`RequestContext` carries what the server resolved before dispatch: the store, the mailbox the
request acts on (after impersonation), the caller and the request's TimeZoneContext.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sim.envelope import Element, child, children, error_message, local_name, m, response_messages
from sim.errors import EwsError, ResponseCode
from sim.itemparse import ParseContext
from sim.store import MailboxStore


@dataclass(frozen=True)
class StreamTiming:
    """Wall-clock pacing of streaming responses (ConnectionTimeout is given in minutes)."""

    minute_seconds: float = 60.0
    heartbeat_seconds: float = 30.0


@dataclass
class RequestContext:
    store: MailboxStore
    mailbox: str
    principal: str
    parse_context: ParseContext
    timing: StreamTiming = field(default_factory=StreamTiming)
    stopping: threading.Event = field(default_factory=threading.Event)

    def check_access(self, mailbox: str) -> None:
        """Refuse objects of any other mailbox than the one the request acts in.

        Ids name their mailbox; the request acts in one mailbox (its own or the impersonated
        one), and the simulator has no delegate permissions, so another mailbox's ItemId,
        FolderId or DistinguishedFolderId/Mailbox is refused whatever else the caller may do.
        """
        if mailbox.lower() != self.mailbox.lower():
            raise EwsError(
                ResponseCode.ACCESS_DENIED, "Access is denied. Check credentials and try again."
            )


@dataclass(frozen=True)
class StreamingResult:
    """A response sent as one chunked body: each yielded element is a complete m:...Response."""

    responses: Iterator[Element]


class Operation(ABC):
    """One EWS operation; subclasses live one per module in sim.operations."""

    name: ClassVar[str]
    # False for operations that act on no mailbox of the caller's (ConvertId): a caller without
    # a mailbox of its own may call them without impersonating anyone.
    acts_on_mailbox: ClassVar[bool] = True
    # Elements the schema requires in every response message, an error's too (empty there).
    error_contents: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def parse(self, payload: Element) -> Any:
        """The typed request; raises EwsError when Exchange would reject the content."""

    @abstractmethod
    def execute(self, context: RequestContext, request: Any) -> Element | StreamingResult:
        """Run the request; returns the response element (or a streaming result)."""

    def error_response(self, error: EwsError) -> Element:
        """The whole response when the request fails as a whole (one error ResponseMessage)."""
        contents = [m(name) for name in self.error_contents]
        return response_messages(self.name, [error_message(self.name, error, *contents)])


# --- request pieces shared by several operations --------------------------------------------


@dataclass(frozen=True)
class FolderRef:
    """t:FolderId (folder_id) or t:DistinguishedFolderId (distinguished + optional mailbox)."""

    folder_id: str | None = None
    distinguished: str | None = None
    mailbox: str | None = None


@dataclass(frozen=True)
class ItemRef:
    """t:ItemId, t:OccurrenceItemId (master + 1-based index) or t:RecurringMasterItemId."""

    item_id: str
    change_key: str | None = None
    instance_index: int | None = None
    master_of_occurrence: bool = False


def parse_folder_refs(elem: Element | None) -> list[FolderRef]:
    refs = []
    for part in children(elem):
        name = local_name(part)
        if name == "FolderId":
            refs.append(FolderRef(folder_id=part.get("Id", "")))
        elif name == "DistinguishedFolderId":
            mailbox = child(part, "Mailbox")
            address = None if mailbox is None else (child(mailbox, "EmailAddress"))
            refs.append(
                FolderRef(
                    distinguished=part.get("Id", ""),
                    mailbox=None if address is None else (address.text or "").strip(),
                )
            )
        else:
            raise EwsError(ResponseCode.INVALID_REQUEST, f"Unexpected folder id element {name}.")
    return refs


def parse_item_refs(elem: Element | None) -> list[ItemRef]:
    refs = []
    for part in children(elem):
        refs.append(parse_item_ref(part))
    return refs


def parse_item_ref(part: Element) -> ItemRef:
    name = local_name(part)
    if name == "ItemId":
        return ItemRef(part.get("Id", ""), part.get("ChangeKey"))
    if name == "OccurrenceItemId":
        try:
            index = int(part.get("InstanceIndex", ""))
        except ValueError:
            raise EwsError(
                ResponseCode.INVALID_REQUEST, "InstanceIndex must be a number."
            ) from None
        return ItemRef(
            part.get("RecurringMasterId", ""), part.get("ChangeKey"), instance_index=index
        )
    if name == "RecurringMasterItemId":
        return ItemRef(
            part.get("OccurrenceId", ""), part.get("ChangeKey"), master_of_occurrence=True
        )
    raise EwsError(ResponseCode.INVALID_REQUEST, f"Unexpected item id element {name}.")


def resolve_folder(context: RequestContext, ref: FolderRef) -> tuple[str, str]:
    """(mailbox, folder id) of a folder reference, checking the caller may use that mailbox."""
    if ref.folder_id is not None:
        mailbox = context.store.folder_mailbox(ref.folder_id)
        context.check_access(mailbox)
        return mailbox, context.store.folder(mailbox, ref.folder_id).folder_id
    mailbox = ref.mailbox or context.mailbox
    context.check_access(mailbox)
    try:
        return mailbox, context.store.folder(mailbox, ref.distinguished or "").folder_id
    except EwsError as error:
        if error.code == ResponseCode.INVALID_ID_MALFORMED:
            raise EwsError(
                ResponseCode.FOLDER_NOT_FOUND,
                "The specified folder could not be found in the store.",
            ) from None
        raise


def resolve_item_id(context: RequestContext, ref: ItemRef) -> str:
    """The store id an item reference means (an occurrence's own id for OccurrenceItemId)."""
    if not ref.item_id:
        raise EwsError(ResponseCode.INVALID_ID_MALFORMED, "Id is malformed.")
    context.check_access(context.store.item_mailbox(ref.item_id))
    if ref.instance_index is not None:
        return context.store.occurrence_id(ref.item_id, ref.instance_index)
    if ref.master_of_occurrence:
        item = context.store.get_calendar_item(ref.item_id)
        if item.master_id is None:
            raise EwsError(
                ResponseCode.CALENDAR_CANNOT_USE_ID_FOR_RECURRING_MASTER_ID,
                "The id is not the id of an occurrence.",
            )
        return item.master_id
    return ref.item_id
