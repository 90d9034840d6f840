"""The Exchange port's contract for series and fields, as test_port_conformance.py: through the
`ExchangePort` methods and the "user in Outlook" helpers only."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest

from engine.errors import PermanentError
from engine.infotext import as_body
from engine.model import (
    Appointment,
    BusyStatus,
    ItemKind,
    Participant,
    Priority,
    ResponseStatus,
    Task,
    TaskStatus,
)
from engine.ports import OccurrenceChange
from engine.recurrence import Recurrence
from tests.engine.test_recurrence import SIX_PATTERNS
from tests.exchange.conformance import (
    JOUR_FIXE,
    KICKOFF,
    MON_FRI,
    STARTS,
    created,
    fetched,
    moved,
    with_exceptions,
)
from tests.exchange.support import (
    MAILBOX,
    USER,
    rewritten_occurrences,
    updating,
)
from tests.harness import Clock, Outlook, at

# ---- series -----------------------------------------------------------------------------------------


def test_a_series_made_in_outlook_shows_its_exceptions(exchange: Outlook) -> None:
    item_id = exchange.create(MAILBOX, with_exceptions())
    assert exchange.get(item_id).content.sync_hash == with_exceptions().sync_hash
    exchange.modify_occurrence(item_id, STARTS[3], subject="Jour fixe (Lab)", location="Lab")
    exchange.delete_occurrence(item_id, STARTS[4])
    content = exchange.get(item_id).content
    assert isinstance(content, Appointment)
    assert [(o.original_start, o.subject, o.location) for o in content.modified_occurrences] == [
        (STARTS[1], "Jour fixe (moved)", ""),
        (STARTS[3], "Jour fixe (Lab)", "Lab"),
    ]
    assert content.deleted_occurrences == (STARTS[2], STARTS[4])


@pytest.mark.parametrize(
    "change",
    [
        {"recurrence": MON_FRI},
        {"start": at(7, 10), "end": at(7, 11)},
    ],
    ids=["new pattern", "new time"],
)
def test_a_new_pattern_or_time_in_outlook_drops_every_exception(
    exchange: Outlook, change: dict[str, object]
) -> None:
    item_id = exchange.create(MAILBOX, with_exceptions())
    exchange.edit(item_id, **change)
    content = exchange.get(item_id).content
    assert isinstance(content, Appointment)
    assert (content.modified_occurrences, content.deleted_occurrences) == ((), ())


def test_other_edits_of_a_series_keep_its_exceptions(exchange: Outlook) -> None:
    item_id = exchange.create(MAILBOX, with_exceptions())
    exchange.edit(item_id, subject="Jour fixe (new)", location="Room 2")
    content = exchange.get(item_id).content
    assert isinstance(content, Appointment)
    assert [o.original_start for o in content.modified_occurrences] == [STARTS[1]]
    assert content.deleted_occurrences == (STARTS[2],)


def test_a_pattern_change_written_by_the_engine_starts_the_series_afresh(exchange: Outlook) -> None:
    item_id = created(exchange, with_exceptions())
    target = JOUR_FIXE.replace(recurrence=MON_FRI, deleted_occurrences=(STARTS[2],))
    exchange.apply(
        USER,
        uuid.uuid4(),
        updating(
            exchange.get(item_id),
            target,
            occurrences=rewritten_occurrences(target),
            pattern_changed=True,
        ),
    )
    assert fetched(exchange, item_id).sync_hash == target.sync_hash


def test_a_pattern_reset_brings_back_a_deleted_occurrence(exchange: Outlook) -> None:
    """The engine restores a deleted occurrence by writing the same pattern afresh (R2)."""
    series = with_exceptions()
    item_id = created(exchange, series)
    target = series.replace(deleted_occurrences=())
    exchange.apply(
        USER,
        uuid.uuid4(),
        updating(
            exchange.get(item_id),
            target,
            occurrences=rewritten_occurrences(target),
            pattern_changed=True,
        ),
    )
    assert fetched(exchange, item_id).sync_hash == target.sync_hash


def test_a_modified_occurrence_is_restored_to_the_series_values(exchange: Outlook) -> None:
    series = with_exceptions()
    item_id = created(exchange, series)
    target = series.replace(modified_occurrences=())
    restore = OccurrenceChange(original_start=STARTS[1], action="restore")
    exchange.apply(
        USER, uuid.uuid4(), updating(exchange.get(item_id), target, occurrences=[restore])
    )
    assert fetched(exchange, item_id).sync_hash == target.sync_hash


def test_a_restored_occurrence_follows_later_changes_of_the_series(exchange: Outlook) -> None:
    """Exchange keeps a restored occurrence as an exception: it must not show up again as
    modified when the series is renamed, by the engine or in Outlook."""
    series = JOUR_FIXE.replace(modified_occurrences=(moved(STARTS[1]),))
    item_id = created(exchange, series)
    restore = OccurrenceChange(original_start=STARTS[1], action="restore")
    exchange.apply(
        USER, uuid.uuid4(), updating(exchange.get(item_id), JOUR_FIXE, occurrences=[restore])
    )
    renamed = JOUR_FIXE.replace(subject="Jour fixe 2")
    exchange.apply(USER, uuid.uuid4(), updating(exchange.get(item_id), renamed))
    assert fetched(exchange, item_id).sync_hash == renamed.sync_hash
    exchange.edit(item_id, location="Room 5")
    assert fetched(exchange, item_id).sync_hash == renamed.replace(location="Room 5").sync_hash


def test_a_deleted_occurrence_cannot_be_restored_without_a_pattern_reset(exchange: Outlook) -> None:
    series = with_exceptions()
    item_id = created(exchange, series)
    restore = OccurrenceChange(original_start=STARTS[2], action="restore")
    with pytest.raises(PermanentError):
        exchange.apply(
            USER,
            uuid.uuid4(),
            updating(
                exchange.get(item_id), series.replace(deleted_occurrences=()), occurrences=[restore]
            ),
        )


def test_an_occurrence_deleted_in_outlook_cannot_be_modified(exchange: Outlook) -> None:
    item_id = created(exchange, JOUR_FIXE)
    exchange.delete_occurrence(item_id, STARTS[1])
    target = JOUR_FIXE.replace(modified_occurrences=(moved(STARTS[1]),))
    write = updating(exchange.get(item_id), target, occurrences=rewritten_occurrences(target))
    # Exchange answers ErrorCalendarOccurrenceIsDeletedFromRecurrence: no retry will change that.
    with pytest.raises(PermanentError):
        exchange.apply(USER, uuid.uuid4(), write)


def test_a_start_that_is_no_occurrence_of_the_series_is_refused(exchange: Outlook) -> None:
    item_id = created(exchange, JOUR_FIXE)
    tuesday = STARTS[0] + timedelta(days=1)
    target = JOUR_FIXE.replace(deleted_occurrences=(tuesday,))
    delete = OccurrenceChange(original_start=tuesday, action="delete")
    with pytest.raises(PermanentError, match="not an occurrence"):
        exchange.apply(
            USER, uuid.uuid4(), updating(exchange.get(item_id), target, occurrences=[delete])
        )


@pytest.mark.parametrize(
    "recurrence",
    [
        *SIX_PATTERNS.values(),
        Recurrence(pattern="daily", interval=3, end_date=date(2027, 3, 1)),
        Recurrence(
            pattern="weekly", weekdays=("tuesday", "friday"), interval=2, first_day_of_week="sunday"
        ),
        Recurrence(pattern="absolute_monthly", day_of_month=5, interval=24),  # every two years
        Recurrence(pattern="relative_monthly", day="weekend_day", week_index="second", interval=2),
    ],
    ids=[*SIX_PATTERNS, "daily until", "weekly from sunday", "every two years", "weekend day"],
)
def test_every_pattern_round_trips_with_its_exceptions(
    exchange: Outlook, recurrence: Recurrence
) -> None:
    series = with_exceptions(
        Appointment(subject="Series", start=at(7, 9), end=at(7, 10), recurrence=recurrence)
    )
    item_id = created(exchange, series)
    content = fetched(exchange, item_id)
    assert isinstance(content, Appointment) and content.recurrence == recurrence
    assert content.sync_hash == series.sync_hash


# ---- fields -------------------------------------------------------------------------------------------


def test_the_body_is_written_only_when_asked(exchange: Outlook) -> None:
    item_id = created(exchange, KICKOFF.replace(info_text="Agenda"))
    assert exchange.get(item_id).content.info_text == ""
    exchange.edit(item_id, info_text="Notes typed in Outlook")
    edited = KICKOFF.replace(subject="Kickoff 2", info_text="Agenda")
    exchange.apply(USER, uuid.uuid4(), updating(exchange.get(item_id), edited))
    content = exchange.get(item_id).content
    assert (content.subject, content.info_text) == ("Kickoff 2", "Notes typed in Outlook")
    exchange.apply(
        USER, uuid.uuid4(), updating(exchange.get(item_id), edited, write_info_text=True)
    )
    assert exchange.get(item_id).content.info_text == "Agenda"


def test_an_html_body_is_written_as_html(exchange: Outlook) -> None:
    snapshot = KICKOFF.replace(info_text="A < B\nsecond line")
    item_id = created(exchange, snapshot, write_info_text=True, info_text_format="html")
    assert exchange.get(item_id).content.info_text == as_body(snapshot.info_text, "html")


def test_participants_and_their_responses_round_trip(exchange: Outlook) -> None:
    snapshot = KICKOFF.replace(
        participants=(
            Participant(
                email="schmidt@example.com", name="Schmidt", response=ResponseStatus.ACCEPTED
            ),
            Participant(
                email="weber@example.com", required=False, response=ResponseStatus.TENTATIVE
            ),
        )
    )
    item_id = created(exchange, snapshot)
    if getattr(exchange, "denial_code", "") == "ErrorAccessDenied":
        # Graph ignores the responses a client writes (they are the attendees' to give).
        kept = tuple(
            p.model_copy(update={"response": ResponseStatus.UNKNOWN}) for p in snapshot.participants
        )
        assert fetched(exchange, item_id).sync_hash == snapshot.replace(participants=kept).sync_hash
    else:
        assert fetched(exchange, item_id).sync_hash == snapshot.sync_hash
    declined = snapshot.participants[0].model_copy(update={"response": ResponseStatus.DECLINED})
    exchange.edit(item_id, participants=[declined, snapshot.participants[1]])
    content = fetched(exchange, item_id)
    assert isinstance(content, Appointment)
    assert [p.response for p in content.participants] == [
        ResponseStatus.DECLINED,
        ResponseStatus.TENTATIVE,
    ]


def test_busy_status_privacy_and_reminder_round_trip(exchange: Outlook) -> None:
    for snapshot in (
        KICKOFF.replace(busy_status=BusyStatus.OUT_OF_OFFICE, private=True, reminder_minutes=30),
        KICKOFF.replace(busy_status=BusyStatus.WORKING_ELSEWHERE, reminder_minutes=0),
        KICKOFF.replace(busy_status=BusyStatus.FREE, reminder_minutes=None),
    ):
        assert fetched(exchange, created(exchange, snapshot)).sync_hash == snapshot.sync_hash


def test_an_all_day_appointment_round_trips(exchange: Outlook) -> None:
    snapshot = Appointment(
        subject="Holiday", start=at(24, 0), end=at(27, 0), all_day=True, busy_status=BusyStatus.FREE
    )
    assert fetched(exchange, created(exchange, snapshot)).sync_hash == snapshot.sync_hash


@pytest.mark.parametrize(
    "time_zone",
    [
        "Europe/Berlin",
        "Europe/London",
        "Europe/Vienna",
        "America/New_York",
        "America/Phoenix",
        "UTC",
    ],
)
def test_time_zones_round_trip(exchange: Outlook, time_zone: str) -> None:
    snapshot = JOUR_FIXE.replace(time_zone=time_zone)
    content = fetched(exchange, created(exchange, snapshot))
    assert content.sync_hash == snapshot.sync_hash


def test_a_task_round_trips(exchange: Outlook) -> None:
    if getattr(exchange, "denial_code", "") == "ErrorAccessDenied":
        pytest.skip("Graph: To Do has no percentComplete (assumption GA2, sim G14)")
    snapshot = Task(
        subject="Call back",
        start=date(2026, 12, 1),
        due=date(2026, 12, 3),
        status=TaskStatus.IN_PROGRESS,
        percent_complete=40,
        priority=Priority.HIGH,
        reminder_at=at(3, 9),
    )
    item_id = created(exchange, snapshot)
    assert fetched(exchange, item_id, ItemKind.TASK).sync_hash == snapshot.sync_hash
    exchange.edit(item_id, status=TaskStatus.WAITING_ON_OTHERS)
    content = fetched(exchange, item_id, ItemKind.TASK)
    assert isinstance(content, Task) and content.status is TaskStatus.WAITING_ON_OTHERS


def test_completing_a_task_sets_its_completion_time(exchange: Outlook, clock: Clock) -> None:
    done = Task(subject="Call back", status=TaskStatus.COMPLETED, percent_complete=100)
    content = fetched(exchange, created(exchange, done), ItemKind.TASK)
    assert isinstance(content, Task)
    # Exchange sets CompleteDate itself when a task is completed (and ignores one written).
    assert content.completed_at == clock.now


def test_a_task_status_and_its_percent_complete_are_kept_consistent(exchange: Outlook) -> None:
    started = Task(subject="Call back", status=TaskStatus.NOT_STARTED, percent_complete=40)
    content = fetched(exchange, created(exchange, started), ItemKind.TASK)
    assert isinstance(content, Task)
    # Exchange resets the percentage of a task that has not started.
    assert content.percent_complete == 0
