"""One mailbox, two protocols: what exchangelib writes over EWS reads the same over Graph, and
the reverse, for every field einklang syncs (issue 14). Ids differ only in their alphabet
(`sim.graph.ids`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from exchangelib import (
    Account,
    Attendee,
    Body,
    CalendarItem,
    EWSDate,
    EWSDateTime,
    HTMLBody,
    Mailbox,
    Task,
)
from exchangelib.items.calendar_item import EXCEPTION, OCCURRENCE, RECURRING_MASTER
from exchangelib.recurrence import (
    AbsoluteMonthlyPattern,
    NoEndPattern,
    Recurrence,
    RelativeYearlyPattern,
    WeeklyPattern,
)

from sim.graph.ids import ews_id, rest_id
from tests.graph_sim.support import Graph
from tests.sim.support import ALICE, BERLIN, BOB

EVENTS = f"/users/{ALICE}/events"
SYNC_ID = "String {c11ff724-aa03-4555-9952-8fa248a11c3e} Name EinklangSyncId"
EXPAND_SYNC_ID = {"$expand": f"singleValueExtendedProperties($filter=id eq '{SYNC_ID}')"}
W_EUROPE = "W. Europe Standard Time"
IN_BERLIN = {"Prefer": f'outlook.timezone="{W_EUROPE}"'}
WINDOW = {"startDateTime": "2026-03-01T00:00:00Z", "endDateTime": "2026-06-01T00:00:00Z"}


def berlin(month: int, day: int, hour: int = 0, minute: int = 0) -> EWSDateTime:
    return EWSDateTime(2026, month, day, hour, minute, tzinfo=BERLIN)


def test_r20_event_written_over_ews_reads_the_same_over_graph(
    ews_alice: Account, graph: Graph
) -> None:
    item = CalendarItem(
        account=ews_alice,
        folder=ews_alice.calendar,
        subject="Kundentermin",
        body=HTMLBody("<p>Agenda</p>"),
        start=berlin(4, 14, 14),
        end=berlin(4, 14, 15, 30),
        location="Raum 3",
        legacy_free_busy_status="OOF",
        sensitivity="Confidential",
        importance="Low",
        reminder_is_set=False,
        reminder_minutes_before_start=45,
        categories=["ERP", "Rot"],
        required_attendees=[Attendee(mailbox=Mailbox(email_address=BOB), response_type="Accept")],
        graph_sync_id="erp-4711",
    )
    item.save()

    event = graph.ok(
        graph.get(f"{EVENTS}/{rest_id(item.id)}", params=EXPAND_SYNC_ID, headers=IN_BERLIN)
    )

    assert event["id"] == rest_id(item.id) and ews_id(event["id"]) == item.id
    assert event["changeKey"] == item.changekey
    assert event["subject"] == "Kundentermin"
    assert event["body"] == {"contentType": "html", "content": "<p>Agenda</p>"}
    assert event["start"] == {"dateTime": "2026-04-14T14:00:00.0000000", "timeZone": W_EUROPE}
    assert event["end"] == {"dateTime": "2026-04-14T15:30:00.0000000", "timeZone": W_EUROPE}
    assert event["originalStartTimeZone"] == W_EUROPE and event["isAllDay"] is False
    assert event["location"]["displayName"] == "Raum 3"
    assert (event["showAs"], event["sensitivity"], event["importance"]) == (
        "oof",
        "confidential",
        "low",
    )
    assert (event["isReminderOn"], event["reminderMinutesBeforeStart"]) == (False, 45)
    assert event["categories"] == ["ERP", "Rot"]
    assert [
        (a["emailAddress"]["address"], a["status"]["response"]) for a in event["attendees"]
    ] == [(BOB, "accepted")]
    assert event["singleValueExtendedProperties"] == [{"id": SYNC_ID, "value": "erp-4711"}]
    assert event["type"] == "singleInstance"


def test_r20_event_written_over_graph_reads_the_same_over_ews(
    ews_alice: Account, graph: Graph
) -> None:
    body: dict[str, Any] = {
        "subject": "Über Graph",
        "body": {"contentType": "text", "content": "Notiz"},
        "start": {"dateTime": "2026-04-14T14:00:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2026-04-14T15:30:00", "timeZone": "Europe/Berlin"},
        "location": {"displayName": "Werk 2"},
        "showAs": "workingElsewhere",
        "sensitivity": "personal",
        "importance": "high",
        "isReminderOn": True,
        "reminderMinutesBeforeStart": 10,
        "categories": ["Blau"],
        "singleValueExtendedProperties": [{"id": SYNC_ID, "value": "erp-0815"}],
    }
    created = graph.ok(graph.post(EVENTS, body), 201)

    item = ews_alice.calendar.get(id=ews_id(created["id"]))

    assert (
        item.subject == "Über Graph"
        and item.body == "Notiz"
        and not isinstance(item.body, HTMLBody)
    )
    assert isinstance(item.body, Body)
    assert item.start == berlin(4, 14, 14) and item.end == berlin(4, 14, 15, 30)
    assert item._start_timezone.ms_id == W_EUROPE
    assert item.location == "Werk 2"
    assert (item.legacy_free_busy_status, item.sensitivity, item.importance) == (
        "WorkingElsewhere",
        "Personal",
        "High",
    )
    assert (item.reminder_is_set, item.reminder_minutes_before_start) == (True, 10)
    assert item.categories == ["Blau"] and item.graph_sync_id == "erp-0815"
    assert item.changekey == created["changeKey"]


def test_r20_all_day_event_reads_as_whole_days_over_both_protocols(
    ews_alice: Account, graph: Graph
) -> None:
    item = CalendarItem(
        account=ews_alice,
        folder=ews_alice.calendar,
        subject="Urlaub",
        start=berlin(3, 27),
        end=berlin(3, 30),  # across the change to summer time
        is_all_day=True,
    )
    item.save()
    event = graph.ok(graph.get(f"{EVENTS}/{rest_id(item.id)}", headers=IN_BERLIN))
    assert event["isAllDay"] is True
    assert event["start"]["dateTime"] == "2026-03-27T00:00:00.0000000"
    assert event["end"]["dateTime"] == "2026-03-30T00:00:00.0000000"

    day = {"dateTime": "2026-05-01T00:00:00", "timeZone": W_EUROPE}
    next_day = {"dateTime": "2026-05-02T00:00:00", "timeZone": W_EUROPE}
    created = graph.ok(
        graph.post(
            EVENTS, {"subject": "Feiertag", "isAllDay": True, "start": day, "end": next_day}
        ),
        201,
    )
    back = ews_alice.calendar.get(id=ews_id(created["id"]))
    assert back.is_all_day is True and back.start == berlin(5, 1)


def test_r20_series_with_exception_and_cancelled_occurrence_from_ews_reads_over_graph(
    ews_alice: Account, graph: Graph
) -> None:
    master = CalendarItem(
        account=ews_alice,
        folder=ews_alice.calendar,
        subject="Jour fixe",
        start=berlin(3, 23, 9),
        end=berlin(3, 23, 10),
        recurrence=Recurrence(
            pattern=WeeklyPattern(interval=1, weekdays=[1, 3]), start=EWSDate(2026, 3, 23), number=6
        ),
    )
    master.save()
    second = master.occurrence(index=2)
    second.refresh()
    second.subject = "Jour fixe (Kantine)"
    second.save(update_fields=["subject"])
    master.occurrence(index=3).delete()  # Monday 30 March

    event = graph.ok(
        graph.get(
            f"{EVENTS}/{rest_id(master.id)}",
            params={"$select": "subject,recurrence,cancelledOccurrences,type"},
        )
    )
    assert event["type"] == "seriesMaster"
    pattern, rng = event["recurrence"]["pattern"], event["recurrence"]["range"]
    assert (pattern["type"], pattern["daysOfWeek"], pattern["interval"]) == (
        "weekly",
        ["monday", "wednesday"],
        1,
    )
    assert (rng["type"], rng["startDate"], rng["numberOfOccurrences"]) == (
        "numbered",
        "2026-03-23",
        6,
    )
    assert event["cancelledOccurrences"] == [f"OID.{rest_id(master.id)}.2026-03-30"]
    found = graph.ok(
        graph.get(f"{EVENTS}/{rest_id(master.id)}/instances", params=WINDOW, headers=IN_BERLIN)
    )["value"]
    assert [(o["start"]["dateTime"][:10], o["type"]) for o in found] == [
        ("2026-03-23", "occurrence"),
        ("2026-03-25", "exception"),
        ("2026-04-01", "occurrence"),
        ("2026-04-06", "occurrence"),
        ("2026-04-08", "occurrence"),
    ]
    assert found[1]["subject"] == "Jour fixe (Kantine)"
    assert {o["start"]["dateTime"][11:16] for o in found} == {"09:00"}  # across DST


def test_r20_series_with_exception_and_cancelled_occurrence_from_graph_reads_over_ews(
    ews_alice: Account, graph: Graph
) -> None:
    body = {
        "subject": "Monatsbericht",
        "start": {"dateTime": "2026-03-05T08:00:00", "timeZone": W_EUROPE},
        "end": {"dateTime": "2026-03-05T09:00:00", "timeZone": W_EUROPE},
        "recurrence": {
            "pattern": {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 5},
            "range": {"type": "noEnd", "startDate": "2026-03-05"},
        },
    }
    master = graph.ok(graph.post(EVENTS, body), 201)
    occurrences = graph.ok(graph.get(f"{EVENTS}/{master['id']}/instances", params=WINDOW))["value"]
    graph.ok(graph.patch(f"{EVENTS}/{occurrences[1]['id']}", {"subject": "April anders"}))
    assert graph.delete(f"{EVENTS}/{occurrences[2]['id']}").status_code == 204

    item = ews_alice.calendar.get(id=ews_id(master["id"]))
    assert item.type == RECURRING_MASTER
    assert isinstance(item.recurrence.pattern, AbsoluteMonthlyPattern)
    assert item.recurrence.pattern.day_of_month == 5 and isinstance(
        item.recurrence.boundary, NoEndPattern
    )
    assert [o.start for o in item.deleted_occurrences] == [berlin(5, 5, 8)]
    [modified] = item.modified_occurrences
    assert modified.original_start == berlin(4, 5, 8)
    view = list(ews_alice.calendar.view(start=berlin(3, 1), end=berlin(6, 1)))
    assert [(v.start, v.type, v.subject) for v in view] == [
        (berlin(3, 5, 8), OCCURRENCE, "Monatsbericht"),
        (berlin(4, 5, 8), EXCEPTION, "April anders"),
    ]


def test_r20_relative_yearly_series_over_graph_is_the_same_pattern_over_ews(
    ews_alice: Account, graph: Graph
) -> None:
    body = {
        "subject": "Inventur",
        "start": {"dateTime": "2026-03-02T08:00:00", "timeZone": W_EUROPE},
        "end": {"dateTime": "2026-03-02T12:00:00", "timeZone": W_EUROPE},
        "recurrence": {
            "pattern": {
                "type": "relativeYearly",
                "interval": 1,
                "daysOfWeek": ["monday"],
                "index": "first",
                "month": 3,
            },
            "range": {"type": "endDate", "startDate": "2026-03-02", "endDate": "2030-12-31"},
        },
    }
    master = graph.ok(graph.post(EVENTS, body), 201)
    pattern = ews_alice.calendar.get(id=ews_id(master["id"])).recurrence.pattern
    assert isinstance(pattern, RelativeYearlyPattern)
    assert (pattern.month, pattern.week_number, pattern.weekday) == (3, 1, 1)


def test_r20_task_written_over_ews_reads_over_graph_and_the_reverse(
    ews_alice: Account, graph: Graph
) -> None:
    lists = graph.ok(graph.get(f"/users/{ALICE}/todo/lists"))["value"]
    tasks = f"/users/{ALICE}/todo/lists/{lists[0]['id']}/tasks"
    task = Task(
        account=ews_alice,
        folder=ews_alice.tasks,
        subject="Angebot nachfassen",
        body=HTMLBody("<p>Kunde 4711</p>"),
        start_date=EWSDate(2026, 3, 30),
        due_date=EWSDate(2026, 4, 2),
        status="WaitingOnOthers",
        percent_complete=Decimal(40),
        importance="High",
        categories=["ERP"],
        reminder_is_set=True,
        reminder_due_by=EWSDateTime(2026, 4, 1, 9, tzinfo=BERLIN),
    )
    task.save()
    read = graph.ok(graph.get(f"{tasks}/{rest_id(task.id)}"))
    assert (read["title"], read["status"], read["importance"]) == (
        "Angebot nachfassen",
        "waitingOnOthers",
        "high",
    )
    assert read["body"] == {"content": "<p>Kunde 4711</p>", "contentType": "html"}
    assert read["categories"] == ["ERP"] and read["isReminderOn"] is True
    assert read["reminderDateTime"] == {
        "dateTime": "2026-04-01T07:00:00.0000000",
        "timeZone": "UTC",
    }
    # exchangelib sends a date as midnight UTC; Graph answers task dates in UTC
    assert read["dueDateTime"] == {"dateTime": "2026-04-02T00:00:00.0000000", "timeZone": "UTC"}
    assert read["startDateTime"] == {"dateTime": "2026-03-30T00:00:00.0000000", "timeZone": "UTC"}
    assert "percentComplete" not in read  # To Do has none (assumption G14)

    stored = ews_alice.tasks.get(id=task.id)
    stored.status = "Completed"
    stored.save(update_fields=["status"])  # completing over EWS ...
    completed = graph.ok(graph.get(f"{tasks}/{read['id']}"))
    assert completed["status"] == "completed"  # ... is seen over Graph
    assert completed["completedDateTime"] == {
        "dateTime": "2026-03-02T08:00:00.0000000",  # the store's clock
        "timeZone": "UTC",
    }
    reopened = graph.ok(graph.patch(f"{tasks}/{read['id']}", {"status": "notStarted"}))
    assert "completedDateTime" not in reopened
    assert ews_alice.tasks.get(id=task.id).percent_complete == Decimal(0)
    done = graph.ok(graph.patch(f"{tasks}/{read['id']}", {"status": "completed"}))
    again = ews_alice.tasks.get(id=task.id)
    assert again.status == "Completed" and again.percent_complete == Decimal(100)
    assert again.complete_date is not None and "completedDateTime" in done

    created = graph.ok(
        graph.post(
            tasks,
            {"title": "Über To Do", "status": "inProgress", "importance": "low",
             "dueDateTime": {"dateTime": "2026-05-04T00:00:00", "timeZone": "UTC"},
             "startDateTime": {"dateTime": "2026-05-01T00:00:00", "timeZone": "UTC"}},
        ),
        201,
    )  # fmt: skip
    back = ews_alice.tasks.get(id=ews_id(created["id"]))
    assert (back.subject, back.status, back.importance) == ("Über To Do", "InProgress", "Low")
    assert back.due_date == EWSDate(2026, 5, 4) and back.start_date == EWSDate(2026, 5, 1)


def test_r20_changes_over_ews_show_in_graph_delta_and_graph_ids_work_over_ews(
    ews_alice: Account, graph: Graph
) -> None:
    item = CalendarItem(
        account=ews_alice,
        folder=ews_alice.calendar,
        subject="eins",
        start=berlin(3, 10, 9),
        end=berlin(3, 10, 10),
    )
    item.save()
    page = graph.ok(graph.get(f"/users/{ALICE}/calendarView/delta", params=WINDOW))
    assert [e["subject"] for e in page["value"]] == ["eins"]
    item.subject = "zwei"
    item.save(update_fields=["subject"])
    second = graph.ok(graph.get(page["@odata.deltaLink"]))
    assert [e["subject"] for e in second["value"]] == ["zwei"]
    graph_id = rest_id(item.id)
    item.delete()
    third = graph.ok(graph.get(second["@odata.deltaLink"]))
    assert third["value"] == [
        {
            "@odata.type": "#microsoft.graph.event",
            "id": graph_id,
            "@removed": {"reason": "deleted"},
        }
    ]
