"""`decide` as a table (as vdirsyncer tests `sync`): state + observation + options → verdict,
reason code, and whether the deletion counted against the burst guard (R17).

Every row starts from an appointment exported from the ERP and in sync on both sides, switches
the options to those of the row, brings the item into the row's case (edited on one side or
both, deleted, deleted while the user's deletions are at the burst threshold, a write that has
failed), and asks `decide` once. The rows cover each option switch × edited / deleted / held,
so that a rule's switches are exercised where the bugs of issue 9 hid.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from engine import reasons
from engine.guard import DeletionGuard
from engine.model import Side
from engine.options import SyncOptions
from engine.state import Decision, Verdict
from tests.engine.pairs import MEETING, Pair, linked

BURST = 3  # the threshold of the rows about held deletions


def erp_edited(pair: Pair) -> Decision:
    return pair.see(Side.ERP, MEETING.replace(location="Room 1"))


def erp_info_text_edited(pair: Pair) -> Decision:
    return pair.see(Side.ERP, MEETING.replace(info_text="New agenda"))


def outlook_edited(pair: Pair) -> Decision:
    return pair.see(Side.EXCHANGE, pair.current(Side.EXCHANGE).replace(location="Room 7"))


def outlook_body_edited(pair: Pair) -> Decision:
    return pair.see(Side.EXCHANGE, pair.current(Side.EXCHANGE).replace(info_text="Notes"))


def both_edited(pair: Pair) -> Decision:
    pair.see(Side.EXCHANGE, pair.current(Side.EXCHANGE).replace(location="Room 7"))
    return pair.see(Side.ERP, MEETING.replace(location="Room 1"))


def erp_deleted(pair: Pair) -> Decision:
    return pair.delete(Side.ERP)


def outlook_deleted(pair: Pair) -> Decision:
    return pair.delete(Side.EXCHANGE)


def erp_deleted_after_an_outlook_edit(pair: Pair) -> Decision:
    pair.see(Side.EXCHANGE, pair.current(Side.EXCHANGE).replace(location="Room 7"))
    return pair.delete(Side.ERP)


def _at_the_threshold(pair: Pair) -> None:
    """The user had as many deletions as the threshold allows within the window just now."""
    pair.guard = DeletionGuard(recent=tuple(pair.now for _ in range(BURST)))


def erp_deleted_in_a_burst(pair: Pair) -> Decision:
    _at_the_threshold(pair)
    return pair.delete(Side.ERP)


def outlook_deleted_in_a_burst(pair: Pair) -> Decision:
    _at_the_threshold(pair)
    return pair.delete(Side.EXCHANGE)


def erp_deleted_in_a_burst_after_an_outlook_edit(pair: Pair) -> Decision:
    pair.see(Side.EXCHANGE, pair.current(Side.EXCHANGE).replace(location="Room 7"))
    _at_the_threshold(pair)
    return pair.delete(Side.ERP)


def erp_deleted_after_the_window(pair: Pair) -> Decision:
    pair.guard = DeletionGuard(recent=tuple(pair.now - timedelta(hours=1) for _ in range(BURST)))
    return pair.delete(Side.ERP)


def erp_deleted_while_paused(pair: Pair) -> Decision:
    return pair.delete(Side.ERP, paused=True)


def _failed(pair: Pair, times: int) -> None:
    pair.see(Side.ERP, MEETING.replace(location="Room 1"))
    for _ in range(times):
        pair.failed()


def retry_after_two_failures(pair: Pair) -> Decision:
    _failed(pair, 2)
    return pair.trigger("retry")


def retry_after_three_failures(pair: Pair) -> Decision:
    _failed(pair, 3)
    return pair.trigger("retry")


def released(pair: Pair) -> Decision:
    erp_deleted_while_paused(pair)
    return pair.trigger("deletions_released")


Case = Callable[[Pair], Decision]
ON = SyncOptions(deletion_burst_threshold=BURST, max_attempts=3)


def options(**switches: object) -> SyncOptions:
    return ON.model_copy(update=switches)


EXPORT, IMPORT, SKIP, HOLD, CONFLICT, FAIL = (
    Verdict.EXPORT,
    Verdict.IMPORT,
    Verdict.SKIP,
    Verdict.HOLD,
    Verdict.CONFLICT,
    Verdict.FAIL,
)
COUNTED = True  # the deletion went through the burst guard

TABLE: list[tuple[str, SyncOptions, Case, Verdict, str, bool]] = [
    # ---- edited -------------------------------------------------------------------------------
    ("defaults", ON, erp_edited, EXPORT, reasons.CHANGED_IN_ERP, False),
    ("sync off", options(automatic_sync=False), erp_edited, SKIP, reasons.SYNC_OFF, False),
    ("export off", options(export_enabled=False), erp_edited, SKIP, reasons.EXPORT_OFF, False),
    (
        "import off",
        options(import_enabled=False),
        erp_edited,
        EXPORT,
        reasons.CHANGED_IN_ERP,
        False,
    ),
    (
        "appointments off",
        options(sync_appointments=False),
        erp_edited,
        SKIP,
        reasons.KIND_OFF,
        False,
    ),
    ("tasks off", options(sync_tasks=False), erp_edited, EXPORT, reasons.CHANGED_IN_ERP, False),
    ("info text kept", ON, erp_info_text_edited, SKIP, reasons.INFO_TEXT_NOT_WRITTEN, False),
    (
        "info text written",
        options(write_info_text=True),
        erp_info_text_edited,
        EXPORT,
        reasons.CHANGED_IN_ERP,
        False,
    ),
    ("outlook edit", ON, outlook_edited, IMPORT, reasons.CHANGED_IN_EXCHANGE, False),
    (
        "outlook edit, import off",
        options(import_enabled=False),
        outlook_edited,
        SKIP,
        reasons.IMPORT_OFF,
        False,
    ),
    (
        "outlook edit, export off",
        options(export_enabled=False),
        outlook_edited,
        IMPORT,
        reasons.CHANGED_IN_EXCHANGE,
        False,
    ),
    (
        "outlook edit, sync off",
        options(automatic_sync=False),
        outlook_edited,
        SKIP,
        reasons.SYNC_OFF,
        False,
    ),
    ("outlook body, R6", ON, outlook_body_edited, SKIP, reasons.BODY_NOT_IMPORTED, False),
    ("both, erp wins", ON, both_edited, CONFLICT, reasons.CONFLICT_RESOLVED, False),
    (
        "both, exchange wins",
        options(conflict_policy="exchange_wins"),
        both_edited,
        CONFLICT,
        reasons.CONFLICT_RESOLVED,
        False,
    ),
    (
        "both, newest wins",
        options(conflict_policy="newest_wins"),
        both_edited,
        CONFLICT,
        reasons.CONFLICT_RESOLVED,
        False,
    ),
    (
        "both, import off",
        options(import_enabled=False),
        both_edited,
        EXPORT,
        reasons.CHANGED_IN_ERP,
        False,
    ),
    (
        "both, export off",
        options(export_enabled=False),
        both_edited,
        SKIP,
        reasons.EXPORT_OFF,
        False,
    ),
    # ---- deleted ------------------------------------------------------------------------------
    ("erp delete", ON, erp_deleted, EXPORT, reasons.DELETED_IN_ERP, COUNTED),
    (
        "erp delete, sync off",
        options(automatic_sync=False),
        erp_deleted,
        SKIP,
        reasons.SYNC_OFF,
        False,
    ),
    (
        "erp delete, export off",
        options(export_enabled=False),
        erp_deleted,
        SKIP,
        reasons.EXPORT_OFF,
        False,
    ),
    (
        "erp delete, import off",
        options(import_enabled=False),
        erp_deleted,
        EXPORT,
        reasons.DELETED_IN_ERP,
        COUNTED,
    ),
    (
        "erp delete, kind off",
        options(sync_appointments=False),
        erp_deleted,
        SKIP,
        reasons.KIND_OFF,
        False,
    ),
    (
        "erp delete, info text written",
        options(write_info_text=True),
        erp_deleted,
        EXPORT,
        reasons.DELETED_IN_ERP,
        COUNTED,
    ),
    ("outlook delete", ON, outlook_deleted, IMPORT, reasons.DELETED_IN_EXCHANGE, COUNTED),
    (
        "outlook delete, import off",
        options(import_enabled=False),
        outlook_deleted,
        SKIP,
        reasons.IMPORT_OFF,
        False,
    ),
    (
        "outlook delete, export off",
        options(export_enabled=False),
        outlook_deleted,
        IMPORT,
        reasons.DELETED_IN_EXCHANGE,
        COUNTED,
    ),
    (
        "edit beats delete",
        ON,
        erp_deleted_after_an_outlook_edit,
        IMPORT,
        reasons.EDIT_BEATS_DELETE,
        False,
    ),
    (
        "edit beats delete, import off",
        options(import_enabled=False),
        erp_deleted_after_an_outlook_edit,
        EXPORT,
        reasons.DELETED_IN_ERP,
        COUNTED,
    ),
    # ---- held ---------------------------------------------------------------------------------
    ("burst", ON, erp_deleted_in_a_burst, HOLD, reasons.BURST_HELD, COUNTED),
    ("burst, outlook", ON, outlook_deleted_in_a_burst, HOLD, reasons.BURST_HELD, COUNTED),
    (
        "burst, higher threshold",
        options(deletion_burst_threshold=BURST + 1),
        erp_deleted_in_a_burst,
        EXPORT,
        reasons.DELETED_IN_ERP,
        COUNTED,
    ),
    (
        "burst, window passed",
        ON,
        erp_deleted_after_the_window,
        EXPORT,
        reasons.DELETED_IN_ERP,
        COUNTED,
    ),
    (
        "burst, shorter window",
        options(deletion_burst_window_s=1),
        erp_deleted_after_the_window,
        EXPORT,
        reasons.DELETED_IN_ERP,
        COUNTED,
    ),
    (
        "burst, export off",
        options(export_enabled=False),
        erp_deleted_in_a_burst,
        SKIP,
        reasons.EXPORT_OFF,
        False,
    ),
    (
        "burst, sync off",
        options(automatic_sync=False),
        erp_deleted_in_a_burst,
        SKIP,
        reasons.SYNC_OFF,
        False,
    ),
    (
        "burst, kind off",
        options(sync_appointments=False),
        erp_deleted_in_a_burst,
        SKIP,
        reasons.KIND_OFF,
        False,
    ),
    (
        "burst, import off (defect a)",
        options(import_enabled=False),
        erp_deleted_in_a_burst_after_an_outlook_edit,
        HOLD,
        reasons.BURST_HELD,
        COUNTED,
    ),
    (
        "burst, edit beats delete",
        ON,
        erp_deleted_in_a_burst_after_an_outlook_edit,
        IMPORT,
        reasons.EDIT_BEATS_DELETE,
        False,
    ),
    ("paused", ON, erp_deleted_while_paused, HOLD, reasons.BURST_HELD, COUNTED),
    (
        "paused, higher threshold",
        options(deletion_burst_threshold=100),
        erp_deleted_while_paused,
        HOLD,
        reasons.BURST_HELD,
        COUNTED,
    ),
    ("released", ON, released, EXPORT, reasons.DELETED_IN_ERP, False),
    # ---- retries ------------------------------------------------------------------------------
    ("retry", ON, retry_after_two_failures, EXPORT, reasons.CHANGED_IN_ERP, False),
    ("retries exhausted", ON, retry_after_three_failures, FAIL, reasons.RETRIES_EXHAUSTED, False),
    (
        "more attempts",
        options(max_attempts=4),
        retry_after_three_failures,
        EXPORT,
        reasons.CHANGED_IN_ERP,
        False,
    ),
    (
        "fewer attempts",
        options(max_attempts=2),
        retry_after_two_failures,
        FAIL,
        reasons.RETRIES_EXHAUSTED,
        False,
    ),
]


@pytest.mark.parametrize(
    ("options_", "case", "verdict", "reason", "counted"),
    [pytest.param(*row[1:], id=row[0]) for row in TABLE],
)
def test_decide_table(
    options_: SyncOptions, case: Case, verdict: Verdict, reason: str, counted: bool
) -> None:
    pair = linked()
    pair.options = options_
    decision = case(pair)
    assert (decision.verdict, decision.reason, decision.deletion_counted) == (
        verdict,
        reason,
        counted,
    )


def test_r17_a_burst_pauses_at_the_deletion_over_the_threshold_and_holds_every_later_one() -> None:
    """Across items: the guard is the user's, the items are many (the runtime's fold)."""
    guard = DeletionGuard()
    verdicts = []
    for _ in range(BURST + 2):
        pair = linked(options=ON)
        pair.guard = guard
        verdicts.append(pair.delete(Side.ERP).verdict)
        guard = pair.guard
    assert verdicts == [EXPORT] * BURST + [HOLD, HOLD]
    assert guard.paused and guard.paused_count == BURST + 1


def test_r17_a_released_deletion_is_not_counted_again() -> None:
    pair = linked(options=ON)
    pair.delete(Side.ERP, paused=True)
    pair.guard = DeletionGuard()  # released
    assert pair.trigger("deletions_released").deletion_counted is False
    assert pair.guard == DeletionGuard()


def test_decide_asks_the_guard_it_is_given() -> None:
    from engine.lifecycle import decide

    pair = linked(options=ON)
    paused = DeletionGuard(paused=True, paused_at=pair.now, paused_count=BURST + 1)
    deletion = pair.deletion(Side.ERP)
    assert decide(pair.state, deletion, ON, guard=paused).verdict is HOLD
    assert decide(pair.state, deletion, ON).verdict is EXPORT  # no guard: nothing counted yet


def test_a_plan_the_table_has_no_move_for_is_refused_with_both_named() -> None:
    from transitions import Machine

    from engine.lifecycle import STATES, NoRuleApplies, deliberate

    only_stay = Machine(
        model=None,
        states=STATES,
        transitions=[{"trigger": "erp_changed", "source": "*", "dest": None}],
        initial=None,
        auto_transitions=False,
    )
    pair = Pair(ON)
    with pytest.raises(
        NoRuleApplies, match=r"^erp_changed in new: the table has no move to exporting$"
    ):
        deliberate(pair.state, pair.observation(Side.ERP, MEETING), ON, machine=only_stay)


def test_a_deletion_reported_after_the_other_sides_held_one_names_its_own_side() -> None:
    pair = linked(options=ON)
    erp_deleted_while_paused(pair)
    decision = pair.delete(Side.EXCHANGE)
    assert (decision.reason, decision.sentence) == (
        reasons.ALREADY_GONE,
        "skipped: deleted in Outlook; already gone in the ERP (appointment 'Kickoff' of mueller)",
    )


def test_a_parked_write_says_how_often_it_failed_and_how_it_syncs_again() -> None:
    pair = linked(options=ON)
    decision = retry_after_three_failures(pair)
    assert decision.sentence == (
        "parked: the write failed 3 times (busy); it syncs again with its next change on either "
        "side (appointment 'Kickoff' of mueller)"
    )
