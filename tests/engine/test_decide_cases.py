"""`decide` on in-memory state: failures and retries, where an item rests when nothing is
written, occurrences, the table itself and the cases mutation testing asked for — as
test_decide.py."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from engine import reasons
from engine.lifecycle import NoRuleApplies, _rows, build_machine, moves
from engine.model import Appointment, ItemKind, Side
from engine.observation import Change, ItemError, Observation, Trigger
from engine.options import SyncOptions
from engine.recurrence import Recurrence
from engine.state import (
    Status,
    Verdict,
    new_state,
)
from tests.engine.pairs import (
    MEETING,
    MONDAYS,
    SERIES,
    T0,
    Pair,
    linked,
    moved,
    summary,
    target,
)
from tests.harness import at

# ---- failures and retries ---------------------------------------------------------------------------


def test_a_failed_write_is_retried_with_the_same_plan() -> None:
    pair = Pair()
    pair.see(Side.ERP, MEETING)
    pair.failed()
    assert pair.state.status is Status.FAILED and pair.state.attempts == 1
    decision = pair.trigger("retry")
    assert summary(decision)[:3] == (Verdict.EXPORT, reasons.CREATED_IN_ERP, Status.EXPORTING)
    assert pair.state.attempts == 1  # a retry keeps counting
    pair.written()
    assert (pair.state.status, pair.state.attempts) == (Status.IN_SYNC, 0)


def test_the_timing_fields_travel_together_in_a_conflict() -> None:
    pair = linked(options=SyncOptions(conflict_policy="exchange_wins"))
    late = MEETING.replace(start=at(1, 9), end=at(1, 12))
    pair.see(Side.EXCHANGE, late.replace(info_text=""))
    decision = pair.see(Side.ERP, MEETING.replace(start=at(1, 13), end=at(1, 14), subject="Moved"))
    # Timing is one group: the winner's start and end travel together, never mixed.
    assert decision.base is not None and (decision.base.start, decision.base.end) == (  # type: ignore[union-attr]
        at(1, 9),
        at(1, 12),
    )
    assert decision.base.subject == "Moved"


def test_no_rule_for_a_write_outcome_outside_a_transfer() -> None:
    pair = Pair()
    with pytest.raises(NoRuleApplies, match=r"^no rule for retry in state new$"):
        pair.decide(Trigger(name="retry", at=T0))  # nothing failed, nothing to retry


# ---- where an item rests when nothing is written ---------------------------------------------


def test_the_same_change_rests_in_sync_with_its_sentence() -> None:
    pair = linked()
    pair.see(Side.EXCHANGE, MEETING.replace(location="Room 4", info_text=""))
    decision = pair.see(Side.ERP, MEETING.replace(location="Room 4"))
    assert decision.sentence.startswith("skipped: both sides made the same change (")


def test_an_info_text_change_found_on_coming_back_into_scope_rests_in_sync() -> None:
    pair = linked()
    pair.trigger("scope_left", user_eligible=False)
    pair.see(Side.ERP, MEETING.replace(info_text="Agenda v2"), eligible=False)
    decision = pair.trigger("scope_entered")
    assert summary(decision)[:4] == (
        Verdict.SKIP,
        reasons.INFO_TEXT_NOT_WRITTEN,
        Status.IN_SYNC,
        Status.IN_SYNC,
    )
    assert decision.sentence.startswith(
        'skipped: only the info text changed in the ERP, and "do not write info text" is on ('
    )
    assert decision.base is not None and decision.base.info_text == "Agenda v2"


def test_a_change_the_other_side_already_has_rests_in_sync_and_becomes_the_base() -> None:
    pair = Pair(SyncOptions(export_enabled=False))
    pair.see(Side.EXCHANGE, MEETING)
    pair.written()
    pair.trigger("scope_left", user_eligible=False)
    pair.see(Side.ERP, pair.current(Side.ERP).replace(location="Room 4"), eligible=False)
    pair.see(Side.EXCHANGE, pair.current(Side.EXCHANGE).replace(location="Room 4"), eligible=False)
    decision = pair.trigger("scope_entered")
    assert summary(decision) == (
        Verdict.SKIP,
        reasons.UNCHANGED,
        Status.IN_SYNC,
        Status.IN_SYNC,
        "none",
        "none",
        (),
    )
    assert decision.sentence.startswith("skipped: the other side already has this content (")
    assert decision.base is not None and decision.base.location == "Room 4"  # type: ignore[union-attr]


def test_an_item_never_transferred_rests_new() -> None:
    pair = Pair(SyncOptions(export_enabled=False))
    assert pair.see(Side.ERP, MEETING).reason == reasons.EXPORT_OFF
    pair.trigger("scope_left", user_eligible=False)
    decision = pair.trigger("scope_entered")
    assert (decision.reason, decision.status) == (reasons.UNCHANGED, Status.NEW)
    assert decision.sentence.startswith("skipped: nothing changed since the last transfer (")


# ---- edit beats delete, in detail -------------------------------------------------------------


def test_a_row_recreated_in_the_erp_gets_the_erp_text_and_the_series_exceptions() -> None:
    series = SERIES.replace(info_text="Agenda", deleted_occurrences=(MONDAYS[3],))
    pair = linked(series, options=SyncOptions(info_text_format="html"))
    moved_one = moved(MONDAYS[1], "Moved in Outlook")
    outlook = pair.current(Side.EXCHANGE).replace(modified_occurrences=(moved_one,))
    pair.see(Side.EXCHANGE, outlook)
    decision = pair.delete(Side.ERP)
    (write,) = decision.writes
    assert write.snapshot is not None and write.snapshot.info_text == "Agenda"
    assert write.info_text_format == "html"
    assert {(o.original_start, o.action) for o in write.occurrences} == {
        (MONDAYS[1], "modify"),
        (MONDAYS[3], "delete"),
    }
    assert decision.changed_fields == write.fields and "info_text" in write.fields
    assert decision.base == write.snapshot


# ---- occurrences written to Exchange ------------------------------------------------------------


def test_one_occurrence_changed_is_written_without_rewriting_the_series() -> None:
    pair = linked(SERIES.replace(deleted_occurrences=(MONDAYS[4],)))
    decision = pair.see(
        Side.ERP,
        SERIES.replace(
            deleted_occurrences=(MONDAYS[4],), modified_occurrences=(moved(MONDAYS[1], "Moved"),)
        ),
    )
    (write,) = decision.writes
    assert write.pattern_changed is False
    assert [(o.original_start, o.action) for o in write.occurrences] == [(MONDAYS[1], "modify")]
    assert write.occurrences[0].occurrence == moved(MONDAYS[1], "Moved")


def test_a_deleted_occurrence_brought_back_rewrites_the_series_in_exchange() -> None:
    pair = linked(SERIES.replace(deleted_occurrences=(MONDAYS[4], MONDAYS[5])))
    decision = pair.see(Side.ERP, SERIES.replace(deleted_occurrences=(MONDAYS[5],)))
    (write,) = decision.writes
    assert write.pattern_changed is True
    assert [(o.original_start, o.action) for o in write.occurrences] == [(MONDAYS[5], "delete")]


# ---- the table itself -------------------------------------------------------------------------


def test_the_machine_has_the_tables_states_and_triggers_and_nothing_else() -> None:
    machine = build_machine()
    assert set(machine.states) == {s.value for s in Status}
    assert set(machine.events) == {row["trigger"] for row in _rows()}  # no auto transitions


@pytest.mark.parametrize(
    ("settled", "outcome"), [(Status.DELETED, "deleted"), (Status.IN_SYNC, "in_sync")]
)
@pytest.mark.parametrize("trigger", ["export_done", "import_done"])
def test_a_write_outcome_moves_the_item_along_the_table(
    trigger: str, settled: Status, outcome: str
) -> None:
    pair = linked()
    if settled is Status.DELETED:
        pair.delete(Side.ERP if trigger == "export_done" else Side.EXCHANGE)
    else:
        pair.see(Side.ERP, MEETING.replace(location="Room 1"))
    assert pair.state.pending_settled is settled
    before = pair.state.status
    pair.written()  # the fold moves the item; the table must allow that move
    assert pair.state.status.value == outcome
    assert (trigger, before.value, outcome) in moves(pair.machine)


def test_a_user_not_eligible_without_a_reason_is_not_eligible() -> None:
    decision = Pair().see(Side.ERP, MEETING, eligible=False, why="")
    assert decision.sentence.startswith("skipped: mueller is not synchronised: not eligible (")


def test_decide_records_the_given_options_stamp_and_uses_the_given_machine() -> None:
    from transitions import Machine

    from engine.lifecycle import STATES, NoRuleApplies, decide

    item = new_state(uuid.UUID(int=3), "mueller", ItemKind.APPOINTMENT)
    seen = Observation(
        side=Side.ERP,
        kind=ItemKind.APPOINTMENT,
        user="mueller",
        native_id="3",
        change=Change.CHANGED,
        observed_at=T0,
        snapshot=MEETING,
    )
    recorded = SyncOptions(conflict_policy="exchange_wins").stamp()
    assert decide(item, seen, SyncOptions(), recorded).options == recorded
    assert decide(item, seen, SyncOptions()).options == SyncOptions().stamp()
    empty = Machine(model=None, states=STATES, transitions=[], initial=None, auto_transitions=False)
    with pytest.raises(NoRuleApplies, match=r"^no rule for erp_changed in state new$"):
        decide(item, seen, SyncOptions(), machine=empty)


def test_a_preexisting_item_reported_without_content_or_error_stays_put() -> None:
    decision = Pair().see(Side.ERP, change=Change.BASELINE)
    assert decision.sentence.endswith("has not changed since (appointment of mueller)")


def test_only_the_fields_that_differ_in_a_conflicting_group_are_conflicts() -> None:
    pair = linked()
    pair.see(Side.EXCHANGE, MEETING.replace(start=at(1, 8), info_text=""))
    decision = pair.see(Side.ERP, MEETING.replace(start=at(1, 9, 30)))
    assert [c.field for c in decision.conflicts] == ["start"]  # end, zone, all-day agree


def test_an_exception_removed_on_one_side_while_the_other_changes_the_series_is_merged() -> None:
    base = SERIES.replace(modified_occurrences=(moved(MONDAYS[2], "Moved"),))
    pair = linked(base)
    pair.see(Side.EXCHANGE, pair.current(Side.EXCHANGE).replace(location="Room 2"))
    decision = pair.see(
        Side.ERP, base.replace(modified_occurrences=(), deleted_occurrences=(MONDAYS[2],))
    )
    assert (decision.reason, decision.conflicts) == (reasons.MERGED, ())
    merged = decision.base
    assert isinstance(merged, Appointment)
    assert (merged.location, merged.modified_occurrences, merged.deleted_occurrences) == (
        "Room 2",
        (),
        (MONDAYS[2],),
    )


NIGHTLY = Recurrence(pattern="weekly", weekdays=("monday", "wednesday"))


def test_a_pattern_change_keeps_the_exceptions_on_the_new_pattern_of_an_endless_series() -> None:
    # 00:30 in Berlin is the day before in UTC: the exceptions' local day is what counts.
    night = Appointment(subject="Backup", start=at(7, 0, 30), end=at(7, 1, 30), recurrence=NIGHTLY)
    starts = night.occurrence_starts(until=date(2026, 12, 31))
    monday, wednesday = starts[4], starts[5]
    later_wednesday = starts[7]
    pair = linked(
        night.replace(
            modified_occurrences=(moved(wednesday, "Late"),),
            deleted_occurrences=(monday, later_wednesday),
        )
    )
    mondays_only = Recurrence(pattern="weekly", weekdays=("monday",))
    changed = pair.current(Side.ERP).replace(recurrence=mondays_only)
    decision = pair.see(Side.ERP, changed)
    assert decision.reason == reasons.PATTERN_CHANGED
    exported = target(decision, Side.EXCHANGE)
    assert exported.deleted_occurrences == (monday,)  # still a Monday: kept
    assert exported.modified_occurrences == ()  # a Wednesday no more: dropped
    assert decision.dropped_occurrences == (wednesday, later_wednesday)
    when = f"{wednesday.isoformat()}, {later_wednesday.isoformat()}"
    assert decision.sentence == (
        f"exported to Exchange: the series pattern changed in the ERP; exceptions at {when} no "
        "longer fall on an occurrence of the new pattern and were dropped "
        "(appointment 'Backup' of mueller)"
    )


def test_a_report_of_a_deletion_on_the_side_we_are_creating_on_deletes_nothing() -> None:
    pair = Pair()
    pair.see(Side.ERP, MEETING)  # the creation in Outlook is decided, not yet made
    decision = pair.delete(Side.EXCHANGE)
    assert summary(decision)[:3] == (Verdict.SKIP, reasons.NOT_LINKED, Status.EXPORTING)
    assert [(w.side, w.operation) for w in pair.state.pending] == [(Side.EXCHANGE, "create")]


def test_with_the_import_off_an_outlook_edit_does_not_bring_back_a_row_deleted_in_the_erp() -> None:
    pair = linked(options=SyncOptions(import_enabled=False))
    skipped = pair.see(Side.EXCHANGE, pair.current(Side.EXCHANGE).replace(location="Room 7"))
    assert skipped.reason == reasons.IMPORT_OFF
    decision = pair.delete(Side.ERP)
    assert decision.reason == reasons.DELETED_IN_ERP


def test_our_copy_read_back_before_its_creation_was_recorded_is_the_same_item() -> None:
    pair = Pair()
    pair.see(Side.ERP, MEETING)  # the creation in Outlook is made, then the process dies
    decision = pair.see(Side.EXCHANGE, MEETING.replace(info_text=""))  # no agreed content yet
    assert summary(decision)[:4] == (
        Verdict.SKIP,
        reasons.SAME_CHANGE,
        Status.IN_SYNC,
        Status.IN_SYNC,
    )
    assert decision.base == MEETING


def test_a_merge_of_nothing_is_a_programming_error_that_says_so() -> None:
    from engine.merge import merge

    with pytest.raises(AssertionError, match=r"^nothing to merge$"):
        merge(None, None, None, policy="erp_wins", erp_is_newer=True)


@pytest.mark.parametrize(
    ("status", "trigger", "outcome"),
    [
        (Status.EXPORTING, "action_failed", "failed"),
        (Status.IMPORTING, "action_failed", "failed"),
        (Status.CONFLICT, "action_failed", "failed"),
        (Status.FAILED, "action_failed", "failed"),
        (Status.IN_SYNC, "action_failed", None),
        (Status.IN_SYNC, "export_done", None),
        (Status.DELETED, "import_done", None),
        (Status.HELD, "export_done", None),
    ],
)
def test_write_outcomes_apply_only_to_an_item_in_flight(
    status: Status, trigger: str, outcome: str | None
) -> None:
    table = moves(build_machine())
    allowed = {dest for name, source, dest in table if (name, source) == (trigger, status.value)}
    assert allowed == (set() if outcome is None else {outcome})


@pytest.mark.parametrize("name", ["scope_entered", "deletions_released", "retry"])
def test_a_trigger_for_another_status_is_refused(name: str) -> None:
    pair = linked()  # in sync: not out of scope, not held, not failed
    with pytest.raises(NoRuleApplies, match=rf"^no rule for {name} in state in_sync$"):
        pair.trigger(name)


def test_a_baseline_after_a_lost_sync_state_still_transfers_a_change() -> None:
    pair = linked()
    changed = pair.current(Side.EXCHANGE).replace(location="Room 6")
    decision = pair.see(Side.EXCHANGE, changed, change=Change.BASELINE)
    assert (decision.reason, decision.status) == (reasons.CHANGED_IN_EXCHANGE, Status.IMPORTING)
    again = pair.see(Side.EXCHANGE, changed, change=Change.BASELINE, version="9")
    assert again.reason == reasons.UNCHANGED


def test_the_erp_reporting_a_row_again_unchanged_says_so() -> None:
    pair = linked()
    decision = pair.see(Side.ERP, MEETING)
    assert decision.sentence.startswith(
        "skipped: the ERP reported it again without a content change ("
    )


def test_an_invalid_report_is_parked_with_that_sides_error_even_if_the_other_is_parked() -> None:
    pair = linked()
    erp_error = ItemError(code="UNKNOWN_TIME_ZONE", message="zone")
    pair.see(Side.ERP, change=Change.INVALID, error=erp_error)
    outlook_error = ItemError(code="INVALID_TEXT", message="control character")
    decision = pair.see(Side.EXCHANGE, change=Change.INVALID, error=outlook_error)
    assert decision.reason == "INVALID_TEXT"
    assert decision.sentence.startswith(
        "parked: control character; it syncs again once corrected in Outlook ("
    )


def test_the_echo_of_a_deletion_names_no_version() -> None:
    pair = linked()
    pair.delete(Side.ERP)
    pair.written()
    echo = pair.delete(Side.EXCHANGE)
    assert echo.sentence.startswith("echo of our own write to Outlook: nothing to do (")


def test_an_invalid_row_found_on_coming_back_into_scope_is_parked() -> None:
    pair = linked()
    pair.trigger("scope_left", user_eligible=False)
    error = ItemError(code="UNKNOWN_TIME_ZONE", message="unknown zone Nowhere/City")
    pair.see(Side.ERP, change=Change.INVALID, error=error, eligible=False)
    decision = pair.trigger("scope_entered")
    assert summary(decision)[:4] == (
        Verdict.FAIL,
        "UNKNOWN_TIME_ZONE",
        Status.FAILED,
        Status.FAILED,
    )
    assert decision.sentence.startswith(
        "parked: unknown zone Nowhere/City; it syncs again once corrected in the ERP ("
    )


def test_a_deletion_after_a_failed_creation_deletes_any_copy_in_flight() -> None:
    pair = Pair()
    pair.see(Side.ERP, MEETING)
    pair.failed()
    decision = pair.delete(Side.ERP)
    assert (decision.reason, decision.status) == (reasons.DELETED_IN_ERP, Status.EXPORTING)


def test_a_preexisting_row_changed_is_created_in_outlook_with_its_text_when_allowed() -> None:
    pair = Pair(SyncOptions(write_info_text=True))
    pair.see(Side.ERP, MEETING, change=Change.BASELINE)
    decision = pair.see(Side.ERP, MEETING.replace(location="Room 3"))
    (write,) = decision.writes
    assert (write.operation, write.write_info_text) == ("create", True)
    assert write.snapshot is not None and write.snapshot.info_text == "Agenda"


def test_an_export_keeps_the_outlook_body_in_the_target_when_the_text_is_not_written() -> None:
    pair = linked()
    pair.see(Side.EXCHANGE, pair.current(Side.EXCHANGE).replace(info_text="My notes"))
    decision = pair.see(Side.ERP, MEETING.replace(location="Room 3"))
    (write,) = decision.writes
    assert write.write_info_text is False
    assert write.snapshot is not None and write.snapshot.info_text == "My notes"


def test_values_the_erp_set_while_saving_our_import_are_taken_over() -> None:
    pair = Pair()
    pair.see(Side.EXCHANGE, MEETING)
    pair.written()
    ours = pair.state.erp
    assert ours.current is not None
    decision = pair.see(
        Side.ERP, ours.current.replace(location="Set by the ERP"), version=ours.written_version
    )
    assert decision.reason == reasons.ADJUSTED_ON_SAVE
    assert "the ERP saved our write with other values (location); taken over" in decision.sentence


@pytest.mark.parametrize("off", [Side.ERP, Side.EXCHANGE])
def test_a_side_whose_direction_is_off_keeps_its_own_edit_when_the_other_side_changes(
    off: Side,
) -> None:
    """With the export off, an import must not revert the ERP user's edit (and vice versa)."""
    options = SyncOptions(
        export_enabled=off is not Side.ERP, import_enabled=off is not Side.EXCHANGE
    )
    pair = linked(options=SyncOptions())
    pair.options = options
    local = pair.current(off).replace(location="Kept locally")
    assert pair.see(off, local).verdict is Verdict.SKIP  # its direction is off
    decision = pair.see(off.other, pair.current(off.other).replace(subject="From the other side"))
    (write,) = decision.writes
    assert write.side is off
    assert write.snapshot is not None
    assert (write.snapshot.subject, write.snapshot.location) == (  # type: ignore[union-attr]
        "From the other side",
        "Kept locally",
    )
    assert write.fields == ("subject",)
