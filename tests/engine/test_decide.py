"""`decide` on in-memory state, case by case: state + observation + options → verdict and reason.

As vdirsyncer tests `sync`: no adapters, no store — one item's two sides kept in memory
(`Pair`), driven through `deliberate` the way the runtime drives it, every write succeeding at
once unless a test says otherwise. Each pair builds the table of moves anew (`build_machine`),
so the table's own code runs inside the test; test_decide_table.py holds the rules as a table
over every option switch. The end-to-end tests in test_rules*.py stay the
acceptance tests; these pin every branch of the rules.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from engine import reasons
from engine.model import Appointment, Side, Task, TaskStatus
from engine.options import SyncOptions
from engine.state import (
    Decision,
    Status,
    Verdict,
)
from tests.engine.pairs import (
    CALL,
    MEETING,
    MONDAYS,
    NATIVE,
    SERIES,
    T0,
    Pair,
    linked,
    moved,
    summary,
    target,
)
from tests.harness import at

# ---- transfers: one side changed ------------------------------------------------------------


def test_created_in_the_erp_is_exported_as_a_creation() -> None:
    pair = Pair()
    decision = pair.see(Side.ERP, MEETING)
    assert summary(decision) == (
        Verdict.EXPORT,
        reasons.CREATED_IN_ERP,
        Status.EXPORTING,
        Status.IN_SYNC,
        "erp_to_exchange",
        "create",
        ((Side.EXCHANGE, "create"),),
    )
    assert (
        decision.sentence
        == "exported to Exchange: created in the ERP (appointment 'Kickoff' of mueller)"
    )
    assert target(decision, Side.EXCHANGE).info_text == ""  # R7: not written by default
    assert decision.base == MEETING  # the agreed content keeps the ERP's info text (R6)


def test_created_in_outlook_is_imported_without_its_body() -> None:
    pair = Pair()
    decision = pair.see(Side.EXCHANGE, MEETING)
    assert summary(decision) == (
        Verdict.IMPORT,
        reasons.CREATED_IN_EXCHANGE,
        Status.IMPORTING,
        Status.IN_SYNC,
        "exchange_to_erp",
        "create",
        ((Side.ERP, "create"),),
    )
    assert (
        decision.sentence
        == "imported into the ERP: created in Outlook (appointment 'Kickoff' of mueller)"
    )
    assert target(decision, Side.ERP).info_text == ""  # R6: the body is never imported
    pair.written()
    assert pair.state.status is Status.IN_SYNC


def test_changed_in_the_erp_is_exported() -> None:
    pair = linked()
    decision = pair.see(Side.ERP, MEETING.replace(location="Room 1"))
    assert summary(decision) == (
        Verdict.EXPORT,
        reasons.CHANGED_IN_ERP,
        Status.EXPORTING,
        Status.IN_SYNC,
        "erp_to_exchange",
        "update",
        ((Side.EXCHANGE, "update"),),
    )
    assert decision.changed_fields == ("location",)
    assert decision.sentence == (
        "exported to Exchange: location changed in the ERP (appointment 'Kickoff' of mueller)"
    )
    (write,) = decision.writes
    assert (write.native_id, write.expected_version) == (NATIVE[Side.EXCHANGE], "1")


def test_changed_in_outlook_is_imported() -> None:
    pair = linked()
    decision = pair.see(Side.EXCHANGE, pair.current(Side.EXCHANGE).replace(location="Room 2"))
    assert summary(decision) == (
        Verdict.IMPORT,
        reasons.CHANGED_IN_EXCHANGE,
        Status.IMPORTING,
        Status.IN_SYNC,
        "exchange_to_erp",
        "update",
        ((Side.ERP, "update"),),
    )
    assert decision.changed_fields == ("location",)
    assert decision.sentence.startswith("imported into the ERP: location changed in Outlook")
    imported = target(decision, Side.ERP)
    assert imported.location == "Room 2" and imported.info_text == "Agenda"  # the ERP's text stays
    (write,) = decision.writes
    assert (write.native_id, write.expected_version, write.write_info_text) == ("17", "1", True)


def test_a_value_exchange_set_while_saving_our_write_is_taken_over() -> None:
    pair = linked(CALL)
    decision = pair.see(Side.ERP, CALL.replace(status=TaskStatus.COMPLETED, percent_complete=100))
    pair.written()
    ours = pair.state.exchange
    assert ours.current is not None
    adjusted = ours.current.replace(completed_at=at(1, 12))  # Exchange's CompleteDate
    decision = pair.see(Side.EXCHANGE, adjusted, version=ours.written_version)
    assert decision.reason == reasons.ADJUSTED_ON_SAVE
    assert decision.changed_fields == ("completed_at",)
    assert "saved our write with other values (completed_at); taken over" in decision.sentence


def test_only_the_info_text_changed_in_the_erp_is_not_written_by_default() -> None:
    pair = linked()
    decision = pair.see(Side.ERP, MEETING.replace(info_text="Agenda v2"))
    assert summary(decision)[:4] == (
        Verdict.SKIP,
        reasons.INFO_TEXT_NOT_WRITTEN,
        Status.IN_SYNC,
        Status.IN_SYNC,
    )
    assert pair.state.base is not None and pair.state.base.info_text == "Agenda v2"


def test_the_info_text_is_written_when_allowed_and_only_then() -> None:
    pair = linked(options=SyncOptions(write_info_text=True, info_text_format="html"))
    assert pair.current(Side.EXCHANGE).info_text == "Agenda"
    decision = pair.see(Side.ERP, MEETING.replace(info_text="Agenda v2"))
    (write,) = decision.writes
    assert (write.write_info_text, write.info_text_format) == (True, "html")
    assert write.snapshot is not None and write.snapshot.info_text == "Agenda v2"
    assert decision.changed_fields == ("info_text",)
    assert decision.sentence.startswith("exported to Exchange: info text changed in the ERP")
    pair.written()
    # A change elsewhere leaves the Outlook body alone while the info text is unchanged.
    decision = pair.see(Side.ERP, MEETING.replace(info_text="Agenda v2", location="Room 3"))
    (write,) = decision.writes
    assert write.write_info_text is False and write.fields == ("location",)


# ---- conflicts (R16) ---------------------------------------------------------------------------


def both_change_the_subject(
    policy: str, erp_modified: datetime | None, outlook_modified: datetime | None
) -> tuple[Pair, Decision]:
    pair = linked(options=SyncOptions(conflict_policy=policy))
    pair.see(
        Side.EXCHANGE,
        MEETING.replace(subject="Outlook", info_text=""),
        modified_at=outlook_modified,
    )
    decision = pair.see(Side.ERP, MEETING.replace(subject="ERP"), modified_at=erp_modified)
    return pair, decision


EARLY, LATE = T0 - timedelta(days=2), T0 - timedelta(days=1)


@pytest.mark.parametrize(
    ("policy", "erp_modified", "outlook_modified", "winner"),
    [
        ("erp_wins", EARLY, LATE, Side.ERP),
        ("erp_wins", LATE, EARLY, Side.ERP),
        ("exchange_wins", LATE, EARLY, Side.EXCHANGE),
        ("exchange_wins", EARLY, LATE, Side.EXCHANGE),
        ("newest_wins", LATE, EARLY, Side.ERP),
        ("newest_wins", EARLY, LATE, Side.EXCHANGE),  # although the ERP's change is seen last
        ("newest_wins", LATE, LATE, Side.ERP),  # a tie goes to the ERP
        ("newest_wins", None, None, Side.ERP),  # no modification times: the later seen
    ],
)
def test_the_same_field_changed_on_both_sides_follows_the_policy(
    policy: str, erp_modified: datetime | None, outlook_modified: datetime | None, winner: Side
) -> None:
    pair, decision = both_change_the_subject(policy, erp_modified, outlook_modified)
    kept = "ERP" if winner is Side.ERP else "Outlook"
    # Each side gets the winner's value: only the loser's side is written.
    assert summary(decision) == (
        Verdict.CONFLICT,
        reasons.CONFLICT_RESOLVED,
        Status.CONFLICT,
        Status.IN_SYNC,
        "erp_to_exchange" if winner is Side.ERP else "exchange_to_erp",
        "update",
        ((winner.other, "update"),),
    )
    (conflict,) = decision.conflicts
    assert (conflict.field, conflict.erp_value, conflict.exchange_value, conflict.winner) == (
        "subject",
        "ERP",
        "Outlook",
        winner,
    )
    name = "the ERP" if winner is Side.ERP else "Outlook"
    assert (
        f"conflict resolved by {policy}: subject changed on both sides, {name}'s version kept"
        in decision.sentence
    )
    assert decision.base is not None and decision.base.subject == kept
    assert decision.base.info_text == "Agenda"  # the info text never conflicts (R6)
    pair.written()
    assert pair.current(Side.ERP).subject == pair.current(Side.EXCHANGE).subject == kept


def test_without_modification_times_newest_wins_goes_by_when_each_side_was_seen() -> None:
    pair = linked(options=SyncOptions(conflict_policy="newest_wins"))
    pair.see(Side.ERP, MEETING.replace(subject="ERP"))
    decision = pair.see(Side.EXCHANGE, MEETING.replace(subject="Outlook", info_text=""))
    assert decision.conflicts[0].winner is Side.EXCHANGE


def test_different_fields_changed_on_both_sides_are_merged() -> None:
    pair = linked()
    pair.see(Side.EXCHANGE, MEETING.replace(location="Outlook room", info_text=""))
    decision = pair.see(Side.ERP, MEETING.replace(subject="ERP subject"))
    assert summary(decision) == (
        Verdict.CONFLICT,
        reasons.MERGED,
        Status.CONFLICT,
        Status.IN_SYNC,
        "both",
        "update",
        ((Side.ERP, "update"), (Side.EXCHANGE, "update")),
    )
    assert decision.conflicts == ()
    assert decision.sentence.startswith(
        "merged: both sides changed different fields (location, subject)"
    )
    assert (decision.base.subject, decision.base.location) == ("ERP subject", "Outlook room")  # type: ignore[union-attr]


def test_the_same_change_on_both_sides_writes_nothing_and_rests_in_sync() -> None:
    pair = linked()
    pair.see(Side.EXCHANGE, MEETING.replace(location="Room 4", info_text=""))
    decision = pair.see(Side.ERP, MEETING.replace(location="Room 4"))
    assert summary(decision) == (
        Verdict.SKIP,
        reasons.SAME_CHANGE,
        Status.IN_SYNC,
        Status.IN_SYNC,
        "none",
        "none",
        (),
    )
    assert pair.state.base is not None and pair.state.base.location == "Room 4"  # type: ignore[union-attr]
    assert pair.state.status is Status.IN_SYNC


def test_a_task_merges_by_the_task_field_groups() -> None:
    pair = linked(CALL)
    pair.see(
        Side.EXCHANGE,
        pair.current(Side.EXCHANGE).replace(status=TaskStatus.IN_PROGRESS, percent_complete=50),
    )
    decision = pair.see(Side.ERP, CALL.replace(subject="Call back today"))
    assert decision.reason == reasons.MERGED
    merged = decision.base
    assert isinstance(merged, Task)
    assert (merged.subject, merged.status, merged.percent_complete) == (
        "Call back today",
        TaskStatus.IN_PROGRESS,
        50,
    )


def test_a_task_group_changed_on_both_sides_is_one_conflict_taken_whole() -> None:
    pair = linked(
        CALL.replace(start=date(2026, 12, 1)), options=SyncOptions(conflict_policy="exchange_wins")
    )
    outlook = pair.current(Side.EXCHANGE).replace(due=date(2026, 12, 9))
    pair.see(Side.EXCHANGE, outlook)
    decision = pair.see(Side.ERP, CALL.replace(start=date(2026, 12, 2)))
    assert decision.reason == reasons.CONFLICT_RESOLVED
    assert [c.field for c in decision.conflicts] == ["start", "due"]
    assert "exchange_wins: due, start changed on both sides, Outlook's version kept" in (
        decision.sentence
    )
    assert (decision.base.start, decision.base.due) == (date(2026, 12, 1), date(2026, 12, 9))  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("policy", "winner"), [("erp_wins", Side.ERP), ("exchange_wins", Side.EXCHANGE)]
)
def test_one_occurrence_changed_on_both_sides_is_a_conflict_for_that_occurrence(
    policy: str, winner: Side
) -> None:
    pair = linked(SERIES, options=SyncOptions(conflict_policy=policy))
    key = MONDAYS[2]
    outlook = pair.current(Side.EXCHANGE)
    pair.see(Side.EXCHANGE, outlook.replace(modified_occurrences=(moved(key, "Outlook", 1),)))
    decision = pair.see(Side.ERP, SERIES.replace(modified_occurrences=(moved(key, "ERP", 3),)))
    assert decision.reason == reasons.CONFLICT_RESOLVED
    (conflict,) = decision.conflicts
    assert conflict.field == f"occurrence {key.astimezone(UTC).isoformat().replace('+00:00', 'Z')}"
    assert conflict.winner is winner
    assert conflict.erp_value["subject"] == "ERP"  # type: ignore[index]
    assert conflict.exchange_value["subject"] == "Outlook"  # type: ignore[index]
    (kept,) = decision.base.modified_occurrences  # type: ignore[union-attr]
    assert kept.subject == ("ERP" if winner is Side.ERP else "Outlook")


def test_a_series_changed_on_both_sides_merges_the_occurrences_too() -> None:
    pair = linked(SERIES)
    outlook = pair.current(Side.EXCHANGE)
    pair.see(
        Side.EXCHANGE,
        outlook.replace(
            modified_occurrences=(moved(MONDAYS[1], "Outlook"),), deleted_occurrences=(MONDAYS[4],)
        ),
    )
    decision = pair.see(
        Side.ERP, SERIES.replace(subject="Jour fixe (ERP)", deleted_occurrences=(MONDAYS[3],))
    )
    assert decision.reason == reasons.MERGED
    merged = decision.base
    assert isinstance(merged, Appointment)
    assert merged.subject == "Jour fixe (ERP)"
    assert [o.original_start for o in merged.modified_occurrences] == [MONDAYS[1]]
    assert merged.deleted_occurrences == (MONDAYS[3], MONDAYS[4])
    writes = {w.side: w for w in decision.writes}
    assert {(o.original_start, o.action) for o in writes[Side.ERP].occurrences} == {
        (MONDAYS[1], "modify"),
        (MONDAYS[4], "delete"),
    }
    assert {(o.original_start, o.action) for o in writes[Side.EXCHANGE].occurrences} == {
        (MONDAYS[3], "delete")
    }


def test_an_occurrence_deleted_on_one_side_and_moved_on_the_other_follows_the_policy() -> None:
    pair = linked(SERIES, options=SyncOptions(conflict_policy="exchange_wins"))
    key = MONDAYS[2]
    pair.see(
        Side.EXCHANGE,
        pair.current(Side.EXCHANGE).replace(modified_occurrences=(moved(key, "Moved"),)),
    )
    decision = pair.see(Side.ERP, SERIES.replace(deleted_occurrences=(key,)))
    assert decision.conflicts[0].erp_value == "deleted"
    assert decision.base.deleted_occurrences == ()  # type: ignore[union-attr]
    assert [o.subject for o in decision.base.modified_occurrences] == ["Moved"]  # type: ignore[union-attr]
