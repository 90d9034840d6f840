"""The rules about meetings, stops and crashes, conflicts, deletions and replay (R14–R19), and
retries, through the runtime, as test_rules.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from engine import reasons
from engine.errors import TransientError
from engine.model import (
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
from engine.state import Status
from replay.verify import verify
from tests.engine.series import jour_fixe
from tests.harness import Harness

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
