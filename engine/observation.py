"""What the adapters report: one Observation per item change seen on either side.

An observation carries everything `decide` needs and nothing it would have to look up: the
normalised snapshot (or the typed error that prevented one), the native id and version, the
stream id written on the item (if any), the user's eligibility at that moment and the time it was
seen. Recorded as the first event of every decision, it makes replay exact.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Literal

from engine.model import Frozen, ItemKind, ItemSnapshot, Side, User

# Namespace for stream ids derived from native ids; never change it (ids are stored on items).
STREAM_NAMESPACE = uuid.UUID("5c1f3a52-7d4e-4f0a-9a57-e1b4c1a8e0d1")


def derive_stream_id(side: Side, user: str, kind: ItemKind, native_id: str) -> uuid.UUID:
    """The stream id of an item first seen on `side`; written onto the other side on transfer."""
    return uuid.uuid5(
        STREAM_NAMESPACE, f"{side.value}\x1f{user.lower()}\x1f{kind.value}\x1f{native_id}"
    )


class Change(StrEnum):
    CHANGED = "changed"  # created or modified
    DELETED = "deleted"
    BASELINE = "baseline"  # existed when sync was set up for the user (R5)
    INVALID = "invalid"  # exists, but cannot be read as a valid item (typed error)


class Origin(StrEnum):
    """Who wrote the change, where the side can tell (the ERP feed can)."""

    USER = "user"
    SYNC = "sync"
    UNKNOWN = "unknown"


class ItemError(Frozen):
    code: str
    message: str
    field: str | None = None


class Observation(Frozen):
    side: Side
    kind: ItemKind
    user: str
    native_id: str
    change: Change
    observed_at: datetime  # when the engine saw it (the injected clock)
    # When that side last modified the item, by the side's own clock: the ERP row's change time
    # (its change-feed entry), Exchange's LastModifiedTime. `newest_wins` compares these. None
    # where the side does not say (a deletion, events recorded before the field existed):
    # `observed_at` stands in for it then.
    modified_at: datetime | None = None
    native_version: str | None = None
    snapshot: ItemSnapshot | None = None
    error: ItemError | None = None
    sync_id: uuid.UUID | None = None  # the stream id carried by the item, if it has one
    origin: Origin = Origin.UNKNOWN
    # Inputs the runtime adds before deciding (recorded, so replay needs no lookups); the
    # eligibility is that of the user whose stream records the observation:
    user_eligible: bool = True
    user_reason: str = ""
    # The ERP row belonged to this user's stream until now: the ERP moved it to `user` (issue 10).
    moved_from: str | None = None
    # Recorded by engines before the deletion guard became an input of `decide` itself (R17);
    # kept so that their logs still read, and ignored.
    deletions_paused: bool = False

    @property
    def changed_at(self) -> datetime:
        """The time `newest_wins` goes by: the side's modification time, else when it was seen."""
        return self.modified_at or self.observed_at

    @property
    def stream_id(self) -> uuid.UUID:
        return self.sync_id or derive_stream_id(self.side, self.user, self.kind, self.native_id)


class UserChange(Frozen):
    """A saved ERP user row (R11): the engine re-checks that user at once."""

    kind: Literal["user"] = "user"
    user: User
    deleted: bool = False
    observed_at: datetime


class Trigger(Frozen):
    """A non-observation reason to decide again: retry due, scope change, guard released."""

    name: Literal["retry", "scope_left", "scope_entered", "deletions_released"]
    at: datetime
    reason: str = ""
    user_eligible: bool = True
    user_reason: str = ""
