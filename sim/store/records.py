"""The records the store keeps per mailbox, folder and item (what `sim.persistence` pickles).

Records are mutable and never leave the store: readers get immutable snapshots (`sim.model`).
An occurrence is not a record but computed from its master (`StorePartOccurrences`); only its
changes are kept, as an `ExceptionRecord` by original start or in `deleted_occurrences`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sim import ids
from sim.errors import EwsError, ResponseCode
from sim.model import CalendarFields, DistinguishedFolder, FolderKind, ItemKind, TaskFields
from sim.recurrence import EwsRecurrence


@dataclass
class FolderRecord:
    """A folder of a mailbox; its FolderId names the mailbox and the folder number."""

    number: int
    mailbox_number: int
    display_name: str
    kind: FolderKind
    folder_class: str | None
    parent_number: int | None
    distinguished: DistinguishedFolder | None

    @property
    def folder_id(self) -> str:
        return ids.folder_id(ids.FolderRef(self.mailbox_number, self.number))


@dataclass
class ExceptionRecord:
    """What an edited occurrence overrides of its master, with the version of that edit."""

    overrides: dict[str, Any]
    version: int
    last_modified: datetime


@dataclass
class ItemRecord:
    """A task, a single appointment or a series master. `field_versions` holds the version
    that last changed each field, for AutoResolve."""

    number: int
    mailbox_number: int
    folder_number: int
    kind: ItemKind
    version: int
    created: datetime
    last_modified: datetime
    field_versions: dict[str, int] = field(default_factory=dict)
    calendar: CalendarFields | None = None
    task: TaskFields | None = None
    uid: str = ""
    recurrence: EwsRecurrence | None = None
    exceptions: dict[datetime, ExceptionRecord] = field(default_factory=dict)
    deleted_occurrences: set[datetime] = field(default_factory=set)

    @property
    def item_id(self) -> str:
        return ids.item_id(ids.ItemRef(self.mailbox_number, self.number))

    @property
    def change_key(self) -> str:
        return ids.change_key(self.version, self.number)

    @property
    def cal(self) -> CalendarFields:
        if self.calendar is None:
            raise EwsError(ResponseCode.INVALID_OPERATION, "The item is not a calendar item.")
        return self.calendar


@dataclass
class MailboxRecord:
    """A mailbox with its folders and items; `departures` feed SyncFolderItems' deletes."""

    number: int
    address: str
    display_name: str
    folders: dict[int, FolderRecord] = field(default_factory=dict)
    distinguished: dict[DistinguishedFolder, int] = field(default_factory=dict)
    items: dict[int, ItemRecord] = field(default_factory=dict)
    # (folder number, item number) -> change sequence when the item left that folder.
    departures: dict[tuple[int, int], int] = field(default_factory=dict)
    item_numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1))


@dataclass(frozen=True)
class Occurrence:
    """One occurrence of a series as computed from its master, with its exception if edited."""

    index: int
    original_start: datetime
    original_end: datetime
    start: datetime
    end: datetime
    exception: ExceptionRecord | None
