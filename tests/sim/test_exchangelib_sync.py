"""SyncFolderItems through the real exchangelib: ID-only and with properties, paging, resuming."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from exchangelib import Account
from exchangelib.errors import ErrorInvalidSyncStateData
from exchangelib.items import ID_ONLY
from exchangelib.services import SyncFolderItems

from sim.clock import ManualClock
from sim.model import CalendarFields
from sim.server import EwsServer
from sim.store import MailboxStore
from tests.sim.support import ALICE, AccountFactory


def create_items(store: MailboxStore, count: int, prefix: str = "item") -> list[str]:
    ids = []
    for number in range(count):
        start = dt.datetime(2026, 4, 1 + number, 9, tzinfo=dt.UTC)
        fields = CalendarFields(
            subject=f"{prefix} {number}", start=start, end=start + dt.timedelta(hours=1)
        )
        ids.append(store.create_calendar_item(ALICE, fields).item_id)
    return ids


def sync_calls(server: EwsServer) -> int:
    return sum(1 for record in server.requests if record.operation == "SyncFolderItems")


def test_id_only_sync_pages_through_all_items_and_resumes_from_the_saved_state(
    alice: Account, account_for: AccountFactory, store: MailboxStore, server: EwsServer
) -> None:
    ids = create_items(store, 7)

    first = list(alice.calendar.sync_items(only_fields=[], max_changes_returned=3))
    saved_state = alice.calendar.item_sync_state

    assert [(kind, item.id) for kind, item in first] == [("create", item_id) for item_id in ids]
    assert all(item.subject is None for _, item in first)  # ID-only: no properties
    assert sync_calls(server) == 3  # 3 + 3 + 1 changes

    store.update_item(ids[1], subject="edited")
    store.update_item(ids[4], location="moved")
    store.delete_item(ids[2])
    [new_id] = create_items(store, 1, prefix="new")
    created_and_deleted = create_items(store, 1, prefix="gone")[0]
    store.delete_item(created_and_deleted)

    later_client = account_for(ALICE)  # e.g. after an engine restart
    resumed = list(later_client.calendar.sync_items(sync_state=saved_state, only_fields=[]))

    assert sorted((kind, item.id) for kind, item in resumed) == sorted(
        [("update", ids[1]), ("update", ids[4]), ("delete", ids[2]), ("create", new_id)]
    )
    assert (
        list(later_client.calendar.sync_items(sync_state=later_client.calendar.item_sync_state))
        == []
    )


def test_sync_with_properties_returns_the_items(alice: Account, store: MailboxStore) -> None:
    [item_id] = create_items(store, 1, prefix="with properties")

    [(kind, item)] = list(alice.calendar.sync_items(only_fields=["subject", "start", "sync_id"]))

    assert (kind, item.id, item.subject) == ("create", item_id, "with properties 0")
    assert item.start == dt.datetime(2026, 4, 1, 9, tzinfo=dt.UTC)


def test_resuming_from_a_state_saved_in_the_middle_of_paging(
    alice: Account, store: MailboxStore
) -> None:
    ids = create_items(store, 5)
    service = SyncFolderItems(account=alice)
    first_page = list(
        service.call(
            folder=alice.calendar,
            shape=ID_ONLY,
            additional_fields=set(),
            sync_state=None,
            ignore=None,
            max_changes_returned=2,
            sync_scope=None,
        )
    )
    assert service.includes_last_item_in_range is False
    store.update_item(ids[0], subject="changed after the first page")

    rest = list(alice.calendar.sync_items(sync_state=service.sync_state, only_fields=[]))

    assert [item.id for _, item in first_page] == ids[:2]
    assert sorted((kind, item.id) for kind, item in rest) == sorted(
        [("create", ids[2]), ("create", ids[3]), ("create", ids[4]), ("update", ids[0])]
    )


def test_a_sync_state_that_went_stale_is_invalid_sync_state_data(
    alice: Account, store: MailboxStore, clock: ManualClock
) -> None:
    create_items(store, 2)
    list(alice.calendar.sync_items(only_fields=[]))
    state = alice.calendar.item_sync_state
    store.settings = replace(store.settings, sync_state_max_age=dt.timedelta(days=7))
    clock.advance(dt.timedelta(days=8))

    with pytest.raises(ErrorInvalidSyncStateData):
        list(alice.calendar.sync_items(sync_state=state, only_fields=[]))


def test_a_damaged_sync_state_is_invalid_sync_state_data(alice: Account) -> None:
    with pytest.raises(ErrorInvalidSyncStateData):
        list(alice.calendar.sync_items(sync_state="H4sIAAAAAAAEAO29B2AcSZ", only_fields=[]))


def test_a_sync_state_of_another_folder_is_refused(alice: Account, store: MailboxStore) -> None:
    create_items(store, 1)
    list(alice.calendar.sync_items(only_fields=[]))

    with pytest.raises(ErrorInvalidSyncStateData):
        list(alice.tasks.sync_items(sync_state=alice.calendar.item_sync_state, only_fields=[]))
