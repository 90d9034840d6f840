"""`decide` on a move (issue 10), case by case beside the table of test_decide_moves.py: what
the sentences say, which copy a deletion names, and how a row is routed to its stream
(engine/routing.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine import reasons
from engine.model import ItemKind, ModifiedOccurrence, Side
from engine.observation import Change, ItemError, derive_stream_id
from engine.ports import Write
from engine.routing import holds_moved_row, is_move_notice, stream_for
from engine.state import Status, Verdict
from tests.engine.moves import (
    ECHO,
    NEW,
    OLD,
    ON,
    Case,
    arrival,
    arrived,
    came_back_unannounced,
    copy_edited_after_the_move,
    moved_away,
    moved_away_from_an_ineligible_user,
    moved_away_never_exported,
    moved_away_while_creating,
    notice,
    options,
)
from tests.engine.pairs import MEETING, MONDAYS, NATIVE, SERIES, Pair, linked


def test_moving_away_deletes_the_copy_it_knows_without_expecting_its_version() -> None:
    """Edits made in that copy have nowhere to go: the delete must not fail on them."""
    pair = linked(options=ON)
    write = moved_away(pair).writes[0]
    assert (write.native_id, write.expected_version) == (NATIVE[Side.EXCHANGE], None)


def test_moving_away_an_unconfirmed_creation_deletes_whatever_carries_the_stream_id() -> None:
    write = moved_away_while_creating(Pair(ON)).writes[0]
    assert write.native_id is None


def test_moved_away_says_where_the_item_went_and_that_it_is_not_a_deletion() -> None:
    decision = moved_away(linked(options=ON))
    assert decision.sentence == (
        "moved to schmidt in the ERP: deleting it from mueller's mailbox (a move, not a "
        "deletion) (appointment 'Kickoff' of mueller)"
    )
    assert (decision.status, decision.settled) == (Status.EXPORTING, Status.MOVED)
    assert (decision.direction, decision.operation) == ("erp_to_exchange", "delete")


@pytest.mark.parametrize(
    ("case", "why"),
    [
        (moved_away_from_an_ineligible_user, "mueller is not synchronised (the login is locked)"),
        (moved_away_never_exported, "there is no copy in mueller's mailbox to remove"),
    ],
)
def test_moved_away_says_why_the_mailbox_is_left_alone(case: Case, why: str) -> None:
    pair = Pair(ON) if case is moved_away_never_exported else linked(options=ON)
    assert why in case(pair).sentence


def test_r10_moved_away_with_export_off_says_the_copy_stays() -> None:
    pair = linked(options=ON)
    pair.options = options(export_enabled=False)
    decision = moved_away(pair)
    assert "export to Exchange is switched off, so the copy in mueller's mailbox stays" in (
        decision.sentence
    )


def test_the_old_users_copy_deleted_by_the_move_comes_back_as_an_echo() -> None:
    pair = linked(options=ON)
    moved_away(pair)
    pair.written()
    assert pair.delete(Side.EXCHANGE).verdict is ECHO
    assert pair.state.status is Status.MOVED


def test_r17_a_moved_item_does_not_leave_the_scope_it_already_left() -> None:
    pair = linked(options=ON)
    moved_away(pair)
    pair.written()
    decision = pair.trigger("scope_left", reason="the login is locked")
    assert (decision.reason, decision.status) == (reasons.MOVED_AWAY, Status.MOVED)


def test_moved_in_names_where_it_came_from_and_creates_the_erp_content() -> None:
    pair = Pair(options(write_info_text=True))
    decision = arrived(pair)
    assert decision.sentence == (
        "exported to Exchange: moved from schmidt to mueller in the ERP; created in mueller's "
        "mailbox (appointment 'Kickoff' of mueller)"
    )
    write = decision.writes[0]
    assert (write.snapshot, write.write_info_text, decision.base) == (MEETING, True, MEETING)
    assert "info_text" in write.fields
    assert (decision.status, decision.settled) == (Status.EXPORTING, Status.IN_SYNC)
    assert (decision.direction, decision.operation) == ("erp_to_exchange", "create")
    assert decision.changed_fields == write.fields and "subject" in write.fields
    assert write.info_text_format == "text"


def test_r7_moved_in_writes_the_info_text_in_the_format_configured() -> None:
    pair = Pair(options(write_info_text=True, info_text_format="html"))
    assert arrived(pair).writes[0].info_text_format == "html"


def test_r7_moved_in_does_not_write_the_info_text_when_told_not_to() -> None:
    decision = arrived(Pair(ON))
    write = decision.writes[0]
    assert write.snapshot is not None and write.snapshot.info_text == ""
    assert (write.write_info_text, decision.base) == (False, MEETING)
    assert "info_text" not in write.fields


def test_moved_back_says_it_came_back_when_nobody_held_it() -> None:
    decision = came_back_unannounced(linked(options=ON))
    assert decision.sentence.startswith("exported to Exchange: came back to mueller in the ERP")


def test_r2_a_series_moved_in_brings_its_exceptions() -> None:
    moved = ModifiedOccurrence(
        original_start=MONDAYS[1],
        start=MONDAYS[1] + timedelta(hours=2),
        end=MONDAYS[1] + timedelta(hours=3),
        subject="Jour fixe (moved)",
    )
    series = SERIES.replace(modified_occurrences=(moved,), deleted_occurrences=(MONDAYS[3],))
    pair = Pair(ON)
    decision = pair.decide(arrival(pair, series))
    write = decision.writes[0]
    assert [(o.original_start, o.action) for o in write.occurrences] == [
        (MONDAYS[1], "modify"),
        (MONDAYS[3], "delete"),
    ]


def test_moved_back_onto_a_copy_that_stayed_updates_it_instead_of_creating_another() -> None:
    pair = linked(options=ON)
    pair.options = options(export_enabled=False)
    moved_away(pair)  # the copy stays: export was off
    pair.options = ON
    decision = pair.decide(arrival(pair, MEETING.replace(location="Room 1")))
    assert (decision.reason, [(w.side, w.operation) for w in decision.writes]) == (
        reasons.CHANGED_IN_ERP,
        [(Side.EXCHANGE, "update")],
    )


# ---- routing (engine/routing.py): which stream records what ---------------------------------


def test_routing_an_erp_row_carrying_the_old_users_sync_id_goes_to_the_new_users_stream() -> None:
    pair = linked(options=ON)
    obs = notice(pair).model_copy(update={"sync_id": pair.state.stream_id})
    assert stream_for(obs, pair.state) == derive_stream_id(
        Side.ERP, NEW, ItemKind.APPOINTMENT, NATIVE[Side.ERP]
    )
    same_user = pair.observation(Side.ERP, MEETING).model_copy(
        update={"sync_id": pair.state.stream_id}
    )
    assert stream_for(same_user, pair.state) == pair.state.stream_id


def test_routing_an_outlook_item_copied_into_another_mailbox_is_an_item_of_its_own() -> None:
    """Exchange has no moves: a mailbox item never changes owner."""
    pair = linked(options=ON)
    pair.options = options(export_enabled=False)
    moved_away(pair)  # whatever this stream knows of its copy, another mailbox is not its own
    copy = pair.observation(Side.EXCHANGE, MEETING).model_copy(
        update={"user": NEW, "sync_id": pair.state.stream_id}
    )
    assert stream_for(copy, pair.state) == derive_stream_id(
        Side.EXCHANGE, NEW, ItemKind.APPOINTMENT, NATIVE[Side.EXCHANGE]
    )
    assert not is_move_notice(pair.state, copy)


def test_the_stream_holding_a_moved_row_is_told_once() -> None:
    pair = linked(options=ON)
    report = notice(pair)
    assert holds_moved_row(pair.state, report) and is_move_notice(pair.state, report)
    assert not holds_moved_row(pair.state, pair.observation(Side.ERP, MEETING))  # same user
    assert not holds_moved_row(pair.state, report.model_copy(update={"native_id": "18"}))
    assert holds_moved_row(pair.state, report.model_copy(update={"change": Change.DELETED}))
    assert not holds_moved_row(
        pair.state, report.model_copy(update={"side": Side.EXCHANGE, "native_id": "17"})
    )
    pair.decide(report)
    assert pair.state.pending_settled is Status.MOVED
    assert not holds_moved_row(pair.state, report)  # told: its deletion is pending
    pair.written()
    assert not holds_moved_row(pair.state, report)  # and done


def test_a_stream_whose_row_was_deleted_holds_no_row_to_move() -> None:
    pair = linked(options=ON)
    pair.delete(Side.ERP)
    assert not holds_moved_row(pair.state, notice(pair))


def test_moved_away_from_a_user_without_a_stated_reason_says_not_eligible() -> None:
    pair = linked(options=ON)
    decision = pair.decide(notice(pair, eligible=False, why=""))
    assert "mueller is not synchronised (not eligible)" in decision.sentence


def test_moved_away_while_a_recreation_is_pending_deletes_by_stream_id_not_the_old_id() -> None:
    """Deleted in Outlook but edited in the ERP: the copy is being created again (R16); the
    one to delete is whatever carries the stream id, not the item deleted before."""
    pair = linked(options=ON)
    pair.see(Side.ERP, MEETING.replace(location="Room 1"))
    pair.written()
    pair.see(Side.ERP, MEETING.replace(location="Room 2"))
    assert pair.delete(Side.EXCHANGE).reason == reasons.EDIT_BEATS_DELETE
    write = moved_away(pair).writes[0]
    assert (write.operation, write.native_id) == ("delete", None)


def test_a_write_pending_for_the_erp_is_no_copy_in_the_mailbox() -> None:
    pair = Pair(ON)
    pair.see(Side.ERP, MEETING, change=Change.BASELINE)
    pending = Write(side=Side.ERP, operation="create", kind=ItemKind.APPOINTMENT)
    pair.state = pair.state._replace(pending=(pending,))
    decision = moved_away(pair)
    assert (decision.verdict, decision.writes) == (Verdict.SKIP, ())


def test_moved_in_unreadable_onto_a_stream_that_knew_the_row_is_parked_not_created() -> None:
    pair = linked(options=ON)
    moved_away(pair)
    pair.written()
    error = ItemError(code="INVALID_FIELD", message="bad start")
    decision = pair.decide(arrival(pair, None, change=Change.BASELINE, error=error))
    assert (decision.verdict, decision.writes) == (Verdict.FAIL, ())


def test_routing_without_a_named_stream_takes_the_id_the_item_carries() -> None:
    pair = linked(options=ON)
    obs = notice(pair).model_copy(update={"sync_id": pair.state.stream_id})
    assert stream_for(obs, None) == pair.state.stream_id
    plain = notice(pair)
    assert stream_for(plain, pair.state) == plain.stream_id


def test_routing_a_copy_in_the_same_mailbox_is_an_item_of_its_own() -> None:
    pair = linked(options=ON)
    copy = pair.observation(Side.EXCHANGE, MEETING, native_id="AAMkCOPY").model_copy(
        update={"sync_id": pair.state.stream_id}
    )
    assert stream_for(copy, pair.state) == derive_stream_id(
        Side.EXCHANGE, OLD, ItemKind.APPOINTMENT, "AAMkCOPY"
    )


def test_the_copy_left_behind_says_it_is_no_longer_synchronised() -> None:
    decision = copy_edited_after_the_move(linked(options=ON))
    assert decision.sentence == (
        "skipped: the ERP gave it to another user; this copy in mueller's mailbox is no longer "
        "synchronised (appointment 'Kickoff' of mueller)"
    )


def test_a_retried_move_away_deletes_the_same_copy_and_says_which_attempt() -> None:
    pair = linked(options=ON)
    first = moved_away(pair).writes
    pair.failed()
    decision = pair.trigger("retry")
    assert decision.writes == first
    assert decision.sentence == (
        "moved to another user in the ERP: deleting it from mueller's mailbox, attempt 2 (a "
        "move, not a deletion) (appointment 'Kickoff' of mueller)"
    )
    assert (decision.status, decision.settled, decision.direction, decision.operation) == (
        Status.EXPORTING,
        Status.MOVED,
        "erp_to_exchange",
        "delete",
    )


def test_a_retried_move_away_for_an_ineligible_user_says_why_the_copy_stays() -> None:
    pair = linked(options=ON)
    moved_away(pair)
    pair.failed()
    decision = pair.trigger("retry", user_eligible=False, user_reason="")
    assert "mueller is not synchronised (not eligible), so the copy in that mailbox stays" in (
        decision.sentence
    )
    assert decision.status is Status.MOVED


def test_an_outlook_edit_of_the_copy_while_its_deletion_is_pending_keeps_the_deletion() -> None:
    """Read in the same round as the move: importing it would write into another user's row."""
    pair = linked(options=ON)
    moved_away(pair)
    decision = pair.see(Side.EXCHANGE, pair.current(Side.EXCHANGE).replace(location="Room 7"))
    assert (decision.verdict, decision.reason) == (Verdict.SKIP, reasons.MOVED_AWAY)
    assert [(w.side, w.operation) for w in pair.state.pending] == [(Side.EXCHANGE, "delete")]
    pair.written()
    assert pair.state.status is Status.MOVED
