"""The series the end-to-end rule tests share: a weekly Monday/Wednesday jour fixe in the ERP
and its occurrences moved as the ERP stores them."""

from __future__ import annotations

from datetime import datetime, timedelta

from engine.model import (
    Appointment,
)
from engine.recurrence import Recurrence
from tests.harness import Harness, at

WEEKLY_MON_WED = Recurrence(pattern="weekly", weekdays=("monday", "wednesday"), count=6)


def jour_fixe(world: Harness) -> tuple[str, list[datetime]]:
    """A weekly Monday/Wednesday series in the ERP (Mon 7 Dec, six times) and its original starts."""
    series = world.erp_appointment(
        subject="Jour fixe", start=at(7, 9), end=at(7, 10), rrule=WEEKLY_MON_WED.to_rrule(at(7, 9))
    )
    snapshot = world.erp.snapshot_of(series)
    assert isinstance(snapshot, Appointment)
    return series, snapshot.occurrence_starts()


def moved(original_start: datetime, subject: str) -> dict[str, object]:
    """An occurrence moved two hours later, as the ERP stores it."""
    return {
        "original_start": original_start,
        "start": original_start + timedelta(hours=2),
        "end": original_start + timedelta(hours=3),
        "subject": subject,
        "location": "",
        "busy_status": "busy",
    }
