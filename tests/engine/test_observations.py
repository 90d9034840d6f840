"""Each side reports when it last modified an item, by its own clock (what `newest_wins` uses)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.model import ItemKind
from engine.observation import Observation
from tests.engine.series import jour_fixe
from tests.harness import Harness, at


def _erp_changes(world: Harness, position: int) -> list[Observation]:
    return [c for c in world.erp.read_changes(position).changes if isinstance(c, Observation)]


def test_an_erp_observation_carries_the_rows_change_time(world: Harness) -> None:
    position = world.erp.feed_position()
    before = datetime.now(UTC)
    row = world.erp_appointment()
    world.erp.edit(row, subject="Edited")
    after = datetime.now(UTC)
    (change,) = _erp_changes(world, position)
    assert change.native_version == "2"
    assert change.modified_at is not None and before <= change.modified_at <= after
    assert change.observed_at == world.clock.now  # seen by the engine's clock: another time
    fetched = world.erp.fetch("mueller", ItemKind.APPOINTMENT, row)
    assert fetched.modified_at == change.modified_at


def test_an_exchange_observation_carries_last_modified_time_of_the_series(world: Harness) -> None:
    assert world.engine is not None
    series, starts = jour_fixe(world)
    world.sync()
    item = world.counterpart_in_exchange(series)
    user = world.engine.scopes["mueller"].user
    created = world.clock.now
    assert world.exchange.fetch(user, ItemKind.APPOINTMENT, item.id).modified_at == created
    world.clock.advance(hours=2)
    world.exchange.modify_occurrence(
        item.id, starts[1], start=starts[1] + timedelta(hours=1), end=starts[1] + timedelta(hours=2)
    )
    world.clock.advance(minutes=5)  # seen later than it was modified
    seen = world.exchange.fetch(user, ItemKind.APPOINTMENT, item.id)
    assert seen.modified_at == created + timedelta(hours=2)  # the occurrence's change counts
    assert seen.observed_at == world.clock.now
    task = world.outlook_task(subject="Call", start=at(1, 0).date())
    assert world.exchange.fetch(user, ItemKind.TASK, task).modified_at == world.clock.now
