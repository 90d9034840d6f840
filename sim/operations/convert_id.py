"""ConvertId: an item or folder id in another id format (also clients' version probe).

The simulator's ids are base64 text, so EwsId, EwsLegacyId and EntryId read the same, and
HexEntryId is the hexadecimal of the same bytes. StoreId and OwaId are refused
(ErrorInvalidIdMalformed), as is an id that is not one of ours or not of the named mailbox.
ConvertId acts on no mailbox of the caller's: exchangelib sends it, with a dummy id, to learn
the server's version from the response's ServerVersionInfo, before it knows any mailbox.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from sim import ids
from sim.envelope import (
    Element,
    child,
    children,
    error_message,
    local_name,
    m,
    response_messages,
    success_message,
)
from sim.errors import EwsError, ResponseCode
from sim.operations.base import Operation, RequestContext

_SAME_AS_EWS_ID = frozenset({"EwsId", "EwsLegacyId", "EntryId"})
_FORMATS = _SAME_AS_EWS_ID | {"HexEntryId"}
_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"


@dataclass(frozen=True)
class AlternateId:
    format: str
    id: str
    mailbox: str


@dataclass(frozen=True)
class ConvertIdRequest:
    destination: str
    sources: list[AlternateId]


def _malformed(detail: str) -> EwsError:
    return EwsError(ResponseCode.INVALID_ID_MALFORMED, f"Id is malformed: {detail}")


def _to_ews_id(source: AlternateId) -> str:
    if source.format in _SAME_AS_EWS_ID:
        return source.id
    if source.format == "HexEntryId":
        try:
            return base64.b64encode(bytes.fromhex(source.id)).decode("ascii")
        except ValueError:
            raise _malformed("not hexadecimal") from None
    raise _malformed(f"the simulator does not convert {source.format} ids")


def _from_ews_id(ews_id: str, destination: str) -> str:
    if destination in _SAME_AS_EWS_ID:
        return ews_id
    if destination == "HexEntryId":
        try:
            return base64.b64decode(ews_id, validate=True).hex().upper()
        except (binascii.Error, ValueError):
            raise _malformed("not base64") from None
    raise _malformed(f"the simulator does not convert ids to {destination}")


class ConvertId(Operation):
    name = "ConvertId"
    acts_on_mailbox = False

    def parse(self, payload: Element) -> ConvertIdRequest:
        sources = []
        for elem in children(child(payload, "SourceIds")):
            if local_name(elem) != "AlternateId":
                raise EwsError(
                    ResponseCode.INVALID_REQUEST, "The simulator has no public folders to convert."
                )
            sources.append(
                AlternateId(elem.get("Format", ""), elem.get("Id", ""), elem.get("Mailbox", ""))
            )
        if not sources:
            raise EwsError(ResponseCode.INVALID_REQUEST, "ConvertId needs SourceIds.")
        return ConvertIdRequest(payload.get("DestinationFormat", ""), sources)

    def execute(self, context: RequestContext, request: ConvertIdRequest) -> Element:
        messages = []
        for source in request.sources:
            try:
                converted = self._convert(context, source, request.destination)
            except EwsError as error:
                messages.append(error_message(self.name, error))
                continue
            alternate = m("AlternateId", Format=request.destination, Id=converted)
            alternate.set("Mailbox", source.mailbox)
            alternate.set(_XSI_TYPE, "t:AlternateIdType")
            messages.append(success_message(self.name, alternate))
        return response_messages(self.name, messages)

    def _convert(self, context: RequestContext, source: AlternateId, destination: str) -> str:
        if source.format not in _FORMATS and source.format not in ("StoreId", "OwaId"):
            raise EwsError(ResponseCode.INVALID_REQUEST, f"Unknown id format {source.format}.")
        ews_id = _to_ews_id(source)
        ref = ids.parse_id(ews_id)
        if ref is None:
            raise _malformed("not an id of this server")
        if isinstance(ref, ids.FolderRef):
            owner = context.store.folder_mailbox(ews_id)
        else:
            owner = context.store.item_mailbox(ews_id)
        if owner.lower() != source.mailbox.strip().lower():
            raise _malformed(f"the id is not of mailbox {source.mailbox}")
        context.check_access(owner)
        return _from_ews_id(ews_id, destination)
