"""Every row the ERP can store is read: a value the driver cannot convert is that row's error.

PostgreSQL stores timestamps and dates of `infinity`, past year 9999 and BC; psycopg cannot
turn them into Python objects, and used to fail the whole query, so one such row stopped every
read of the feed. SQLite keeps them as text. On both, the row is now an `invalid` observation
with its reason, the rows around it are read as usual, and the feed moves on.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from adapters.erp.editing import ErpEditor
from adapters.erp.snapshots import MAX_MESSAGE_CHARS
from adapters.erp.store import ErpStore
from engine.model import ItemKind
from engine.observation import Change, Observation
from engine.runtime import ERP_FEED
from engine.state import Status
from tests.erp.samples import appointment_fields, berlin
from tests.erp_person import SqlErp
from tests.harness import Harness

OUT_OF_RANGE_TIMESTAMPS = [
    "infinity",
    "-infinity",
    "10000-01-01 00:00:00+00",
    "0044-03-15 12:00:00+00 BC",
]
OUT_OF_RANGE_DATES = ["infinity", "-infinity", "10000-01-01", "0044-03-15 BC"]

# (item kind, table, column, the item's field)
TIMESTAMP_COLUMNS = [
    ("appointment", "appointments", "starts_at", "start"),
    ("appointment", "appointments", "ends_at", "end"),
    ("appointment", "appointment_exceptions", "original_start", "original_start"),
    ("appointment", "appointment_exceptions", "starts_at", "occurrence start"),
    ("task", "tasks", "reminder_at", "reminder_at"),
    ("task", "tasks", "completed_at", "completed_at"),
]
DATE_COLUMNS = [
    ("task", "tasks", "start_date", "start_date"),
    ("task", "tasks", "due_date", "due_date"),
]
CASES = [
    pytest.param(*column, value, id=f"{column[1]}.{column[2]}={value}")
    for columns, values in (
        (TIMESTAMP_COLUMNS, OUT_OF_RANGE_TIMESTAMPS),
        (DATE_COLUMNS, OUT_OF_RANGE_DATES),
    )
    for column in columns
    for value in values
]


def store_raw(engine: sa.Engine, table: str, column: str, row_id: int, value: str) -> None:
    """The ERP writes the value as its own SQL would (no Python conversion on the way)."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(f"UPDATE {table} SET {column} = :value WHERE id = :id"),
            {
                "value": value,
                "id": row_id,
            },
        )


def bad_row(erp: ErpEditor, kind: str, table: str) -> tuple[int, int]:
    """A new item of `kind` and the id of the row of `table` that will carry the bad value."""
    if kind == "task":
        task = erp.add("task", {"user_login": "mueller", "subject": "Call back"})
        return task, task
    series = erp.add("appointment", appointment_fields(rrule="FREQ=WEEKLY;BYDAY=MO"))
    if table == "appointments":
        return series, series
    exception = erp.set_exception(series, berlin(2026, 11, 9, 9), {"subject": "moved"})
    return series, exception


@pytest.mark.parametrize(("kind", "table", "column", "field", "value"), CASES)
def test_an_unconvertible_value_is_an_invalid_observation_and_the_feed_moves_on(
    store: ErpStore,
    erp: ErpEditor,
    erp_engine: sa.Engine,
    kind: str,
    table: str,
    column: str,
    field: str,
    value: str,
) -> None:
    before = store.feed_position()
    good_before = erp.add("task", {"user_login": "mueller", "subject": "before"})
    item, row = bad_row(erp, kind, table)
    store_raw(erp_engine, table, column, row, value)
    good_after = erp.add("appointment", appointment_fields(subject="after"))

    batch = store.read_changes(before)

    by_id = {(c.kind.value, c.native_id): c for c in batch.changes if isinstance(c, Observation)}
    bad = by_id[(kind, str(item))]
    assert (bad.change, bad.snapshot) == (Change.INVALID, None)
    assert bad.error is not None and bad.error.code == "INVALID_FIELD"
    assert bad.error.field == field
    assert len(bad.error.message) <= MAX_MESSAGE_CHARS
    assert by_id[("task", str(good_before))].change is Change.CHANGED
    assert by_id[("appointment", str(good_after))].change is Change.CHANGED
    assert batch.position == store.feed_position()
    assert store.read_changes(batch.position).changes == ()
    fetched = store.fetch("mueller", ItemKind(kind), str(item))
    assert (fetched.change, fetched.error) == (Change.INVALID, bad.error)
    [baseline] = [
        o for o in store.baseline("mueller", [ItemKind(kind)]) if o.native_id == str(item)
    ]
    assert baseline.error == bad.error


@pytest.mark.parametrize("bound", ["valid_from", "valid_until"])
def test_a_login_valid_from_or_until_infinity_has_no_bound(
    store: ErpStore, erp: ErpEditor, erp_engine: sa.Engine, bound: str
) -> None:
    user = erp.add("user", {"login": "schmidt", "allow_exchange_sync": True})
    store_raw(
        erp_engine, "users", bound, user, "-infinity" if bound == "valid_from" else "infinity"
    )

    schmidt = next(u for u in store.users() if u.login == "schmidt")
    assert (schmidt.valid_from, schmidt.valid_until) == (None, None)
    assert schmidt.allow_sync and schmidt.unreadable is None


def test_a_row_version_that_is_no_number_does_not_stop_reading(
    store: ErpStore, erp: ErpEditor, erp_engine: sa.Engine
) -> None:
    if erp_engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL keeps integers integers")
    before = store.feed_position()
    task = erp.add("task", {"user_login": "mueller", "subject": "Call back"})
    store_raw(erp_engine, "tasks", "row_version", task, "v2")
    erp.edit("task", task, {"subject": "Call back today"})

    [change] = store.read_changes(before).changes
    assert isinstance(change, Observation) and change.change is Change.CHANGED
    assert store.fetch("mueller", ItemKind.TASK, str(task)).change is Change.CHANGED
    assert [e.row_id for e in store.read_feed(before)] == [task, task]


@pytest.mark.postgres
def test_the_engine_parks_an_item_dated_infinity_and_syncs_the_others(pg_world: Harness) -> None:
    world = pg_world
    good_before = world.erp_appointment(subject="Good 1")
    bad = world.erp_appointment(subject="Bad")
    good_after = world.erp_appointment(subject="Good 2")
    assert world.engine is not None
    assert isinstance(world.erp, SqlErp)
    store_raw(world.erp.store.engine, "appointments", "starts_at", int(bad), "infinity")

    world.sync()

    assert sorted(i.content.subject for i in world.exchange_items()) == ["Good 1", "Good 2"]
    assert world.counterpart_in_exchange(good_before) and world.counterpart_in_exchange(good_after)
    entry = world.log(erp_id=bad)[-1]
    assert (entry["verdict"], entry["reason"], entry["outcome"]) == (
        "fail",
        "INVALID_FIELD",
        "none",
    )
    assert "infinity" in entry["sentence"]
    assert world.state(world.erp.stream_id_of(bad)).status is Status.FAILED
    assert world.engine.checkpoints[ERP_FEED] == str(world.erp.store.feed_position())
