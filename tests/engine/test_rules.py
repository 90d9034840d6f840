"""One test (or a few) per rule of DESIGN §1 that concerns a single item, through the runtime.

Each test acts as a person on one side, lets the engine run as it does in production (observe →
record → decide → act → save → project) and checks both sides and the transfer log.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from engine import reasons
from engine.errors import TransientError
from engine.model import (
    Appointment,
    ItemKind,
    TaskStatus,
    User,
)
from engine.options import SyncOptions
from engine.recurrence import Recurrence
from tests.engine.series import jour_fixe, moved
from tests.harness import Harness, at

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
