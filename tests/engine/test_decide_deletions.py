"""`decide` on in-memory state: deletions (R16, R17), echoes, repeats, scope and items that
existed before setup (R5) — case by case, as test_decide.py."""

from __future__ import annotations

from typing import Any

import pytest

from engine import reasons
from engine.model import ItemKind, Side
from engine.observation import Change, ItemError, Origin
from engine.options import SyncOptions
from engine.state import (
    Status,
    Verdict,
)
from tests.engine.pairs import (
    CALL,
    MEETING,
    NATIVE,
    Pair,
    linked,
    summary,
)
from tests.harness import at

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
