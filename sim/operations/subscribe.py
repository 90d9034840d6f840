"""Subscribe: pull and streaming notification subscriptions on folders (or all folders).

Push subscriptions are parsed but refused: the simulator makes no outgoing HTTP calls.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.envelope import (
    Element,
    child,
    child_text,
    children,
    local_name,
    m,
    response_messages,
    success_message,
)
from sim.errors import EwsError, ResponseCode
from sim.events import EventType
from sim.itemparse import parse_bool
from sim.operations.base import (
    FolderRef,
    Operation,
    RequestContext,
    parse_folder_refs,
    resolve_folder,
)


@dataclass(frozen=True)
class SubscribeRequest:
    kind: str  # "Pull", "Streaming" or "Push"
    folders: list[FolderRef] | None  # None: SubscribeToAllFolders
    event_types: list[EventType]
    watermark: str | None
    timeout_minutes: int | None


class Subscribe(Operation):
    name = "Subscribe"

    def parse(self, payload: Element) -> SubscribeRequest:
        requests = children(payload)
        if len(requests) != 1:
            raise EwsError(
                ResponseCode.INVALID_SUBSCRIPTION_REQUEST, "One subscription request expected."
            )
        request = requests[0]
        kind = local_name(request).removesuffix("SubscriptionRequest")
        if kind not in ("Pull", "Streaming", "Push"):
            raise EwsError(
                ResponseCode.INVALID_SUBSCRIPTION_REQUEST, f"Unknown {local_name(request)}."
            )
        all_folders = parse_bool(request.get("SubscribeToAllFolders", "false"))
        try:
            event_types = [
                EventType((elem.text or "").strip())
                for elem in children(child(request, "EventTypes"), "EventType")
            ]
        except ValueError:
            raise EwsError(
                ResponseCode.INVALID_SUBSCRIPTION_REQUEST, "Unknown EventType."
            ) from None
        timeout = child_text(request, "Timeout")
        return SubscribeRequest(
            kind=kind,
            folders=None if all_folders else parse_folder_refs(child(request, "FolderIds")),
            event_types=event_types,
            watermark=child_text(request, "Watermark"),
            timeout_minutes=int(timeout) if timeout else None,
        )

    def execute(self, context: RequestContext, request: SubscribeRequest) -> Element:
        if request.kind == "Push":
            raise EwsError(
                ResponseCode.INVALID_SUBSCRIPTION_REQUEST,
                "Push subscriptions are not supported by the simulator; use pull or streaming.",
            )
        folders = None
        if request.folders is not None:
            resolved = [resolve_folder(context, ref) for ref in request.folders]
            if any(mailbox.lower() != context.mailbox.lower() for mailbox, _ in resolved):
                raise EwsError(
                    ResponseCode.INVALID_SUBSCRIPTION_REQUEST,
                    "All folders of a subscription must belong to one mailbox.",
                )
            folders = [folder_id for _, folder_id in resolved]
        store = context.store
        if request.kind == "Pull":
            subscription_id, watermark = store.subscribe_pull(
                context.mailbox,
                folders,
                request.event_types,
                request.timeout_minutes or 0,
                request.watermark,
                owner=context.principal,
            )
            return response_messages(
                self.name,
                [
                    success_message(
                        self.name, m("SubscriptionId", subscription_id), m("Watermark", watermark)
                    )
                ],
            )
        subscription_id = store.subscribe_streaming(
            context.mailbox, folders, request.event_types, owner=context.principal
        )
        return response_messages(
            self.name, [success_message(self.name, m("SubscriptionId", subscription_id))]
        )
