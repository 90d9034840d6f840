"""Sample ERP rows and snapshots shared by the ERP store tests."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from adapters.erp.editing import ErpEditor
from adapters.erp.schema import users
from engine.model import Appointment, ModifiedOccurrence, Participant, Task
from engine.recurrence import Recurrence

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


def appointment_fields(user: str = "mueller", **fields: Any) -> dict[str, Any]:
    return {
        "user_login": user,
        "subject": "Project meeting",
        "starts_at": berlin(2026, 11, 2, 9),
        "ends_at": berlin(2026, 11, 2, 10),
        "location": "Room 1",
        **fields,
    }


def weekly_series(user: str = "mueller", **fields: Any) -> dict[str, Any]:
    return appointment_fields(
        user, **{"subject": "Jour fixe", "rrule": "FREQ=WEEKLY;BYDAY=MO", **fields}
    )


def existing_user(erp: ErpEditor, login: str, fields: dict[str, Any]) -> int:
    """The user's row id; added with these fields if the ERP does not have it yet."""
    with erp.engine.connect() as conn:
        found = conn.execute(sa.select(users.c.id).where(users.c.login == login)).scalar()
    return erp.add("user", {"login": login, **fields}) if found is None else int(found)


def seed(erp: ErpEditor) -> dict[str, int]:
    """A user with a weekly series (one exception, one participant) and a task."""
    ids = {
        "user": existing_user(erp, "mueller", {"allow_exchange_sync": True}),
        "appointment": erp.add("appointment", weekly_series()),
        "task": erp.add("task", {"user_login": "mueller", "subject": "Call back"}),
    }
    ids["exception"] = erp.set_exception(
        ids["appointment"], berlin(2026, 11, 9, 9), {"subject": "Jour fixe (moved)"}
    )
    ids["participant"] = erp.add(
        "participant", {"appointment_id": ids["appointment"], "email": "a@example.com"}
    )
    return ids


def imported_series() -> Appointment:
    """A series as the engine would import it from Exchange."""
    return Appointment(
        subject="Team sync",
        start=berlin(2026, 11, 3, 14),
        end=berlin(2026, 11, 3, 15),
        location="Online",
        info_text="Agenda follows",
        recurrence=Recurrence(pattern="weekly", weekdays=("tuesday",)),
        modified_occurrences=(
            ModifiedOccurrence(
                original_start=berlin(2026, 11, 10, 14),
                start=berlin(2026, 11, 10, 16),
                end=berlin(2026, 11, 10, 17),
                subject="Team sync (late)",
            ),
        ),
        deleted_occurrences=(berlin(2026, 11, 17, 14),),
        participants=(
            Participant(email="b@example.com", name="B"),
            Participant(email="a@example.com", name="A", required=False),
        ),
    )


def imported_task() -> Task:
    return Task(subject="Send offer", start=date(2026, 11, 2), due=date(2026, 11, 6))
