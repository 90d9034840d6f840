"""Tasks through the real exchangelib: create, read, complete, delete."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from exchangelib import Account, EWSDate, EWSDateTime, HTMLBody, Task
from exchangelib.errors import ErrorItemNotFound

from sim.model import TaskFields, TaskStatus
from sim.store import MailboxStore
from tests.sim.support import ALICE, BERLIN, mime_calendar


def new_task(account: Account) -> Task:
    task = Task(
        account=account,
        folder=account.tasks,
        subject="Angebot nachfassen",
        body=HTMLBody("<p>Kunde 4711</p>"),
        start_date=EWSDate(2026, 3, 30),
        due_date=EWSDate(2026, 4, 2),
        status="InProgress",
        percent_complete=Decimal(40),
        importance="High",
        reminder_is_set=True,
        reminder_due_by=EWSDateTime(2026, 4, 1, 9, tzinfo=BERLIN),
        sync_id="erp-task-1",
    )
    task.save()
    return task


def test_task_round_trips_its_fields(alice: Account, store: MailboxStore) -> None:
    task = new_task(alice)

    fetched = alice.tasks.get(id=task.id)

    assert (fetched.subject, fetched.sync_id, fetched.importance) == (
        "Angebot nachfassen",
        "erp-task-1",
        "High",
    )
    assert (fetched.start_date, fetched.due_date) == (EWSDate(2026, 3, 30), EWSDate(2026, 4, 2))
    assert (fetched.status, fetched.percent_complete) == ("InProgress", Decimal(40))
    assert fetched.reminder_is_set and fetched.reminder_due_by == EWSDateTime(
        2026, 4, 1, 9, tzinfo=BERLIN
    )
    assert fetched.body == "<p>Kunde 4711</p>" and fetched.is_complete is False
    assert store.get_task(task.id).fields.status is TaskStatus.IN_PROGRESS


def test_completing_a_task_sets_percent_and_complete_date(
    alice: Account, store: MailboxStore
) -> None:
    task = new_task(alice)
    task.status = "Completed"
    task.save(update_fields=["status"])

    fetched = alice.tasks.get(id=task.id)

    assert fetched.is_complete is True and fetched.percent_complete == Decimal(100)
    assert fetched.complete_date == store.clock.now()


def test_task_created_in_outlook_is_listed_and_deleted(alice: Account, store: MailboxStore) -> None:
    created = store.create_task(
        ALICE, TaskFields(subject="from Outlook", due_date=dt.datetime(2026, 5, 1, tzinfo=dt.UTC))
    )

    [listed] = list(alice.tasks.all())
    assert listed.subject == "from Outlook" and listed.id == created.item_id
    listed.delete()

    with pytest.raises(ErrorItemNotFound):
        alice.tasks.get(id=created.item_id)
    assert store.list_items(ALICE, "tasks") == []


def test_mime_content_is_the_task_as_icalendar(alice: Account) -> None:
    task = new_task(alice)

    message, calendar = mime_calendar(alice.tasks.get(id=task.id).mime_content)
    [todo] = calendar.walk("VTODO")

    assert (message["Subject"], str(todo["SUMMARY"])) == ("Angebot nachfassen",) * 2
    assert (todo.decoded("DTSTART"), todo.decoded("DUE")) == (
        dt.date(2026, 3, 30),
        dt.date(2026, 4, 2),
    )
    assert (str(todo["STATUS"]), todo["PERCENT-COMPLETE"], todo["PRIORITY"]) == (
        "IN-PROCESS",
        40,
        1,
    )
