"""GetStreamingEvents: one long HTTP response carrying notifications as they happen.

The body is a sequence of complete SOAP envelopes: one per batch of notifications, keep-alive
envelopes (ConnectionStatus OK, no notifications) every heartbeat interval, and finally one with
ConnectionStatus Closed when ConnectionTimeout (minutes, 1-30) has elapsed. If a subscription
expires or is removed while the connection is open, the stream ends with that error, and its
ErrorSubscriptionIds name the subscriptions that failed (not the others of the connection). Events count
as delivered only when their envelope was written to a client still connected; otherwise the next
connection on the subscription gets them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from sim.envelope import (
    Element,
    build,
    child,
    child_text,
    children,
    error_message,
    m,
    response_messages,
    success_message,
    t,
)
from sim.errors import EwsError, ResponseCode
from sim.events import Notification, StreamHandle
from sim.operations.base import Operation, RequestContext, StreamingResult
from sim.operations.notifications import notification_element


@dataclass(frozen=True)
class GetStreamingEventsRequest:
    subscription_ids: list[str]
    connection_timeout: int


class GetStreamingEvents(Operation):
    name = "GetStreamingEvents"

    def parse(self, payload: Element) -> GetStreamingEventsRequest:
        ids = [(elem.text or "").strip() for elem in children(child(payload, "SubscriptionIds"))]
        try:
            timeout = int(child_text(payload, "ConnectionTimeout") or "")
        except ValueError:
            raise EwsError(
                ResponseCode.INVALID_REQUEST, "ConnectionTimeout must be a number."
            ) from None
        if not ids:
            raise EwsError(ResponseCode.INVALID_REQUEST, "SubscriptionIds is empty.")
        if not 1 <= timeout <= 30:
            raise EwsError(
                ResponseCode.INVALID_ARGUMENT, "ConnectionTimeout must be between 1 and 30."
            )
        return GetStreamingEventsRequest(ids, timeout)

    def error_response(self, error: EwsError) -> Element:
        return _closed_with(error, [])  # as Microsoft's sample: none named at the start

    def execute(
        self, context: RequestContext, request: GetStreamingEventsRequest
    ) -> StreamingResult:
        handle = context.store.open_stream(
            context.mailbox, request.subscription_ids, owner=context.principal
        )
        return StreamingResult(self._stream(context, request, handle))

    def _stream(
        self, context: RequestContext, request: GetStreamingEventsRequest, handle: StreamHandle
    ) -> Iterator[Element]:
        store = context.store
        timing = context.timing
        deadline = time.monotonic() + request.connection_timeout * timing.minute_seconds
        next_heartbeat = time.monotonic() + timing.heartbeat_seconds
        try:
            while True:
                try:
                    notifications, generation = store.take_streamed(handle)
                except EwsError as error:
                    yield _closed_with(error, error.subscription_ids)
                    return
                now = time.monotonic()
                if notifications:
                    yield _envelope(notifications, "OK")
                    # Resumed only once the envelope was written to a live client (the server
                    # closes this generator instead): only now are the events delivered.
                    store.confirm_streamed(handle)
                    next_heartbeat = now + timing.heartbeat_seconds
                if now >= deadline or context.stopping.is_set():
                    break
                if now >= next_heartbeat:
                    yield _envelope([], "OK")
                    next_heartbeat = now + timing.heartbeat_seconds
                store.wait_for_events(min(deadline, next_heartbeat) - now, since=generation)
            yield _envelope([], "Closed")
        finally:
            store.close_stream(handle)


def _envelope(notifications: list[Notification], status: str) -> Element:
    notifications_elem = (
        build(m("Notifications"), *(notification_element(n) for n in notifications))
        if notifications
        else None
    )
    message = success_message(
        GetStreamingEvents.name, notifications_elem, m("ConnectionStatus", status)
    )
    return response_messages(GetStreamingEvents.name, [message])


def _closed_with(error: EwsError, subscription_ids: list[str]) -> Element:
    failed = (
        build(
            m("ErrorSubscriptionIds"), *(t("SubscriptionId", value) for value in subscription_ids)
        )
        if subscription_ids
        else None
    )
    message = error_message(GetStreamingEvents.name, error, failed, m("ConnectionStatus", "Closed"))
    return response_messages(GetStreamingEvents.name, [message])
