"""A `--data` snapshot written by an earlier simulator still loads (`sim.persistence`).

`data/snapshot-v1/` was written at commit 6b41d51, when `sim.store` was one module: its pickle
names the store's records as `sim.store._Mailbox`, `sim.store._Record`, ... A store split into
parts must keep those names importable from `sim.store`, or every existing `--data` directory
fails to load. `expected.json` holds the ids and tokens that store handed out.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

from sim.clock import ManualClock
from sim.events import EventType
from sim.model import CalendarItemType, ExtendedPropertyKey
from sim.persistence import SNAPSHOT, StoreFile
from sim.store import MailboxStore, SyncChangeKind

DATA = Path(__file__).parent / "data" / "snapshot-v1"
ALICE = "alice@example.com"
SYNC_ID = ExtendedPropertyKey(
    property_type="String",
    property_set_id="C11FF724-AA03-4555-9952-8FA248A11C3E",
    property_name="EinklangSyncId",
)


def load_v1(directory: Path) -> tuple[MailboxStore, dict[str, str]]:
    shutil.copy(DATA / SNAPSHOT, directory / SNAPSHOT)
    expected: dict[str, str] = json.loads((DATA / "expected.json").read_text("utf-8"))
    clock = ManualClock(dt.datetime.fromisoformat(expected["now"]))
    return StoreFile(directory).load(clock=clock), expected


def test_a_snapshot_of_the_single_module_store_loads_with_its_series(tmp_path: Path) -> None:
    store, expected = load_v1(tmp_path)

    series = store.get_calendar_item(expected["series"])
    task = store.get_task(expected["task"])

    assert store.mailbox_addresses() == [ALICE]
    assert series.item_type is CalendarItemType.RECURRING_MASTER
    assert (series.subject, series.change_key) == ("weekly, renamed", expected["series_change_key"])
    assert series.extended_properties[SYNC_ID] == "sync-1"
    assert [o.original_start.isoformat() for o in series.modified_occurrences] == [
        expected["modified_original_start"]
    ]
    assert [d.isoformat() for d in series.deleted_occurrences] == [
        expected["deleted_original_start"]
    ]
    assert task.subject == "a task"
    assert {item.item_id for item in store.list_items(ALICE)} == {expected["series"]}


def test_a_snapshot_of_the_single_module_store_keeps_its_sync_state_and_watermark(
    tmp_path: Path,
) -> None:
    store, expected = load_v1(tmp_path)

    batch = store.sync_folder_items(ALICE, "calendar", expected["sync_state"])
    events = store.get_events(ALICE, expected["subscription"], expected["watermark"])

    assert [(c.kind, c.item_id) for c in batch.changes] == [
        (SyncChangeKind.UPDATE, expected["series"])
    ]
    assert [(e.event.event_type, e.event.item_id) for e in events.events] == [
        (EventType.MODIFIED, expected["series"])
    ]


def test_a_loaded_snapshot_of_the_single_module_store_is_saved_and_loaded_again(
    tmp_path: Path,
) -> None:
    store, expected = load_v1(tmp_path)
    moved = store.update_item(expected["series"], subject="after the upgrade")
    StoreFile(tmp_path).save(store)

    again = StoreFile(tmp_path).load(clock=ManualClock(dt.datetime.fromisoformat(expected["now"])))

    assert again.get_calendar_item(expected["series"]) == moved
    assert again.get_task(expected["task"]).subject == "a task"
