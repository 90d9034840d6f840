"""Issue 10 end to end: an item the ERP moves to another user is deleted from the old mailbox
and created in the new one, once — the engine with real exchangelib over EWS, or Graph, against
the simulator over HTTP, the real ERP adapter on SQLite and a real event store.

Exchange has no moves of its own (a mailbox item does not change owner); every test here moves
the row in the ERP. Each ends with `replay verify` over the whole history finding no difference.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from engine import reasons
from engine.model import Appointment, ItemKind, Side, User
from engine.observation import derive_stream_id
from engine.ports import Write, WriteResult
from engine.recurrence import Recurrence
from engine.state import Status
from tests.harness import Harness, at

WEEKLY_MON_WED = Recurrence(pattern="weekly", weekdays=("monday", "wednesday"), count=6)


def subjects(world: Harness, user: str, kind: ItemKind = ItemKind.APPOINTMENT) -> list[str]:
    return sorted(i.content.subject for i in world.exchange_items(user, kind))


def test_an_erp_item_moved_to_another_user_moves_mailbox_once(ews_world: Harness) -> None:
    ews_world.user("schmidt")
    row = ews_world.erp_appointment(subject="Kickoff")
    task = ews_world.erp_task(subject="Call back")
    ews_world.sync()
    ews_world.erp.edit(row, user_login="schmidt")
    ews_world.erp.edit(task, user_login="schmidt")
    ews_world.sync()
    ews_world.sync()  # the echoes of the writes: nothing more happens
    assert subjects(ews_world, "mueller") == [] and subjects(ews_world, "schmidt") == ["Kickoff"]
    assert subjects(ews_world, "mueller", ItemKind.TASK) == []
    assert subjects(ews_world, "schmidt", ItemKind.TASK) == ["Call back"]
    [arrived] = ews_world.exchange_items("schmidt")
    assert arrived.sync_id == derive_stream_id(Side.ERP, "schmidt", ItemKind.APPOINTMENT, row)
    assert (
        ews_world.reasons(reason=reasons.MOVED_AWAY, operation="delete") == [reasons.MOVED_AWAY] * 2
    )
    assert ews_world.reasons(reason=reasons.BURST_HELD) == []
    # The writes came back as echoes in both mailboxes, and nothing more is transferred.
    assert reasons.ECHO in ews_world.reasons(user="mueller")
    assert reasons.ECHO in ews_world.reasons(user="schmidt")
    transfers = len(ews_world.log(verdict="export")) + len(ews_world.log(verdict="import"))
    ews_world.sync()
    assert len(ews_world.log(verdict="export")) + len(ews_world.log(verdict="import")) == transfers
    assert ews_world.verify() > 0


def test_an_item_moved_while_the_engine_is_down_moves_after_the_restart(
    ews_world: Harness,
) -> None:
    ews_world.user("schmidt")
    row = ews_world.erp_appointment(subject="Kickoff")
    ews_world.sync()
    ews_world.close()
    ews_world.erp.edit(row, user_login="schmidt", subject="Kickoff (Schmidt)")
    ews_world.restart()
    ews_world.sync()
    assert subjects(ews_world, "mueller") == []
    assert subjects(ews_world, "schmidt") == ["Kickoff (Schmidt)"]
    assert ews_world.verify() > 0


def test_r8_an_item_moved_to_a_user_not_synchronised_leaves_the_old_mailbox(
    ews_world: Harness,
) -> None:
    row = ews_world.erp_appointment(subject="Kickoff")
    ews_world.sync()
    ews_world.erp.save_user(User(login="weber", mailbox="weber@example.com", allow_sync=False))
    ews_world.erp.edit(row, user_login="weber")
    ews_world.sync()
    assert subjects(ews_world, "mueller") == [] and subjects(ews_world, "weber") == []
    assert reasons.USER_NOT_ELIGIBLE in ews_world.reasons(user="weber")
    assert ews_world.verify() > 0


def test_an_item_moved_back_returns_and_syncs_both_ways_again(ews_world: Harness) -> None:
    ews_world.user("schmidt")
    row = ews_world.erp_appointment(subject="Kickoff")
    ews_world.sync()
    ews_world.erp.edit(row, user_login="schmidt")
    ews_world.sync()
    ews_world.erp.edit(row, user_login="mueller")
    ews_world.sync()
    assert subjects(ews_world, "mueller") == ["Kickoff"] and subjects(ews_world, "schmidt") == []
    stream = derive_stream_id(Side.ERP, "schmidt", ItemKind.APPOINTMENT, row)
    assert ews_world.state(stream).status is Status.MOVED
    [back] = ews_world.exchange_items("mueller")
    ews_world.exchange.edit(back.id, location="Room 9")
    ews_world.sync()
    assert getattr(ews_world.erp.snapshot_of(row), "location", None) == "Room 9"
    assert ews_world.verify() > 0


def test_r2_a_series_with_exceptions_moves_with_them(ews_world: Harness) -> None:
    ews_world.user("schmidt")
    series = ews_world.erp_appointment(
        subject="Jour fixe", start=at(7, 9), end=at(7, 10), rrule=WEEKLY_MON_WED.to_rrule(at(7, 9))
    )
    snapshot = ews_world.erp.snapshot_of(series)
    assert isinstance(snapshot, Appointment)
    starts = snapshot.occurrence_starts()
    later = starts[1] + timedelta(hours=2)
    ews_world.erp.edit(
        series,
        modified_occurrences=[
            {
                "original_start": starts[1],
                "start": later,
                "end": later + timedelta(hours=1),
                "subject": "Jour fixe (moved)",
                "location": "",
                "busy_status": "busy",
            }
        ],
        deleted_occurrences=[starts[2]],
    )
    ews_world.sync()
    ews_world.erp.edit(series, user_login="schmidt")
    ews_world.sync()
    assert subjects(ews_world, "mueller") == []
    [arrived] = ews_world.exchange_items("schmidt")
    content = arrived.content
    assert isinstance(content, Appointment) and content.recurrence == WEEKLY_MON_WED
    assert [o.subject for o in content.modified_occurrences] == ["Jour fixe (moved)"]
    assert content.deleted_occurrences == (starts[2],)
    assert content.sync_hash == ews_world.erp.snapshot_of(series).sync_hash
    assert ews_world.verify() > 0


class Crash(BaseException):
    """The engine's process dies (not an error the engine catches)."""


def test_a_crash_after_the_new_copy_was_created_leaves_exactly_one_copy(
    ews_world: Harness,
) -> None:
    """The creation is repeated after the restart: the sync id on the item finds it."""
    ews_world.user("schmidt")
    row = ews_world.erp_appointment(subject="Kickoff")
    ews_world.sync()
    apply = ews_world.exchange.apply

    def dying(user: User, stream_id: uuid.UUID, write: Write) -> WriteResult:
        result = apply(user, stream_id, write)
        if write.operation == "create":
            raise Crash
        return result

    ews_world.exchange.apply = dying  # type: ignore[method-assign]
    ews_world.erp.edit(row, user_login="schmidt")
    with pytest.raises(Crash):
        ews_world.sync()
    ews_world.exchange.apply = apply  # type: ignore[method-assign]
    ews_world.restart()
    ews_world.sync()
    assert subjects(ews_world, "mueller") == [] and subjects(ews_world, "schmidt") == ["Kickoff"]
    assert ews_world.verify() > 0
