"""Items are read again from their latest snapshot and the events after it (issue 12), and
come out exactly as the fold of their whole history: `decide` is asked with the same state
either way (R19)."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import cast

import pytest

from engine import store as store_module
from engine.aggregates import StateSnapshot, SyncItem, UserLedger, ledger_id
from engine.store import EventStore, StoreLocation, fold
from tests.fixtures.record_history import OPTIONS, story
from tests.harness import Harness

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "history-df7bf02.sqlite3"


def item_ids(store: EventStore) -> list[uuid.UUID]:
    log = store.log_page(1, 1_000_000)
    return [uuid.UUID(stream) for _, stream, topic, _ in log if topic.endswith(":ItemStarted")]


def from_history(store: EventStore, stream_id: uuid.UUID) -> SyncItem:
    item = fold(None, store.events.get(stream_id))
    assert isinstance(item, SyncItem)
    return item


def snapshots_of(store: EventStore, stream_id: uuid.UUID) -> list[StateSnapshot]:
    assert store.snapshots is not None
    found = list(store.snapshots.get(stream_id))
    assert all(isinstance(s, StateSnapshot) for s in found)
    return cast(list[StateSnapshot], found)


def test_r19_items_restored_from_snapshots_equal_the_fold_of_their_history(
    tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The recording story of the fixture, every item snapshotted every few events."""
    monkeypatch.setattr(store_module, "SNAPSHOT_EVERY", 3)
    world = Harness(tmp_path, OPTIONS, store_url=store_url)
    world.restart(OPTIONS)
    story(world)
    world.verify()
    world.shutdown()
    store = EventStore(StoreLocation(store_url))
    try:
        ids = item_ids(store)
        snapshotted = 0
        for stream_id in ids:
            whole = from_history(store, stream_id)
            snapshots = snapshots_of(store, stream_id)
            # Taken at the saves that passed a multiple of three events, never ahead of the log.
            versions = [s.originator_version for s in snapshots]
            assert versions == sorted(versions) and all(v <= whole.version for v in versions)
            snapshotted += bool(snapshots)
            restored = store.item(stream_id)
            assert restored is not None
            assert (restored.version, restored.state) == (whole.version, whole.state)
            assert (restored.created_on, restored.modified_on) == (
                whole.created_on,
                whole.modified_on,
            )
        assert snapshotted == len(ids)  # every item of the story has three events or more
        for user in ("mueller", "schmidt", "weber"):
            history = fold(None, store.events.get(ledger_id(user)))
            assert isinstance(history, UserLedger)
            assert store.snapshots is not None and list(store.snapshots.get(ledger_id(user)))
            ledger = store.ledger(user)
            assert ledger is not None and vars(ledger) == vars(history)
    finally:
        store.close()


def test_r19_a_snapshot_of_each_recorded_item_restores_its_state_exactly(tmp_path: Path) -> None:
    """Over the store recorded before snapshots existed: a snapshot taken now, encoded and read
    back, gives the state its history folds to (and the store opens with its new table)."""
    path = tmp_path / "einklang.db"
    shutil.copy(FIXTURE, path)
    store = EventStore(StoreLocation(str(path)))
    try:
        assert store.snapshots is not None
        for stream_id in item_ids(store):
            whole = from_history(store, stream_id)
            store.snapshots.put([StateSnapshot.of(whole)])
            (snapshot,) = snapshots_of(store, stream_id)
            assert snapshot.state == whole.state
            restored = store.item(stream_id)
            assert restored is not None and restored.state == whole.state
    finally:
        store.close()
