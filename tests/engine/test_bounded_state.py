"""Per-item state is small and bounded (issue 12): items beyond the aggregate cache are evicted
and read again when something happens to them, deciding exactly as before (R19); equal
snapshots in an item's state are one object."""

from __future__ import annotations

from pathlib import Path

import pytest
from eventsourcing.application import LRUCache

from engine.model import Appointment, interned
from engine.options import SyncOptions
from tests.harness import Harness, at


def test_r19_items_evicted_from_a_small_cache_are_read_again_and_decide_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGGREGATE_CACHE_MAXSIZE", "4")
    world = Harness(tmp_path, SyncOptions())
    try:
        world.user("mueller")
        world.sync()
        assert world.store is not None
        cache = world.store.repository.cache
        assert isinstance(cache, LRUCache) and cache.maxsize == 4
        rows = [world.erp_appointment(subject=f"Item {n}", start=at(n + 1, 9), end=at(n + 1, 10))
                for n in range(12)]  # fmt: skip
        world.sync()
        outlook = [world.counterpart_in_exchange(row) for row in rows]
        for n, row in enumerate(rows):
            world.erp.edit(row, location=f"Room {n}")
            world.exchange.edit(outlook[n].id, subject=f"Renamed {n}")  # both sides: R16
        world.sync()
        assert len(cache.cache) <= 4
        for n, row in enumerate(rows):
            mirrored = world.counterpart_in_exchange(row).content
            assert (mirrored.subject, getattr(mirrored, "location", None)) == (
                f"Renamed {n}",
                f"Room {n}",
            )
        world.verify()
    finally:
        world.shutdown()


def test_equal_snapshots_of_a_reloaded_item_are_one_object(world: Harness) -> None:
    row = world.erp_appointment(subject="Kickoff", info_text="Agenda")
    world.sync()
    world.restart()
    state = world.state(world.erp.stream_id_of(row))
    # The ERP's row and the agreed base come from events of their own, but are one object.
    assert state.erp.current is not None and state.base is not None
    assert state.erp.current is state.base


def test_interning_keeps_the_content_and_its_hashes() -> None:
    subject = "Interned here only"
    one = Appointment(subject=subject, start=at(1, 9), end=at(1, 10), info_text="Agenda")
    two = Appointment(subject=subject, start=at(1, 9), end=at(1, 10), info_text="Agenda")
    other = Appointment(subject=subject, start=at(1, 9), end=at(1, 10), info_text="Other")
    hashes = (one.content_hash, one.sync_hash)
    assert interned(one) is one and interned(two) is one
    assert interned(other) is other  # another info text: another content
    assert (one.content_hash, one.sync_hash) == hashes
    assert one.fields() == two.fields() and one.fields()["info_text"] == "Agenda"
    assert interned(None) is None


def test_an_item_waiting_for_its_writes_is_the_same_object_after_the_cache_let_it_go(
    world: Harness,
) -> None:
    """Issue 12: with a bounded cache, an item whose writes wait into the next tick is not read
    again as a second object (both would record the same versions)."""
    row = world.erp_appointment(subject="Kickoff")
    world.sync()
    engine, store = world.engine, world.store
    assert engine is not None and store is not None
    stream_id = world.erp.stream_id_of(row)
    waiting = engine._item(stream_id)
    assert waiting is not None
    engine._tick.to_act[stream_id] = waiting
    cache = store.repository.cache
    assert cache is not None
    cache.get(stream_id, evict=True)  # the cache let it go
    assert engine._item(stream_id) is waiting
