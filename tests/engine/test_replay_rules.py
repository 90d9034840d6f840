"""Sync rules re-derived by replay (R17, R19): the deletion burst guard, copies carrying our sync
id and the retry limit are decided in `decide`, so `verify` reproduces them and what-if shows
the effect of their options."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from engine import reasons
from engine.errors import TransientError
from engine.model import ItemKind
from engine.observation import Trigger
from engine.options import SyncOptions
from engine.state import Status, Verdict
from replay import verify as verify_module
from replay.verify import verify
from tests.doubles.store_items import SYNC_ID
from tests.harness import Harness

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)

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


def _copy_in_outlook(world: Harness, row: str) -> str:
    """A person copies the exported item in Outlook: the copy carries our sync id too."""
    original = world.counterpart_in_exchange(row)
    copy = world.exchange.create(world.mailbox(), original.content.replace(subject="Copy"))
    world.exchange.store.update_item(  # type: ignore[attr-defined]
        copy, {"extended_properties": {SYNC_ID: str(world.erp.stream_id_of(row))}}
    )
    return copy


def test_r19_a_copy_in_outlook_carrying_our_sync_id_is_an_item_of_its_own(world: Harness) -> None:
    row = world.erp_appointment(subject="Kickoff")
    world.sync()
    original = world.counterpart_in_exchange(row).id
    copy = _copy_in_outlook(world, row)
    world.sync()
    assert world.stream_of_exchange(copy) != world.erp.stream_id_of(row)
    subjects = sorted(r.data["subject"] for r in world.erp.rows.values())
    assert subjects == ["Copy", "Kickoff"]  # imported as a new row; the original untouched
    assert world.exchange.get(original).content.subject == "Kickoff"
    assert world.state(world.erp.stream_id_of(row)).exchange.native_id == original
    assert world.store is not None
    assert verify(world.store).ok


def test_r19_verify_reports_an_observation_recorded_in_another_stream_than_routing_gives(
    world: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    row = world.erp_appointment()
    world.sync()
    copy = _copy_in_outlook(world, row)
    world.sync()
    assert world.store is not None
    monkeypatch.setattr(verify_module, "stream_for", lambda obs, named: obs.stream_id)
    report = verify(world.store)
    assert {m.stream_id for m in report.misrouted} == {world.stream_of_exchange(copy)}
    assert all(m.expected == world.erp.stream_id_of(row) for m in report.misrouted)
    assert not report.ok


def _exhausted(world: Harness, failures: int) -> str:
    """A write failing for a passing reason until the item is parked."""
    world.exchange.fail_next_writes.extend(
        TransientError("ErrorServerBusy") for _ in range(failures)
    )
    row = world.erp_appointment(subject="Busy")
    for _ in range(failures + 1):
        world.sync()
        world.clock.advance(seconds=world.retry.max_s + 1)
    world.sync()
    return row


def test_r19_a_write_failing_max_attempts_times_is_parked_until_its_next_change(
    fresh: Harness,
) -> None:
    fresh.restart(SyncOptions(max_attempts=2))
    fresh.user("mueller")
    fresh.sync()
    row = _exhausted(fresh, failures=2)
    state = fresh.state(fresh.erp.stream_id_of(row))
    assert (state.status, state.reason, state.next_retry_at) == (
        Status.FAILED,
        reasons.RETRIES_EXHAUSTED,
        None,
    )
    assert fresh.exchange_items() == []
    assert [r["outcome"] for r in fresh.log(verdict="export")] == ["failed", "failed"]
    fresh.erp.edit(row, subject="Busy, edited")  # its next change brings it over
    fresh.sync()
    assert fresh.counterpart_in_exchange(row).content.subject == "Busy, edited"


def test_r19_a_race_is_never_a_reason_to_park() -> None:
    from engine.lifecycle import retries_exhausted
    from engine.planning import Context
    from engine.state import new_state

    state = new_state(uuid.uuid4(), "mueller", ItemKind.APPOINTMENT)._replace(
        status=Status.FAILED, attempts=5
    )
    for reason, exhausted in [(reasons.RACE, False), ("WRITE_FAILED:ErrorServerBusy", True)]:
        ctx = Context(
            trigger="retry",
            before=state._replace(reason=reason),
            after=state._replace(reason=reason),
            input=Trigger(name="retry", at=T0),
            options=SyncOptions(max_attempts=5),
            stamp=SyncOptions(max_attempts=5).stamp(),
        )
        assert retries_exhausted(ctx) is exhausted


def test_r19_a_burst_a_copy_and_a_retry_exhaustion_are_rederived_with_no_difference(
    fresh: Harness,
) -> None:
    rows = _six_deleted_in_the_erp(fresh, BURST.model_copy(update={"max_attempts": 2}))
    copy = _copy_in_outlook(fresh, rows[0])
    fresh.sync()
    for row in rows:
        fresh.erp.delete(row)
    fresh.sync()
    busy = _exhausted(fresh, failures=2)
    assert fresh.state(fresh.erp.stream_id_of(busy)).reason == reasons.RETRIES_EXHAUSTED
    held = _held_streams(fresh)
    assert len(held) == 3
    assert fresh.stream_of_exchange(copy) not in held
    assert fresh.store is not None
    report = verify(fresh.store)
    assert report.ok and report.misrouted == []
    assert report.decisions == len(fresh.log())
    # What-if: a higher threshold lets exactly the held deletions through ...
    what_if = verify(
        fresh.store,
        options=BURST.model_copy(update={"deletion_burst_threshold": 6, "max_attempts": 2}),
    )
    assert {d.stream_id for d in what_if.differences} == held
    # ... and more attempts would have tried the busy write again instead of parking it.
    patient = verify(fresh.store, options=BURST.model_copy(update={"max_attempts": 3}))
    assert [(d.recorded.reason, d.derived and d.derived.verdict) for d in patient.differences] == [
        (reasons.RETRIES_EXHAUSTED, Verdict.EXPORT)
    ]
