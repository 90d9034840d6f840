"""The read models' keys and memory at scale (issue 12): rows keyed by an item number given in
the order items appear, indexes that a decision does not touch, and a bounded row cache that
changes no row (R18: the mapping and transfer log say what happened, whatever the cache)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from engine.store import EventStore
from projections.projector import Projector
from projections.rows import PROGRESS_COLUMNS
from projections.schema import build_metadata
from projections.status import user_statuses
from tests.harness import Harness


def _rows(projector: Projector) -> dict[str, list[dict[str, Any]]]:
    tables = (projector.items, projector.log, projector.occurrences, projector.users)
    with projector.db.connect() as conn:
        return {
            t.name: [
                dict(r) for r in conn.execute(sa.select(t).order_by(*t.primary_key)).mappings()
            ]
            for t in tables
        }


def _projected_again(store: EventStore, *, page_size: int, row_cache: int) -> Projector:
    """A follower that forgets the projections (keeping their schema) and follows the whole log
    again in pages of `page_size` events."""
    again = Projector(store, page_size=page_size, row_cache=row_cache)
    with again.db.begin() as conn:
        for table in (again.log, again.occurrences, again.items, again.users):
            conn.execute(table.delete())
        conn.execute(again.tracking.delete().where(again.tracking.c.name == "einklang.projections"))
    assert again.run() == store.max_notification_id()
    return again


def _busy(tmp_path: Path, store_url: str) -> Harness:
    world = Harness(tmp_path, store_url=store_url)
    world.user("mueller")
    world.user("schmidt")
    world.sync()
    rows = [world.erp_appointment(subject=f"Item {n}") for n in range(12)]
    world.sync()
    for n, row in enumerate(rows):
        world.erp.edit(row, location=f"Room {n}")
    world.outlook_appointment("schmidt", subject="From Outlook")
    world.sync()
    for row in rows[:4]:
        world.erp.edit(row, subject="Renamed")
    world.sync()
    return world


def test_items_are_numbered_in_the_order_they_first_appear_in_the_log(tmp_path: Path) -> None:
    """R18: each item has one number; the transfer log's entries carry their item's."""
    world = _busy(tmp_path, str(tmp_path / "einklang.db"))
    try:
        rows = _rows(world.projector)
        numbers = {r["stream_id"]: r["item"] for r in rows["item_mapping"]}
        assert sorted(numbers.values()) == list(range(1, len(numbers) + 1))
        first_seen: dict[str, int] = {}
        for entry in rows["transfer_log"]:
            assert entry["item"] == numbers[entry["stream_id"]]
            first_seen.setdefault(entry["stream_id"], entry["id"])
        assert sorted(first_seen, key=first_seen.__getitem__) == sorted(
            numbers, key=numbers.__getitem__
        )
    finally:
        world.shutdown()


@pytest.mark.parametrize("cache", [0, 3])
def test_a_small_row_cache_projects_the_same_rows(
    store_url: str, tmp_path: Path, cache: int
) -> None:
    """R18: the cache only saves reading rows back; a follower with room for 0 or 3 rows, in
    pages of 7 events, writes the rows the engine's follower wrote, and keeps no more."""
    world = _busy(tmp_path, store_url)
    try:
        assert world.store is not None
        expected = _rows(world.projector)
        small = _projected_again(world.store, page_size=7, row_cache=cache)
        assert len(small._rows) <= cache
        assert _rows(small) == expected
        small.close()
    finally:
        world.shutdown()


def test_a_decision_rewrites_no_index_entry_of_the_mapping() -> None:
    """Issue 12: the columns a decision or an outcome rewrites are in no index of the mapping,
    so that keeping an item's status current writes its row's page and nothing else."""
    items = build_metadata().tables["item_mapping"]
    indexed = {column.name for index in items.indexes for column in index.columns}
    assert indexed and not indexed & set(PROGRESS_COLUMNS)
    assert [c.name for c in items.primary_key] == ["item"]


def test_a_rebuild_whose_rows_outgrow_its_cache_gives_the_same_rows(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """R18: rows that fall out of the cache during a rebuild are read back, not started anew."""
    world = _busy(tmp_path, store_url)
    try:
        assert world.store is not None
        expected = _rows(world.projector)
        monkeypatch.setattr("projections.projector.REBUILD_ROW_CACHE", 2)
        monkeypatch.setattr("projections.projector.REBUILD_BATCH", 20)
        small = Projector(world.store, page_size=9, row_cache=0)
        assert small.rebuild() == world.store.max_notification_id()
        assert not small._rows
        assert _rows(small) == expected
        small.close()
    finally:
        world.shutdown()


def test_r12_status_gives_the_last_transfer_done_each_way(store_url: str, tmp_path: Path) -> None:
    """R12: when a change last went each way — a transfer counts once it is done (kept in the
    user's status row as transfers complete)."""
    world = Harness(tmp_path, store_url=store_url)
    try:
        exported = _exported_once(world)
        world.clock.advance(hours=2)
        world.outlook_appointment(subject="Import")
        world.sync()
        imported = world.clock.now
        world.clock.advance(hours=2)
        world.erp_appointment(subject="Later")
        world.sync()
        (status,) = user_statuses(world.projector, "mueller")
        assert status.last_import == _log_text(imported)
        assert status.last_export == _log_text(world.clock.now) != _log_text(exported)
    finally:
        world.shutdown()


def test_r12_a_failed_transfer_is_not_the_last_one_each_way(store_url: str, tmp_path: Path) -> None:
    """R12: an export whose write failed did not go to Exchange: the last export stays the one
    before it, also when the read models are projected again one event per page (the outcome
    then lands a page after its decision)."""
    world = Harness(tmp_path, store_url=store_url)
    try:
        exported = _exported_once(world)
        world.clock.advance(hours=2)
        world.exchange.fail_next_writes.append(RuntimeError("adapter bug: unexpected None"))
        world.erp_appointment(subject="Fails")
        world.sync()
        assert world.log(subject="Fails")[0]["outcome"] == "failed"
        (status,) = user_statuses(world.projector, "mueller")
        assert (status.last_export, status.last_import) == (_log_text(exported), None)
        assert world.store is not None
        again = _projected_again(world.store, page_size=1, row_cache=0)
        assert user_statuses(again, "mueller") == [status]
        again.close()
    finally:
        world.shutdown()


def _exported_once(world: Harness) -> datetime:
    """A user whose first ERP appointment went to Outlook; when it went."""
    world.user("mueller")
    world.sync()
    world.erp_appointment(subject="Export")
    world.sync()
    return world.clock.now


def _log_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
