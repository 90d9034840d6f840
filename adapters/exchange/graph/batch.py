"""Many writes of one mailbox in `$batch` rounds (`engine.ports.BatchWrites` for `GraphExchange`).

Creates: the lookups for an item already carrying the stream id (a creation repeated after a
crash, R15) go in `$batch` rounds of 20 (To Do tasks: one listing of the list for all), then the
POSTs of those not found, also in `$batch` rounds (events with the stream id as
`transactionId`, as one by one). Graph answers each request of a batch on its own, and so does
this: a refused item fails alone (R18). Updates, deletes, a series with exceptions and an item
found already created go through `apply`, one by one (each reads the item first).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from adapters.exchange.batching import in_order
from adapters.exchange.graph import reading
from adapters.exchange.graph.client import Request, user_path
from adapters.exchange.graph.items import SYNC_ID_PROPERTY
from adapters.exchange.graph.writing import Writer, change_key
from engine.errors import InvalidItem, PermanentError, SideError
from engine.model import Appointment, ItemKind, User
from engine.ports import Write, WriteResult

if TYPE_CHECKING:
    from adapters.exchange.graph.port import GraphExchange

Pair = tuple[uuid.UUID, Write]


def apply_many(
    port: GraphExchange, user: User, writes: Sequence[Pair]
) -> list[WriteResult | SideError]:
    mailbox = port.mailbox(user)
    writer = Writer(port, mailbox)
    creates = [
        i
        for i, (_, write) in enumerate(writes)
        if write.operation == "create"
        and not (isinstance(write.snapshot, Appointment) and write.occurrences)
    ]
    outcomes: dict[int, WriteResult | SideError] = {}
    try:
        made_before = _made_before(port, mailbox, [writes[i] for i in creates])
        posts: list[tuple[int, Request]] = []
        for i, found in zip(creates, made_before, strict=True):
            if not found:
                try:
                    posts.append((i, _post(writer, *writes[i])))
                except InvalidItem as error:  # e.g. a time zone Exchange has no id for
                    outcomes[i] = PermanentError(f"{error.code}: {error.message}")
        answers = port.client.batch(mailbox, [request for _, request in posts])
    except SideError as error:  # the mailbox or the server: every create fails with it
        outcomes.update({i: error for i in creates if i not in outcomes})
    else:
        for (i, _), answer in zip(posts, answers, strict=True):
            outcomes[i] = (
                answer
                if isinstance(answer, SideError)
                else WriteResult(native_id=str(answer["id"]), native_version=change_key(answer))
            )
    return in_order(port, user, writes, outcomes)


def _post(writer: Writer, stream_id: uuid.UUID, write: Write) -> Request:
    body = writer.fields(stream_id, write)
    if write.kind is ItemKind.APPOINTMENT:
        body["transactionId"] = str(stream_id)
    return Request("POST", writer.path(write.kind), body)


def _made_before(port: GraphExchange, mailbox: str, writes: Sequence[Pair]) -> list[bool]:
    """Whether an item carries each write's stream id already."""
    events = [str(stream_id) for stream_id, w in writes if w.kind is ItemKind.APPOINTMENT]
    lookups = [
        Request("GET", f"{user_path(mailbox)}/events?$filter={quote(_carrying(s))}&$select=id")
        for s in events
    ]
    found_events = {
        stream_id
        for stream_id, answer in zip(events, port.client.batch(mailbox, lookups), strict=True)
        if _found(answer)
    }
    tasks: set[str] = set()
    if any(w.kind is ItemKind.TASK for _, w in writes):
        tasks = reading.task_stream_ids(port.client, mailbox, port.list_id(mailbox))
    return [str(stream_id) in (found_events | tasks) for stream_id, _ in writes]


def _carrying(stream_id: str) -> str:
    return (
        f"singleValueExtendedProperties/Any(ep: ep/id eq '{SYNC_ID_PROPERTY}' "
        f"and ep/value eq '{stream_id}')"
    )


def _found(answer: Any) -> bool:
    if isinstance(answer, SideError):
        raise answer
    return bool((answer or {}).get("value"))
