"""The port over the simulator's mailbox store as the tests build it, and the writes the engine makes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from engine.model import Appointment, ItemKind, Side, Task, User
from engine.observation import Observation
from engine.ports import ExchangePort, OccurrenceChange, Write
from tests.harness import OutlookItem

MAILBOXES = ("mueller@example.com", "schmidt@example.com", "weber@example.com")
MAILBOX = MAILBOXES[0]
USER = User(login="mueller", mailbox=MAILBOX, allow_sync=True)


def creating(
    snapshot: Appointment | Task,
    *,
    write_info_text: bool = False,
    info_text_format: Literal["text", "html"] = "text",
) -> Write:
    """The write the engine makes to create an item in Exchange: every exception with it."""
    return Write(
        side=Side.EXCHANGE,
        operation="create",
        kind=ItemKind(snapshot.kind),
        snapshot=snapshot,
        occurrences=rewritten_occurrences(snapshot),
        write_info_text=write_info_text,
        info_text_format=info_text_format,
    )


def updating(
    item: OutlookItem,
    snapshot: Appointment | Task,
    *,
    occurrences: Sequence[OccurrenceChange] = (),
    pattern_changed: bool = False,
    write_info_text: bool = False,
    expected_version: str | None = None,
) -> Write:
    """The write the engine makes to update `item`, read at its current ChangeKey by default."""
    return Write(
        side=Side.EXCHANGE,
        operation="update",
        kind=ItemKind(snapshot.kind),
        native_id=item.id,
        expected_version=expected_version or item.change_key,
        snapshot=snapshot,
        occurrences=tuple(occurrences),
        pattern_changed=pattern_changed,
        write_info_text=write_info_text,
    )


def rewritten_occurrences(snapshot: Appointment | Task) -> tuple[OccurrenceChange, ...]:
    """Every exception of a series as occurrence changes, as written after a pattern reset."""
    if not isinstance(snapshot, Appointment):
        return ()
    changes = [
        OccurrenceChange(original_start=o.original_start, action="modify", occurrence=o)
        for o in snapshot.modified_occurrences
    ]
    changes += [
        OccurrenceChange(original_start=d, action="delete") for d in snapshot.deleted_occurrences
    ]
    return tuple(sorted(changes, key=lambda change: change.original_start))


def read_all(
    exchange: ExchangePort, kind: ItemKind, checkpoint: str | None
) -> tuple[list[Observation], str, int]:
    """Every observation until the folder has no more, the last checkpoint, and how many
    batches it took."""
    observations: list[Observation] = []
    batches = 0
    while True:
        batch = exchange.read_changes(USER, kind, checkpoint)
        observations += batch.observations
        checkpoint = batch.checkpoint
        batches += 1
        if not batch.more:
            return observations, checkpoint, batches
