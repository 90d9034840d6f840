"""The event store and the projections, on SQLite and on the PostgreSQL server.

Events and source positions commit together or not at all; projections apply every event
exactly once, resume after a crash, and rebuild from zero to the same rows.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from engine.aggregates import SyncItem
from engine.model import ItemKind, Side
from engine.observation import Change, Observation
from engine.store import EventStore, StoreLocation
from projections.projector import Projector
from tests.harness import Harness, at


def _observation(n: int) -> Observation:
    from engine.model import Appointment

    return Observation(
        side=Side.ERP,
        kind=ItemKind.APPOINTMENT,
        user="mueller",
        native_id=str(n),
        change=Change.CHANGED,
        observed_at=datetime(2026, 11, 2, tzinfo=UTC),
        native_version="1",
        snapshot=Appointment(subject=f"Item {n}", start=at(1, 9), end=at(1, 10)),
    )


def observed_items(count: int) -> list[SyncItem]:
    """`count` new items, each with one ERP observation (two events each)."""
    items = []
    for n in range(count):
        item = SyncItem.start(uuid.uuid4(), "mueller", ItemKind.APPOINTMENT)
        item.observed(_observation(n))
        items.append(item)
    return items


def test_events_and_positions_are_saved_together(store_url: str) -> None:
    store = EventStore(StoreLocation(store_url))
    items = observed_items(250)
    assert (
        store.save_batch(items, {"erp:feed": "250", "exchange:mueller:appointment": "state-1"})
        == 500
    )
    store.close()
    reopened = EventStore(StoreLocation(store_url))
    assert reopened.checkpoints() == {"erp:feed": "250", "exchange:mueller:appointment": "state-1"}
    again = reopened.item(items[17].id)
    assert again is not None and again.state == items[17].state
    assert again.state.erp.current is not None and again.state.erp.current.subject == "Item 17"
    reopened.close()


def test_a_failed_save_stores_neither_events_nor_positions(store_url: str) -> None:
    store = EventStore(StoreLocation(store_url))
    first = SyncItem.start(uuid.uuid4(), "mueller", ItemKind.APPOINTMENT)
    store.save_batch([first], {"erp:feed": "1"})
    clash = SyncItem.start(first.id, "mueller", ItemKind.APPOINTMENT)  # the same stream again
    fresh = SyncItem.start(uuid.uuid4(), "mueller", ItemKind.TASK)
    with pytest.raises(Exception, match=r"(?i)unique|duplicate|integrity"):
        store.save_batch([fresh, clash], {"erp:feed": "2"})
    assert store.checkpoints() == {"erp:feed": "1"}
    assert store.item(fresh.id) is None
    store.close()


def test_the_engine_syncs_and_replays_on_each_store(store_url: str, tmp_path: Path) -> None:
    world = Harness(tmp_path, store_url=store_url)
    try:
        world.user("mueller")
        world.sync()
        row = world.erp_appointment()
        world.outlook_appointment(subject="From Outlook")
        world.sync()
        world.restart()
        world.erp.edit(row, subject="Renamed")
        world.sync()
        assert world.counterpart_in_exchange(row).content.subject == "Renamed"
        assert sorted(r.data["subject"] for r in world.erp.rows.values()) == [
            "From Outlook",
            "Renamed",
        ]
        world.verify()
    finally:
        world.shutdown()


def _rows(projector: Projector) -> dict[str, list[dict[str, Any]]]:
    result = {}
    with projector.db.connect() as conn:
        for table in (projector.items, projector.log, projector.occurrences, projector.users):
            key = table.primary_key.columns.values()[0]
            result[table.name] = [
                dict(r) for r in conn.execute(sa.select(table).order_by(key)).mappings()
            ]
    return result


def _busy_world(tmp_path: Path, store_url: str) -> Harness:
    world = Harness(tmp_path, store_url=store_url)
    world.user("mueller")
    world.user("schmidt")
    world.sync()
    rows = [world.erp_appointment(subject=f"Item {n}") for n in range(30)]
    for n in range(10):
        world.outlook_appointment("schmidt", subject=f"Outlook {n}")
    world.sync()
    for row in rows[:10]:
        world.erp.edit(row, location="Room 5")
    for row in rows[10:15]:
        world.erp.delete(row)
    world.sync()
    return world


def test_projections_rebuild_from_zero_to_the_same_rows(store_url: str, tmp_path: Path) -> None:
    world = _busy_world(tmp_path, store_url)
    try:
        assert world.engine is not None
        incremental = _rows(world.projector)
        assert len(incremental["transfer_log"]) > 80
        assert world.projector.rebuild() == world.store.max_notification_id()  # type: ignore[union-attr]
        assert _rows(world.projector) == incremental
    finally:
        world.shutdown()


def test_projections_apply_each_event_exactly_once_across_crashes(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = _busy_world(tmp_path, store_url)
    try:
        assert world.engine is not None and world.store is not None
        expected = _rows(world.projector)
        follower = Projector(world.store, page_size=37)
        with follower.db.begin() as conn:  # forget the projections, keep their schema
            for table in (follower.log, follower.occurrences, follower.items, follower.users):
                conn.execute(table.delete())
            conn.execute(
                follower.tracking.delete().where(follower.tracking.c.name == "einklang.projections")
            )
        calls = {"pages": 0}
        original = Projector._track

        def crash_on_third_page(self: Projector, conn: sa.Connection, position: int) -> None:
            calls["pages"] += 1
            if calls["pages"] == 3:
                raise RuntimeError("power cut while writing page 3")
            original(self, conn, position)

        monkeypatch.setattr(Projector, "_track", crash_on_third_page)
        with pytest.raises(RuntimeError):
            follower.run()
        assert 0 < follower.position() < world.store.max_notification_id()
        monkeypatch.setattr(Projector, "_track", original)
        restarted = Projector(world.store, page_size=37)
        restarted.run()
        assert _rows(restarted) == expected
        assert restarted.run() == 0  # nothing left, nothing applied twice
        follower.close()
        restarted.close()
    finally:
        world.shutdown()


def test_read_models_of_an_older_schema_are_rebuilt_from_the_log(world: Harness) -> None:
    assert world.engine is not None and world.store is not None
    world.erp_appointment()
    world.sync()
    projector = world.projector
    expected = _rows(projector)
    with projector.db.begin() as conn:  # as an older release left them
        conn.execute(
            projector.tracking.update()
            .where(projector.tracking.c.name == "einklang.projections.schema")
            .values(position=1)
        )
        conn.exec_driver_sql('ALTER TABLE item_mapping DROP COLUMN "exceptions"')
    again = Projector(world.store)
    again.run()
    assert _rows(again) == expected
    again.close()


def test_the_transfer_log_answers_what_happened_to_an_item(world: Harness) -> None:
    row = world.erp_appointment(subject="Budget")
    world.sync()
    world.erp.edit(row, subject="Budget 2027")
    world.sync()
    stream = world.erp.stream_id_of(row)
    entries = world.log(stream_id=str(stream))
    assert [(e["verdict"], e["direction"], e["operation"], e["outcome"]) for e in entries] == [
        ("export", "erp_to_exchange", "create", "done"),
        ("echo", "none", "none", "none"),
        ("export", "erp_to_exchange", "update", "done"),
        ("echo", "none", "none", "none"),
    ]
    assert {e["user"] for e in entries} == {"mueller"} and {e["kind"] for e in entries} == {
        "appointment"
    }
    assert (
        entries[2]["erp_id"] == row
        and entries[2]["exchange_id"] == world.counterpart_in_exchange(row).id
    )


def test_the_transfer_log_goes_by_the_engines_clock_and_rebuilds_the_same(world: Harness) -> None:
    """One clock: a decision is logged at the time its observation carries, not the wall clock's."""
    assert world.engine is not None
    row = world.erp_appointment(subject="Budget")
    world.sync()
    created = world.clock.now
    world.clock.advance(hours=3, microseconds=250)
    world.erp.edit(row, subject="Budget 2027")
    world.sync()
    edited = world.clock.now
    times = [(e["reason"], e["at"]) for e in world.log()]
    assert times == [
        ("CREATED_IN_ERP", _log_text(created)),
        ("ECHO", _log_text(created)),
        ("CHANGED_IN_ERP", _log_text(edited)),
        ("ECHO", _log_text(edited)),
    ]
    expected = _rows(world.projector)
    (item,) = expected["item_mapping"]
    assert item["updated_at"] == _log_text(edited)  # its last outcome, by the same clock
    (user,) = expected["user_status"]
    assert user["updated_at"] == _log_text(datetime(2026, 11, 2, 8, 0, tzinfo=UTC))  # set up
    world.projector.rebuild()
    assert _rows(world.projector) == expected


def _log_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_events_recorded_before_modified_at_and_the_decision_time_still_load() -> None:
    """Older events lack `modified_at` (observations) and `at` (decisions): they load, and the
    observation's time stands in for the modification time."""
    from engine import state as st
    from engine.lifecycle import decide
    from engine.options import SyncOptions
    from projections.rows import decision_time

    old = orjson.loads(_observation(1).model_dump_json())
    del old["modified_at"]
    observation = Observation.model_validate(old)
    assert observation.modified_at is None
    assert observation.changed_at == observation.observed_at
    item = st.observe(st.new_state(uuid.uuid4(), "mueller", ItemKind.APPOINTMENT), observation)
    assert item.erp.changed_at == observation.observed_at
    decision = orjson.loads(
        decide(
            st.new_state(uuid.uuid4(), "mueller", ItemKind.APPOINTMENT), observation, SyncOptions()
        ).model_dump_json()
    )
    del decision["at"]
    assert st.Decision.model_validate(decision).at is None
    assert decision_time(None, "2026-11-02T08:00:00Z") == "2026-11-02T08:00:00.000000Z"
    assert decision_time("2026-11-02T09:00:00+01:00", "2026-12-01T00:00:00Z") == (
        "2026-11-02T08:00:00.000000Z"
    )
