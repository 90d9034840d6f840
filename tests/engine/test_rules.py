"""One test (or a few) per rule of DESIGN §1 that concerns a single item, through the runtime.

Each test acts as a person on one side, lets the engine run as it does in production (observe →
record → decide → act → save → project) and checks both sides and the transfer log.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from engine import reasons
from engine.eligibility import eligibility, mailbox_address
from engine.errors import TransientError
from engine.model import (
    Appointment,
    BusyStatus,
    ItemKind,
    Participant,
    ResponseStatus,
    Side,
    Task,
    TaskStatus,
    User,
)
from engine.options import SyncOptions
from engine.recurrence import Recurrence
from engine.state import Status
from projections.queries import AuditLog
from replay.verify import verify
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


# ---- R1: appointments and tasks, both ways -------------------------------------------------


def test_r1_appointments_and_tasks_from_the_erp_reach_outlook(world: Harness) -> None:
    appointment = world.erp_appointment(subject="Kickoff", location="Room 1")
    task = world.erp_task(subject="Call back", due=date(2026, 12, 3), priority="high")
    world.sync()
    assert world.counterpart_in_exchange(appointment).content.location == "Room 1"  # type: ignore[union-attr]
    exported_task = world.counterpart_in_exchange(task).content
    assert exported_task.subject == "Call back" and exported_task.due == date(2026, 12, 3)  # type: ignore[union-attr]
    assert world.reasons(verdict="export") == [reasons.CREATED_IN_ERP, reasons.CREATED_IN_ERP]


def test_r1_appointments_and_tasks_from_outlook_reach_the_erp(world: Harness) -> None:
    appointment = world.outlook_appointment(subject="Dentist")
    task = world.outlook_task(
        subject="Buy stamps", status=TaskStatus.IN_PROGRESS, percent_complete=40
    )
    world.sync()
    assert world.erp_row_for(appointment).data["subject"] == "Dentist"
    row = world.erp_row_for(task)
    assert row.kind is ItemKind.TASK and row.data["percent_complete"] == 40
    assert world.reasons(verdict="import") == [
        reasons.CREATED_IN_EXCHANGE,
        reasons.CREATED_IN_EXCHANGE,
    ]


# ---- R2: series, occurrences, pattern changes ------------------------------------------------


def test_r2_series_with_modified_and_deleted_occurrences_reaches_outlook(world: Harness) -> None:
    series, starts = jour_fixe(world)
    world.sync()
    first, second, third = starts[:3]
    snapshot = world.erp.snapshot_of(series)
    world.erp.edit(
        series,
        modified_occurrences=[moved(second, "Jour fixe (moved)")],
        deleted_occurrences=[third],
    )
    world.sync()
    exported = world.counterpart_in_exchange(series).content
    assert isinstance(exported, Appointment) and snapshot.recurrence == exported.recurrence  # type: ignore[union-attr]
    assert [o.original_start for o in exported.modified_occurrences] == [second]
    assert exported.modified_occurrences[0].subject == "Jour fixe (moved)"
    assert exported.deleted_occurrences == (third,)
    assert first not in exported.deleted_occurrences


def test_r2_occurrence_moved_and_deleted_in_outlook_reach_the_erp(world: Harness) -> None:
    series, starts = jour_fixe(world)
    world.sync()
    item = world.counterpart_in_exchange(series)
    world.exchange.modify_occurrence(
        item.id, starts[1], start=starts[1] + timedelta(hours=1), end=starts[1] + timedelta(hours=2)
    )
    world.exchange.delete_occurrence(item.id, starts[4])
    world.sync()
    imported = world.erp.snapshot_of(series)
    assert isinstance(imported, Appointment)
    assert [o.original_start for o in imported.modified_occurrences] == [starts[1]]
    assert imported.modified_occurrences[0].start == starts[1] + timedelta(hours=1)
    assert imported.deleted_occurrences == (starts[4],)
    assert world.log()[-2]["changed_fields"] == "deleted_occurrences,modified_occurrences"


def test_r2_pattern_change_in_the_erp_keeps_exceptions_that_still_fall_on_the_pattern(
    world: Harness,
) -> None:
    series, starts = jour_fixe(world)
    world.sync()
    monday, wednesday = starts[2], starts[3]  # Mon 14th, Wed 16th
    world.erp.edit(series, deleted_occurrences=[monday, wednesday])
    world.sync()
    # Wednesdays become Fridays: Monday's deleted occurrence still fits, Wednesday's does not.
    mon_fri = Recurrence(pattern="weekly", weekdays=("monday", "friday"), count=6)
    world.erp.edit(series, rrule=mon_fri.to_rrule(at(7, 9)))
    world.sync()
    exported = world.counterpart_in_exchange(series).content
    assert isinstance(exported, Appointment)
    assert exported.recurrence == mon_fri
    assert exported.deleted_occurrences == (monday,)
    assert world.erp.snapshot_of(series).deleted_occurrences == (monday,)  # type: ignore[union-attr]
    entry = next(r for r in world.log() if r["reason"] == reasons.PATTERN_CHANGED)
    assert wednesday.isoformat() in json.loads(entry["details"])["dropped_occurrences"][0].replace(
        "Z", "+00:00"
    )
    assert "no longer fall on an occurrence" in entry["sentence"]


def test_r2_pattern_change_in_outlook_keeps_the_exceptions_that_still_fit(world: Harness) -> None:
    series, starts = jour_fixe(world)
    world.sync()
    world.erp.edit(series, deleted_occurrences=[starts[2], starts[3]])
    world.sync()
    item = world.counterpart_in_exchange(series)
    mon_fri = Recurrence(pattern="weekly", weekdays=("monday", "friday"), count=6)
    world.exchange.edit(item.id, recurrence=mon_fri)  # Exchange drops every exception itself
    assert world.exchange.get(item.id).content.deleted_occurrences == ()  # type: ignore[union-attr]
    world.sync()
    imported = world.erp.snapshot_of(series)
    assert isinstance(imported, Appointment) and imported.recurrence == mon_fri
    assert imported.deleted_occurrences == (starts[2],)
    assert world.exchange.get(item.id).content.deleted_occurrences == (starts[2],)  # type: ignore[union-attr]


def test_r2_restoring_a_deleted_occurrence_rewrites_the_series_in_outlook(world: Harness) -> None:
    series, starts = jour_fixe(world)
    world.sync()
    world.erp.edit(series, deleted_occurrences=[starts[1], starts[2]])
    world.sync()
    world.erp.edit(series, deleted_occurrences=[starts[2]])  # the ERP user brings one back
    world.sync()
    assert world.counterpart_in_exchange(series).content.deleted_occurrences == (starts[2],)  # type: ignore[union-attr]


def test_r2_a_deleted_occurrence_brought_back_modified_reaches_outlook(world: Harness) -> None:
    series, starts = jour_fixe(world)
    world.sync()
    key = starts[4]
    world.erp.edit(series, deleted_occurrences=[key])
    world.sync()
    world.erp.edit(
        series, deleted_occurrences=[], modified_occurrences=[moved(key, "Jour fixe (moved)")]
    )
    world.sync()
    exported = world.counterpart_in_exchange(series).content
    assert isinstance(exported, Appointment)
    assert exported.deleted_occurrences == ()
    assert [o.subject for o in exported.modified_occurrences] == ["Jour fixe (moved)"]


# ---- R3, R4: just in time, autonomous --------------------------------------------------------


def test_r3_a_committed_change_transfers_in_the_next_tick(world: Harness) -> None:
    assert world.engine is not None
    row = world.erp_appointment()
    report = world.engine.tick()
    assert report.writes == 1
    assert world.counterpart_in_exchange(row).content.subject == "Kickoff"


def test_r3_a_running_engine_wakes_at_once_for_an_erp_commit(world: Harness) -> None:
    exported = world.exports()
    with world.running(poll_s=30.0):
        world.erp_appointment(subject="Committed")
        assert exported.wait(timeout=5.0)  # long before the 30 s poll: the commit woke it
    assert [i.content.subject for i in world.exchange_items()] == ["Committed"]


def test_r4_the_running_engine_outlives_a_broken_round(world: Harness) -> None:
    assert world.store is not None
    store = world.store
    save_batch = store.save_batch
    saves = 0

    def fails_once(*args: Any, **kwargs: Any) -> int:
        nonlocal saves
        saves += 1
        if saves == 1:
            raise RuntimeError("disk full")  # the round's decisions are lost, not its changes
        return save_batch(*args, **kwargs)

    store.save_batch = fails_once  # type: ignore[method-assign]
    exported = world.exports()
    row = world.erp_appointment(subject="Despite the failure")
    with world.running(poll_s=0.05):
        assert exported.wait(timeout=10.0)
    assert saves > 1
    assert world.counterpart_in_exchange(row).content.subject == "Despite the failure"
    assert len(world.exchange_items()) == 1
    world.verify()


def test_r4_an_adapter_bug_in_one_mailbox_does_not_stop_the_others(world: Harness) -> None:
    world.user("schmidt")
    world.sync()
    read_changes = world.exchange.read_changes

    def broken_for_mueller(user: User, *args: Any) -> Any:
        if user.login == "mueller":
            raise RuntimeError("adapter bug on one of mueller's items")
        return read_changes(user, *args)

    world.exchange.read_changes = broken_for_mueller  # type: ignore[method-assign, assignment]
    world.erp_appointment("schmidt", subject="For schmidt")
    world.outlook_appointment("schmidt", subject="From schmidt")
    assert world.engine is not None
    world.engine.tick()
    world.engine.tick()
    assert sorted(i.content.subject for i in world.exchange_items("schmidt")) == [
        "For schmidt",
        "From schmidt",
    ]
    assert sorted(r.data["subject"] for r in world.erp.items_of("schmidt")) == [
        "For schmidt",
        "From schmidt",
    ]


def test_r4_an_erp_database_outage_delays_the_sync_and_loses_nothing(world: Harness) -> None:
    read_changes = world.erp.read_changes
    outage = [TransientError("ERP database unavailable")]

    def read_unless_down(*args: Any) -> Any:
        if outage:
            raise outage.pop()
        return read_changes(*args)

    world.erp.read_changes = read_unless_down  # type: ignore[method-assign, assignment]
    row = world.erp_appointment(subject="During the outage")
    world.sync()  # the first round cannot read the ERP; the next one can
    assert world.counterpart_in_exchange(row).content.subject == "During the outage"


def test_r4_every_eligible_user_is_synchronised_without_any_action(world: Harness) -> None:
    world.user("schmidt")
    world.sync()
    world.erp_appointment("schmidt", subject="Visit")
    world.outlook_appointment("mueller", subject="Lunch")
    world.sync()
    assert [i.content.subject for i in world.exchange_items("schmidt")] == ["Visit"]
    assert [r.data["subject"] for r in world.erp.items_of("mueller")] == ["Lunch"]


# ---- R5: items that existed before setup ------------------------------------------------------


def test_r5_items_that_existed_before_setup_stay_put(fresh: Harness) -> None:
    fresh.user("mueller")
    erp_row = fresh.erp_appointment(subject="Old ERP item")
    fresh.outlook_appointment(subject="Old Outlook item")
    fresh.sync()
    assert [i.content.subject for i in fresh.exchange_items()] == ["Old Outlook item"]
    assert list(fresh.erp.rows) == [int(erp_row)]
    entries = fresh.log(reason=reasons.PREEXISTING)
    assert len(entries) == 2
    assert (
        "existed before sync was set up for mueller on 2026-11-02 and has not changed since"
        in entries[0]["sentence"]
    )


def test_r5_a_preexisting_item_transfers_as_a_creation_once_changed(fresh: Harness) -> None:
    fresh.user("mueller")
    erp_row = fresh.erp_appointment(subject="Old ERP item")
    outlook = fresh.outlook_appointment(subject="Old Outlook item")
    fresh.sync()
    fresh.erp.edit(erp_row, location="Room 2")
    fresh.exchange.edit(outlook, location="Room 3")
    fresh.sync()
    assert fresh.counterpart_in_exchange(erp_row).content.location == "Room 2"  # type: ignore[union-attr]
    assert fresh.erp_row_for(outlook).data["location"] == "Room 3"
    assert fresh.reasons(reason=reasons.CHANGED_AFTER_SETUP) == [reasons.CHANGED_AFTER_SETUP] * 2


def test_r5_a_preexisting_item_that_is_only_touched_stays_put(fresh: Harness) -> None:
    fresh.user("mueller")
    outlook = fresh.outlook_appointment(subject="Old Outlook item")
    fresh.sync()
    fresh.exchange.touch(outlook)  # new ChangeKey, same content
    fresh.sync()
    assert fresh.erp.rows == {}
    assert fresh.reasons(trigger="exchange_changed") == [reasons.UNCHANGED]


def test_r5_an_unreadable_item_that_existed_before_setup_stays_put_until_corrected(
    fresh: Harness,
) -> None:
    fresh.user("mueller")
    bad = fresh.erp_appointment(subject="Broken before setup", time_zone="Nowhere/City")
    fresh.sync()
    entry = fresh.log()[0]
    assert entry["reason"] == reasons.PREEXISTING and "cannot be read" in entry["sentence"]
    fresh.erp.edit(bad, time_zone="Europe/Berlin")
    fresh.sync()
    assert fresh.counterpart_in_exchange(bad).content.subject == "Broken before setup"
    assert fresh.reasons()[1] == reasons.CHANGED_AFTER_SETUP


def test_r5_deleting_a_preexisting_item_deletes_nothing_on_the_other_side(fresh: Harness) -> None:
    fresh.user("mueller")
    erp_row = fresh.erp_appointment(subject="Old ERP item")
    fresh.sync()
    fresh.erp.delete(erp_row)
    fresh.sync()
    assert fresh.reasons(trigger="erp_deleted") == [reasons.NOT_LINKED]


# ---- R6, R7: info text flows from the ERP to Outlook only -------------------------------------


def test_r6_info_text_edited_in_outlook_is_not_imported(world: Harness) -> None:
    row = world.erp_appointment(info_text="Agenda: budget")
    world.sync()
    item = world.counterpart_in_exchange(row)
    world.exchange.edit(item.id, info_text="My private notes")
    world.sync()
    assert world.erp.snapshot_of(row).info_text == "Agenda: budget"
    assert world.reasons(trigger="exchange_changed")[-1] == reasons.BODY_NOT_IMPORTED


def test_r6_info_text_is_not_imported_on_creation_either(world: Harness) -> None:
    outlook = world.outlook_appointment(info_text="Dial-in 0800 123")
    world.sync()
    assert world.erp_row_for(outlook).data["info_text"] == ""


def test_r6_info_text_never_conflicts(world: Harness) -> None:
    row = world.erp_appointment(info_text="ERP text")
    world.sync()
    item = world.counterpart_in_exchange(row)
    world.erp.edit(row, info_text="ERP text, revised")
    world.exchange.edit(item.id, info_text="Outlook text", location="Room 9")
    world.sync()
    snapshot = world.erp.snapshot_of(row)
    assert snapshot.info_text == "ERP text, revised" and snapshot.location == "Room 9"  # type: ignore[union-attr]
    assert all("info_text" not in (r["details"] or "") for r in world.log())


def test_r7_info_text_is_not_written_to_outlook_by_default(world: Harness) -> None:
    row = world.erp_appointment(info_text="Internal calculation")
    world.sync()
    assert world.counterpart_in_exchange(row).content.info_text == ""
    world.erp.edit(row, info_text="Internal calculation v2")
    world.sync()
    assert world.counterpart_in_exchange(row).content.info_text == ""
    assert world.reasons(trigger="erp_changed")[-1] == reasons.INFO_TEXT_NOT_WRITTEN


def test_r7_info_text_is_written_when_the_option_is_off(fresh: Harness) -> None:
    fresh.restart(SyncOptions(write_info_text=True))
    fresh.user("mueller")
    fresh.sync()
    row = fresh.erp_appointment(info_text="Bring the contract")
    fresh.sync()
    assert fresh.counterpart_in_exchange(row).content.info_text == "Bring the contract"
    fresh.erp.edit(row, info_text="Bring the signed contract")
    fresh.sync()
    assert fresh.counterpart_in_exchange(row).content.info_text == "Bring the signed contract"


def test_r7_info_text_is_written_as_html_when_configured(fresh: Harness) -> None:
    fresh.restart(SyncOptions(write_info_text=True, info_text_format="html"))
    fresh.user("mueller")
    fresh.sync()
    row = fresh.erp_appointment(info_text="A < B\nsecond line")
    fresh.sync()
    body = fresh.counterpart_in_exchange(row).content.info_text
    assert body == "<html><body><p>A &lt; B<br>second line</p></body></html>"


def test_r7_outlook_body_is_not_overwritten_while_the_info_text_is_unchanged(
    fresh: Harness,
) -> None:
    fresh.restart(SyncOptions(write_info_text=True))
    fresh.user("mueller")
    fresh.sync()
    row = fresh.erp_appointment(info_text="ERP text")
    fresh.sync()
    item = fresh.counterpart_in_exchange(row)
    fresh.exchange.edit(item.id, info_text="Notes typed in Outlook")
    fresh.erp.edit(row, location="Room 4")
    fresh.sync()
    exported = fresh.counterpart_in_exchange(row).content
    assert exported.info_text == "Notes typed in Outlook" and exported.location == "Room 4"  # type: ignore[union-attr]


# ---- R8, R9: who is synchronised, through which mailbox ---------------------------------------


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"allow_sync": False}, "allow automatic Exchange sync"),
        ({"locked": True}, "locked"),
        ({"valid_from": date(2027, 1, 1)}, "valid only from 2027-01-01"),
        ({"valid_until": date(2026, 10, 31)}, "expired on 2026-10-31"),
    ],
)
def test_r8_only_eligible_users_are_synchronised(
    fresh: Harness, fields: dict[str, object], why: str
) -> None:
    fresh.erp.save_user(
        User(login="mueller", mailbox="mueller@example.com", **{"allow_sync": True, **fields})
    )
    fresh.sync()
    fresh.erp_appointment()
    fresh.sync()
    assert fresh.exchange_items() == []
    entry = fresh.log()[-1]
    assert entry["reason"] == reasons.USER_NOT_ELIGIBLE and why in entry["sentence"]


def test_r8_a_login_that_becomes_valid_is_synchronised_from_that_day(fresh: Harness) -> None:
    fresh.user("mueller", valid_from=date(2026, 11, 3))  # the clock stands at 2 November
    fresh.sync()
    fresh.erp_appointment(subject="Before the login is valid")
    fresh.sync()
    assert fresh.exchange_items() == []
    fresh.clock.advance(days=1)
    fresh.sync()  # no user row was saved: the date alone makes the login valid
    row = fresh.erp_appointment(subject="From the first valid day")
    fresh.sync()
    assert [i.content.subject for i in fresh.exchange_items()] == ["From the first valid day"]
    assert fresh.counterpart_in_exchange(row)


def test_r8_a_user_whose_mailbox_cannot_be_reached_is_not_synchronised(fresh: Harness) -> None:
    fresh.exchange.unreachable["mueller@example.com"] = "ErrorNonExistentMailbox"
    fresh.user("mueller")
    fresh.sync()
    fresh.erp_appointment()
    fresh.sync()
    assert fresh.reasons() == [reasons.USER_NOT_ELIGIBLE]
    assert "the mailbox cannot be reached: ErrorNonExistentMailbox" in fresh.log()[0]["sentence"]


def test_r8_a_mailbox_that_becomes_reachable_is_synchronised_without_any_erp_change(
    fresh: Harness,
) -> None:
    fresh.exchange.unreachable["mueller@example.com"] = "ErrorImpersonateUserDenied"
    fresh.user("mueller")
    fresh.sync()
    fresh.erp_appointment(subject="Waiting for rights")
    fresh.sync()
    assert fresh.exchange_items() == []
    del fresh.exchange.unreachable["mueller@example.com"]  # the admin grants impersonation
    fresh.clock.advance(minutes=16)
    fresh.sync()
    row = fresh.erp_appointment(subject="After the rights")
    fresh.sync()
    assert [i.content.subject for i in fresh.exchange_items()] == ["After the rights"]
    assert fresh.counterpart_in_exchange(row)


def test_r8_eligibility_rules() -> None:
    user = User(
        login="mueller",
        allow_sync=True,
        valid_from=date(2026, 1, 1),
        valid_until=date(2026, 12, 31),
    )
    assert eligibility(user, date(2026, 6, 1)) == (True, "eligible")
    assert eligibility(user, date(2027, 1, 1))[0] is False


def test_r9_mailbox_is_the_stored_one_or_login_at_the_mail_domain() -> None:
    user = User(login="Mueller", mailbox="m.mueller@firma.de")
    assert (
        mailbox_address(user, use_exchange_mailboxes=True, mail_domain="firma.de")
        == "m.mueller@firma.de"
    )
    assert (
        mailbox_address(user, use_exchange_mailboxes=False, mail_domain="firma.de")
        == "mueller@firma.de"
    )


# ---- R10: switches ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        (SyncOptions(export_enabled=False), reasons.EXPORT_OFF),
        (SyncOptions(sync_appointments=False), reasons.KIND_OFF),
    ],
)
def test_r10_switches_stop_the_export(fresh: Harness, options: SyncOptions, reason: str) -> None:
    fresh.restart(options)
    fresh.user("mueller")
    fresh.sync()
    fresh.erp_appointment()
    fresh.sync()
    assert fresh.exchange_items() == []
    assert fresh.reasons() == [reason]


def test_r10_import_switch_stops_the_import_but_not_the_export(fresh: Harness) -> None:
    fresh.restart(SyncOptions(import_enabled=False))
    fresh.user("mueller")
    fresh.sync()
    fresh.outlook_appointment()
    row = fresh.erp_appointment()
    fresh.sync()
    assert [r.id for r in fresh.erp.rows.values()] == [int(row)]
    assert reasons.IMPORT_OFF in fresh.reasons() and reasons.CREATED_IN_ERP in fresh.reasons()


def test_r10_tasks_switch_keeps_appointments_syncing(fresh: Harness) -> None:
    fresh.restart(SyncOptions(sync_tasks=False))
    fresh.user("mueller")
    fresh.sync()
    fresh.erp_task()
    fresh.erp_appointment()
    fresh.sync()
    assert len(fresh.exchange_items()) == 1 and fresh.exchange_items(kind=ItemKind.TASK) == []


def test_r10_master_switch_off_syncs_nothing(fresh: Harness) -> None:
    fresh.restart(SyncOptions(automatic_sync=False))
    fresh.user("mueller")
    fresh.sync()
    fresh.erp_appointment()
    fresh.sync()
    assert fresh.exchange_items() == []
    assert fresh.reasons() == [reasons.SYNC_OFF]
    assert "automatic synchronisation is switched off" in fresh.log()[0]["sentence"]


# ---- R11, R12: users live, status ---------------------------------------------------------------


def test_r11_saving_a_user_takes_effect_without_a_restart(fresh: Harness) -> None:
    fresh.erp.save_user(User(login="mueller", mailbox="mueller@example.com", allow_sync=False))
    fresh.sync()
    fresh.erp.save_user(User(login="mueller", mailbox="mueller@example.com", allow_sync=True))
    fresh.sync()
    row = fresh.erp_appointment()
    fresh.sync()
    assert fresh.counterpart_in_exchange(row).content.subject == "Kickoff"
    fresh.erp.save_user(User(login="mueller", mailbox="mueller@example.com", allow_sync=False))
    fresh.sync()
    fresh.erp.edit(row, subject="Kickoff (moved)")
    fresh.sync()
    assert fresh.counterpart_in_exchange(row).content.subject == "Kickoff"
    assert fresh.reasons()[-1] == reasons.USER_NOT_ELIGIBLE


def test_r11_saving_a_user_unchanged_rechecks_a_mailbox_that_could_not_be_reached(
    fresh: Harness,
) -> None:
    fresh.exchange.unreachable["mueller@example.com"] = "ErrorImpersonateUserDenied"
    fresh.user("mueller")
    fresh.sync()
    del fresh.exchange.unreachable["mueller@example.com"]  # the administrator grants the rights
    fresh.user("mueller")  # and saves the user in the ERP, changing nothing
    fresh.sync()
    row = fresh.erp_appointment()
    fresh.sync()
    assert fresh.counterpart_in_exchange(row).content.subject == "Kickoff"


def test_r12_status_tells_per_user_whether_and_why_not(fresh: Harness) -> None:
    fresh.user("mueller")
    fresh.user("schmidt", locked=True)
    fresh.exchange.unreachable["weber@example.com"] = "ErrorImpersonateUserDenied"
    fresh.user("weber")
    fresh.sync()
    assert fresh.engine is not None
    status = {
        s.user.login: (s.eligible, s.reason, s.mailbox_reachable)
        for s in fresh.engine.user_scopes()
    }
    assert status == {
        "mueller": (True, "eligible", True),
        "schmidt": (False, "the login is locked", True),
        "weber": (False, "the mailbox cannot be reached: ErrorImpersonateUserDenied", False),
    }
    # What a status query reads: the user_status projection, kept from the log.
    projector = fresh.projector
    with projector.db.connect() as conn:
        rows = {
            r["user"]: (r["eligible"], r["reason"])
            for r in conn.execute(sa.select(projector.users)).mappings()
        }
    assert rows == {login: (eligible, reason) for login, (eligible, reason, _) in status.items()}


# ---- R13, R18: every decision logged with a code and a sentence --------------------------------


def test_r13_r18_every_decision_has_a_reason_code_and_a_sentence(world: Harness) -> None:
    row = world.erp_appointment()
    world.sync()
    world.erp.edit(row, subject="Kickoff 2")
    world.sync()
    entries = world.log()
    assert [e["reason"] for e in entries] == [
        reasons.CREATED_IN_ERP,
        reasons.ECHO,
        reasons.CHANGED_IN_ERP,
        reasons.ECHO,
    ]
    assert all(e["sentence"] and e["options_hash"] for e in entries)
    assert (
        entries[2]["sentence"]
        == "exported to Exchange: subject changed in the ERP (appointment 'Kickoff 2' of mueller)"
    )
    assert entries[2]["outcome"] == "done" and entries[2]["changed_fields"] == "subject"


def test_r18_the_audit_log_answers_for_an_item_a_user_a_time_range_and_a_reason(
    world: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    assert world.engine is not None
    world.clock.advance(minutes=1)
    started = world.clock.now  # the engine's clock, which the transfer log goes by
    world.user("schmidt")
    world.sync()
    row = world.erp_appointment(subject="Budget")
    world.outlook_appointment("schmidt", subject="Visit")
    with caplog.at_level("DEBUG", logger="einklang.decisions"):  # extended diagnostics (R13)
        world.sync()
    world.erp.edit(row, subject="Budget 2027")
    world.sync()
    audit = AuditLog(world.projector)
    exchange_id = world.counterpart_in_exchange(row).id
    by_erp_id = audit.history(item=row)
    assert [t.reason for t in by_erp_id] == [
        reasons.CREATED_IN_ERP,
        reasons.ECHO,
        reasons.CHANGED_IN_ERP,
        reasons.ECHO,
    ]
    assert (
        audit.history(item=exchange_id) == by_erp_id == audit.history(item=by_erp_id[0].stream_id)
    )
    assert {t.user for t in audit.history(user="schmidt")} == {"schmidt"}
    assert [
        t.subject for t in audit.history(user="schmidt", reason=reasons.CREATED_IN_EXCHANGE)
    ] == ["Visit"]
    assert len(audit.history(since=started)) == len(audit.history()) > 0
    assert audit.history(until=started) == []
    assert "exported to Exchange: subject changed in the ERP" in audit.why(row)
    assert any("CREATED_IN_ERP" in r.getMessage() for r in caplog.records)


# ---- R14: meetings ----------------------------------------------------------------------------


def test_r14_participants_and_responses_travel_with_the_appointment(world: Harness) -> None:
    row = world.erp_appointment(
        participants=[Participant(email="schmidt@example.com", name="Schmidt")]
    )
    world.sync()
    item = world.counterpart_in_exchange(row)
    assert [p.email for p in item.content.participants] == ["schmidt@example.com"]  # type: ignore[union-attr]
    world.exchange.edit(
        item.id,
        participants=[
            Participant(
                email="schmidt@example.com", name="Schmidt", response=ResponseStatus.ACCEPTED
            )
        ],
    )
    world.sync()
    assert world.erp.snapshot_of(row).participants[0].response is ResponseStatus.ACCEPTED  # type: ignore[union-attr]


# ---- R15: nothing is lost while stopped ------------------------------------------------------------


def test_r15_changes_made_while_the_engine_is_stopped_are_transferred(world: Harness) -> None:
    row = world.erp_appointment()
    world.sync()
    world.close()
    world.erp.edit(row, subject="Edited while stopped")
    world.outlook_appointment(subject="Created while stopped")
    world.restart()
    world.sync()
    assert world.counterpart_in_exchange(row).content.subject == "Edited while stopped"
    assert [r.data["subject"] for r in world.erp.rows.values()] == [
        "Edited while stopped",
        "Created while stopped",
    ]


def test_r15_a_crash_between_writing_and_recording_is_recovered_without_duplicates(
    world: Harness,
) -> None:
    assert world.engine is not None
    row = world.erp_appointment()
    world.engine.observe()
    world.engine.save()  # the decision is durable before its write is made
    world.engine.act()  # the write reaches Exchange ...
    world.close()  # ... and the process dies before recording it
    world.restart()
    world.sync()
    assert len(world.exchange_items()) == 1
    assert world.state(world.erp.stream_id_of(row)).status is Status.IN_SYNC
    world.verify()


def test_r15_a_series_created_again_after_a_crash_is_one_item_that_deletes_with_the_erp(
    world: Harness,
) -> None:
    assert world.engine is not None
    series, starts = jour_fixe(world)
    first = starts[0]
    world.erp.edit(series, deleted_occurrences=[first])
    world.engine.observe()
    world.engine.save()
    world.engine.act()  # the series reaches Exchange, with its deleted occurrence ...
    world.close()  # ... but the process dies before recording it
    world.restart()  # the creation is made again: the same item, not a second one
    world.sync()
    (item,) = world.exchange_items()
    assert item.content.deleted_occurrences == (first,)  # type: ignore[union-attr]
    world.erp.delete(series)
    world.sync()
    assert world.exchange_items() == []


def test_r15_r17_deleting_an_item_whose_transfer_was_never_confirmed_deletes_its_copy(
    world: Harness,
) -> None:
    assert world.engine is not None
    row = world.erp_appointment()
    world.engine.observe()
    world.engine.save()
    world.engine.act()  # the copy reaches Exchange ...
    world.close()  # ... and the process dies before recording it
    world.exchange.fail_next_writes.append(TransientError("ErrorServerBusy"))
    world.restart()  # making the creation again fails for now: the transfer stays unconfirmed
    stream = world.erp.stream_id_of(row)
    world.erp.delete(row)
    world.sync()
    assert world.exchange_items() == []
    assert world.state(stream).status is Status.DELETED


def test_r15_a_deleted_row_that_the_item_no_longer_lives_in_deletes_nothing(world: Harness) -> None:
    assert world.engine is not None
    row = world.erp_task(subject="Alpha")
    world.sync()
    item = world.counterpart_in_exchange(row)
    world.exchange.edit(item.id, subject="Alpha!")
    world.engine.observe()
    world.engine.save()
    world.close()  # the import into the ERP was decided, not made
    world.erp.delete(row)  # meanwhile the row is deleted in the ERP
    world.restart()  # the import finds its row gone; Outlook's edit wins, the row is made anew
    world.sync()  # the old row's deletion arrives last: it is not this item any more
    assert [r.data["subject"] for r in world.erp.rows.values()] == ["Alpha!"]
    assert world.exchange.get(item.id).content.subject == "Alpha!"
    assert reasons.STALE in world.reasons()


# ---- R16: conflicts --------------------------------------------------------------------------------


def test_r16_different_fields_changed_on_both_sides_are_merged(world: Harness) -> None:
    row = world.erp_appointment()
    world.sync()
    item = world.counterpart_in_exchange(row)
    world.erp.edit(row, subject="Kickoff (ERP)")
    world.exchange.edit(item.id, location="Room (Outlook)")
    world.sync()
    assert world.erp.snapshot_of(row).location == "Room (Outlook)"  # type: ignore[union-attr]
    assert world.counterpart_in_exchange(row).content.subject == "Kickoff (ERP)"
    assert reasons.MERGED in world.reasons()


@pytest.mark.parametrize(
    ("policy", "winner"), [("erp_wins", "ERP subject"), ("exchange_wins", "Outlook subject")]
)
def test_r16_the_same_field_changed_on_both_sides_follows_the_policy(
    fresh: Harness, policy: str, winner: str
) -> None:
    fresh.restart(SyncOptions(conflict_policy=policy))
    fresh.user("mueller")
    fresh.sync()
    row = fresh.erp_appointment()
    fresh.sync()
    item = fresh.counterpart_in_exchange(row)
    fresh.erp.edit(row, subject="ERP subject")
    fresh.exchange.edit(item.id, subject="Outlook subject")
    fresh.sync()
    assert fresh.erp.snapshot_of(row).subject == winner
    assert fresh.counterpart_in_exchange(row).content.subject == winner
    entry = fresh.log(reason=reasons.CONFLICT_RESOLVED)[0]
    conflict = json.loads(entry["details"])["conflicts"][0]
    assert (conflict["field"], conflict["erp_value"], conflict["exchange_value"]) == (
        "subject",
        "ERP subject",
        "Outlook subject",
    )


@pytest.mark.parametrize("seen_first", [Side.ERP, Side.EXCHANGE])
@pytest.mark.parametrize("newer", [Side.ERP, Side.EXCHANGE])
def test_r16_newest_wins_goes_by_when_each_side_modified_it(
    fresh: Harness, newer: Side, seen_first: Side
) -> None:
    """The side whose own modification time is later wins, whichever the engine sees first."""
    fresh.restart(SyncOptions(conflict_policy="newest_wins"))
    fresh.user("mueller")
    fresh.sync()
    row = fresh.erp_appointment()
    fresh.sync()
    item = fresh.counterpart_in_exchange(row)
    # The ERP stamps a change with its database's clock (now); Exchange with its own, which
    # stands at the harness clock (a month back) unless moved past now.
    if newer is Side.ERP:
        fresh.exchange.edit(item.id, subject="in Outlook")
        fresh.erp.edit(row, subject="in the ERP")
    else:
        fresh.erp.edit(row, subject="in the ERP")
        fresh.clock.now = datetime.now(UTC) + timedelta(hours=1)
        fresh.exchange.edit(item.id, subject="in Outlook")
    assert fresh.engine is not None
    if seen_first is Side.ERP:
        fresh.engine._read_erp()
    else:
        fresh.exchange.max_changes = 512
        fresh.engine._read_exchange(fresh.engine.scopes["mueller"].user, ItemKind.APPOINTMENT)
    fresh.clock.advance(minutes=5)  # the other side is seen later: that must not matter
    fresh.sync()
    winner = "in the ERP" if newer is Side.ERP else "in Outlook"
    assert fresh.erp.snapshot_of(row).subject == winner
    assert fresh.counterpart_in_exchange(row).content.subject == winner
    entry = fresh.log(reason=reasons.CONFLICT_RESOLVED)[0]
    assert json.loads(entry["details"])["conflicts"][0]["winner"] == newer.value
    fresh.verify()


def test_r16_echo_is_recognised_by_version_not_by_time(world: Harness) -> None:
    assert world.engine is not None
    row = world.erp_appointment()
    world.sync()
    item = world.counterpart_in_exchange(row)
    world.erp.edit(row, subject="Kickoff 2")
    world.engine.observe()
    world.engine.save()
    world.engine.act()  # our write reaches Outlook ...
    world.clock.advance(days=3)  # ... and is read back only days later: still an echo
    world.sync()
    assert world.log(trigger="exchange_changed")[-1]["reason"] == reasons.ECHO
    # A person's change made at the very moment of our write is no echo, on either side.
    world.erp.edit(row, subject="Kickoff 3")
    world.engine.observe()
    world.engine.save()
    world.engine.act()
    world.exchange.edit(item.id, location="Room 5")  # the same instant, in Outlook
    world.sync()
    assert world.erp.snapshot_of(row).location == "Room 5"  # type: ignore[union-attr]
    assert world.log(trigger="exchange_changed")[-1]["reason"] == reasons.CHANGED_IN_EXCHANGE
    # The import comes back from the ERP (marked as ours by the feed): that one is an echo.
    assert world.log(trigger="erp_changed")[-1]["reason"] == reasons.ECHO
    world.erp.edit(row, subject="Kickoff 4")  # and a person's ERP edit right after it is not
    world.sync()
    assert world.log(trigger="erp_changed")[-1]["reason"] == reasons.CHANGED_IN_ERP
    assert world.counterpart_in_exchange(row).content.subject == "Kickoff 4"


# ---- R17: deletions ------------------------------------------------------------------------------


def test_r17_deleting_a_linked_item_deletes_its_counterpart(world: Harness) -> None:
    erp_row = world.erp_appointment()
    outlook = world.outlook_appointment()
    world.sync()
    counterpart = world.counterpart_in_exchange(erp_row)
    imported = world.erp_row_for(outlook)
    world.erp.delete(erp_row)
    world.exchange.delete(outlook)
    world.sync()
    assert world.exchange_items() == [] and world.erp.rows == {}
    deletes = {
        (e["erp_id"], e["exchange_id"]): (e["reason"], e["verdict"], e["direction"], e["outcome"])
        for e in world.log(operation="delete")
    }
    assert deletes == {
        (erp_row, counterpart.id): (reasons.DELETED_IN_ERP, "export", "erp_to_exchange", "done"),
        (str(imported.id), outlook): (
            reasons.DELETED_IN_EXCHANGE,
            "import",
            "exchange_to_erp",
            "done",
        ),
    }


def test_r17_a_deletion_beaten_by_an_edit_on_the_other_side_recreates_the_item(
    world: Harness,
) -> None:
    row = world.erp_appointment()
    world.sync()
    item = world.counterpart_in_exchange(row)
    world.exchange.edit(item.id, location="Room 7")
    world.erp.delete(row)
    world.sync()
    assert [r.data["location"] for r in world.erp.rows.values()] == ["Room 7"]
    assert reasons.EDIT_BEATS_DELETE in world.reasons()


def test_r17_a_burst_of_deletions_is_held_until_released(fresh: Harness) -> None:
    fresh.restart(SyncOptions(deletion_burst_threshold=3, deletion_burst_window_s=600))
    fresh.user("mueller")
    fresh.sync()
    rows = [fresh.erp_appointment(subject=f"Item {n}") for n in range(6)]
    fresh.sync()
    for row in rows:
        fresh.erp.delete(row)
    fresh.sync()
    assert len(fresh.exchange_items()) == 3  # three deleted, three held
    assert fresh.reasons().count(reasons.BURST_HELD) == 3
    assert fresh.engine is not None
    assert fresh.engine.release_deletions("mueller", by="admin") == 3
    fresh.sync()
    assert fresh.exchange_items() == []


def test_r17_a_user_leaving_the_sync_scope_is_not_a_deletion(world: Harness) -> None:
    row = world.erp_appointment()
    world.sync()
    world.erp.save_user(User(login="mueller", mailbox="mueller@example.com", allow_sync=False))
    world.sync()
    assert len(world.exchange_items()) == 1
    assert world.state(world.erp.stream_id_of(row)).status is Status.OUT_OF_SCOPE
    assert reasons.SCOPE_LEFT in world.reasons()
    world.erp.edit(row, subject="changed while out of scope")
    world.user("mueller")
    world.sync()
    assert world.counterpart_in_exchange(row).content.subject == "changed while out of scope"


# ---- R19: replay ---------------------------------------------------------------------------------


def test_r19_replay_rederives_every_recorded_decision(
    world: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    row = world.erp_appointment()
    world.sync()
    item = world.counterpart_in_exchange(row)
    world.exchange.edit(item.id, subject="Outlook")
    world.erp.edit(row, location="ERP")
    world.sync()
    world.erp.delete(row)
    world.sync()
    assert world.store is not None
    report = verify(world.store)
    assert report.ok and report.decisions == len(world.log()) == 8
    # Replay really decides again: code that decides differently is reported, decision by decision.
    recorded = reasons.DELETED_IN_ERP
    monkeypatch.setattr(reasons, "DELETED_IN_ERP", "R17_SOMETHING_ELSE")
    changed = verify(world.store)
    assert [(d.recorded.reason, d.derived and d.derived.reason) for d in changed.differences] == [
        (recorded, "R17_SOMETHING_ELSE")
    ]


def test_r19_what_if_shows_what_other_options_would_have_done(world: Harness) -> None:
    world.erp_appointment()
    world.sync()
    assert world.store is not None
    report = verify(world.store, options=SyncOptions(export_enabled=False))
    assert report.decisions == 2  # the export and its echo
    assert [
        (d.recorded.reason, d.derived.reason if d.derived else None) for d in report.differences
    ] == [(reasons.CREATED_IN_ERP, reasons.EXPORT_OFF)]


# ---- transient failures retry, permanent ones park ------------------------------------------------


def test_values_exchange_sets_when_saving_our_write_are_taken_over(world: Harness) -> None:
    """Exchange sets a completed task's CompleteDate itself: the ERP takes it over, the sides agree."""
    row = world.erp_task(subject="Call back")
    world.sync()
    world.clock.advance(minutes=5)
    world.erp.edit(row, status=TaskStatus.COMPLETED, percent_complete=100)
    world.sync()
    outlook = world.counterpart_in_exchange(row).content
    erp = world.erp.snapshot_of(row)
    assert isinstance(outlook, Task) and isinstance(erp, Task)
    assert outlook.completed_at == world.clock.now  # Exchange's CompleteDate
    assert erp.completed_at == outlook.completed_at
    assert reasons.ADJUSTED_ON_SAVE in world.reasons()


def test_transient_write_failures_are_retried_with_backoff(world: Harness) -> None:
    world.exchange.fail_next_writes.append(TransientError("ErrorServerBusy", retry_after_s=120))
    row = world.erp_appointment()
    world.sync()
    assert world.exchange_items() == []
    state = world.state(world.erp.stream_id_of(row))
    assert state.status is Status.FAILED
    assert state.next_retry_at == world.clock.now + timedelta(seconds=120)
    world.clock.advance(seconds=121)
    world.sync()
    assert world.counterpart_in_exchange(row).content.subject == "Kickoff"
    assert [r["outcome"] for r in world.log(verdict="export")] == ["failed", "done"]


def test_an_item_that_changed_during_the_write_is_read_again_and_merged(world: Harness) -> None:
    row = world.erp_appointment()
    world.sync()
    item = world.counterpart_in_exchange(row)
    world.erp.edit(row, subject="ERP edit")
    world.exchange.edit(item.id, location="edited meanwhile")  # not yet observed by the engine
    assert world.engine is not None
    world.engine._read_erp()  # the ERP change is decided before Outlook's is seen
    world.engine.save()
    world.engine.act()
    world.sync()
    final = world.counterpart_in_exchange(row).content
    assert (final.subject, final.location) == ("ERP edit", "edited meanwhile")  # type: ignore[union-attr]
    assert world.erp.snapshot_of(row).location == "edited meanwhile"  # type: ignore[union-attr]
    failed = [r for r in world.log() if r["outcome"] == "failed"]
    assert len(failed) == 1 and "VersionConflict" in failed[0]["error"]
    assert reasons.MERGED in world.reasons()


def test_the_busy_status_and_other_fields_round_trip(world: Harness) -> None:
    outlook = world.outlook_appointment(
        busy_status=BusyStatus.OUT_OF_OFFICE, private=True, reminder_minutes=30
    )
    world.sync()
    data = world.erp_row_for(outlook).data
    assert (data["busy_status"], data["private"], data["reminder_minutes"]) == (
        BusyStatus.OUT_OF_OFFICE,
        True,
        30,
    )
