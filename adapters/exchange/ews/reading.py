"""Reads of one mailbox folder over EWS: changes (SyncFolderItems), items (GetItem), search.

Microsoft's pattern: ID-only SyncFolderItems says *what* changed (at most 512 changes a call),
GetItem in batches says *how*. A series' exceptions are read with it, one more GetItem for all
exceptions of the batch. Every function takes an exchangelib `Account` and lets exchangelib's
errors through; `port.py` translates them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from exchangelib import CalendarItem
from exchangelib.errors import ErrorInvalidIdMalformed, ErrorItemNotFound
from exchangelib.items.base import ID_ONLY
from exchangelib.properties import ItemId
from exchangelib.services import SyncFolderItems

from adapters.exchange.ews.items import CALENDAR_FIELDS, OCCURRENCE_FIELDS, TASK_FIELDS
from adapters.exchange.ews.properties import SYNC_ID
from engine.model import ItemKind

MAX_CHANGES: Final = 512  # EWS's limit for one SyncFolderItems call
GET_ITEM_BATCH: Final = 100
# An id Exchange does not know (or cannot parse) names no item of the user's.
GONE: Final = (ErrorItemNotFound, ErrorInvalidIdMalformed)


@dataclass(frozen=True)
class FolderChanges:
    created: tuple[str, ...]
    updated: tuple[str, ...]
    deleted: tuple[str, ...]
    sync_state: str
    last: bool  # IncludesLastItemInRange


def folder_of(account: Any, kind: ItemKind) -> Any:
    return account.calendar if kind is ItemKind.APPOINTMENT else account.tasks


def fields_of(kind: ItemKind) -> tuple[str, ...]:
    return CALENDAR_FIELDS if kind is ItemKind.APPOINTMENT else TASK_FIELDS


def sync_folder(
    account: Any, kind: ItemKind, sync_state: str | None, max_changes: int = MAX_CHANGES
) -> FolderChanges:
    """One ID-only SyncFolderItems call from `sync_state` (None: from the start)."""
    service = SyncFolderItems(account=account)
    created: list[str] = []
    updated: list[str] = []
    deleted: list[str] = []
    results = service.call(
        folder=folder_of(account, kind),
        shape=ID_ONLY,
        additional_fields=set(),
        sync_state=sync_state,
        ignore=None,
        max_changes_returned=min(max_changes, MAX_CHANGES),
        sync_scope=None,
    )
    for result in results:
        if isinstance(result, Exception):
            raise result
        change, item = result
        if change == SyncFolderItems.CREATE:
            created.append(item.id)
        elif change == SyncFolderItems.UPDATE:
            updated.append(item.id)
        elif change == SyncFolderItems.DELETE:
            deleted.append(item.id)
        # ReadFlagChange: not content
    return FolderChanges(
        created=tuple(created),
        updated=tuple(updated),
        deleted=tuple(deleted),
        sync_state=service.sync_state,
        last=bool(service.includes_last_item_in_range),
    )


def get_items(account: Any, kind: ItemKind, ids: Sequence[str]) -> list[Any]:
    """The items (or the exchangelib error for each one that failed), in the order of `ids`."""
    found: list[Any] = []
    for start in range(0, len(ids), GET_ITEM_BATCH):
        batch = [ItemId(id=i) for i in ids[start : start + GET_ITEM_BATCH]]
        found += account.fetch(
            batch, folder=folder_of(account, kind), only_fields=list(fields_of(kind))
        )
    return found


def get_exceptions(account: Any, masters: Iterable[Any]) -> dict[str, list[Any]]:
    """Master id -> its modified occurrences as items (subject, location, ...), in batches."""
    wanted = [
        (master.id, occurrence.id)
        for master in masters
        if isinstance(master, CalendarItem)
        for occurrence in master.modified_occurrences or ()
    ]
    exceptions: dict[str, list[Any]] = {}
    for start in range(0, len(wanted), GET_ITEM_BATCH):
        batch = wanted[start : start + GET_ITEM_BATCH]
        items = account.fetch(
            [ItemId(id=occurrence) for _, occurrence in batch],
            folder=account.calendar,
            only_fields=list(OCCURRENCE_FIELDS),
        )
        for (master_id, _), item in zip(batch, items, strict=True):
            if isinstance(item, Exception):
                raise item
            exceptions.setdefault(master_id, []).append(item)
    return exceptions


def find_by_sync_id(account: Any, kind: ItemKind, stream_id: uuid.UUID) -> str | None:
    """FindItem in the folder with a restriction on our extended property."""
    query = folder_of(account, kind).filter(**{SYNC_ID: str(stream_id)}).only("id", "changekey")
    for item in query:
        if isinstance(item, Exception):
            raise item
        return str(item.id)
    return None


def find_sync_ids(account: Any, kind: ItemKind, stream_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of the stream ids items in the folder carry: one FindItem OR-ing them all."""
    if not stream_ids:
        return set()
    wanted = [str(stream_id) for stream_id in stream_ids]
    query = folder_of(account, kind).filter(**{f"{SYNC_ID}__in": wanted}).only("id", SYNC_ID)
    found: set[uuid.UUID] = set()
    for item in query:
        if isinstance(item, Exception):
            raise item
        value = getattr(item, SYNC_ID, None)
        if value in wanted:
            found.add(uuid.UUID(value))
    return found


def in_folder(account: Any, kind: ItemKind, item: Any) -> bool:
    """Whether an item is a single or master in the user's folder for `kind` (not moved to
    Deleted Items, not an occurrence)."""
    parent = getattr(item, "parent_folder_id", None)
    if parent is None or parent.id != folder_of(account, kind).id:
        return False
    return getattr(item, "type", None) not in ("Occurrence", "Exception")
