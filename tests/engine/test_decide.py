"""`decide` on in-memory state, case by case: state + observation + options → verdict and reason.

As vdirsyncer tests `sync`: no adapters, no store — one item's two sides kept in memory
(`Pair`), driven through `deliberate` the way the runtime drives it, every write succeeding at
once unless a test says otherwise. Each pair builds the table of moves anew (`build_machine`),
so the table's own code runs inside the test; test_decide_table.py holds the rules as a table
over every option switch. The end-to-end tests in test_rules.py stay the
acceptance tests; these pin every branch of the rules.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from engine import reasons
from engine.guard import NO_GUARD, DeletionGuard
from engine.lifecycle import NoRuleApplies, _rows, build_machine, deliberate, moves
from engine.model import Appointment, ItemKind, ModifiedOccurrence, Side, Task, TaskStatus
from engine.observation import Change, ItemError, Observation, Origin, Trigger
from engine.options import SyncOptions
from engine.recurrence import Recurrence
from engine.state import (
    Decision,
    ItemState,
    Status,
    Verdict,
    WriteDone,
    WriteFailed,
    decided,
    new_state,
    write_done,
    write_failed,
)
from tests.harness import at

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
NATIVE = {Side.ERP: "17", Side.EXCHANGE: "AAMkAGI17"}
MEETING = Appointment(subject="Kickoff", start=at(1, 9), end=at(1, 10), info_text="Agenda")
CALL = Task(subject="Call back", due=date(2026, 12, 3), info_text="Number in the CRM")
WEEKLY = Recurrence(pattern="weekly", weekdays=("monday",), count=6)
SERIES = Appointment(subject="Jour fixe", start=at(7, 9), end=at(7, 10), recurrence=WEEKLY)
MONDAYS = SERIES.occurrence_starts()


class Pair:
    """One item's two sides in memory, and what the engine knows of them."""

    def __init__(
        self, options: SyncOptions | None = None, kind: ItemKind = ItemKind.APPOINTMENT
    ) -> None:
        self.options = options or SyncOptions()
        self.machine = build_machine()  # the table built anew, in the test
        self.guard = NO_GUARD  # the user's deletion burst guard (R17)
        self.state: ItemState = new_state(uuid.UUID(int=17), "mueller", kind)
        self.now = T0
        self.versions = {Side.ERP: 0, Side.EXCHANGE: 0}

    def decide(self, event: Observation | Trigger) -> Decision:
        after, decision = deliberate(
            self.state, event, self.options, machine=self.machine, guard=self.guard
        )
        assert decision.at == (event.observed_at if isinstance(event, Observation) else event.at)
        self.state = decided(after, decision)
        if decision.deletion_counted:  # as the runtime records it on the user's ledger
            self.guard = self.guard.count(decision.at, self.options)
        return decision

    def observation(
        self,
        side: Side,
        snapshot: Appointment | Task | None = None,
        *,
        change: Change = Change.CHANGED,
        modified_at: datetime | None = None,
        origin: Origin = Origin.UNKNOWN,
        version: str | None = None,
        paused: bool = False,
        eligible: bool = True,
        why: str = "the login is locked",
        native_id: str | None = None,
        error: ItemError | None = None,
    ) -> Observation:
        """That side's report of the item (a person changed it, unless told otherwise)."""
        self.now += timedelta(minutes=1)
        if paused:  # the user's deletions are paused after a burst
            self.guard = DeletionGuard(paused=True, paused_at=self.now, paused_count=26)
        if version is None and change is not Change.DELETED:
            self.versions[side] += 1
            version = str(self.versions[side])
        return Observation(
            side=side,
            kind=self.state.kind,
            user="mueller",
            native_id=native_id or NATIVE[side],
            change=change,
            observed_at=self.now,
            modified_at=modified_at,
            native_version=version,
            snapshot=snapshot,
            error=error,
            origin=origin,
            user_eligible=eligible,
            user_reason="" if eligible else why,
        )

    def see(self, side: Side, snapshot: Appointment | Task | None = None, **kw: Any) -> Decision:
        """That side reports the item, and `decide` decides."""
        return self.decide(self.observation(side, snapshot, **kw))

    def deletion(self, side: Side, **kw: Any) -> Observation:
        return self.observation(side, change=Change.DELETED, **kw)

    def delete(self, side: Side, **kw: Any) -> Decision:
        return self.see(side, change=Change.DELETED, **kw)

    def trigger(self, name: str, **kw: Any) -> Decision:
        self.now += timedelta(minutes=1)
        return self.decide(Trigger(name=name, at=self.now, **kw))

    def written(self) -> None:
        """Every pending write succeeds, each with a new version on its side."""
        for write in self.state.pending:
            self.versions[write.side] += 1
            self.state = write_done(
                self.state,
                WriteDone(
                    side=write.side,
                    operation=write.operation,
                    native_id=write.native_id or NATIVE[write.side],
                    native_version=str(self.versions[write.side]),
                    at=self.now,
                ),
            )

    def failed(self, *, transient: bool = True) -> None:
        write = self.state.pending[0]
        self.state = write_failed(
            self.state,
            WriteFailed(
                side=write.side,
                operation=write.operation,
                error_class="ErrorServerBusy",
                message="busy",
                attempt=self.state.attempts + 1,
                transient=transient,
                next_retry_at=self.now + timedelta(minutes=1),
                at=self.now,
            ),
        )

    def current(self, side: Side) -> Any:
        return self.state.view(side).current

    def echo(self, side: Side) -> Decision:
        """Our last write to `side` read back, as that side reports it."""
        view = self.state.view(side)
        return self.see(
            side,
            view.current,
            version=view.written_version,
            origin=Origin.SYNC if side is Side.ERP else Origin.UNKNOWN,
        )


def linked(
    snapshot: Appointment | Task = MEETING, options: SyncOptions | None = None, **kw: Any
) -> Pair:
    """An item created in the ERP and exported: in sync on both sides."""
    kind = ItemKind.TASK if isinstance(snapshot, Task) else ItemKind.APPOINTMENT
    pair = Pair(options, kind, **kw)
    assert pair.see(Side.ERP, snapshot).reason == reasons.CREATED_IN_ERP
    pair.written()
    assert pair.state.status is Status.IN_SYNC and pair.state.linked
    return pair


def summary(decision: Decision) -> tuple[Any, ...]:
    return (
        decision.verdict,
        decision.reason,
        decision.status,
        decision.settled,
        decision.direction,
        decision.operation,
        tuple((w.side, w.operation) for w in decision.writes),
    )


def target(decision: Decision, side: Side) -> Any:
    (write,) = [w for w in decision.writes if w.side is side]
    return write.snapshot


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


def moved(key: datetime, subject: str, hours: int = 2) -> ModifiedOccurrence:
    return ModifiedOccurrence(
        original_start=key,
        start=key + timedelta(hours=hours),
        end=key + timedelta(hours=hours + 1),
        subject=subject,
    )


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


# ---- deletions (R16, R17) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("deleted", "expected"),
    [
        (
            Side.ERP,
            (
                Verdict.EXPORT,
                reasons.DELETED_IN_ERP,
                Status.EXPORTING,
                Status.DELETED,
                "erp_to_exchange",
                "delete",
                ((Side.EXCHANGE, "delete"),),
            ),
        ),
        (
            Side.EXCHANGE,
            (
                Verdict.IMPORT,
                reasons.DELETED_IN_EXCHANGE,
                Status.IMPORTING,
                Status.DELETED,
                "exchange_to_erp",
                "delete",
                ((Side.ERP, "delete"),),
            ),
        ),
    ],
)
def test_a_deletion_of_a_linked_item_deletes_its_counterpart(
    deleted: Side, expected: tuple[Any, ...]
) -> None:
    pair = linked()
    decision = pair.delete(deleted)
    assert summary(decision) == expected
    (write,) = decision.writes
    assert (write.native_id, write.expected_version) == (NATIVE[deleted.other], "1")
    where = "the ERP" if deleted is Side.ERP else "Outlook"
    other = "Outlook" if deleted is Side.ERP else "the ERP"
    assert decision.sentence.startswith(f"deleted in {where}: deleting it in {other}")
    pair.written()
    assert pair.state.status is Status.DELETED
    assert pair.delete(deleted.other).verdict is Verdict.ECHO  # our delete read back
    assert pair.delete(deleted).verdict is Verdict.ECHO  # the repeated report


@pytest.mark.parametrize(
    ("deleted", "verdict", "direction"),
    [
        (Side.ERP, Verdict.IMPORT, "exchange_to_erp"),
        (Side.EXCHANGE, Verdict.EXPORT, "erp_to_exchange"),
    ],
)
def test_an_edit_beats_a_deletion_on_the_other_side(
    deleted: Side, verdict: Verdict, direction: str
) -> None:
    pair = linked(options=SyncOptions(write_info_text=True))
    edited = pair.current(deleted.other).replace(location="Room 7")
    pair.see(deleted.other, edited)
    decision = pair.delete(deleted)
    assert summary(decision) == (
        verdict,
        reasons.EDIT_BEATS_DELETE,
        Status.IMPORTING if verdict is Verdict.IMPORT else Status.EXPORTING,
        Status.IN_SYNC,
        direction,
        "create",
        ((deleted, "create"),),
    )
    where, other = ("the ERP", "Outlook") if deleted is Side.ERP else ("Outlook", "the ERP")
    assert decision.sentence.startswith(f"kept: deleted in {where} but changed in {other} since")
    (write,) = decision.writes
    assert write.snapshot is not None and write.snapshot.location == "Room 7"  # type: ignore[union-attr]
    assert write.snapshot.info_text == "Agenda"  # recreated with the ERP's text
    assert write.write_info_text is True
    assert "location" in write.fields and ("info_text" in write.fields) is (deleted is Side.ERP)
    pair.written()
    assert pair.state.status is Status.IN_SYNC


def test_an_edit_beats_a_deletion_and_the_outlook_body_stays_unwritten_by_default() -> None:
    pair = linked()
    pair.see(Side.ERP, MEETING.replace(location="Room 8"))
    pair.state = pair.state._replace(status=Status.IN_SYNC, pending=())  # the export never ran
    decision = pair.delete(Side.EXCHANGE)
    assert decision.status is Status.EXPORTING
    (write,) = decision.writes
    assert write.write_info_text is False and write.snapshot.info_text == ""  # type: ignore[union-attr]
    assert "info_text" not in write.fields


@pytest.mark.parametrize("deleted", [Side.ERP, Side.EXCHANGE])
def test_a_deletion_before_the_transfer_was_confirmed_deletes_any_copy(deleted: Side) -> None:
    pair = Pair()
    pair.see(deleted, MEETING)  # decided, never confirmed
    decision = pair.delete(deleted)
    code = reasons.DELETED_IN_ERP if deleted is Side.ERP else reasons.DELETED_IN_EXCHANGE
    verdict = Verdict.EXPORT if deleted is Side.ERP else Verdict.IMPORT
    direction = "erp_to_exchange" if deleted is Side.ERP else "exchange_to_erp"
    assert summary(decision) == (
        verdict,
        code,
        Status.EXPORTING if deleted is Side.ERP else Status.IMPORTING,
        Status.DELETED,
        direction,
        "delete",
        ((deleted.other, "delete"),),
    )
    assert decision.writes[0].native_id is None  # whatever carries our stream id
    where, other = ("the ERP", "Outlook") if deleted is Side.ERP else ("Outlook", "the ERP")
    assert decision.sentence.startswith(
        f"deleted in {where} before its transfer was confirmed: deleting any copy in {other} ("
    )


def test_a_deletion_of_an_item_never_transferred_deletes_nothing() -> None:
    pair = Pair()
    pair.see(Side.ERP, MEETING, eligible=False)
    decision = pair.delete(Side.ERP)
    assert summary(decision) == (
        Verdict.SKIP,
        reasons.NOT_LINKED,
        Status.DELETED,
        Status.DELETED,
        "none",
        "none",
        (),
    )
    assert "never transferred" in decision.sentence


def test_a_deletion_when_the_counterpart_is_already_gone() -> None:
    pair = linked()
    pair.state = pair.state._replace(
        exchange=pair.state.exchange._replace(deleted=True, current=None)
    )
    decision = pair.delete(Side.ERP)
    assert summary(decision)[:4] == (
        Verdict.SKIP,
        reasons.ALREADY_GONE,
        Status.DELETED,
        Status.DELETED,
    )
    assert decision.sentence.startswith("skipped: deleted in the ERP; already gone in Outlook (")


@pytest.mark.parametrize("deleted", [Side.ERP, Side.EXCHANGE])
def test_a_deletion_during_a_burst_is_held_then_released(deleted: Side) -> None:
    pair = linked()
    decision = pair.delete(deleted, paused=True)
    assert summary(decision) == (
        Verdict.HOLD,
        reasons.BURST_HELD,
        Status.HELD,
        Status.HELD,
        "none",
        "none",
        (),
    )
    where = "the ERP" if deleted is Side.ERP else "Outlook"
    assert decision.sentence == (
        f"held: deleted in {where}, but deletions for mueller are paused after a burst; "
        "an administrator must release them (appointment 'Kickoff' of mueller)"
    )
    released = pair.trigger("deletions_released", reason="released by admin")
    assert released.reason == (
        reasons.DELETED_IN_ERP if deleted is Side.ERP else reasons.DELETED_IN_EXCHANGE
    )
    assert released.writes[0].side is deleted.other


# ---- nothing to transfer: echoes, repeats, scope ------------------------------------------------


@pytest.mark.parametrize("side", [Side.ERP, Side.EXCHANGE])
def test_our_write_read_back_is_an_echo_by_its_version(side: Side) -> None:
    pair = linked() if side is Side.EXCHANGE else Pair()
    if side is Side.ERP:
        pair.see(Side.EXCHANGE, MEETING)
        pair.written()
    decision = pair.see(side, pair.current(side), version=pair.state.view(side).written_version)
    assert summary(decision) == (
        Verdict.ECHO,
        reasons.ECHO,
        Status.IN_SYNC,
        Status.IN_SYNC,
        "none",
        "none",
        (),
    )
    version = pair.state.view(side).written_version
    assert decision.sentence.startswith(
        f"echo of our own write to {'the ERP' if side is Side.ERP else 'Outlook'} (version {version})"
    )


def test_an_erp_save_marked_as_ours_with_our_content_is_an_echo() -> None:
    pair = Pair()
    pair.see(Side.EXCHANGE, MEETING)
    pair.written()
    ours = pair.current(Side.ERP)
    decision = pair.see(Side.ERP, ours, version="7", origin=Origin.SYNC)  # a later version
    assert decision.verdict is Verdict.ECHO
    # Marked as ours but with other content: the ERP changed values; taken as a change.
    decision = pair.see(Side.ERP, ours.replace(location="Set by a trigger"), origin=Origin.SYNC)
    assert decision.reason == reasons.CHANGED_IN_ERP


def test_our_content_under_another_version_and_not_marked_as_ours_is_no_echo() -> None:
    pair = linked()
    decision = pair.see(Side.EXCHANGE, pair.current(Side.EXCHANGE))  # a new ChangeKey, same content
    assert summary(decision)[:2] == (Verdict.SKIP, reasons.UNCHANGED)
    assert "reported it again without a content change" in decision.sentence


def test_our_version_with_other_content_is_no_echo() -> None:
    pair = linked()
    changed = pair.current(Side.EXCHANGE).replace(subject="Changed on save")
    decision = pair.see(Side.EXCHANGE, changed, version=pair.state.exchange.written_version)
    assert decision.verdict is Verdict.IMPORT


def test_only_the_outlook_body_changed_is_not_imported() -> None:
    pair = linked()
    decision = pair.see(Side.EXCHANGE, pair.current(Side.EXCHANGE).replace(info_text="My notes"))
    assert summary(decision)[:4] == (
        Verdict.SKIP,
        reasons.BODY_NOT_IMPORTED,
        Status.IN_SYNC,
        Status.IN_SYNC,
    )
    assert decision.sentence.startswith(
        "skipped: only the body changed in Outlook; the info text flows from the ERP to Outlook only ("
    )


@pytest.mark.parametrize(
    ("options", "side", "reason", "sentence"),
    [
        (
            SyncOptions(automatic_sync=False),
            Side.ERP,
            reasons.SYNC_OFF,
            "automatic synchronisation is switched off",
        ),
        (
            SyncOptions(sync_appointments=False),
            Side.ERP,
            reasons.KIND_OFF,
            "synchronising appointments is switched off",
        ),
        (
            SyncOptions(export_enabled=False),
            Side.ERP,
            reasons.EXPORT_OFF,
            "export to Exchange is switched off",
        ),
        (
            SyncOptions(import_enabled=False),
            Side.EXCHANGE,
            reasons.IMPORT_OFF,
            "import from Exchange is switched off",
        ),
    ],
)
def test_switches_skip_in_the_documented_order(
    options: SyncOptions, side: Side, reason: str, sentence: str
) -> None:
    pair = Pair(options)
    # The master and type switches are named before the user's eligibility, direction after.
    eligible = reason not in (reasons.SYNC_OFF, reasons.KIND_OFF)
    decision = pair.see(side, MEETING, eligible=eligible)
    assert summary(decision) == (Verdict.SKIP, reason, Status.NEW, Status.NEW, "none", "none", ())
    assert decision.sentence == f"skipped: {sentence} (appointment 'Kickoff' of mueller)"
    assert pair.state.view(side).current == MEETING  # what we know is updated all the same


def test_a_task_kind_switched_off_names_tasks() -> None:
    pair = Pair(SyncOptions(sync_tasks=False), ItemKind.TASK)
    assert pair.see(Side.ERP, CALL).sentence.startswith(
        "skipped: synchronising tasks is switched off"
    )


def test_a_user_not_eligible_is_skipped_with_the_reason() -> None:
    pair = Pair()
    decision = pair.see(Side.ERP, MEETING, eligible=False)
    assert summary(decision)[:3] == (Verdict.SKIP, reasons.USER_NOT_ELIGIBLE, Status.OUT_OF_SCOPE)
    assert decision.sentence.startswith("skipped: mueller is not synchronised: the login is locked")


def test_an_invalid_item_is_parked_with_its_error_and_syncs_once_corrected() -> None:
    pair = linked()
    error = ItemError(code="END_BEFORE_START", message="ends before it starts", field="end")
    decision = pair.see(Side.ERP, change=Change.INVALID, error=error)
    assert summary(decision)[:4] == (Verdict.FAIL, "END_BEFORE_START", Status.FAILED, Status.FAILED)
    assert decision.sentence.startswith(
        "parked: ends before it starts; it syncs again once corrected in the ERP"
    )
    decision = pair.see(Side.ERP, MEETING.replace(end=at(1, 11)))
    assert decision.reason == reasons.CHANGED_IN_ERP


def test_a_report_about_a_replaced_native_item_is_stale() -> None:
    pair = linked()
    decision = pair.see(Side.ERP, MEETING.replace(subject="Other"), native_id="99")
    assert summary(decision)[:3] == (Verdict.SKIP, reasons.STALE, Status.IN_SYNC)
    assert decision.sentence.startswith(
        "skipped: the ERP reported 99 (changed), which is no longer this item there: it lives on as 17"
    )
    assert pair.state.erp.current == MEETING


def test_leaving_the_scope_is_not_a_deletion_and_coming_back_resyncs() -> None:
    pair = linked()
    decision = pair.trigger("scope_left", reason="the login is locked", user_eligible=False)
    assert summary(decision) == (
        Verdict.SKIP,
        reasons.SCOPE_LEFT,
        Status.OUT_OF_SCOPE,
        Status.OUT_OF_SCOPE,
        "none",
        "none",
        (),
    )
    assert decision.sentence.startswith(
        "skipped: left the sync scope (the login is locked); this is not a deletion"
    )
    plain = Pair()
    assert "(no longer synchronised)" in plain.trigger("scope_left").sentence
    # Back in scope with nothing changed meanwhile: it rests in sync, nothing written.
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


def test_an_unchanged_report_while_out_of_scope_is_decided_again() -> None:
    pair = linked()
    pair.trigger("scope_left", user_eligible=False)
    decision = pair.see(Side.ERP, MEETING, version="1")
    assert decision.reason == reasons.UNCHANGED and decision.status is Status.IN_SYNC


# ---- pre-existing items (R5) ---------------------------------------------------------------------


@pytest.mark.parametrize("side", [Side.ERP, Side.EXCHANGE])
def test_a_preexisting_item_stays_put_until_changed_then_is_created(side: Side) -> None:
    pair = Pair()
    decision = pair.see(side, MEETING, change=Change.BASELINE)
    assert summary(decision) == (
        Verdict.SKIP,
        reasons.PREEXISTING,
        Status.PREEXISTING,
        Status.PREEXISTING,
        "none",
        "none",
        (),
    )
    assert decision.sentence.startswith(
        "skipped: existed before sync was set up for mueller on 2026-11-02 and has not changed since"
    )
    assert pair.state.base is not None
    assert pair.state.base.info_text == ("Agenda" if side is Side.ERP else "")
    assert pair.state.baseline_at == pair.now
    # Reported again unchanged (scope came back, say): it stays pre-existing.
    assert pair.trigger("scope_left").status is Status.OUT_OF_SCOPE
    again = pair.trigger("scope_entered")
    assert (again.reason, again.status) == (reasons.UNCHANGED, Status.PREEXISTING)
    decision = pair.see(side, MEETING.replace(location="Room 9"))
    assert decision.reason == reasons.CHANGED_AFTER_SETUP
    assert decision.writes[0].operation == "create"
    assert (
        "existed before sync was set up for mueller on 2026-11-02 and was changed in"
        in decision.sentence
    )


def test_an_unreadable_preexisting_item_stays_put() -> None:
    pair = Pair()
    error = ItemError(code="UNKNOWN_TIME_ZONE", message="unknown zone")
    decision = pair.see(Side.ERP, change=Change.BASELINE, error=error)
    assert summary(decision)[:3] == (Verdict.SKIP, reasons.PREEXISTING, Status.PREEXISTING)
    assert decision.sentence.endswith("; it cannot be read (unknown zone) (appointment of mueller)")
    assert pair.state.base is None


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
