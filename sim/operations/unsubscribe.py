"""Unsubscribe: end a pull or streaming subscription."""

from __future__ import annotations

from dataclasses import dataclass

from sim.envelope import Element, child_text, response_messages, success_message
from sim.errors import EwsError, ResponseCode
from sim.operations.base import Operation, RequestContext


@dataclass(frozen=True)
class UnsubscribeRequest:
    subscription_id: str


class Unsubscribe(Operation):
    name = "Unsubscribe"

    def parse(self, payload: Element) -> UnsubscribeRequest:
        subscription_id = child_text(payload, "SubscriptionId")
        if not subscription_id:
            raise EwsError(ResponseCode.INVALID_REQUEST, "Unsubscribe needs a SubscriptionId.")
        return UnsubscribeRequest(subscription_id.strip())

    def execute(self, context: RequestContext, request: UnsubscribeRequest) -> Element:
        context.store.unsubscribe(context.mailbox, request.subscription_id, owner=context.principal)
        return response_messages(self.name, [success_message(self.name)])
