"""SyncFolderItems: each folder's change feed.

Create/Update/Delete since an opaque sync state, oldest first, at most N changes per call, with
IncludesLastItemInRange. A sync state is a sealed token naming the mailbox, the folder, the time
it was issued and the version of every item the client has seen; it goes stale only when
`StoreSettings.sync_state_max_age` says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sim import ids
from sim.errors import EwsError, ResponseCode
from sim.model import Item
from sim.store.mailboxes import StorePartMailboxes
from sim.store.records import FolderRecord, MailboxRecord
from sim.store.snapshots import StorePartSnapshots


class SyncChangeKind(StrEnum):
    CREATE = "Create"
    UPDATE = "Update"
    DELETE = "Delete"


@dataclass(frozen=True)
class SyncChange:
    kind: SyncChangeKind
    item_id: str
    item: Item | None


@dataclass(frozen=True)
class SyncBatch:
    """One SyncFolderItems answer: the changes, the state to resume from, and whether done."""

    changes: tuple[SyncChange, ...]
    sync_state: str
    includes_last_item_in_range: bool


class StorePartSync(StorePartSnapshots, StorePartMailboxes):
    """SyncFolderItems over a folder's items and departures."""

    def sync_folder_items(
        self,
        mailbox: str,
        folder: str,
        sync_state: str | None = None,
        max_changes: int = 512,
        ignore: Sequence[str] = (),
    ) -> SyncBatch:
        """Changes in a folder since `sync_state` (None: since the beginning), oldest first."""
        if not 1 <= max_changes <= self.settings.max_sync_changes:
            raise EwsError(
                ResponseCode.INVALID_ARGUMENT,
                f"MaxChangesReturned must be between 1 and {self.settings.max_sync_changes}.",
            )
        with self._lock:
            box = self._mailbox(mailbox)
            target = self._folder(box, folder)
            known = self._open_sync_state(box, target, sync_state)
            ignored = {
                ref.item_number
                for ref in map(ids.parse_id, ignore)
                if isinstance(ref, ids.ItemRef) and ref.mailbox_number == box.number
            }
            pending: list[tuple[int, SyncChangeKind, int]] = []
            present = {
                record.number: record
                for record in box.items.values()
                if record.folder_number == target.number
            }
            for number, record in present.items():
                if number not in known:
                    pending.append((record.version, SyncChangeKind.CREATE, number))
                elif known[number] != record.version:
                    pending.append((record.version, SyncChangeKind.UPDATE, number))
            for number in known.keys() - present.keys():
                seq = box.departures.get((target.number, number), 0)
                pending.append((seq, SyncChangeKind.DELETE, number))
            pending.sort()
            changes: list[SyncChange] = []
            taken = 0
            for seq, kind, number in pending:
                if taken == max_changes:
                    break
                taken += 1
                if kind is SyncChangeKind.DELETE:
                    del known[number]
                else:
                    known[number] = seq
                if number in ignored:
                    continue
                item_id = ids.item_id(ids.ItemRef(box.number, number))
                item = (
                    None if kind is SyncChangeKind.DELETE else self._snapshot(box, present[number])
                )
                changes.append(SyncChange(kind, item_id, item))
            return SyncBatch(
                changes=tuple(changes),
                sync_state=self._seal_sync_state(box, target, known),
                includes_last_item_in_range=taken == len(pending),
            )

    def _seal_sync_state(
        self, mailbox: MailboxRecord, folder: FolderRecord, known: dict[int, int]
    ) -> str:
        return self._seal.seal(
            "syncstate",
            {
                "m": mailbox.number,
                "f": folder.number,
                "t": self.clock.now().timestamp(),
                "k": [[number, version] for number, version in sorted(known.items())],
            },
        )

    def _open_sync_state(
        self, mailbox: MailboxRecord, folder: FolderRecord, sync_state: str | None
    ) -> dict[int, int]:
        if not sync_state:
            return {}
        payload = self._seal.open("syncstate", sync_state)
        invalid = EwsError(
            ResponseCode.INVALID_SYNC_STATE_DATA,
            "Synchronization state data is corrupt or otherwise invalid.",
        )
        if (
            payload is None
            or payload.get("m") != mailbox.number
            or payload.get("f") != folder.number
        ):
            raise invalid
        max_age = self.settings.sync_state_max_age
        issued = datetime.fromtimestamp(float(payload["t"]), UTC)
        if max_age is not None and self.clock.now() - issued > max_age:
            raise invalid
        return {int(number): int(version) for number, version in payload["k"]}
