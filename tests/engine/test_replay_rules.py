"""Sync rules re-derived by replay (R17, R19): the deletion burst guard, copies carrying our sync
id and the retry limit are decided in `decide`, so `verify` reproduces them and what-if shows
the effect of their options."""

from __future__ import annotations

import uuid

from engine import reasons
from engine.options import SyncOptions
from engine.state import Verdict
from replay.verify import verify
from tests.harness import Harness

BURST = SyncOptions(deletion_burst_threshold=3, deletion_burst_window_s=600)


def _six_deleted_in_the_erp(world: Harness, options: SyncOptions) -> list[str]:
    world.restart(options)
    world.user("mueller")
    world.sync()
    rows = [world.erp_appointment(subject=f"Item {n}") for n in range(6)]
    world.sync()
    return rows


def _held_streams(world: Harness) -> set[uuid.UUID]:
    return {uuid.UUID(r["stream_id"]) for r in world.log(reason=reasons.BURST_HELD)}


def test_r17_with_import_off_erp_deletions_of_items_edited_in_outlook_are_held(
    fresh: Harness,
) -> None:
    """Edit-beats-delete cannot apply when import is off (nothing may be written to the ERP):
    the deletion propagates, so it counts against the burst guard like any other."""
    rows = _six_deleted_in_the_erp(fresh, BURST.model_copy(update={"import_enabled": False}))
    for row in rows:
        fresh.exchange.edit(fresh.counterpart_in_exchange(row).id, location="edited in Outlook")
    fresh.sync()
    for row in rows:
        fresh.erp.delete(row)
    fresh.sync()
    assert len(fresh.exchange_items()) == 3  # three deleted, three held
    assert fresh.reasons().count(reasons.BURST_HELD) == 3
    fresh.verify()


def test_r19_what_if_with_a_higher_burst_threshold_reports_exactly_the_held_deletions(
    fresh: Harness,
) -> None:
    rows = _six_deleted_in_the_erp(fresh, BURST)
    for row in rows:
        fresh.erp.delete(row)
    fresh.sync()
    held = _held_streams(fresh)
    assert len(held) == 3
    assert fresh.store is not None
    report = verify(fresh.store, options=BURST.model_copy(update={"deletion_burst_threshold": 10}))
    assert {d.stream_id for d in report.differences} == held
    assert len(report.differences) == 3
    for difference in report.differences:
        assert difference.recorded.verdict is Verdict.HOLD
        assert difference.derived is not None
        assert (difference.derived.verdict, difference.derived.reason) == (
            Verdict.EXPORT,
            reasons.DELETED_IN_ERP,
        )
    assert verify(fresh.store).ok  # and as recorded, nothing differs
