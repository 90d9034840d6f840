"""R16 on PostgreSQL: an ERP commit that races the engine's write-back is merged, never lost.

The engine runs against the real ERP adapter on the PostgreSQL server and the simulator's
mailboxes. Outlook changes the location of a synchronised appointment while the ERP changes its
subject; the ERP commits exactly between the engine's read of the row and its write (or, in the
randomised test, whenever the thread gets there). In every run both changes end up on both sides.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from engine import reasons
from engine.model import Appointment
from engine.state import Status
from tests.erp_person import SqlErp
from tests.harness import Harness

pytestmark = pytest.mark.postgres
WRITING = ("INSERT", "UPDATE", "DELETE")


def erp_engine_of(world: Harness) -> sa.Engine:
    assert isinstance(world.erp, SqlErp)
    return world.erp.store.engine


def both_sides(world: Harness, row: str) -> list[tuple[str, str]]:
    erp = world.erp.snapshot_of(row)
    outlook = world.counterpart_in_exchange(row).content
    assert isinstance(erp, Appointment) and isinstance(outlook, Appointment)
    return [(erp.subject, erp.location), (outlook.subject, outlook.location)]


def test_r16_an_erp_commit_between_the_engines_read_and_write_is_merged(pg_world: Harness) -> None:
    world = pg_world
    row = world.erp_appointment(subject="Kickoff", location="Room 1")
    world.sync()
    world.exchange.edit(world.counterpart_in_exchange(row).id, location="Room 7 (Outlook)")
    fired: list[bool] = []

    def erp_commits_first(conn: sa.Connection, cursor: Any, statement: str, *args: Any) -> None:
        if not fired and statement.lstrip().upper().startswith(WRITING):
            fired.append(True)
            world.erp.edit(row, subject="Kickoff (ERP)")

    event.listen(erp_engine_of(world), "before_cursor_execute", erp_commits_first)
    try:
        world.sync()
    finally:
        event.remove(erp_engine_of(world), "before_cursor_execute", erp_commits_first)
    world.sync()

    assert fired
    assert both_sides(world, row) == [("Kickoff (ERP)", "Room 7 (Outlook)")] * 2
    failed = [r for r in world.log() if r["outcome"] == "failed"]
    assert len(failed) == 1 and "VersionConflict" in failed[0]["error"]
    assert reasons.MERGED in world.reasons()


def test_r16_erp_commits_at_random_moments_during_write_backs_are_never_lost(
    pg_world: Harness,
) -> None:
    world = pg_world
    row = world.erp_appointment(subject="Kickoff", location="Room 0")
    world.sync()
    item = world.counterpart_in_exchange(row).id
    chance = random.Random(8)
    for n in range(1, 13):
        world.exchange.edit(item, location=f"Room {n} (Outlook)")
        delay = chance.uniform(0.0, 0.03)

        def erp_person(n: int = n, delay: float = delay) -> None:
            time.sleep(delay)
            world.erp.edit(row, subject=f"Kickoff {n} (ERP)")

        person = threading.Thread(target=erp_person)
        person.start()
        world.sync()
        person.join(10.0)
        assert not person.is_alive()
        world.sync()
        expected = (f"Kickoff {n} (ERP)", f"Room {n} (Outlook)")
        assert both_sides(world, row) == [expected, expected], f"run {n}, delay {delay:.3f} s"


def test_an_erp_transaction_holding_the_row_through_many_retries_never_parks_the_item(
    pg_world: Harness,
) -> None:
    """The engine gives up waiting for the ERP's row lock (a version conflict) and tries again
    later, as often as it takes: a lock is a race, not a permanent failure."""
    world = pg_world
    row = world.erp_appointment(subject="Kickoff", location="Room 1")
    world.sync()
    world.exchange.edit(world.counterpart_in_exchange(row).id, location="Room 7 (Outlook)")
    assert isinstance(world.erp, SqlErp)
    with world.erp.store.engine.connect() as erp_tx:
        erp_tx.execute(
            sa.text("SELECT id FROM appointments WHERE id = :id FOR UPDATE"), {"id": int(row)}
        )
        for _ in range(world.options.max_attempts + 2):
            world.sync()
            world.clock.advance(seconds=world.retry.max_s + 1)
        erp_tx.rollback()
    world.sync()

    assert both_sides(world, row) == [("Kickoff", "Room 7 (Outlook)")] * 2
    assert world.state(world.erp.stream_id_of(row)).status is Status.IN_SYNC
