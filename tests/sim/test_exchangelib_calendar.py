"""Calendar flows through the real exchangelib over HTTP: singles, series, occurrences."""

from __future__ import annotations

import datetime as dt

import icalendar
import pytest
import requests
from dateutil.rrule import rrulestr
from exchangelib import (
    Account,
    Attendee,
    CalendarItem,
    EWSDate,
    EWSDateTime,
    EWSTimeZone,
    HTMLBody,
    Mailbox,
)
from exchangelib.errors import (
    ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange,
    ErrorCalendarOccurrenceIsDeletedFromRecurrence,
    ErrorIrresolvableConflict,
    ErrorItemNotFound,
)
from exchangelib.items import NEVER_OVERWRITE
from exchangelib.items.calendar_item import EXCEPTION, OCCURRENCE, RECURRING_MASTER, SINGLE
from exchangelib.recurrence import (
    DailyPattern,
    Recurrence,
    WeeklyPattern,
)

from sim.errors import EwsError
from sim.model import CalendarFields, CalendarItemType, ExtendedPropertyKey, Sensitivity
from sim.server import EwsServer
from sim.store import MailboxStore
from tests.sim.support import (
    ADMIN,
    ALICE,
    BERLIN,
    VERSION,
    SyncId,
    envelope,
    ical_rule,
    mime_calendar,
    original_start,
)

IMPERSONATE_ALICE = (
    "<t:ExchangeImpersonation><t:ConnectingSID>"
    f"<t:PrimarySmtpAddress>{ALICE}</t:PrimarySmtpAddress>"
    "</t:ConnectingSID></t:ExchangeImpersonation>"
)

UTC = EWSTimeZone("UTC")
SYNC_ID_KEY = ExtendedPropertyKey(
    property_type="String",
    property_set_id=SyncId.property_set_id,
    property_name=SyncId.property_name,
)


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> EWSDateTime:
    return EWSDateTime(year, month, day, hour, minute, tzinfo=BERLIN)


def weekly_series(account: Account, count: int = 6) -> CalendarItem:
    item = CalendarItem(
        account=account,
        folder=account.calendar,
        subject="Jour fixe",
        start=berlin(2026, 3, 23, 9),
        end=berlin(2026, 3, 23, 10),
        recurrence=Recurrence(
            pattern=WeeklyPattern(interval=1, weekdays=[1, 3]),  # Monday, Wednesday
            start=EWSDate(2026, 3, 23),
            number=count,
        ),
    )
    item.save()
    return item


def test_single_appointment_round_trips_all_synced_fields(
    alice: Account, store: MailboxStore
) -> None:
    item = CalendarItem(
        account=alice,
        folder=alice.calendar,
        subject="Kundentermin",
        body=HTMLBody("<p>Agenda</p>"),
        start=berlin(2026, 4, 14, 14),
        end=berlin(2026, 4, 14, 15, 30),
        location="Raum 3",
        legacy_free_busy_status="Tentative",
        sensitivity="Private",
        reminder_is_set=True,
        reminder_minutes_before_start=30,
        categories=["ERP"],
        required_attendees=[
            Attendee(mailbox=Mailbox(email_address="bob@example.com"), response_type="Accept")
        ],
        optional_attendees=[
            Attendee(mailbox=Mailbox(email_address="x@example.org"), response_type="Tentative")
        ],
        sync_id="erp-4711",
    )
    item.save()

    fetched = alice.calendar.get(id=item.id)

    assert fetched.type == SINGLE
    assert (fetched.subject, fetched.location, fetched.sync_id) == (
        "Kundentermin",
        "Raum 3",
        "erp-4711",
    )
    assert isinstance(fetched.body, HTMLBody) and fetched.body == "<p>Agenda</p>"
    assert fetched.start == berlin(2026, 4, 14, 14) and fetched.end == berlin(2026, 4, 14, 15, 30)
    assert fetched.legacy_free_busy_status == "Tentative" and fetched.sensitivity == "Private"
    assert (fetched.reminder_is_set, fetched.reminder_minutes_before_start) == (True, 30)
    assert fetched.categories == ["ERP"]
    assert [(a.mailbox.email_address, a.response_type) for a in fetched.required_attendees] == [
        ("bob@example.com", "Accept")
    ]
    assert [a.response_type for a in fetched.optional_attendees] == ["Tentative"]
    assert fetched.organizer.email_address == ALICE
    assert fetched._start_timezone.ms_id == "W. Europe Standard Time"
    stored = store.get_calendar_item(item.id)
    assert stored.fields.start_time_zone == "W. Europe Standard Time"
    assert stored.fields.sensitivity is Sensitivity.PRIVATE
    assert store.get_extended_property(item.id, SYNC_ID_KEY) == "erp-4711"


def test_all_day_event_keeps_its_dates(alice: Account) -> None:
    item = CalendarItem(
        account=alice,
        folder=alice.calendar,
        subject="Betriebsausflug",
        start=EWSDate(2026, 4, 17),
        end=EWSDate(2026, 4, 18),
        is_all_day=True,
    )
    item.save()

    fetched = alice.calendar.get(id=item.id)

    assert fetched.is_all_day is True
    assert (fetched.start, fetched.end) == (EWSDate(2026, 4, 17), EWSDate(2026, 4, 18))


def test_change_key_changes_on_every_write_and_a_stale_one_can_be_refused(alice: Account) -> None:
    item = CalendarItem(
        account=alice,
        folder=alice.calendar,
        subject="v1",
        start=berlin(2026, 5, 4, 8),
        end=berlin(2026, 5, 4, 9),
    )
    item.save()
    first_key = item.changekey
    item.subject = "v2"
    item.save(update_fields=["subject"])
    assert item.changekey != first_key

    stale = alice.calendar.get(id=item.id)
    item.location = "elsewhere"
    item.save(update_fields=["location"])
    stale.location = "conflicting"
    with pytest.raises(ErrorIrresolvableConflict):
        stale.save(update_fields=["location"], conflict_resolution=NEVER_OVERWRITE)
    assert alice.calendar.get(id=item.id).location == "elsewhere"


def test_recurring_master_reports_first_and_last_occurrence(alice: Account) -> None:
    master = weekly_series(alice, count=6)

    fetched = alice.calendar.get(id=master.id)

    assert fetched.type == RECURRING_MASTER
    assert fetched.recurrence.boundary.number == 6
    assert fetched.first_occurrence.start == berlin(2026, 3, 23, 9)
    # Six Mondays and Wednesdays from 2026-03-23: the last is Wednesday 2026-04-08.
    assert fetched.last_occurrence.start == berlin(2026, 4, 8, 9)
    assert fetched.modified_occurrences is None and fetched.deleted_occurrences is None


def test_calendar_view_expands_the_series_at_nine_local_across_dst(alice: Account) -> None:
    weekly_series(alice, count=6)

    occurrences = list(alice.calendar.view(start=berlin(2026, 3, 1), end=berlin(2026, 5, 1)))

    assert [occurrence.type for occurrence in occurrences] == [OCCURRENCE] * 6
    assert [o.start.astimezone(BERLIN).hour for o in occurrences] == [9] * 6
    # 2026-03-29 is the switch to summer time: 08:00 UTC before, 07:00 UTC after.
    assert occurrences[0].start.astimezone(UTC).hour == 8
    assert occurrences[-1].start.astimezone(UTC).hour == 7


def test_updating_one_occurrence_turns_it_into_an_exception(alice: Account) -> None:
    master = weekly_series(alice)
    occurrence = master.occurrence(index=2)
    occurrence.refresh()
    original_start = occurrence.start
    occurrence.subject = "Jour fixe (verschoben)"
    occurrence.start = original_start + dt.timedelta(hours=3)
    occurrence.end = original_start + dt.timedelta(hours=4)
    occurrence.save(update_fields=["subject", "start", "end"])

    master.refresh()
    view = list(alice.calendar.view(start=berlin(2026, 3, 1), end=berlin(2026, 5, 1)))

    [modified] = master.modified_occurrences
    assert modified.original_start == original_start
    assert modified.start == original_start + dt.timedelta(hours=3)
    exception = next(item for item in view if item.type == EXCEPTION)
    assert exception.subject == "Jour fixe (verschoben)"
    assert exception.original_start == original_start
    assert sum(1 for item in view if item.type == OCCURRENCE) == 5
    assert alice.calendar.get(id=exception.id).subject == "Jour fixe (verschoben)"


def test_deleting_one_occurrence_lists_it_on_the_master(alice: Account) -> None:
    master = weekly_series(alice)
    third = master.occurrence(index=3)
    third.refresh()
    third_start = third.start
    third.delete()

    master.refresh()

    [deleted] = master.deleted_occurrences
    assert deleted.start == third_start
    view = list(alice.calendar.view(start=berlin(2026, 3, 1), end=berlin(2026, 5, 1)))
    assert third_start not in [item.start for item in view] and len(view) == 5
    with pytest.raises(ErrorCalendarOccurrenceIsDeletedFromRecurrence):
        master.occurrence(index=3).refresh()
    with pytest.raises(ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange):
        master.occurrence(index=7).refresh()


def test_master_reread_shows_modified_and_deleted_occurrences_together(alice: Account) -> None:
    master = weekly_series(alice)
    second = master.occurrence(index=2)
    second.refresh()
    second.location = "Kantine"
    second.save(update_fields=["location"])
    master.occurrence(index=4).delete()

    fetched = alice.calendar.get(id=master.id)

    assert len(fetched.modified_occurrences) == 1 and len(fetched.deleted_occurrences) == 1
    assert fetched.modified_occurrences[0].original_start == second.start
    assert fetched.changekey != master.changekey


def test_changing_the_pattern_drops_exceptions_and_deleted_occurrences(alice: Account) -> None:
    master = weekly_series(alice)
    occurrence = master.occurrence(index=2)
    occurrence.refresh()
    occurrence.subject = "exception"
    occurrence.save(update_fields=["subject"])
    master.occurrence(index=3).delete()
    master.refresh()

    master.recurrence = Recurrence(
        pattern=DailyPattern(interval=1), start=EWSDate(2026, 3, 23), number=4
    )
    master.save(update_fields=["recurrence"])
    master.refresh()

    assert master.modified_occurrences is None and master.deleted_occurrences is None
    view = list(alice.calendar.view(start=berlin(2026, 3, 1), end=berlin(2026, 5, 1)))
    assert [item.start.date() for item in view] == [
        dt.date(2026, 3, day) for day in (23, 24, 25, 26)
    ]


def test_deleting_the_master_removes_the_whole_series(alice: Account) -> None:
    master = weekly_series(alice)
    master_id = master.id
    master.delete()

    assert list(alice.calendar.view(start=berlin(2026, 3, 1), end=berlin(2026, 5, 1))) == []
    with pytest.raises(ErrorItemNotFound):
        alice.calendar.get(id=master_id)


def test_item_found_by_its_sync_id_extended_property(alice: Account) -> None:
    for number in range(3):
        CalendarItem(
            account=alice,
            folder=alice.calendar,
            subject=f"item {number}",
            start=berlin(2026, 6, 1 + number, 9),
            end=berlin(2026, 6, 1 + number, 10),
            sync_id=f"sync-{number}",
        ).save()

    [found] = alice.calendar.filter(sync_id="sync-1")

    assert found.subject == "item 1"


def test_changes_made_as_a_user_in_outlook_are_seen_by_exchangelib(
    alice: Account, store: MailboxStore
) -> None:
    created = store.create_calendar_item(
        ALICE,
        CalendarFields(
            subject="from Outlook",
            start=dt.datetime(2026, 7, 1, 7, tzinfo=dt.UTC),
            end=dt.datetime(2026, 7, 1, 8, tzinfo=dt.UTC),
            start_time_zone="W. Europe Standard Time",
            end_time_zone="W. Europe Standard Time",
        ),
    )
    fetched = alice.calendar.get(id=created.item_id)
    assert fetched.subject == "from Outlook" and fetched.changekey == created.change_key

    store.update_item(created.item_id, subject="renamed in Outlook")
    fetched.refresh()

    assert fetched.subject == "renamed in Outlook"
    assert fetched.changekey != created.change_key


def test_moving_an_occurrence_past_its_neighbour_is_refused(
    alice: Account, store: MailboxStore
) -> None:
    master = weekly_series(alice)
    stored = store.occurrence(master.id, index=1)

    with pytest.raises(EwsError) as raised:
        store.update_occurrence(
            master.id,
            original_start(stored),
            start=stored.start + dt.timedelta(days=2),
            end=stored.end + dt.timedelta(days=2),
        )

    assert raised.value.code == "ErrorOccurrenceCrossingBoundary"
    assert store.get_calendar_item(master.id).modified_occurrences == ()
    assert store.occurrence(master.id, index=1).item_type is CalendarItemType.OCCURRENCE


def test_recurrence_dates_carry_the_series_offset_and_read_back_as_dates(
    alice: Account, server: EwsServer
) -> None:
    item = weekly_series(alice)  # Monday 23 March 2026 in Berlin: UTC+01:00
    exception = item.occurrence(index=2)
    exception.subject = "moved"
    exception.save(update_fields=["subject"])

    master = alice.calendar.get(id=item.id)
    master.subject = "Jour fixe (new)"
    master.save()  # a full save sends the recurrence back as it read it

    assert master.recurrence.boundary.start == EWSDate(2026, 3, 23)
    assert type(master.recurrence.boundary.start) is EWSDate
    reread = alice.calendar.get(id=item.id)
    assert reread.recurrence == master.recurrence
    assert [o.start for o in reread.modified_occurrences] == [berlin(2026, 3, 25, 9)]
    body = requests.post(
        server.url,
        data=envelope(
            "<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>"
            '<t:FieldURI FieldURI="calendar:Recurrence"/></t:AdditionalProperties></m:ItemShape>'
            f'<m:ItemIds><t:ItemId Id="{item.id}"/></m:ItemIds></m:GetItem>',
            VERSION + IMPERSONATE_ALICE,
        ),
        auth=(ADMIN.username, ADMIN.password),
        timeout=10,
    ).text
    assert "<t:StartDate>2026-03-23+01:00</t:StartDate>" in body


def test_an_item_ending_when_the_view_starts_is_in_the_view(alice: Account) -> None:
    # Microsoft's CalendarView: items ending before StartDate, or starting on or after EndDate,
    # are left out; an item ending exactly at StartDate is in.
    ends_at_nine = CalendarItem(
        account=alice,
        folder=alice.calendar,
        subject="before",
        start=berlin(2026, 4, 14, 8),
        end=berlin(2026, 4, 14, 9),
    )
    starts_at_ten = CalendarItem(
        account=alice,
        folder=alice.calendar,
        subject="after",
        start=berlin(2026, 4, 14, 10),
        end=berlin(2026, 4, 14, 11),
    )
    alice.bulk_create(folder=alice.calendar, items=[ends_at_nine, starts_at_ten])

    view = alice.calendar.view(start=berlin(2026, 4, 14, 9), end=berlin(2026, 4, 14, 10))

    assert [item.subject for item in view] == ["before"]


def test_mime_content_is_the_series_as_icalendar(alice: Account, store: MailboxStore) -> None:
    item = weekly_series(alice, count=6)
    item.occurrence(index=2).delete()  # Wednesday 25 March
    moved = item.occurrence(index=3)  # Monday 30 March, 9:00 -> 11:00
    moved.start, moved.end = berlin(2026, 3, 30, 11), berlin(2026, 3, 30, 12)
    moved.save(update_fields=["start", "end"])

    fetched = alice.calendar.get(id=item.id)
    message, calendar = mime_calendar(fetched.mime_content)
    master, exception = calendar.walk("VEVENT")

    assert message["Subject"] == "Jour fixe" == str(master["SUMMARY"])
    assert str(master["UID"]) == fetched.uid == str(exception["UID"])
    start = master.decoded("DTSTART")
    assert start == berlin(2026, 3, 23, 9) and start.tzinfo is not None
    exdate = master["EXDATE"]
    assert isinstance(exdate, icalendar.vDDDLists)
    exdates = [when.dt for when in exdate.dts]
    assert exdates == [berlin(2026, 3, 25, 9)]
    expanded = [when for when in rrulestr(ical_rule(master), dtstart=start)]
    in_store = store.calendar_view(ALICE, start, start + dt.timedelta(days=30))
    assert [when for when in expanded if when not in exdates] == [
        occurrence.original_start for occurrence in in_store
    ]
    assert exception.decoded("RECURRENCE-ID") == berlin(2026, 3, 30, 9)
    assert exception.decoded("DTSTART") == berlin(2026, 3, 30, 11)
