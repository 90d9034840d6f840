"""GetEvents: the events of a pull subscription after a watermark."""

from __future__ import annotations

from dataclasses import dataclass

from sim.envelope import Element, child_text, response_messages, success_message
from sim.errors import EwsError, ResponseCode
from sim.operations.base import Operation, RequestContext
from sim.operations.notifications import notification_element


@dataclass(frozen=True)
class GetEventsRequest:
    subscription_id: str
    watermark: str


class GetEvents(Operation):
    name = "GetEvents"

    def parse(self, payload: Element) -> GetEventsRequest:
        subscription_id = child_text(payload, "SubscriptionId")
        watermark = child_text(payload, "Watermark")
        if not subscription_id or not watermark:
            raise EwsError(
                ResponseCode.INVALID_REQUEST, "GetEvents needs SubscriptionId and Watermark."
            )
        return GetEventsRequest(subscription_id.strip(), watermark.strip())

    def execute(self, context: RequestContext, request: GetEventsRequest) -> Element:
        notification = context.store.get_events(
            context.mailbox, request.subscription_id, request.watermark, owner=context.principal
        )
        return response_messages(
            self.name, [success_message(self.name, notification_element(notification))]
        )
