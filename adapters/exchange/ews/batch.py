"""Many writes of one mailbox in a few EWS requests (`engine.ports.BatchWrites` for `EwsExchange`).

Creates: one FindItem per folder for the writes' sync ids (a restriction OR-ing up to `CHUNK` of
them: a creation repeated after a crash finds the item it made, R15), then one CreateItem with
every item not found (exchangelib's `bulk_create`, SendMeetingInvitations=SendToNone). Deletes:
one GetItem for the items' current ChangeKeys (a change made since is a conflict), then one
DeleteItem (`bulk_delete`: to Deleted Items unless configured otherwise, no cancellations).
Exchange answers each item of a batch on its own, and so does this: an item it refuses fails
alone with its error (R18), the others are made.

Updates of fields (no pattern, no exceptions): one GetItem for the items as they are, one
UpdateItem with the fields that differ on each (`bulk_update`; NeverOverwrite where the engine
names the ChangeKey it read, so a change made since is that item's conflict).

What does not fit one request goes through `apply`, one write at a time: a series with
exceptions or a new pattern (written occurrence by occurrence), an item found already created,
a delete by sync id.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, Final

from exchangelib import CalendarItem
from exchangelib import Task as EwsTask
from exchangelib.items.base import AUTO_RESOLVE, NEVER_OVERWRITE, SEND_TO_NONE
from exchangelib.properties import ItemId

from adapters.exchange.batching import in_order
from adapters.exchange.ews import reading, writing
from adapters.exchange.ews.errors import as_side_errors, side_error
from adapters.exchange.ews.items import appointment_of, sync_id_of, task_of
from engine.errors import InvalidItem, NotFound, PermanentError, SideError, VersionConflict
from engine.model import Appointment, ItemKind, Task, User
from engine.ports import Write, WriteResult

if TYPE_CHECKING:
    from adapters.exchange.ews.port import EwsExchange

CHUNK: Final = 100  # items per request (exchangelib's default chunk size, too)

Outcome = WriteResult | SideError | None  # None: left to `apply`
Pair = tuple[uuid.UUID, Write]


def apply_many(
    port: EwsExchange, user: User, writes: Sequence[Pair]
) -> list[WriteResult | SideError]:
    account = port.account_of(user)
    outcomes: dict[int, Outcome] = {}
    run = partial(_run, renew_token=port.renew_token)
    for kind in ItemKind:
        creates = [i for i, (_, w) in enumerate(writes) if w.kind is kind and _batched_create(w)]
        deletes = [
            i
            for i, (_, w) in enumerate(writes)
            if w.kind is kind and w.operation == "delete" and w.native_id
        ]
        for start in range(0, len(creates), CHUNK):
            chunk = creates[start : start + CHUNK]
            run(outcomes, chunk, partial(_create, account, kind, [writes[i] for i in chunk]))
        updates = [i for i, (_, w) in enumerate(writes) if w.kind is kind and _batched_update(w)]
        for start in range(0, len(updates), CHUNK):
            chunk = updates[start : start + CHUNK]
            run(outcomes, chunk, partial(_update, account, kind, [writes[i] for i in chunk]))
        for start in range(0, len(deletes), CHUNK):
            chunk = deletes[start : start + CHUNK]
            pairs = [writes[i] for i in chunk]
            run(outcomes, chunk, partial(_delete, account, kind, pairs, port.delete_type))
    return in_order(port, user, writes, outcomes)


def _batched_create(write: Write) -> bool:
    return write.operation == "create" and not (
        isinstance(write.snapshot, Appointment) and write.occurrences
    )


def _batched_update(write: Write) -> bool:
    """An update that is fields only: no pattern to write, no exceptions to (re)apply."""
    target = write.snapshot
    return (
        write.operation == "update"
        and bool(write.native_id)
        and not write.occurrences
        and not write.pattern_changed
        and (
            isinstance(target, Task) or (isinstance(target, Appointment) and not target.recurrence)
        )
    )


def _run(
    outcomes: dict[int, Outcome],
    indices: list[int],
    batch: Callable[[], list[Outcome]],
    renew_token: Callable[[], None] | None = None,
) -> None:
    """One batch's outcomes by write; a request that fails as a whole fails each of its writes
    (after a 401 with a new token for the next attempt)."""
    try:
        with as_side_errors(renew_token):
            answers = batch()
    except SideError as error:
        answers = [error] * len(indices)
    for index, answer in zip(indices, answers, strict=True):
        outcomes[index] = answer


def _create(account: Any, kind: ItemKind, writes: list[Pair]) -> list[Outcome]:
    folder = reading.folder_of(account, kind)
    made_before = reading.find_sync_ids(account, kind, [stream_id for stream_id, _ in writes])
    answers: list[Outcome] = [None] * len(writes)
    items: list[tuple[int, Any]] = []
    for n, (stream_id, write) in enumerate(writes):
        if stream_id in made_before:
            continue  # an earlier attempt created it: `apply` makes it exactly the target
        try:
            item = writing.new_item(account, stream_id, write)
            # exchangelib checks every item before sending (end after start, …): one it refuses
            # would fail the whole request, so each is checked here, alone.
            item.clean(version=account.version)
        except InvalidItem as error:  # e.g. a time zone Exchange has no id for
            answers[n] = PermanentError(f"{error.code}: {error.message}")
        except Exception as error:
            answers[n] = side_error(error)
        else:
            items.append((n, item))
    if items:
        created = account.bulk_create(
            folder=folder,
            items=[item for _, item in items],
            send_meeting_invitations=SEND_TO_NONE,
            chunk_size=CHUNK,
        )
        for (n, _), result in zip(items, created, strict=True):
            answers[n] = (
                side_error(result)
                if isinstance(result, BaseException)
                else WriteResult(native_id=str(result.id), native_version=str(result.changekey))
            )
    return answers


def _update(account: Any, kind: ItemKind, writes: list[Pair]) -> list[Outcome]:
    """One GetItem for the items as they are, one UpdateItem of the fields that differ (with
    NeverOverwrite where the engine names the ChangeKey it read) — as `apply` updates one."""
    ids = [write.native_id or "" for _, write in writes]
    current = reading.get_items(account, kind, ids)
    present = [
        item
        for item in current
        if not isinstance(item, BaseException) and reading.in_folder(account, kind, item)
    ]
    exceptions = reading.get_exceptions(account, present) if kind is ItemKind.APPOINTMENT else {}
    answers: list[Outcome] = [None] * len(writes)
    checked: dict[bool, list[tuple[int, Any, list[str]]]] = {True: [], False: []}
    model = EwsTask if kind is ItemKind.TASK else CalendarItem
    for n, ((stream_id, write), item) in enumerate(zip(writes, current, strict=True)):
        if isinstance(item, reading.GONE) or (
            not isinstance(item, BaseException) and not reading.in_folder(account, kind, item)
        ):
            answers[n] = NotFound(f"item {ids[n]} is not in the {kind.value} folder")
            continue
        if isinstance(item, BaseException):
            answers[n] = side_error(item)
            continue
        if write.expected_version not in (None, item.changekey):
            answers[n] = VersionConflict(f"item {ids[n]} changed since it was read")
            continue
        try:
            now = _content(kind, item, exceptions)
            carries = _carried(item) == stream_id
            fields = writing.update_fields_for(now, write, stream_id, carries=carries)
            changed = model(account=account, id=ids[n], changekey=item.changekey, **fields)
        except InvalidItem as error:
            answers[n] = PermanentError(f"{error.code}: {error.message}")
            continue
        except Exception as error:  # exchangelib refuses a value: this item's error alone
            answers[n] = side_error(error)
            continue
        if not fields:
            answers[n] = WriteResult(native_id=ids[n], native_version=str(item.changekey))
        else:
            checked[write.expected_version is not None].append((n, changed, list(fields)))
    for check_version, group in checked.items():
        if not group:
            continue
        updated = account.bulk_update(
            [(changed, names) for _, changed, names in group],
            conflict_resolution=NEVER_OVERWRITE if check_version else AUTO_RESOLVE,
            send_meeting_invitations_or_cancellations=SEND_TO_NONE,
            chunk_size=CHUNK,
        )
        for (n, _, _), result in zip(group, updated, strict=True):
            answers[n] = (
                side_error(result)
                if isinstance(result, BaseException)
                else WriteResult(native_id=str(result[0]), native_version=str(result[1]))
            )
    return answers


def _content(
    kind: ItemKind, item: Any, exceptions: dict[str, list[Any]]
) -> Appointment | Task | None:
    try:
        if kind is ItemKind.TASK:
            return task_of(item)
        return appointment_of(item, exceptions.get(str(item.id), ()))
    except InvalidItem:
        return None  # unreadable as it is: every field is written


def _carried(item: Any) -> uuid.UUID | None:
    try:
        return sync_id_of(item)
    except InvalidItem:
        return None


def _delete(account: Any, kind: ItemKind, writes: list[Pair], delete_type: str) -> list[Outcome]:
    ids = [write.native_id or "" for _, write in writes]
    current = reading.get_items(account, kind, ids)
    answers: list[Outcome] = [None] * len(writes)
    doomed: list[tuple[int, ItemId]] = []
    for n, ((_, write), item) in enumerate(zip(writes, current, strict=True)):
        if isinstance(item, reading.GONE) or (
            not isinstance(item, BaseException) and not reading.in_folder(account, kind, item)
        ):
            answers[n] = NotFound(f"item {ids[n]} is not in the {kind.value} folder")
        elif isinstance(item, BaseException):
            answers[n] = side_error(item)
        elif write.expected_version not in (None, item.changekey):
            answers[n] = VersionConflict(f"item {ids[n]} changed since it was read")
        else:
            doomed.append((n, ItemId(id=ids[n], changekey=item.changekey)))
    if doomed:
        deleted = account.bulk_delete(
            [item_id for _, item_id in doomed],
            delete_type=delete_type,
            send_meeting_cancellations="SendToNone",
            affected_task_occurrences="AllOccurrences",
            chunk_size=CHUNK,
        )
        for (n, item_id), result in zip(doomed, deleted, strict=True):
            answers[n] = (
                side_error(result)
                if isinstance(result, BaseException)
                else WriteResult(native_id=str(item_id.id))
            )
    return answers
