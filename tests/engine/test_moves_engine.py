"""Issue 10 through the runtime: an item the ERP moves to another user is deleted from the old
mailbox and created in the new one, once — on the real ERP adapter (SQLite), the simulator's
mailbox store behind its port, and a real SQLite event store (tests/harness.py).

A move ends the old user's stream (`moved`) and continues in the new user's (engine/moving.py);
the mapping shows both, the audit log tells the move from both sides, and replay re-derives
every decision of it.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine import reasons
from engine.errors import TransientError
from engine.model import Appointment, ItemKind, Side, User
from engine.observation import derive_stream_id
from engine.options import SyncOptions
from engine.ports import Write, WriteResult
from engine.state import Status
from projections.queries import AuditLog
from replay.explain import explain
from tests.doubles.store_items import SYNC_ID
from tests.harness import Harness, at


class Crash(BaseException):
    """The process dies (not an error the engine catches)."""


def moved_row(world: Harness, *, subject: str = "Kickoff") -> str:
    """An appointment of mueller's, in sync; schmidt is a synchronised user too."""
    world.user("schmidt")
    row = world.erp_appointment(subject=subject)
    world.sync()
    assert [i.content.subject for i in world.exchange_items("mueller")] == [subject]
    return row


def stream_of(user: str, row: str) -> uuid.UUID:
    return derive_stream_id(Side.ERP, user, ItemKind.APPOINTMENT, row)


def subjects(world: Harness, user: str) -> list[str]:
    return [i.content.subject for i in world.exchange_items(user)]


def test_a_moved_item_leaves_the_old_mailbox_and_arrives_in_the_new_one_once(
    world: Harness,
) -> None:
    row = moved_row(world)
    world.erp.edit(row, user_login="schmidt")
    world.sync()
    assert subjects(world, "mueller") == []
    [arrived] = world.exchange_items("schmidt")
    assert (arrived.content.subject, arrived.sync_id) == ("Kickoff", stream_of("schmidt", row))
    assert world.state(stream_of("mueller", row)).status is Status.MOVED
    assert world.state(stream_of("schmidt", row)).status is Status.IN_SYNC
    world.sync()  # the echoes of both writes change nothing
    assert subjects(world, "schmidt") == ["Kickoff"] and subjects(world, "mueller") == []
    assert world.reasons(operation="delete") == [reasons.MOVED_AWAY]
    assert world.reasons(operation="create")[-1] == reasons.MOVED_IN
    # Both writes came back as echoes: the deletion in mueller's, the creation in schmidt's.
    assert world.reasons(user="mueller")[-1] == reasons.ECHO
    assert world.reasons(user="schmidt")[-1] == reasons.ECHO
    assert world.verify() > 0


def test_r17_a_move_is_not_a_deletion_the_burst_guard_counts(fresh: Harness) -> None:
    fresh.restart(SyncOptions(deletion_burst_threshold=3, deletion_burst_window_s=600))
    fresh.user("mueller")
    fresh.user("schmidt")
    fresh.sync()
    rows = [fresh.erp_appointment(subject=f"Item {n}") for n in range(6)]
    fresh.sync()
    for row in rows:
        fresh.erp.edit(row, user_login="schmidt")
    fresh.sync()
    assert subjects(fresh, "mueller") == []
    assert sorted(subjects(fresh, "schmidt")) == [f"Item {n}" for n in range(6)]
    assert reasons.BURST_HELD not in fresh.reasons()
    fresh.erp.delete(rows[0])  # a real deletion afterwards goes through, unpaused
    fresh.sync()
    assert len(subjects(fresh, "schmidt")) == 5


def test_the_mapping_and_the_audit_log_show_the_move_from_both_sides(world: Harness) -> None:
    row = moved_row(world)
    world.erp.edit(row, user_login="schmidt")
    world.sync()
    history = AuditLog(world.projector).history(item=row)
    moves = [(t.user, t.reason, t.outcome) for t in history if t.reason.startswith("MOVED")]
    assert moves == [
        ("mueller", reasons.MOVED_AWAY, "done"),
        ("schmidt", reasons.MOVED_IN, "done"),
    ]
    away, arrived = (t.sentence for t in history if t.reason.startswith("MOVED"))
    assert away.startswith("moved to schmidt in the ERP: deleting it from mueller's mailbox")
    assert "moved from mueller to schmidt in the ERP; created in schmidt's mailbox" in arrived
    items = world.projector.items
    query = sa.select(items.c.user, items.c.status, items.c.exchange_id).where(
        items.c.erp_id == row
    )
    with world.projector.db.connect() as conn:
        mapping = {user: (status, exchange_id) for user, status, exchange_id in conn.execute(query)}
    [copy] = world.exchange_items("schmidt")
    assert mapping["mueller"][0] == Status.MOVED.value
    assert mapping["schmidt"] == (Status.IN_SYNC.value, copy.id)
    assert world.store is not None
    told = [step.summary for step in explain(world.store, stream_of("mueller", row))]
    assert f"ERP item {row} changed, written by user, now schmidt's" in told
    came = [step.summary for step in explain(world.store, stream_of("schmidt", row))]
    assert f"ERP item {row} changed, written by user, moved from mueller" in came


def test_an_item_moved_while_the_engine_is_down_moves_on_restart(world: Harness) -> None:
    row = moved_row(world)
    world.close()
    world.erp.edit(row, user_login="schmidt", location="Room 2")
    world.restart()
    world.sync()
    assert subjects(world, "mueller") == []
    [arrived] = world.exchange_items("schmidt")
    assert getattr(arrived.content, "location", None) == "Room 2"
    assert world.verify() > 0


@pytest.mark.parametrize("crash", ["before the creation", "after the creation"])
def test_a_restart_between_the_deletion_and_the_creation_neither_duplicates_nor_loses(
    world: Harness, crash: str
) -> None:
    row = moved_row(world)
    apply = world.exchange.apply

    def dying(user: User, stream_id: uuid.UUID, write: Write) -> WriteResult:
        if write.operation == "create":
            if crash == "after the creation":
                apply(user, stream_id, write)
            raise Crash
        return apply(user, stream_id, write)

    world.exchange.apply = dying  # type: ignore[method-assign]
    world.erp.edit(row, user_login="schmidt")
    with pytest.raises(Crash):
        world.sync()
    assert subjects(world, "mueller") == []  # deleted there, not recorded as done
    world.exchange.apply = apply  # type: ignore[method-assign]
    world.restart()
    world.sync()
    assert subjects(world, "mueller") == [] and subjects(world, "schmidt") == ["Kickoff"]
    assert world.state(stream_of("mueller", row)).status is Status.MOVED
    assert world.verify() > 0


def test_r8_an_item_moved_to_a_user_who_is_not_synchronised_leaves_the_old_mailbox(
    world: Harness,
) -> None:
    """The ERP says it is no longer mueller's: a copy left in his calendar would go stale.
    weber is not synchronised: nothing is created; once set up, it is pre-existing (R5)."""
    row = moved_row(world)
    world.erp.save_user(User(login="weber", mailbox="weber@example.com", allow_sync=False))
    world.erp.edit(row, user_login="weber")
    world.sync()
    assert subjects(world, "mueller") == [] and subjects(world, "weber") == []
    assert reasons.USER_NOT_ELIGIBLE in world.reasons(user="weber")
    world.user("weber")
    world.sync()
    assert subjects(world, "weber") == []  # there before weber was set up, unchanged since
    world.erp.edit(row, subject="Kickoff, Weber's now")
    world.sync()
    assert subjects(world, "weber") == ["Kickoff, Weber's now"]
    assert world.verify() > 0


def test_r17_a_move_away_from_a_user_out_of_scope_leaves_the_mailbox_alone(
    world: Harness,
) -> None:
    row = moved_row(world)
    world.erp.save_user(User(login="mueller", mailbox="mueller@example.com", allow_sync=False))
    world.sync()
    world.erp.edit(row, user_login="schmidt")
    world.sync()
    assert subjects(world, "mueller") == ["Kickoff"]  # not synchronised: untouched (R17)
    assert subjects(world, "schmidt") == ["Kickoff"]
    world.user("mueller")  # back in scope: the copy is another user's item now
    world.sync()
    assert world.state(stream_of("mueller", row)).status is Status.MOVED
    assert subjects(world, "schmidt") == ["Kickoff"]


def test_an_item_moved_back_returns_to_the_first_mailbox(world: Harness) -> None:
    row = moved_row(world)
    world.erp.edit(row, user_login="schmidt")
    world.sync()
    world.erp.edit(row, user_login="mueller")
    world.sync()
    assert subjects(world, "mueller") == ["Kickoff"] and subjects(world, "schmidt") == []
    assert world.state(stream_of("mueller", row)).status is Status.IN_SYNC
    assert world.state(stream_of("schmidt", row)).status is Status.MOVED
    [back] = world.exchange_items("mueller")
    world.exchange.edit(back.id, location="Room 9")  # the first stream is alive again
    world.sync()
    assert world.erp.snapshot_of(row).location == "Room 9"  # type: ignore[union-attr]
    assert world.verify() > 0


def test_an_item_imported_from_outlook_and_moved_keeps_syncing_for_its_new_user(
    world: Harness,
) -> None:
    """The ERP row carries the first user's sync id; the new user's stream takes it all the same,
    also for writes into the row (Outlook edits imported)."""
    world.user("schmidt")
    item_id = world.outlook_appointment(subject="Dentist")
    world.sync()
    row = str(world.erp_row_for(item_id).id)
    world.erp.edit(row, user_login="schmidt")
    world.sync()
    assert subjects(world, "mueller") == []
    [arrived] = world.exchange_items("schmidt")
    assert arrived.sync_id == stream_of("schmidt", row)
    world.exchange.edit(arrived.id, location="Room 4")
    world.sync()
    assert world.erp.snapshot_of(row).location == "Room 4"  # type: ignore[union-attr]
    assert not [r for r in world.log() if r["verdict"] == "fail" or r["outcome"] == "failed"]
    assert world.verify() > 0


def test_r2_a_series_with_exceptions_moves_with_its_exceptions(world: Harness) -> None:
    world.user("schmidt")
    series = world.erp_appointment(
        subject="Jour fixe", start=at(7, 9), end=at(7, 10), rrule="FREQ=WEEKLY;BYDAY=MO;COUNT=6"
    )
    starts = world.erp.snapshot_of(series)
    assert isinstance(starts, Appointment)
    first = starts.occurrence_starts()
    later = first[1] + timedelta(hours=2)
    world.erp.edit(
        series,
        modified_occurrences=[
            {
                "original_start": first[1],
                "start": later,
                "end": later + timedelta(hours=1),
                "subject": "Jour fixe (moved)",
                "location": "",
                "busy_status": "busy",
            }
        ],
        deleted_occurrences=[first[3]],
    )
    world.sync()
    world.erp.edit(series, user_login="schmidt")
    world.sync()
    assert subjects(world, "mueller") == []
    [arrived] = world.exchange_items("schmidt")
    content = arrived.content
    assert isinstance(content, Appointment)
    assert [o.subject for o in content.modified_occurrences] == ["Jour fixe (moved)"]
    assert content.deleted_occurrences == (first[3],)
    assert content.sync_hash == world.erp.snapshot_of(series).sync_hash
    assert world.verify() > 0


def test_an_outlook_item_copied_into_another_mailbox_is_that_users_item_of_its_own(
    world: Harness,
) -> None:
    """Exchange has no moves (a mailbox item never changes owner): a copy in schmidt's mailbox
    carrying mueller's sync id — made before mueller deleted his — is a new item of schmidt's."""
    row = moved_row(world)
    [original] = world.exchange_items("mueller")
    world.exchange.delete(original.id)
    world.sync()
    assert list(world.erp.rows) == []
    copy = world.exchange.create(world.mailbox("schmidt"), original.content.replace(subject="Copy"))
    world.exchange.store.update_item(  # type: ignore[attr-defined]
        copy, {"extended_properties": {SYNC_ID: str(stream_of("mueller", row))}}
    )
    world.sync()
    assert [(r.user, r.data["subject"]) for r in world.erp.rows.values()] == [("schmidt", "Copy")]
    assert world.state(stream_of("mueller", row)).status is Status.DELETED
    assert world.verify() > 0


def test_an_item_moved_and_deleted_while_the_engine_is_down_is_deleted_for_its_old_user(
    world: Harness,
) -> None:
    """The feed's last word on the row is its deletion, reported for the user it was moved to:
    for mueller, who had it, the row is gone — deleted like any other (R17)."""
    row = moved_row(world)
    world.close()
    world.erp.edit(row, user_login="schmidt")
    world.erp.delete(row)
    world.restart()
    world.sync()
    assert subjects(world, "mueller") == [] and subjects(world, "schmidt") == []
    assert world.reasons(user="mueller")[-2:] == [reasons.DELETED_IN_ERP, reasons.ECHO]
    assert world.verify() > 0


def test_the_stream_holding_a_row_is_found_again_after_a_restart_on_every_store(
    tmp_path: Path, store_url: str
) -> None:
    """The runtime's row index is rebuilt from the mapping (SQLite and PostgreSQL); a row
    moved twice while the engine is down moves once, from where it was last synchronised."""
    world = Harness(tmp_path, store_url=store_url)
    try:
        world.user("mueller")
        world.user("schmidt")
        world.user("weber")
        world.sync()
        row = world.erp_appointment(subject="Kickoff")
        world.sync()
        world.erp.edit(row, user_login="schmidt")
        world.sync()
        world.close()
        world.erp.edit(row, user_login="weber")
        world.erp.edit(row, user_login="mueller")
        world.erp.edit(row, user_login="weber")
        world.restart()
        world.sync()
        assert [subjects(world, u) for u in ("mueller", "schmidt", "weber")] == [
            [],
            [],
            ["Kickoff"],
        ]
        assert world.verify() > 0
    finally:
        world.shutdown()


def test_a_failed_deletion_of_the_old_copy_is_retried_as_a_move(world: Harness) -> None:
    """Exchange is busy when the old copy is to go: the retry deletes it still (it does not
    mistake the moved row for this user's, which would keep the copy)."""
    row = moved_row(world)
    world.exchange.fail_next_writes.append(TransientError("ErrorServerBusy"))
    world.erp.edit(row, user_login="schmidt")
    world.sync()
    assert subjects(world, "mueller") == ["Kickoff"]
    assert world.state(stream_of("mueller", row)).status is Status.FAILED
    world.clock.advance(seconds=world.retry.max_s + 1)
    world.sync()
    assert subjects(world, "mueller") == [] and subjects(world, "schmidt") == ["Kickoff"]
    assert world.state(stream_of("mueller", row)).status is Status.MOVED
    assert world.verify() > 0


def test_an_outlook_edit_of_the_old_copy_in_the_same_round_as_the_move_does_not_keep_it(
    world: Harness,
) -> None:
    row = moved_row(world)
    [copy] = world.exchange_items("mueller")
    world.exchange.edit(copy.id, location="Room 7")
    world.erp.edit(row, user_login="schmidt")
    world.sync()
    assert subjects(world, "mueller") == [] and subjects(world, "schmidt") == ["Kickoff"]
    assert not [r for r in world.log() if r["verdict"] == "fail" or r["outcome"] == "failed"]
    assert world.verify() > 0
