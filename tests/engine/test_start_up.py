"""Start-up does not depend on history (R15, issue 12): the engine resumes from its stored
positions and each user's stored scope, and loads an item only when something happens to it."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from engine import reasons
from engine.aggregates import SyncItem
from engine.model import User
from engine.state import Status
from tests.harness import Harness


def count_item_loads(world: Harness, monkeypatch: pytest.MonkeyPatch) -> list[uuid.UUID]:
    """The item streams the store reads from here on (a cache hit reads nothing)."""
    assert world.store is not None
    repository = world.store.repository
    loaded: list[uuid.UUID] = []
    get = repository.get

    def counting_get(aggregate_id: uuid.UUID, *args: Any, **kwargs: Any) -> Any:
        found = get(aggregate_id, *args, **kwargs)
        if isinstance(found, SyncItem):
            loaded.append(aggregate_id)
        return found

    monkeypatch.setattr(repository, "get", counting_get)
    return loaded


def test_r15_start_loads_no_item_when_no_users_scope_changed(
    world: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.user("schmidt")
    for n in range(6):
        world.erp_appointment(subject=f"Item {n}")
        world.erp_task("schmidt", subject=f"Task {n}")
    world.sync()
    world.close()
    engine = world.open()
    loaded = count_item_loads(world, monkeypatch)
    engine.start()
    assert loaded == []
    world.sync()
    assert loaded == []


def test_r17_a_user_who_left_the_scope_while_the_engine_was_down_is_out_of_scope_after_start(
    world: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [world.erp_appointment(subject=f"Item {n}") for n in range(3)]
    world.sync()
    world.erp.delete(rows[0])
    world.sync()
    world.close()
    world.erp.save_user(User(login="mueller", mailbox="mueller@example.com", allow_sync=False))
    engine = world.open()
    loaded = count_item_loads(world, monkeypatch)
    engine.start()
    world.sync()
    # The deleted item is not moved (nor read); the others are out of scope, not deleted.
    assert sorted(loaded) == sorted(world.erp.stream_id_of(r) for r in rows[1:])
    assert [world.state(world.erp.stream_id_of(r)).status for r in rows[1:]] == [
        Status.OUT_OF_SCOPE
    ] * 2
    assert world.reasons().count(reasons.SCOPE_LEFT) == 2
    assert len(world.exchange_items()) == 2
    world.close()
    world.user("mueller")
    engine = world.open()
    loaded = count_item_loads(world, monkeypatch)
    engine.start()
    assert sorted(loaded) == sorted(world.erp.stream_id_of(r) for r in rows[1:])
    assert [world.state(world.erp.stream_id_of(r)).status for r in rows[1:]] == [Status.IN_SYNC] * 2
    world.verify()
