"""Mailboxes and their folders: creating a mailbox with Exchange's default folders, and
resolving a folder by distinguished name ("calendar", "tasks", ...) or FolderId.
"""

from __future__ import annotations

from sim import ids
from sim.errors import EwsError, ResponseCode
from sim.model import DistinguishedFolder, FolderInfo, FolderKind
from sim.store.base import StoreBase
from sim.store.records import FolderRecord, MailboxRecord

# Folders every mailbox gets: distinguished id, display name, element kind, folder class, parent.
_DEFAULT_FOLDERS: tuple[
    tuple[DistinguishedFolder, str, FolderKind, str | None, int | None], ...
] = (
    (DistinguishedFolder.ROOT, "", FolderKind.FOLDER, None, None),
    (DistinguishedFolder.MSGFOLDERROOT, "Top of Information Store", FolderKind.FOLDER, None, 1),
    (DistinguishedFolder.CALENDAR, "Calendar", FolderKind.CALENDAR, "IPF.Appointment", 2),
    (DistinguishedFolder.TASKS, "Tasks", FolderKind.TASKS, "IPF.Task", 2),
    (DistinguishedFolder.INBOX, "Inbox", FolderKind.FOLDER, "IPF.Note", 2),
    (DistinguishedFolder.SENT_ITEMS, "Sent Items", FolderKind.FOLDER, "IPF.Note", 2),
    (DistinguishedFolder.DELETED_ITEMS, "Deleted Items", FolderKind.FOLDER, "IPF.Note", 2),
)
_DISTINGUISHED_NAMES = frozenset(folder.value for folder in DistinguishedFolder)


class StorePartMailboxes(StoreBase):
    """Mailboxes and folders."""

    def add_mailbox(self, address: str, display_name: str | None = None) -> str:
        """Create a mailbox with its default folders; returns the primary SMTP address."""
        with self._lock:
            key = address.strip().lower()
            if key in self._mailboxes:
                raise ValueError(f"mailbox {address} exists")
            number = ids.new_mailbox_number(self._by_number)
            mailbox = MailboxRecord(number, address.strip(), display_name or address.split("@")[0])
            for folder_number, (distinguished, name, kind, folder_class, parent) in enumerate(
                _DEFAULT_FOLDERS, start=1
            ):
                mailbox.folders[folder_number] = FolderRecord(
                    folder_number, number, name, kind, folder_class, parent, distinguished
                )
                mailbox.distinguished[distinguished] = folder_number
            self._mailboxes[key] = mailbox
            self._by_number[number] = mailbox
            return mailbox.address

    def has_mailbox(self, address: str) -> bool:
        with self._lock:
            return address.strip().lower() in self._mailboxes

    def mailbox_addresses(self) -> list[str]:
        with self._lock:
            return [mailbox.address for mailbox in self._by_number.values()]

    def _mailbox(self, address: str) -> MailboxRecord:
        mailbox = self._mailboxes.get(address.strip().lower())
        if mailbox is None:
            raise EwsError(
                ResponseCode.NON_EXISTENT_MAILBOX,
                "The SMTP address has no mailbox associated with it.",
            )
        return mailbox

    def _folder(self, mailbox: MailboxRecord, folder: str) -> FolderRecord:
        """A folder by distinguished name ("calendar") or by FolderId, within `mailbox`."""
        if folder in _DISTINGUISHED_NAMES:
            return mailbox.folders[mailbox.distinguished[DistinguishedFolder(folder)]]
        ref = ids.parse_id(folder)
        if isinstance(ref, ids.FolderRef) and ref.mailbox_number == mailbox.number:
            found = mailbox.folders.get(ref.folder_number)
            if found is not None:
                return found
        if ref is None:
            raise EwsError(ResponseCode.INVALID_ID_MALFORMED, "Id is malformed.")
        raise EwsError(
            ResponseCode.FOLDER_NOT_FOUND, "The specified folder could not be found in the store."
        )

    def _folder_info(self, mailbox: MailboxRecord, folder: FolderRecord) -> FolderInfo:
        return FolderInfo(
            folder_id=folder.folder_id,
            change_key=ids.change_key(0, folder.number),
            mailbox=mailbox.address,
            display_name=folder.display_name,
            kind=folder.kind,
            folder_class=folder.folder_class,
            parent_id=None
            if folder.parent_number is None
            else mailbox.folders[folder.parent_number].folder_id,
            distinguished=folder.distinguished,
            child_folder_count=sum(
                1 for other in mailbox.folders.values() if other.parent_number == folder.number
            ),
            total_count=sum(
                1 for record in mailbox.items.values() if record.folder_number == folder.number
            ),
        )

    def folder(self, mailbox: str, folder: str) -> FolderInfo:
        """A folder of `mailbox` by distinguished name ("calendar", "tasks", ...) or FolderId."""
        with self._lock:
            box = self._mailbox(mailbox)
            return self._folder_info(box, self._folder(box, folder))

    def folders(self, mailbox: str) -> list[FolderInfo]:
        with self._lock:
            box = self._mailbox(mailbox)
            return [self._folder_info(box, folder) for folder in box.folders.values()]

    def folder_mailbox(self, folder_id: str) -> str:
        """The mailbox a FolderId belongs to."""
        with self._lock:
            ref = ids.parse_id(folder_id)
            if not isinstance(ref, ids.FolderRef) or ref.mailbox_number not in self._by_number:
                raise EwsError(
                    ResponseCode.FOLDER_NOT_FOUND,
                    "The specified folder could not be found in the store.",
                )
            return self._by_number[ref.mailbox_number].address
