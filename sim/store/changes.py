"""What every write does: a new ChangeKey and LastModifiedTime, the ChangeKey check, and the
notification of the change.

A stale ChangeKey fails an update only where Exchange would (NeverOverwrite, or AutoResolve when
the same property changed meanwhile): ErrorIrresolvableConflict.
"""

from __future__ import annotations

from enum import StrEnum

from sim import ids
from sim.errors import EwsError, ResponseCode
from sim.events import EventType
from sim.store.items import StorePartItems
from sim.store.records import FolderRecord, ItemRecord, MailboxRecord


class ConflictResolution(StrEnum):
    NEVER_OVERWRITE = "NeverOverwrite"
    AUTO_RESOLVE = "AutoResolve"
    ALWAYS_OVERWRITE = "AlwaysOverwrite"


class StorePartChanges(StorePartItems):
    """ChangeKey checks and notifications shared by every write."""

    def _publish(self, mailbox: MailboxRecord, record: ItemRecord, event_type: EventType) -> None:
        folder = mailbox.folders[record.folder_number]
        self.notifications.publish(
            mailbox.number,
            event_type,
            folder.folder_id,
            item_id=record.item_id,
            change_key=record.change_key,
        )
        self._publish_folder_modified(mailbox, folder)

    def _publish_folder_modified(self, mailbox: MailboxRecord, folder: FolderRecord) -> None:
        # Exchange also reports the folder itself as modified (its item count changed).
        if folder.parent_number is None:
            return
        self.notifications.publish(
            mailbox.number,
            EventType.MODIFIED,
            mailbox.folders[folder.parent_number].folder_id,
            folder_id=folder.folder_id,
            change_key=ids.change_key(0, folder.number),
            unread_count=0,
        )

    def _check_change_key(
        self,
        record: ItemRecord,
        current_version: int,
        expected_change_key: str | None,
        conflict_resolution: ConflictResolution,
        changing: set[str],
    ) -> None:
        if (
            expected_change_key is None
            or conflict_resolution is ConflictResolution.ALWAYS_OVERWRITE
        ):
            return
        seen = ids.change_key_version(expected_change_key)
        if seen is None:
            raise EwsError(ResponseCode.INVALID_ID_MALFORMED, "The change key is malformed.")
        if seen >= current_version:
            return
        stale = conflict_resolution is ConflictResolution.NEVER_OVERWRITE or any(
            record.field_versions.get(name, 0) > seen for name in changing
        )
        if stale:
            raise EwsError(
                ResponseCode.IRRESOLVABLE_CONFLICT,
                "The send or update operation could not be performed because the change key "
                "passed in the request does not match the current change key for the item.",
            )
