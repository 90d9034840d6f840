"""What only the port over the mailbox store can show: Windows time zones, values Outlook can
hold that our model cannot, how items made by other clients read, and EWS errors.

Items "made in Outlook" here are written straight into the store, as another client would.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from engine.errors import NotFound, PermanentError, SideError, TransientError, VersionConflict
from engine.model import Appointment, ItemKind, Task, User
from engine.observation import Change, Observation
from sim.errors import EwsError
from sim.model import (
    BodyType,
    CalendarFields,
    ExtendedPropertyKey,
    FreeBusyStatus,
    Sensitivity,
    TaskFields,
)
from sim.recurrence import (
    AbsoluteYearlyPattern,
    DayOfWeek,
    NumberedRange,
    WeeklyPattern,
)
from sim.recurrence import EwsRecurrence as StoreRecurrence
from sim.store import StoreSettings
from tests.doubles.mailbox_store import MailboxStorePort
from tests.doubles.series_writes import side_error
from tests.exchange.support import (
    MAILBOX,
    USER,
    creating,
    read_all,
    updating,
)
from tests.harness import Clock, at, mailbox_store_exchange

KICKOFF = Appointment(subject="Kickoff", start=at(1, 9), end=at(1, 10))
MONDAY = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)  # 09:00 in Berlin
# Spelled out here rather than imported: the property must be exactly this for the EWS adapter.
EINKLANG_SYNC_ID = ExtendedPropertyKey(
    property_type="String",
    property_set_id="C11FF724-AA03-4555-9952-8FA248A11C3E",
    property_name="EinklangSyncId",
)


def outlook_item(port: MailboxStorePort, **fields: Any) -> str:
    """A calendar item another client made: a single unless `recurrence` is given. `fields` are
    `CalendarFields`' (typed as the store's `update_item` takes them)."""
    recurrence = fields.pop("recurrence", None)
    assert recurrence is None or isinstance(recurrence, StoreRecurrence)
    values = CalendarFields(
        subject="Made in Outlook",
        start=MONDAY,
        end=MONDAY + timedelta(hours=1),
        start_time_zone="W. Europe Standard Time",
        end_time_zone="W. Europe Standard Time",
    )
    item = port.store.create_calendar_item(MAILBOX, replace(values, **fields), recurrence)
    return item.item_id


def appointment(port: MailboxStorePort, item_id: str) -> Appointment:
    content = port.get(item_id).content
    assert isinstance(content, Appointment)
    return content


def changes_after_setup(port: MailboxStorePort, make: Callable[[], object]) -> list[Observation]:
    checkpoint = port.read_changes(USER, ItemKind.APPOINTMENT, None).checkpoint
    make()
    return list(port.read_changes(USER, ItemKind.APPOINTMENT, checkpoint).observations)


# ---- mailboxes and sync states ------------------------------------------------------------------


def test_a_mailbox_that_does_not_exist_is_not_reachable(port: MailboxStorePort) -> None:
    nobody = User(login="nobody", mailbox="nobody@example.com", allow_sync=True)
    status = port.check_mailbox(nobody)
    assert (status.reachable, status.reason) == (False, "ErrorNonExistentMailbox")
    with pytest.raises(PermanentError, match="ErrorNonExistentMailbox"):
        port.apply(nobody, uuid.uuid4(), creating(KICKOFF))


def test_a_sync_state_the_store_let_expire_resynchronises_as_changes(clock: Clock) -> None:
    port = mailbox_store_exchange(settings=StoreSettings(sync_state_max_age=timedelta(days=1)))(
        clock
    )
    item = port.create(MAILBOX, KICKOFF)
    checkpoint = port.read_changes(USER, ItemKind.APPOINTMENT, None).checkpoint
    clock.advance(days=2)
    resync = port.read_changes(USER, ItemKind.APPOINTMENT, checkpoint)
    assert [(o.native_id, o.change) for o in resync.observations] == [(item, Change.CHANGED)]


def test_a_checkpoint_that_is_not_a_sync_state_resynchronises(port: MailboxStorePort) -> None:
    item = port.create(MAILBOX, KICKOFF)
    resync = port.read_changes(USER, ItemKind.APPOINTMENT, "0 changes not-a-sync-state")
    assert [(o.native_id, o.change) for o in resync.observations] == [(item, Change.CHANGED)]


def test_a_setup_interrupted_by_an_invalid_state_still_reads_a_baseline(
    port: MailboxStorePort,
) -> None:
    port.max_changes = 2
    items = {port.create(MAILBOX, KICKOFF.replace(subject=f"Old {n}")) for n in range(3)}
    first = port.read_changes(USER, ItemKind.APPOINTMENT, None)
    assert first.more
    port.invalidate_sync_states()
    rest, _, _ = read_all(port, ItemKind.APPOINTMENT, first.checkpoint)
    assert {o.native_id for o in rest} == items  # read again from the start
    assert {o.change for o in (*first.observations, *rest)} == {Change.BASELINE}


# ---- what is written ---------------------------------------------------------------------------------


def test_the_stream_id_is_our_string_extended_property(port: MailboxStorePort) -> None:
    stream = uuid.uuid4()
    item_id = port.apply(USER, stream, creating(KICKOFF)).native_id
    assert port.store.get_extended_property(item_id, EINKLANG_SYNC_ID) == str(stream)


def test_no_body_is_written_unless_asked_and_html_is_marked_as_html(
    port: MailboxStorePort,
) -> None:
    plain = port.apply(USER, uuid.uuid4(), creating(KICKOFF.replace(info_text="Agenda")))
    assert port.store.get_calendar_item(plain.native_id).fields.body is None
    html = port.apply(
        USER,
        uuid.uuid4(),
        creating(
            KICKOFF.replace(info_text="Agenda"), write_info_text=True, info_text_format="html"
        ),
    )
    body = port.store.get_calendar_item(html.native_id).fields.body
    assert body is not None and body.body_type is BodyType.HTML


def test_a_time_zone_exchange_has_no_id_for_is_refused(port: MailboxStorePort) -> None:
    # A valid zone whose rules have parted from its CLDR Windows id (W. Europe Standard Time).
    troll = KICKOFF.replace(time_zone="Antarctica/Troll")
    with pytest.raises(PermanentError, match="UNKNOWN_TIME_ZONE"):
        port.apply(USER, uuid.uuid4(), creating(troll))
    assert port.items(MAILBOX, ItemKind.APPOINTMENT) == []


def test_a_zone_sharing_its_windows_id_comes_back_as_written_until_outlook_changes_it(
    port: MailboxStorePort,
) -> None:
    vienna = KICKOFF.replace(time_zone="Europe/Vienna")
    item_id = port.apply(USER, uuid.uuid4(), creating(vienna)).native_id
    assert port.store.get_calendar_item(item_id).fields.start_time_zone == "W. Europe Standard Time"
    assert appointment(port, item_id).time_zone == "Europe/Vienna"
    port.store.update_item(
        item_id, start_time_zone="Romance Standard Time", end_time_zone="Romance Standard Time"
    )
    assert appointment(port, item_id).time_zone == "Europe/Paris"


def test_writes_keep_outlook_values_our_model_does_not_distinguish(
    port: MailboxStorePort,
) -> None:
    item_id = outlook_item(port, sensitivity=Sensitivity.CONFIDENTIAL, categories=("Red",))
    item = port.get(item_id)
    assert appointment(port, item_id).private is False
    port.apply(USER, uuid.uuid4(), updating(item, item.content.replace(subject="Renamed")))
    fields = port.store.get_calendar_item(item_id).fields
    assert (fields.subject, fields.sensitivity, fields.categories) == (
        "Renamed",
        Sensitivity.CONFIDENTIAL,
        ("Red",),
    )


def test_a_series_from_outlook_keeps_its_exceptions_when_the_engine_renames_it(
    port: MailboxStorePort,
) -> None:
    """Outlook may leave out FirstDayOfWeek; writing the same pattern back must not reshape it."""
    weekly = StoreRecurrence(
        WeeklyPattern((DayOfWeek.MONDAY, DayOfWeek.WEDNESDAY)), NumberedRange(MONDAY.date(), 6)
    )
    item_id = outlook_item(port, recurrence=weekly)
    second = MONDAY + timedelta(days=2)
    port.store.update_occurrence(
        item_id,
        second,
        subject="Moved",
        start=second + timedelta(hours=2),
        end=second + timedelta(hours=3),
    )
    port.store.delete_occurrence(item_id, MONDAY + timedelta(days=7))
    item = port.get(item_id)
    port.apply(USER, uuid.uuid4(), updating(item, item.content.replace(subject="Renamed")))
    master = port.store.get_calendar_item(item_id)
    assert master.recurrence == weekly  # not rewritten with a FirstDayOfWeek of Monday
    assert [o.original_start for o in master.modified_occurrences] == [second]
    assert master.deleted_occurrences == (MONDAY + timedelta(days=7),)


# ---- how items of other clients read ----------------------------------------------------------------


def test_an_all_day_event_from_outlook_reads_as_local_midnights(port: MailboxStorePort) -> None:
    midnight = datetime(2026, 12, 23, 23, 0, tzinfo=UTC)  # 24 Dec, 00:00 in Berlin
    item_id = outlook_item(port, start=midnight, end=midnight + timedelta(days=3), is_all_day=True)
    content = port.get(item_id).content
    assert isinstance(content, Appointment)
    assert (content.all_day, content.time_zone, content.start) == (True, "Europe/Berlin", midnight)


def test_task_dates_written_at_a_local_midnight_read_as_that_day(port: MailboxStorePort) -> None:
    berlin_midnight = datetime(2026, 12, 2, 23, 0, tzinfo=UTC)  # 3 Dec in Berlin
    item = port.store.create_task(
        MAILBOX, TaskFields(subject="Call back", due_date=berlin_midnight)
    )
    content = port.get(item.item_id).content
    assert isinstance(content, Task) and content.due == datetime(2026, 12, 3).date()


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"legacy_free_busy_status": FreeBusyStatus.NO_DATA}, "INVALID_FIELD"),
        (
            {
                "recurrence": StoreRecurrence(
                    AbsoluteYearlyPattern(31, 2), NumberedRange(MONDAY.date(), 3)
                )
            },
            "INVALID_RECURRENCE",
        ),
        ({"extended_properties": {EINKLANG_SYNC_ID: "not a stream id"}}, "INVALID_FIELD"),
    ],
    # (Every Windows zone Exchange has is in our CLDR table: tests/exchange/test_timezones.py.)
    ids=["free/busy NoData", "31 February", "bad sync id"],
)
def test_an_item_our_model_cannot_hold_is_observed_as_invalid(
    port: MailboxStorePort, fields: dict[str, Any], code: str
) -> None:
    [observation] = changes_after_setup(port, lambda: outlook_item(port, **fields))
    assert observation.change is Change.INVALID
    assert observation.error is not None and observation.error.code == code
    fetched = port.fetch(USER, ItemKind.APPOINTMENT, observation.native_id)
    assert (fetched.change, fetched.error) == (Change.INVALID, observation.error)


def test_an_invalid_item_we_exported_still_names_its_stream(port: MailboxStorePort) -> None:
    stream = uuid.uuid4()
    item_id = port.apply(USER, stream, creating(KICKOFF)).native_id
    checkpoint = port.read_changes(USER, ItemKind.APPOINTMENT, None).checkpoint
    port.store.update_item(item_id, legacy_free_busy_status=FreeBusyStatus.NO_DATA)
    [observation] = port.read_changes(USER, ItemKind.APPOINTMENT, checkpoint).observations
    assert (observation.change, observation.sync_id) == (Change.INVALID, stream)


def test_an_unreadable_item_that_existed_before_setup_is_a_baseline_with_its_error(
    port: MailboxStorePort,
) -> None:
    outlook_item(port, legacy_free_busy_status=FreeBusyStatus.NO_DATA)
    [observation] = port.read_changes(USER, ItemKind.APPOINTMENT, None).observations
    assert observation.change is Change.BASELINE and observation.snapshot is None
    assert observation.error is not None and "NoData" in observation.error.message


def test_items_outside_the_users_folder_are_not_theirs(port: MailboxStorePort) -> None:
    task = port.create(MAILBOX, Task(subject="Buy stamps"))
    other = port.create("schmidt@example.com", KICKOFF)
    for native_id in (task, other, "AAMk000001"):
        observation = port.fetch(USER, ItemKind.APPOINTMENT, native_id)
        assert observation.change is Change.DELETED
    with pytest.raises(NotFound):
        port.apply(USER, uuid.uuid4(), updating(port.get(other), KICKOFF))
    assert port.get(other).content.subject == "Kickoff"


# ---- EWS errors as the engine's ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected", "retry_after_s"),
    [
        ("ErrorServerBusy", TransientError, 0.5),
        ("ErrorMailboxStoreUnavailable", TransientError, None),
        ("ErrorImpersonateUserDenied", TransientError, None),
        ("ErrorItemNotFound", NotFound, None),
        ("ErrorIrresolvableConflict", VersionConflict, None),
        ("ErrorStaleObject", VersionConflict, None),
        ("ErrorNonExistentMailbox", PermanentError, None),
        ("ErrorCalendarInvalidRecurrence", PermanentError, None),
    ],
)
def test_ews_errors_become_the_engines_errors(
    code: str, expected: type[SideError], retry_after_s: float | None
) -> None:
    error = side_error(
        EwsError(
            code,
            "as Exchange says",
            message_xml={"BackOffMilliseconds": "500"} if retry_after_s else None,
        )
    )
    assert type(error) is expected
    assert error.retry_after_s == retry_after_s and code in str(error)
