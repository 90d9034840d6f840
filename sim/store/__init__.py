"""The mailbox store: the simulator's one model of Exchange, usable with or without SOAP.

`MailboxStore` holds mailboxes with their folders (calendar, tasks and a few mail folders),
calendar items and tasks, and applies Exchange's rules to every write:

- Every item has an ItemId and a ChangeKey; every write produces a new ChangeKey and moves
  LastModifiedTime. A stale ChangeKey fails an update only where Exchange would (NeverOverwrite,
  or AutoResolve when the same property changed meanwhile): ErrorIrresolvableConflict.
- A calendar item with a recurrence is a RecurringMaster. Its occurrences are computed (see
  `sim.recurrence`) in the series' time zone; an occurrence is addressed by its own id, by
  OccurrenceItemId (master + 1-based instance index) or here by its original start. Writing to an
  occurrence turns it into an Exception; deleting one adds it to DeletedOccurrences. The master
  reports FirstOccurrence, LastOccurrence, ModifiedOccurrences and DeletedOccurrences.
- Changing a series' pattern or time (Recurrence, Start, End, time zones) drops its exceptions
  and deleted occurrences, as Exchange does.
- Extended properties (PropertySetId/DistinguishedPropertySetId + PropertyName/PropertyId, or
  PropertyTag; with PropertyType) are stored and returned as EWS strings.
- Each folder offers a SyncFolderItems change feed: Create/Update/Delete since an opaque sync
  state, at most N changes per call, with IncludesLastItemInRange.
- Each mailbox has an event log feeding pull and streaming subscriptions (`sim.events`).

Rule violations raise `sim.errors.EwsError` with the ResponseCode Exchange would answer.
All methods are thread-safe (one re-entrant lock); returned items are immutable snapshots.

The store is composed of one part per concern, as Radicale composes its storage backend:

- `base`: settings, lock, change sequence, notification hub; `records`: what is kept
- `mailboxes`: mailboxes and folders
- `occurrences`, `snapshots`, `items`: computing occurrences, the snapshots handed out, reads
- `changes`, `series`, `writes`: ChangeKeys and notifications of a write, writing one
  occurrence, creating/updating/deleting items
- `sync`: SyncFolderItems; `subscriptions`: pull and streaming subscriptions
"""

from sim.events import Notification
from sim.store.base import StoreSettings
from sim.store.changes import ConflictResolution
from sim.store.records import ExceptionRecord, FolderRecord, ItemRecord, MailboxRecord
from sim.store.subscriptions import StorePartSubscriptions
from sim.store.sync import StorePartSync, SyncBatch, SyncChange, SyncChangeKind
from sim.store.writes import StorePartWrites

__all__ = [
    "ConflictResolution",
    "MailboxStore",
    "Notification",
    "StoreSettings",
    "SyncBatch",
    "SyncChange",
    "SyncChangeKind",
]


class MailboxStore(StorePartWrites, StorePartSync, StorePartSubscriptions):
    """Mailboxes, folders, items, change feeds and subscriptions, with Exchange semantics."""


# The names `--data` snapshots written while the store was one module pickled its records under.
_Folder = FolderRecord
_Exception = ExceptionRecord
_Record = ItemRecord
_Mailbox = MailboxRecord
