"""The two sides as the engine sees them: what it reads, what it writes.

Adapters implement these protocols (the SQL ERP store, EWS, Graph, and the in-memory fakes used
by the core tests). They are deliberately dumb: every rule lives in `decide`; an adapter writes
exactly the snapshot it is given and reports what it sees, normalised into the domain model.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Literal, Protocol

from engine.errors import SideError
from engine.model import Frozen, ItemKind, ItemSnapshot, ModifiedOccurrence, Side, User
from engine.observation import Observation, UserChange

if TYPE_CHECKING:  # engine.state imports this module
    from engine.state import Status

Operation = Literal["create", "update", "delete"]


class OccurrenceChange(Frozen):
    """One occurrence of a series to modify, delete or restore to the pattern (R2)."""

    original_start: datetime
    action: Literal["modify", "delete", "restore"]
    occurrence: ModifiedOccurrence | None = None


class Write(Frozen):
    """A change to make on one side, as decided. `snapshot` is the full target content."""

    side: Side
    operation: Operation
    kind: ItemKind
    native_id: str | None = (
        None  # the item to update or delete (a delete without: the one carrying the stream id)
    )
    expected_version: str | None = None  # optimistic concurrency: fail if it changed since
    snapshot: ItemSnapshot | None = None
    fields: tuple[str, ...] = ()  # fields that differ from that side's current content
    occurrences: tuple[OccurrenceChange, ...] = ()  # series exceptions to (re)apply
    pattern_changed: bool = False  # the series pattern changes: exceptions are rewritten
    write_info_text: bool = True  # Exchange only: whether the body is written at all (R7)
    info_text_format: Literal["text", "html"] = "text"


class WriteResult(Frozen):
    native_id: str
    native_version: str | None = None


class ErpBatch(Frozen):
    changes: tuple[Observation | UserChange, ...]
    position: int  # the feed sequence after the last change in this batch


class ErpPort(Protocol):
    """The ERP database: users, appointments and tasks, and its change feed."""

    def users(self) -> Sequence[User]: ...

    def feed_position(self) -> int:
        """The current end of the change feed (where a new installation starts)."""
        ...

    def read_changes(self, position: int, limit: int = 1000) -> ErpBatch:
        """Feed entries after `position`, each turned into an observation or a user change."""
        ...

    def wait_for_changes(self, position: int, timeout_s: float) -> bool:
        """Block until the feed moves past `position` or the timeout passes; True if it moved."""
        ...

    def baseline(self, user: str, kinds: Iterable[ItemKind]) -> Iterable[Observation]:
        """Every existing item of the user, as `baseline` observations (R5)."""
        ...

    def fetch(self, user: str, kind: ItemKind, native_id: str) -> Observation:
        """The item as it is now (`changed`, `deleted` or `invalid`)."""
        ...

    def apply(self, user: str, stream_id: uuid.UUID, write: Write) -> WriteResult:
        """Make the write, marked as the engine's (origin `sync`); idempotent by stream id."""
        ...


class MailboxStatus(Frozen):
    reachable: bool
    reason: str = ""


class ExchangeBatch(Frozen):
    observations: tuple[Observation, ...]
    checkpoint: str  # the folder's sync state after this batch
    more: bool = False  # the folder has more changes waiting
    # After the stored sync state was refused (EWS ErrorInvalidSyncStateData, Graph 410): the
    # ids of every item the folder holds now, from a full pass. An item the engine knows in
    # that folder and not listed was deleted while the state was lost (no change feed says so).
    listing: frozenset[str] | None = None


class ExchangePort(Protocol):
    """The users' mailboxes (through EWS or Graph): calendar and tasks folders."""

    def check_mailbox(self, user: User) -> MailboxStatus: ...

    def read_changes(self, user: User, kind: ItemKind, checkpoint: str | None) -> ExchangeBatch:
        """Changes in the user's folder since `checkpoint`; from None, the existing items come
        as `baseline` observations (R5)."""
        ...

    def fetch(self, user: User, kind: ItemKind, native_id: str) -> Observation: ...

    def apply(self, user: User, stream_id: uuid.UUID, write: Write) -> WriteResult:
        """Make the write and store `stream_id` on the item. A create finds an item that
        already carries that stream id (a creation repeated after a crash) and makes it exactly
        the write's snapshot, exceptions included, instead of creating a second one."""
        ...

    def find_by_stream_id(self, user: User, kind: ItemKind, stream_id: uuid.UUID) -> str | None: ...


class BatchWrites(Protocol):
    """Optional for an `ExchangePort`: many writes of one user in as few requests as the side
    allows (EWS: one CreateItem / UpdateItem / DeleteItem with many items; Graph: `$batch`).
    The engine uses it when a round has several writes for one mailbox."""

    def apply_many(
        self, user: User, writes: Sequence[tuple[uuid.UUID, Write]]
    ) -> list[WriteResult | SideError]:
        """Each write as `apply(user, stream_id, write)` would make it, sync id and all; one
        result per write, in order: a write that fails is its error (R18), the others are made.
        Raises only what fails them all (the mailbox or the server cannot be reached)."""
        ...


class ItemIndex(Protocol):
    """The engine's lookups over what it has recorded: which items exist, which wait for a
    retry or a write, which belong to a user. Implemented by the projections
    (`projections.projector.Projector`); the engine never imports them."""

    def run(self, *, per_transaction: int | None = None) -> int: ...

    def stream_ids(self) -> set[uuid.UUID]: ...

    def exchange_ids(self) -> dict[tuple[str, str], uuid.UUID]: ...

    def erp_ids(self) -> dict[tuple[ItemKind, str], uuid.UUID]:
        """(kind, ERP row id) → the stream holding that row: not one it was moved away from."""
        ...

    def retries(self) -> dict[uuid.UUID, datetime]: ...

    def streams_in_flight(self) -> list[uuid.UUID]: ...

    def streams_of_user(self, user: str, *, status: Status | None = None) -> list[uuid.UUID]: ...


class SubscriptionStatus(Frozen):
    """Whether a user's mailbox is watched for changes, and why not (R12's server status)."""

    alive: bool
    reason: str = ""
    mode: Literal["streaming", "pull", ""] = ""
    retry_at: datetime | None = None  # when an unreachable mailbox is tried again


class ChangeSignals(Protocol):
    """Notifications from the users' mailboxes: *when* a folder changed (R3). What changed is
    read from the folder's stored sync state (`ExchangePort.read_changes`)."""

    def watch(self, users: Sequence[User]) -> None:
        """The mailboxes to watch from now on: new ones are subscribed, the rest unsubscribed
        (R11: user changes take effect live). Returns at once; subscribing runs behind it."""
        ...

    def wait(self, timeout_s: float) -> set[tuple[str, ItemKind]]:
        """Folders with news, by login, since the last call; empty when `timeout_s` passes
        first. A folder is also reported when its notifications may have been missed (start-up,
        a new subscription, a reconnect): then the engine catches up from its sync state."""
        ...

    def status(self, login: str) -> SubscriptionStatus: ...

    def close(self) -> None: ...
