"""What the Exchange port's contract tests share: the appointments they write and the helpers
that make, move and fetch them."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Literal

from engine.model import (
    Appointment,
    ItemKind,
    ModifiedOccurrence,
    Task,
)
from engine.observation import Change
from engine.recurrence import Recurrence
from tests.exchange.support import (
    USER,
    creating,
)
from tests.harness import Outlook, at

KICKOFF = Appointment(subject="Kickoff", start=at(1, 9), end=at(1, 10), location="Room 1")
MON_WED = Recurrence(pattern="weekly", weekdays=("monday", "wednesday"), count=6)
MON_FRI = Recurrence(pattern="weekly", weekdays=("monday", "friday"), count=6)
JOUR_FIXE = Appointment(subject="Jour fixe", start=at(7, 9), end=at(7, 10), recurrence=MON_WED)
STARTS = JOUR_FIXE.occurrence_starts()  # Mon 7, Wed 9, Mon 14, Wed 16, Mon 21, Wed 23 Dec


def moved(
    original_start: datetime, hours: int = 2, subject: str = "Jour fixe (moved)"
) -> ModifiedOccurrence:
    return ModifiedOccurrence(
        original_start=original_start,
        start=original_start + timedelta(hours=hours),
        end=original_start + timedelta(hours=hours + 1),
        subject=subject,
    )


def with_exceptions(series: Appointment = JOUR_FIXE) -> Appointment:
    """The series with its 2nd occurrence moved and its 3rd deleted."""
    starts = series.occurrence_starts(until=series.start.date() + timedelta(days=366 * 6))
    return series.replace(
        modified_occurrences=(moved(starts[1], hours=1),), deleted_occurrences=(starts[2],)
    )


def created(
    exchange: Outlook,
    snapshot: Appointment | Task,
    *,
    write_info_text: bool = False,
    info_text_format: Literal["text", "html"] = "text",
) -> str:
    write = creating(snapshot, write_info_text=write_info_text, info_text_format=info_text_format)
    return exchange.apply(USER, uuid.uuid4(), write).native_id


def fetched(
    exchange: Outlook, item_id: str, kind: ItemKind = ItemKind.APPOINTMENT
) -> Appointment | Task:
    observation = exchange.fetch(USER, kind, item_id)
    assert observation.change is Change.CHANGED and observation.snapshot is not None, observation
    return observation.snapshot
