"""The cases of a move (issue 10) that `decide` is asked about, each a function of a `Pair`:
the old user's stream told by a move notice, the new user's stream given the row
(test_decide_moves.py's table and the tests beside it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine import reasons
from engine.guard import DeletionGuard
from engine.model import Appointment, Side
from engine.observation import Change, ItemError, Observation
from engine.options import SyncOptions
from engine.state import Decision, Verdict
from tests.engine.pairs import MEETING, Pair

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
