"""The engine's writes into the ERP: exact, idempotent by stream id, and recognisable echoes."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
import sqlalchemy as sa

from adapters.erp.editing import ErpEditor
from adapters.erp.schema import appointment_exceptions, appointments, tasks
from adapters.erp.store import ErpStore
from engine.errors import NotFound, PermanentError, VersionConflict
from engine.model import Appointment, ItemKind, ModifiedOccurrence, Side, Task
from engine.observation import Change, Observation, Origin, derive_stream_id
from engine.ports import Write
from tests.erp.samples import berlin, existing_user, imported_series, imported_task, seed

STREAM = uuid.UUID("0b7e4a7e-52a4-4c3e-9d59-0f1f3f5b9d11")


def create(snapshot: Appointment | Task) -> Write:
    kind = ItemKind(snapshot.kind)
    return Write(side=Side.ERP, operation="create", kind=kind, snapshot=snapshot)


def update(
    snapshot: Appointment | Task, native_id: str, expected_version: str | None = None
) -> Write:
    return Write(
        side=Side.ERP,
        operation="update",
        kind=ItemKind(snapshot.kind),
        native_id=native_id,
        snapshot=snapshot,
        expected_version=expected_version,
    )


def delete(kind: ItemKind, native_id: str) -> Write:
    return Write(side=Side.ERP, operation="delete", kind=kind, native_id=native_id)


def only_observation(store: ErpStore, position: int) -> Observation:
    [observation] = store.read_changes(position).changes
    assert isinstance(observation, Observation)
    return observation


def count(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


@pytest.mark.parametrize("snapshot", [imported_series(), imported_task()], ids=["series", "task"])
def test_an_imported_item_is_written_exactly_and_comes_back_as_an_echo(
    store: ErpStore, snapshot: Appointment | Task
) -> None:
    before = store.feed_position()

    result = store.apply("mueller", STREAM, create(snapshot))

    [entry] = store.read_feed(before)
    assert (entry.origin, entry.operation, entry.sync_id) == ("sync", "insert", str(STREAM))
    echo = only_observation(store, before)
    assert echo.origin is Origin.SYNC
    assert (echo.native_id, echo.native_version) == (result.native_id, result.native_version)
    assert (echo.sync_id, echo.stream_id, echo.user) == (STREAM, STREAM, "mueller")
    assert echo.snapshot == snapshot


def test_applying_the_same_import_twice_leaves_one_row_and_one_feed_entry(
    store: ErpStore, erp_engine: sa.Engine
) -> None:
    before = store.feed_position()
    first = store.apply("mueller", STREAM, create(imported_series()))
    again = store.apply("mueller", STREAM, create(imported_series()))

    assert again == first
    assert count(erp_engine, appointments) == 1
    assert count(erp_engine, appointment_exceptions) == 2
    assert len(store.read_feed(before)) == 1


def test_an_update_of_only_the_exceptions_is_one_feed_entry_with_origin_sync(
    store: ErpStore,
) -> None:
    created = store.apply("mueller", STREAM, create(imported_series()))
    before = store.feed_position()
    moved = imported_series().model_copy(
        update={
            "deleted_occurrences": (berlin(2026, 11, 17, 14), berlin(2026, 11, 24, 14)),
            "modified_occurrences": (
                ModifiedOccurrence(
                    original_start=berlin(2026, 12, 1, 14),
                    start=berlin(2026, 12, 1, 9),
                    end=berlin(2026, 12, 1, 10),
                    subject="Team sync (morning)",
                ),
            ),
        }
    )
    moved = Appointment.model_validate(moved.model_dump())

    result = store.apply("mueller", STREAM, update(moved, created.native_id))

    [entry] = store.read_feed(before)
    assert (entry.origin, entry.table_name, entry.operation) == ("sync", "appointments", "update")
    assert int(result.native_version or 0) == int(created.native_version or 0) + 1
    echo = only_observation(store, before)
    assert echo.origin is Origin.SYNC and echo.native_version == result.native_version
    assert echo.snapshot == moved


def revised_task() -> Task:
    return imported_task().replace(subject="Send revised offer", due=date(2026, 11, 9))


def test_an_engine_update_of_a_task_is_one_feed_entry_with_origin_sync(store: ErpStore) -> None:
    created = store.apply("mueller", STREAM, create(imported_task()))
    before = store.feed_position()

    result = store.apply(
        "mueller", STREAM, update(revised_task(), created.native_id, created.native_version)
    )

    [entry] = store.read_feed(before)
    assert (entry.origin, entry.table_name, entry.operation, entry.item_kind) == (
        "sync",
        "tasks",
        "update",
        "task",
    )
    assert (entry.row_id, entry.sync_id) == (int(created.native_id), str(STREAM))
    assert str(entry.row_version) == result.native_version
    echo = only_observation(store, before)
    assert echo.origin is Origin.SYNC and echo.snapshot == revised_task()


def test_a_repeated_identical_engine_update_of_a_task_is_no_feed_entry(store: ErpStore) -> None:
    created = store.apply("mueller", STREAM, create(imported_task()))
    revision = update(revised_task(), created.native_id, created.native_version)
    first = store.apply("mueller", STREAM, revision)
    before = store.feed_position()

    again = store.apply("mueller", STREAM, revision)  # e.g. retried after a lost answer

    assert store.read_feed(before) == []
    assert again == first


def test_an_engine_delete_of_a_task_is_one_feed_entry_with_origin_sync(
    store: ErpStore, erp_engine: sa.Engine
) -> None:
    created = store.apply("mueller", STREAM, create(imported_task()))
    before = store.feed_position()

    store.apply("mueller", STREAM, delete(ItemKind.TASK, created.native_id))
    store.apply("mueller", STREAM, delete(ItemKind.TASK, created.native_id))

    [entry] = store.read_feed(before)
    assert (entry.origin, entry.table_name, entry.operation, entry.item_kind) == (
        "sync",
        "tasks",
        "delete",
        "task",
    )
    assert (entry.row_id, entry.sync_id) == (int(created.native_id), str(STREAM))
    gone = only_observation(store, before)
    assert (gone.change, gone.origin, gone.sync_id) == (Change.DELETED, Origin.SYNC, STREAM)
    assert count(erp_engine, tasks) == 0


def test_an_erp_edit_after_an_engine_write_is_not_an_echo(store: ErpStore, erp: ErpEditor) -> None:
    created = store.apply("mueller", STREAM, create(imported_task()))
    before = store.feed_position()
    erp.edit("task", int(created.native_id), {"subject": "Send offer today"})

    observation = only_observation(store, before)

    assert observation.origin is Origin.USER
    assert observation.native_version != created.native_version
    assert observation.sync_id == STREAM


def test_an_update_of_an_erp_created_item_keeps_its_derived_stream(
    store: ErpStore, erp: ErpEditor, erp_engine: sa.Engine
) -> None:
    ids = seed(erp)
    stream = derive_stream_id(Side.ERP, "mueller", ItemKind.TASK, str(ids["task"]))
    before = store.feed_position()

    result = store.apply("mueller", stream, update(imported_task(), str(ids["task"]), "1"))

    echo = only_observation(store, before)
    assert (echo.origin, echo.native_version, echo.sync_id) == (
        Origin.SYNC,
        result.native_version,
        None,
    )
    assert echo.stream_id == stream
    with erp_engine.connect() as conn:
        subject = conn.execute(sa.select(tasks.c.subject).where(tasks.c.id == ids["task"]))
        assert subject.scalar_one() == "Send offer"


def test_an_update_against_a_changed_row_is_a_version_conflict(
    store: ErpStore, erp: ErpEditor
) -> None:
    created = store.apply("mueller", STREAM, create(imported_task()))
    erp.edit("task", int(created.native_id), {"percent_complete": 10})
    before = store.feed_position()
    changed = imported_task().model_copy(update={"subject": "Send revised offer"})

    with pytest.raises(VersionConflict):
        store.apply("mueller", STREAM, update(changed, created.native_id, created.native_version))
    assert store.read_feed(before) == []


def test_an_update_of_a_missing_row_is_not_found(store: ErpStore) -> None:
    with pytest.raises(NotFound):
        store.apply("mueller", STREAM, update(imported_task(), "999"))


def test_a_write_into_another_users_row_is_refused(store: ErpStore) -> None:
    created = store.apply("mueller", STREAM, create(imported_task()))
    with pytest.raises(PermanentError):
        store.apply("schmidt", STREAM, update(imported_task(), created.native_id))


def test_an_engine_delete_is_one_feed_entry_and_deleting_again_is_done(
    store: ErpStore, erp_engine: sa.Engine
) -> None:
    created = store.apply("mueller", STREAM, create(imported_series()))
    before = store.feed_position()

    store.apply("mueller", STREAM, delete(ItemKind.APPOINTMENT, created.native_id))
    store.apply("mueller", STREAM, delete(ItemKind.APPOINTMENT, created.native_id))

    [entry] = store.read_feed(before)
    assert (entry.origin, entry.operation) == ("sync", "delete")
    gone = only_observation(store, before)
    assert (gone.change, gone.origin, gone.sync_id) == (Change.DELETED, Origin.SYNC, STREAM)
    assert count(erp_engine, appointments) == 0
    assert count(erp_engine, appointment_exceptions) == 0


def test_an_engine_write_leaves_later_erp_writes_marked_erp(
    store: ErpStore, erp: ErpEditor
) -> None:
    store.apply("mueller", STREAM, create(imported_task()))
    with pytest.raises(NotFound):
        store.apply("mueller", uuid.uuid4(), update(imported_task(), "12345"))
    before = store.feed_position()
    erp.add("task", {"user_login": "mueller", "subject": "typed in the ERP"})
    [entry] = store.read_feed(before)
    assert entry.origin == "erp"


@pytest.mark.parametrize(
    "changes",
    [
        {"location": "L" * 256},
        {"participants": ({"email": "a@example.com", "name": "N" * 256},)},
    ],
    ids=["location", "participant name"],
)
def test_an_import_longer_than_the_erp_takes_is_refused_alike_on_both_databases(
    store: ErpStore, erp_engine: sa.Engine, changes: dict[str, object]
) -> None:
    before = store.feed_position()
    snapshot = Appointment.model_validate({**imported_series().model_dump(), **changes})

    with pytest.raises(PermanentError, match="ERP database refused the write"):
        store.apply("mueller", STREAM, create(snapshot))

    assert count(erp_engine, appointments) == 0
    assert store.feed_position() == before


def test_a_row_moved_to_another_user_takes_the_writes_of_that_users_stream_only(
    store: ErpStore, erp: ErpEditor
) -> None:
    """Issue 10: the row still carries the first stream's sync id; after the ERP moved it, the
    new user's stream (the one its id derives for that user, engine.routing) writes it."""
    created = store.apply("mueller", STREAM, create(imported_task()))
    existing_user(erp, "schmidt", {"allow_exchange_sync": True})
    erp.edit("task", int(created.native_id), {"user_login": "schmidt"})
    moved = derive_stream_id(Side.ERP, "schmidt", ItemKind.TASK, created.native_id)
    changed = imported_task().model_copy(update={"subject": "Send revised offer"})

    store.apply("schmidt", moved, update(changed, created.native_id))

    assert store.fetch("schmidt", ItemKind.TASK, created.native_id).snapshot == changed
    with pytest.raises(PermanentError, match="belongs to stream"):
        store.apply("schmidt", uuid.uuid4(), update(imported_task(), created.native_id))
    with pytest.raises(PermanentError, match="belongs to schmidt"):
        store.apply("mueller", STREAM, update(imported_task(), created.native_id))
