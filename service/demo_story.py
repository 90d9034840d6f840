"""The demo's story: what happens on each side, and what the engine is expected to do about it.

Each step changes the ERP (through `ErpEditor`, as the ERP's own screens would) or a mailbox (in
the simulator, as a user in Outlook would), then waits until the transfer log shows the reason the
step expects for that item. The steps use the rules' own reason codes, so the demo shows the
behaviour a user judges the product by: R1, R2, R5, R6 and tasks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.erp.editing import ErpEditor
from sim.model import Body, CalendarFields, TaskStatus
from sim.store import MailboxStore

BERLIN_WINDOWS = "W. Europe Standard Time"
MUELLER = "mueller@example.com"


def monday_next_week(now: datetime) -> datetime:
    """Next week's Monday, 09:00 in Berlin (in UTC: 08:00, in winter)."""
    days = 7 - now.weekday()
    return (now + timedelta(days=days)).replace(hour=8, minute=0, second=0, microsecond=0)


@dataclass
class World:
    """The two sides as the story acts on them, and what it has made there."""

    erp: ErpEditor
    mailboxes: MailboxStore
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    ids: dict[str, Any] = field(default_factory=dict)

    @property
    def monday(self) -> datetime:
        return monday_next_week(self.now)


@dataclass(frozen=True)
class Step:
    title: str  # what a person does
    expect: str  # what the engine should do, in words
    reason: str  # the transfer-log reason code that shows it did
    subject: str  # the item's subject in the transfer log (as it reads after the step)
    act: Callable[[World], None]


def before_setup(world: World) -> None:
    """Items that exist before synchronisation is set up for mueller (R5)."""
    start = world.monday + timedelta(days=2, hours=6)
    item = world.mailboxes.create_calendar_item(
        MUELLER,
        CalendarFields(
            start=start, end=start + timedelta(hours=1), subject="Zahnarzt",
            start_time_zone=BERLIN_WINDOWS, end_time_zone=BERLIN_WINDOWS,
        ),
    )  # fmt: skip
    world.ids["dentist"] = item.item_id


def new_erp_appointment(world: World) -> None:
    start = world.monday + timedelta(hours=1)
    world.ids["kickoff"] = world.erp.add(
        "appointment",
        {
            "user_login": "mueller", "subject": "Projekt-Kickoff Huber GmbH",
            "starts_at": start, "ends_at": start + timedelta(hours=1), "location": "Raum 2",
            "info_text": "Agenda: Ziele, Zeitplan, Budget",
        },
    )  # fmt: skip


def _exchange_id(world: World, subject: str) -> str:
    for item in world.mailboxes.list_items(MUELLER, "calendar"):
        if item.subject == subject:
            return str(item.item_id)
    raise LookupError(f"no item {subject!r} in {MUELLER}'s calendar")


def moved_in_outlook(world: World) -> None:
    item_id = _exchange_id(world, "Projekt-Kickoff Huber GmbH")
    start = world.monday + timedelta(hours=3)
    world.mailboxes.update_item(item_id, start=start, end=start + timedelta(hours=1))


def weekly_series(world: World) -> None:
    first = world.monday + timedelta(days=1)  # Tuesdays 09:00 Berlin
    series = world.erp.add(
        "appointment",
        {
            "user_login": "mueller", "subject": "Jour fixe", "starts_at": first,
            "ends_at": first + timedelta(minutes=30), "rrule": "FREQ=WEEKLY;BYDAY=TU;COUNT=6",
        },
    )  # fmt: skip
    moved = first + timedelta(weeks=1)
    world.erp.set_exception(
        series, moved,
        {"starts_at": moved + timedelta(hours=2), "ends_at": moved + timedelta(hours=2, minutes=30),
         "subject": "Jour fixe (verschoben)"},
    )  # fmt: skip
    world.erp.set_exception(series, first + timedelta(weeks=2), {"deleted": True})
    world.ids["series"] = series


def body_edited_in_outlook(world: World) -> None:
    item_id = _exchange_id(world, "Projekt-Kickoff Huber GmbH")
    world.mailboxes.update_item(item_id, body=Body("Notiz aus Outlook: bitte Beamer mitbringen"))


def preexisting_edited(world: World) -> None:
    world.mailboxes.update_item(world.ids["dentist"], subject="Zahnarzt (Kontrolle)")


def erp_task(world: World) -> None:
    world.ids["task"] = world.erp.add(
        "task",
        {"user_login": "mueller", "subject": "Angebot an Huber GmbH schicken",
         "due_date": (world.monday + timedelta(days=3)).date()},
    )  # fmt: skip


def task_done_in_outlook(world: World) -> None:
    for item in world.mailboxes.list_items(MUELLER, "tasks"):
        world.mailboxes.update_item(
            item.item_id, status=TaskStatus.COMPLETED, percent_complete=100.0,
            complete_date=datetime.now(UTC).replace(microsecond=0),
        )  # fmt: skip


STORY: tuple[Step, ...] = (
    Step(
        "An appointment is entered in the ERP",
        "it appears in Outlook (R1)",
        "CREATED_IN_ERP",
        "Projekt-Kickoff Huber GmbH",
        new_erp_appointment,
    ),
    Step(
        "The appointment is moved by two hours in Outlook",
        "the new time reaches the ERP",
        "CHANGED_IN_EXCHANGE",
        "Projekt-Kickoff Huber GmbH",
        moved_in_outlook,
    ),
    Step(
        "A weekly series is entered in the ERP, one meeting moved, one cancelled",
        "the series reaches Outlook with its moved and deleted occurrences (R2)",
        "CREATED_IN_ERP",
        "Jour fixe",
        weekly_series,
    ),
    Step(
        "Someone writes a note into the appointment's text in Outlook",
        "the note stays in Outlook: info text flows ERP → Outlook only (R6)",
        "R6_BODY_NOT_IMPORTED",
        "Projekt-Kickoff Huber GmbH",
        body_edited_in_outlook,
    ),
    Step(
        "A dentist appointment that was in Outlook before setup is edited there",
        "left alone until touched, then transferred as new (R5)",
        "R5_CHANGED_AFTER_SETUP",
        "Zahnarzt (Kontrolle)",
        preexisting_edited,
    ),
    Step(
        "A task is entered in the ERP",
        "it appears in Outlook's tasks",
        "CREATED_IN_ERP",
        "Angebot an Huber GmbH schicken",
        erp_task,
    ),
    Step(
        "The task is marked complete in Outlook",
        "the ERP's task is completed too",
        "CHANGED_IN_EXCHANGE",
        "Angebot an Huber GmbH schicken",
        task_done_in_outlook,
    ),
)
