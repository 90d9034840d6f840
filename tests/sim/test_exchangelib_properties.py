"""Every property exchangelib can set on a calendar item or a task is kept: set, save, re-fetch.

The fields come from exchangelib's own model (every field it does not mark read-only for
Exchange 2016), the values from their field types, so a property the simulator accepted and
dropped — or a new field type — fails here. (Read-only ones: test_soap_operations.py.)
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from exchangelib import (
    Account,
    Attendee,
    CalendarItem,
    EWSDate,
    EWSDateTime,
    EWSTimeZone,
    HTMLBody,
    Mailbox,
    Task,
)
from exchangelib.fields import (
    AttendeesField,
    BodyField,
    BooleanField,
    CharField,
    CharListField,
    ChoiceField,
    CultureField,
    DateOrDateTimeField,
    DateTimeBackedDateField,
    DateTimeField,
    DecimalField,
    EnumAsIntField,
    ExtendedPropertyField,
    Field,
    IntegerField,
    RecurrenceField,
    TaskRecurrenceField,
    TextField,
    TextListField,
    TimeZoneField,
    URIField,
)
from exchangelib.items import Item
from exchangelib.recurrence import Recurrence, TaskRecurrence, WeeklyPattern

from tests.sim.support import EXCHANGE_2016

TOKYO = EWSTimeZone("Asia/Tokyo")
ONE_DAY = datetime.timedelta(days=1)
# Fields set elsewhere or not through item properties: MIME upload and attachments are refused
# (tests below); IsAllDayEvent rounds Start/End (test_exchangelib_calendar.py).
NOT_HERE = {"mime_content", "attachments", "is_all_day"}


def settable_fields(cls: type[Item]) -> list[Field]:
    return [
        field
        for field in cls.FIELDS
        if not field.is_read_only
        and field.supports_version(EXCHANGE_2016)
        and field.name not in NOT_HERE
    ]


def _attendees(name: str) -> list[Attendee]:
    return [
        Attendee(
            mailbox=Mailbox(email_address=f"{name.replace('_', '.')}@example.com"),
            response_type="Tentative",
        )
    ]


def _choice(field: Field) -> str:
    choices: list[str] = sorted(field.supported_choices(EXCHANGE_2016))
    return next(choice for choice in choices if choice != field.default)


# A value for each field type, different from the field's default. Order matters: subclasses
# before their bases.
VALUES: list[tuple[type[Field], Callable[[Field], Any]]] = [
    (ExtendedPropertyField, lambda f: f"{f.name} value"),
    (CultureField, lambda f: "da-DK"),
    (URIField, lambda f: f"https://example.com/{f.name}"),
    (DateOrDateTimeField, lambda f: None),  # start/end: set with the time zones below
    (DateTimeBackedDateField, lambda f: EWSDate(2026, 5, 4 if f.name == "start_date" else 8)),
    (DateTimeField, lambda f: EWSDateTime(2026, 5, 6, 7, 30, tzinfo=TOKYO)),
    (TaskRecurrenceField, lambda f: TaskRecurrence(
        pattern=WeeklyPattern(interval=2, weekdays=[3]), start=EWSDate(2026, 5, 6), number=4
    )),
    (RecurrenceField, lambda f: Recurrence(
        pattern=WeeklyPattern(interval=1, weekdays=[1, 4]), start=EWSDate(2026, 5, 4), number=5
    )),
    (AttendeesField, lambda f: _attendees(f.name)),
    (TimeZoneField, lambda f: TOKYO),
    (BodyField, lambda f: HTMLBody(f"<p>{f.name}</p>")),
    (EnumAsIntField, lambda f: 2),  # ConferenceType 2: Chat
    (ChoiceField, _choice),
    (BooleanField, lambda f: not f.default),
    (DecimalField, lambda f: Decimal(30)),
    (IntegerField, lambda f: 42),
    (CharListField, lambda f: [f"{f.name} A", "B"]),
    (TextListField, lambda f: [f"{f.name} A", "B"]),
    (CharField, lambda f: f"{f.name} value"),
    (TextField, lambda f: f"{f.name}-{uuid.uuid4()}" if f.name == "uid" else f"{f.name} text"),
]  # fmt: skip


# Properties made of parts: not comparable in a restriction (ErrorUnsupportedPathForQuery).
STRUCTURED_FIELDS = (AttendeesField, RecurrenceField, TaskRecurrenceField, TimeZoneField)


def value_for(field: Field) -> Any:
    for field_type, make in VALUES:
        if isinstance(field, field_type):
            return make(field)
    raise AssertionError(f"no test value for {field.name} ({type(field).__name__})")


def new_values(cls: type[Item]) -> dict[str, Any]:
    values = {field.name: value_for(field) for field in settable_fields(cls)}
    if cls is CalendarItem:
        values["start"] = EWSDateTime(2026, 5, 4, 9, tzinfo=TOKYO)  # a Monday, as the pattern
        values["end"] = EWSDateTime(2026, 5, 4, 10, 15, tzinfo=TOKYO)
    else:
        values["status"] = "WaitingOnOthers"  # with PercentComplete 30, as Exchange keeps them
    return values


def comparable(name: str, value: Any) -> Any:
    if isinstance(value, list) and value and isinstance(value[0], Attendee):
        return [(a.mailbox.email_address, a.response_type) for a in value]
    if isinstance(value, EWSDateTime):
        return value.astimezone(TOKYO)
    if isinstance(value, EWSTimeZone):
        return value.ms_id
    return value


def assert_kept(fetched: Item, values: dict[str, Any]) -> None:
    differing = {
        name: (comparable(name, getattr(fetched, name)), comparable(name, value))
        for name, value in values.items()
        if comparable(name, getattr(fetched, name)) != comparable(name, value)
    }
    assert differing == {}


@pytest.mark.parametrize("cls", [CalendarItem, Task], ids=["calendar item", "task"])
def test_every_settable_property_is_kept_on_create(alice: Account, cls: type[Item]) -> None:
    values = new_values(cls)
    folder = alice.calendar if cls is CalendarItem else alice.tasks
    item = cls(account=alice, folder=folder, **values)
    item.save()

    assert_kept(folder.get(id=item.id), values)


@pytest.mark.parametrize("cls", [CalendarItem, Task], ids=["calendar item", "task"])
def test_every_settable_property_is_kept_on_update(alice: Account, cls: type[Item]) -> None:
    folder = alice.calendar if cls is CalendarItem else alice.tasks
    first = {"subject": "plain"}
    if cls is CalendarItem:
        first |= {
            "start": EWSDateTime(2026, 5, 4, 9, tzinfo=TOKYO),
            "end": EWSDateTime(2026, 5, 4, 10, tzinfo=TOKYO),
        }
    item = cls(account=alice, folder=folder, **first)
    item.save()
    values = new_values(cls)
    for name, value in values.items():
        setattr(item, name, value)

    item.save(update_fields=list(values))

    assert_kept(folder.get(id=item.id), values)


def test_a_full_save_and_complete_of_a_plain_task_work(alice: Account) -> None:
    # A full save deletes every unset property, task:Recurrence included.
    task = Task(account=alice, folder=alice.tasks, subject="call back")
    task.save()
    task.subject = "call back today"
    task.save()
    task.complete()

    fetched = alice.tasks.get(id=task.id)
    assert (fetched.subject, fetched.status, fetched.is_complete) == (
        "call back today",
        "Completed",
        True,
    )


@pytest.mark.parametrize("cls", [CalendarItem, Task], ids=["calendar item", "task"])
def test_every_searchable_property_finds_the_item(alice: Account, cls: type[Item]) -> None:
    values = new_values(cls)
    folder = alice.calendar if cls is CalendarItem else alice.tasks
    cls(account=alice, folder=folder, **values).save()
    other = {"subject": "another"}
    if cls is CalendarItem:
        other |= {"start": values["start"] - ONE_DAY, "end": values["end"] - ONE_DAY}
    cls(account=alice, folder=folder, **other).save()  # with default values: not found

    not_found = []
    for field in settable_fields(cls):
        if not field.is_searchable or isinstance(field, STRUCTURED_FIELDS):
            continue
        value = values[field.name]
        lookup = {f"{field.name}__contains": value} if field.is_list else {field.name: value}
        if [item.subject for item in folder.filter(**lookup)] != [values["subject"]]:
            not_found.append(field.name)
    assert not_found == []
