"""The engine's writes are compare-and-set: an ERP commit between its read and its write wins.

The ERP commits from a connection of its own at the exact point where the engine has read the
row and is about to write it (its first writing statement). Without compare-and-set the engine's
write overwrote that commit and the feed showed only the engine's own echo: the ERP change was
lost for good. Now the engine's write changes nothing and raises `VersionConflict` (or
`NotFound` for a delete), and the ERP's change is in the row and in the feed as the ERP's.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from adapters.erp.editing import ErpEditor
from adapters.erp.schema import appointment_exceptions, appointments, tasks
from adapters.erp.store import ErpStore
from engine.errors import NotFound, SideError, VersionConflict
from engine.model import Appointment, ItemKind, Side, Task
from engine.observation import Change, Observation, Origin
from engine.ports import Operation, Write
from tests.erp.conftest import ErpDatabase
from tests.erp.samples import berlin, imported_series, imported_task

STREAM = uuid.UUID("5d0c3a43-3f0e-4a36-a2a8-0d4b1f1f3c42")
WRITING = ("INSERT", "UPDATE", "DELETE")


@contextmanager
def just_before_the_engine_writes(
    store: ErpStore, erp_commit: Callable[[], None]
) -> Iterator[None]:
    """Run `erp_commit` once, right before the engine's first writing statement."""
    fired: list[bool] = []

    def before(conn: sa.Connection, cursor: Any, statement: str, *args: Any) -> None:
        if not fired and statement.lstrip().upper().startswith(WRITING):
            fired.append(True)
            erp_commit()

    event.listen(store.engine, "before_cursor_execute", before)
    try:
        yield
    finally:
        event.remove(store.engine, "before_cursor_execute", before)
    assert fired, "the engine never wrote"


def engine_write(
    operation: Operation, snapshot: Appointment | Task, native_id: str, version: str
) -> Write:
    return Write(
        side=Side.ERP,
        operation=operation,
        kind=ItemKind(snapshot.kind),
        native_id=native_id,
        expected_version=version,
        snapshot=None if operation == "delete" else snapshot,
    )


def erp_item(store: ErpStore, kind: ItemKind, row_id: int) -> Observation:
    observation = store.fetch("mueller", kind, str(row_id))
    assert observation.change is Change.CHANGED
    return observation


@pytest.fixture
def postgres_only(erp_db: ErpDatabase) -> None:
    if erp_db.backend == "sqlite":
        pytest.skip("SQLite runs one writer at a time: no ERP commit fits between read and write")


@pytest.mark.usefixtures("postgres_only")
@pytest.mark.parametrize("operation", ["update", "delete"])
def test_an_erp_edit_committed_during_the_engines_task_write_is_kept(
    store: ErpStore, erp: ErpEditor, operation: Operation
) -> None:
    created = store.apply("mueller", STREAM, engine_write_create(imported_task()))
    row_id = int(created.native_id)
    assert created.native_version is not None
    target = imported_task().model_copy(update={"subject": "from Outlook"})
    edit = engine_write(operation, target, created.native_id, created.native_version)
    position = store.feed_position()

    with (
        just_before_the_engine_writes(
            store, lambda: erp.edit("task", row_id, {"subject": "typed in the ERP"})
        ),
        pytest.raises(VersionConflict),
    ):
        store.apply("mueller", STREAM, edit)

    now = erp_item(store, ItemKind.TASK, row_id)
    assert isinstance(now.snapshot, Task) and now.snapshot.subject == "typed in the ERP"
    assert now.origin is Origin.USER
    [change] = store.read_changes(position).changes
    assert isinstance(change, Observation)
    assert (change.origin, change.native_version) == (Origin.USER, now.native_version)


@pytest.mark.usefixtures("postgres_only")
@pytest.mark.parametrize("child", ["exception", "participant"])
def test_an_erp_edit_of_a_child_row_during_the_engines_series_write_is_kept(
    store: ErpStore, erp: ErpEditor, erp_engine: sa.Engine, child: str
) -> None:
    created = store.apply("mueller", STREAM, engine_write_create(imported_series()))
    row_id = int(created.native_id)
    assert created.native_version is not None
    target = imported_series().model_copy(update={"location": "Room 2"})
    edit = engine_write("update", target, created.native_id, created.native_version)

    def erp_edits_a_child() -> None:
        if child == "exception":
            erp.set_exception(row_id, berlin(2026, 11, 24, 14), {"subject": "ERP: moved"})
        else:
            erp.add("participant", {"appointment_id": row_id, "email": "c@example.com"})

    with just_before_the_engine_writes(store, erp_edits_a_child), pytest.raises(VersionConflict):
        store.apply("mueller", STREAM, edit)

    now = erp_item(store, ItemKind.APPOINTMENT, row_id)
    assert isinstance(now.snapshot, Appointment)
    assert now.snapshot.location == "Online"  # the engine's write changed nothing
    if child == "exception":
        assert "ERP: moved" in [o.subject for o in now.snapshot.modified_occurrences]
    else:
        assert "c@example.com" in [p.email for p in now.snapshot.participants]
    assert now.origin is Origin.USER


@pytest.mark.usefixtures("postgres_only")
@pytest.mark.parametrize("operation", ["update", "delete"])
def test_an_erp_delete_committed_during_the_engines_write_is_not_found(
    store: ErpStore, erp: ErpEditor, erp_engine: sa.Engine, operation: Operation
) -> None:
    created = store.apply("mueller", STREAM, engine_write_create(imported_series()))
    row_id = int(created.native_id)
    assert created.native_version is not None
    target = imported_series().model_copy(update={"location": "Room 2"})
    write = engine_write(operation, target, created.native_id, created.native_version)

    with (
        just_before_the_engine_writes(store, lambda: erp.delete("appointment", row_id)),
        pytest.raises((NotFound, VersionConflict)) as raised,
    ):
        store.apply("mueller", STREAM, write)

    assert isinstance(raised.value, SideError)
    with erp_engine.connect() as conn:
        for table in (appointments, appointment_exceptions):
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(tasks)).scalar_one() == 0


def test_a_delete_of_a_row_changed_since_the_engine_read_it_is_a_version_conflict(
    store: ErpStore, erp: ErpEditor
) -> None:
    created = store.apply("mueller", STREAM, engine_write_create(imported_task()))
    assert created.native_version is not None
    erp.edit("task", int(created.native_id), {"subject": "edited in the ERP"})
    write = engine_write("delete", imported_task(), created.native_id, created.native_version)

    with pytest.raises(VersionConflict):
        store.apply("mueller", STREAM, write)

    assert erp_item(store, ItemKind.TASK, int(created.native_id)).snapshot is not None


def engine_write_create(snapshot: Appointment | Task) -> Write:
    return Write(side=Side.ERP, operation="create", kind=ItemKind(snapshot.kind), snapshot=snapshot)
