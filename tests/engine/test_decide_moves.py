"""`decide` on a move (issue 10), as a table: the ERP gives a row to another user.

Two streams take part (engine/moving.py): the old user's, which held the row and hears of the
move by a *move notice* (the row's observation, reported for its new user), and the new user's,
which gets the observation naming the user it came from (`Observation.moved_from`). Each row
starts from an appointment exported from the ERP and in sync (`linked`) — or a fresh stream for
the rows about the new user — switches the options, brings the item into the row's case and asks
`decide` once: verdict, reason code, whether a deletion counted against the burst guard (R17:
a move never does), and the writes it asks for.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from engine import reasons
from engine.guard import DeletionGuard
from engine.model import Appointment, ItemKind, ModifiedOccurrence, Side
from engine.observation import Change, ItemError, Observation, derive_stream_id
from engine.options import SyncOptions
from engine.ports import Write
from engine.routing import holds_moved_row, is_move_notice, stream_for
from engine.state import Decision, Status, Verdict
from tests.engine.test_decide import MEETING, MONDAYS, NATIVE, SERIES, Pair, linked

BURST = 3
ON = SyncOptions(deletion_burst_threshold=BURST, max_attempts=3)
OLD, NEW = "mueller", "schmidt"  # Pair's stream is mueller's


def options(**switches: object) -> SyncOptions:
    return ON.model_copy(update=switches)


def notice(pair: Pair, snapshot: Appointment | None = MEETING, **kw: Any) -> Observation:
    """The row's report for its new user, as the old user's stream is told of it."""
    return pair.observation(Side.ERP, snapshot, **kw).model_copy(update={"user": NEW})


def arrival(pair: Pair, snapshot: Appointment | None = MEETING, **kw: Any) -> Observation:
    """The row's report in the new user's stream, naming the user it came from."""
    return pair.observation(Side.ERP, snapshot, **kw).model_copy(update={"moved_from": NEW})


# ---- the old user's stream --------------------------------------------------------------------


def moved_away(pair: Pair) -> Decision:
    return pair.decide(notice(pair))


def moved_away_in_a_burst(pair: Pair) -> Decision:
    pair.guard = DeletionGuard(recent=tuple(pair.now for _ in range(BURST)))
    return pair.decide(notice(pair))


def moved_away_while_paused(pair: Pair) -> Decision:
    return pair.decide(notice(pair, paused=True))


def moved_away_from_an_ineligible_user(pair: Pair) -> Decision:
    return pair.decide(notice(pair, eligible=False))


def moved_away_after_an_outlook_edit(pair: Pair) -> Decision:
    pair.see(Side.EXCHANGE, pair.current(Side.EXCHANGE).replace(location="Room 7"))
    return pair.decide(notice(pair))


def moved_away_changed(pair: Pair) -> Decision:
    return pair.decide(notice(pair, MEETING.replace(subject="Kickoff (Schmidt)")))


def moved_away_unreadable(pair: Pair) -> Decision:
    error = ItemError(code="INVALID_FIELD", message="bad start")
    return pair.decide(notice(pair, None, change=Change.INVALID, error=error))


def moved_away_never_exported(pair: Pair) -> Decision:
    assert pair.see(Side.ERP, MEETING, change=Change.BASELINE).reason == reasons.PREEXISTING
    return pair.decide(notice(pair))


def moved_away_while_creating(pair: Pair) -> Decision:
    assert pair.see(Side.ERP, MEETING).reason == reasons.CREATED_IN_ERP  # not yet confirmed
    return pair.decide(notice(pair))


# ---- the new user's stream --------------------------------------------------------------------


def arrived(pair: Pair) -> Decision:
    return pair.decide(arrival(pair))


def arrived_as_baseline(pair: Pair) -> Decision:
    return pair.decide(arrival(pair, change=Change.BASELINE))


def arrived_unreadable(pair: Pair) -> Decision:
    error = ItemError(code="INVALID_FIELD", message="bad start")
    return pair.decide(arrival(pair, None, change=Change.INVALID, error=error))


def created_not_moved(pair: Pair) -> Decision:
    return pair.see(Side.ERP, MEETING)


def moved_back(pair: Pair) -> Decision:
    moved_away(pair)
    pair.written()
    return pair.decide(arrival(pair))


def came_back_unannounced(pair: Pair) -> Decision:
    moved_away(pair)
    pair.written()
    return pair.see(Side.ERP, MEETING)


def copy_edited_after_the_move(pair: Pair) -> Decision:
    """The copy stayed (export was off then); its user edits it in Outlook."""
    pair.options = options(export_enabled=False)
    moved_away(pair)
    pair.options = ON
    return pair.see(Side.EXCHANGE, pair.current(Side.EXCHANGE).replace(location="Room 7"))


def moved_away_and_retried(pair: Pair) -> Decision:
    moved_away(pair)
    pair.failed()
    return pair.trigger("retry")


def moved_away_and_retried_for_an_ineligible_user(pair: Pair) -> Decision:
    moved_away(pair)
    pair.failed()
    return pair.trigger("retry", user_eligible=False)


def moved_away_and_retried_too_often(pair: Pair) -> Decision:
    moved_away(pair)
    for _ in range(3):
        pair.failed()
    return pair.trigger("retry")


Case = Callable[[Pair], Decision]
EXPORT, SKIP, FAIL, ECHO = Verdict.EXPORT, Verdict.SKIP, Verdict.FAIL, Verdict.ECHO
DELETE_COPY = ((Side.EXCHANGE, "delete"),)
CREATE_COPY = ((Side.EXCHANGE, "create"),)
FRESH, LINKED = False, True  # the stream the row starts from: new, or exported and in sync

TABLE: list[tuple[str, bool, SyncOptions, Case, Verdict, str, Status, tuple[Any, ...]]] = [
    # ---- moved away: the old user's copy goes, never counted as a deletion (R17) -------------
    ("moved away", LINKED, ON, moved_away, EXPORT, reasons.MOVED_AWAY, Status.MOVED, DELETE_COPY),
    (
        "moved away, import off",
        LINKED,
        options(import_enabled=False),
        moved_away,
        EXPORT,
        reasons.MOVED_AWAY,
        Status.MOVED,
        DELETE_COPY,
    ),
    (
        "moved away, export off: the copy stays",
        LINKED,
        options(export_enabled=False),
        moved_away,
        SKIP,
        reasons.MOVED_AWAY,
        Status.MOVED,
        (),
    ),
    (
        "moved away, sync off",
        LINKED,
        options(automatic_sync=False),
        moved_away,
        SKIP,
        reasons.SYNC_OFF,
        Status.IN_SYNC,
        (),
    ),
    (
        "moved away, appointments off",
        LINKED,
        options(sync_appointments=False),
        moved_away,
        SKIP,
        reasons.KIND_OFF,
        Status.IN_SYNC,
        (),
    ),
    (
        "moved away, R17 burst",
        LINKED,
        ON,
        moved_away_in_a_burst,
        EXPORT,
        reasons.MOVED_AWAY,
        Status.MOVED,
        DELETE_COPY,
    ),
    (
        "moved away, R17 paused",
        LINKED,
        ON,
        moved_away_while_paused,
        EXPORT,
        reasons.MOVED_AWAY,
        Status.MOVED,
        DELETE_COPY,
    ),
    (
        "moved away, R8 old user not eligible: mailbox untouched",
        LINKED,
        ON,
        moved_away_from_an_ineligible_user,
        SKIP,
        reasons.MOVED_AWAY,
        Status.MOVED,
        (),
    ),
    (
        "moved away after an Outlook edit",
        LINKED,
        ON,
        moved_away_after_an_outlook_edit,
        EXPORT,
        reasons.MOVED_AWAY,
        Status.MOVED,
        DELETE_COPY,
    ),
    (
        "moved away and changed",
        LINKED,
        ON,
        moved_away_changed,
        EXPORT,
        reasons.MOVED_AWAY,
        Status.MOVED,
        DELETE_COPY,
    ),
    (
        "moved away unreadable",
        LINKED,
        ON,
        moved_away_unreadable,
        EXPORT,
        reasons.MOVED_AWAY,
        Status.MOVED,
        DELETE_COPY,
    ),
    (
        "moved away, R5 never exported",
        FRESH,
        ON,
        moved_away_never_exported,
        SKIP,
        reasons.MOVED_AWAY,
        Status.MOVED,
        (),
    ),
    (
        "moved away while its creation is unconfirmed",
        FRESH,
        ON,
        moved_away_while_creating,
        EXPORT,
        reasons.MOVED_AWAY,
        Status.MOVED,
        DELETE_COPY,
    ),
    (
        "moved away, the deletion retried",
        LINKED,
        ON,
        moved_away_and_retried,
        EXPORT,
        reasons.MOVED_AWAY,
        Status.MOVED,
        DELETE_COPY,
    ),
    (
        "moved away, retried when its user is no longer synchronised",
        LINKED,
        ON,
        moved_away_and_retried_for_an_ineligible_user,
        SKIP,
        reasons.MOVED_AWAY,
        Status.MOVED,
        (),
    ),
    (
        "moved away, retries exhausted",
        LINKED,
        ON,
        moved_away_and_retried_too_often,
        FAIL,
        reasons.RETRIES_EXHAUSTED,
        Status.FAILED,
        (),
    ),
    # ---- moved in: the new user's copy is created -------------------------------------------
    ("moved in", FRESH, ON, arrived, EXPORT, reasons.MOVED_IN, Status.IN_SYNC, CREATE_COPY),
    (
        "moved in, R8 new user not eligible",
        FRESH,
        ON,
        lambda pair: pair.decide(arrival(pair, eligible=False)),
        SKIP,
        reasons.USER_NOT_ELIGIBLE,
        Status.OUT_OF_SCOPE,  # waits for the user: transferred when back, R5 at a first setup
        (),
    ),
    (
        "moved in, export off",
        FRESH,
        options(export_enabled=False),
        arrived,
        SKIP,
        reasons.EXPORT_OFF,
        Status.NEW,
        (),
    ),
    (
        "moved in, import off",
        FRESH,
        options(import_enabled=False),
        arrived,
        EXPORT,
        reasons.MOVED_IN,
        Status.IN_SYNC,
        CREATE_COPY,
    ),
    (
        "moved in as a baseline: not R5, it was synchronised",
        FRESH,
        ON,
        arrived_as_baseline,
        EXPORT,
        reasons.MOVED_IN,
        Status.IN_SYNC,
        CREATE_COPY,
    ),
    (
        "moved in unreadable: parked",
        FRESH,
        ON,
        arrived_unreadable,
        FAIL,
        "INVALID_FIELD",
        Status.FAILED,
        (),
    ),
    (
        "created, not moved",
        FRESH,
        ON,
        created_not_moved,
        EXPORT,
        reasons.CREATED_IN_ERP,
        Status.IN_SYNC,
        CREATE_COPY,
    ),
    (
        "moved back",
        LINKED,
        ON,
        moved_back,
        EXPORT,
        reasons.MOVED_IN,
        Status.IN_SYNC,
        CREATE_COPY,
    ),
    (
        "came back unannounced",
        LINKED,
        ON,
        came_back_unannounced,
        EXPORT,
        reasons.MOVED_IN,
        Status.IN_SYNC,
        CREATE_COPY,
    ),
    (
        "the copy left behind is edited",
        LINKED,
        ON,
        copy_edited_after_the_move,
        SKIP,
        reasons.MOVED_AWAY,
        Status.MOVED,
        (),
    ),
]


@pytest.mark.parametrize(
    ("start", "options_", "case", "verdict", "reason", "settled", "writes"),
    [pytest.param(*row[1:], id=row[0]) for row in TABLE],
)
def test_decide_a_move(
    start: bool,
    options_: SyncOptions,
    case: Case,
    verdict: Verdict,
    reason: str,
    settled: Status,
    writes: tuple[Any, ...],
) -> None:
    pair = linked(options=ON) if start is LINKED else Pair(ON)
    pair.options = options_
    decision = case(pair)
    assert (decision.verdict, decision.reason, decision.deletion_counted) == (
        verdict,
        reason,
        False,
    )
    assert tuple((w.side, w.operation) for w in decision.writes) == writes
    pair.written()
    assert pair.state.status is settled


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
