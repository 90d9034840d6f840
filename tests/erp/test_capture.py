"""Change capture: every write to a captured table is exactly one feed entry with its origin."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa

from adapters.erp import migrations
from adapters.erp.editing import ErpEditor
from adapters.erp.schema import appointments, change_feed, tasks
from adapters.erp.store import ErpStore
from tests.erp.conftest import ErpDatabase
from tests.erp.samples import berlin, seed

ErpWrite = Callable[[ErpEditor, dict[str, int]], object]

# name: (write, table of the entry, operation, item kind, item the entry routes to)
ERP_WRITES: dict[str, tuple[ErpWrite, str, str, str, str]] = {
    "insert user": (
        lambda erp, ids: erp.add("user", {"login": "schmidt"}),
        "users",
        "insert",
        "user",
        "new",
    ),
    "update user": (
        lambda erp, ids: erp.edit("user", ids["user"], {"locked": True}),
        "users",
        "update",
        "user",
        "user",
    ),
    "delete user": (
        lambda erp, ids: erp.delete("user", ids["user"]),
        "users",
        "delete",
        "user",
        "user",
    ),
    "insert appointment": (
        lambda erp, ids: erp.add(
            "appointment",
            {
                "user_login": "mueller",
                "subject": "Dentist",
                "starts_at": berlin(2026, 12, 1, 8),
                "ends_at": berlin(2026, 12, 1, 9),
            },
        ),
        "appointments",
        "insert",
        "appointment",
        "new",
    ),
    "update appointment": (
        lambda erp, ids: erp.edit("appointment", ids["appointment"], {"subject": "Jour fixe!"}),
        "appointments",
        "update",
        "appointment",
        "appointment",
    ),
    "delete appointment with its exceptions and participants": (
        lambda erp, ids: erp.delete("appointment", ids["appointment"]),
        "appointments",
        "delete",
        "appointment",
        "appointment",
    ),
    "insert exception": (
        lambda erp, ids: erp.set_exception(
            ids["appointment"], berlin(2026, 11, 16, 9), {"deleted": True}
        ),
        "appointment_exceptions",
        "insert",
        "appointment",
        "appointment",
    ),
    "update exception": (
        lambda erp, ids: erp.edit("exception", ids["exception"], {"location": "Room 2"}),
        "appointment_exceptions",
        "update",
        "appointment",
        "appointment",
    ),
    "delete exception": (
        lambda erp, ids: erp.delete("exception", ids["exception"]),
        "appointment_exceptions",
        "delete",
        "appointment",
        "appointment",
    ),
    "insert participant": (
        lambda erp, ids: erp.add(
            "participant", {"appointment_id": ids["appointment"], "email": "c@example.com"}
        ),
        "appointment_participants",
        "insert",
        "appointment",
        "appointment",
    ),
    "update participant": (
        lambda erp, ids: erp.edit("participant", ids["participant"], {"response": "accepted"}),
        "appointment_participants",
        "update",
        "appointment",
        "appointment",
    ),
    "delete participant": (
        lambda erp, ids: erp.delete("participant", ids["participant"]),
        "appointment_participants",
        "delete",
        "appointment",
        "appointment",
    ),
    "insert task": (
        lambda erp, ids: erp.add("task", {"user_login": "mueller", "subject": "Offer"}),
        "tasks",
        "insert",
        "task",
        "new",
    ),
    "update task": (
        lambda erp, ids: erp.edit("task", ids["task"], {"percent_complete": 50}),
        "tasks",
        "update",
        "task",
        "task",
    ),
    "delete task": (
        lambda erp, ids: erp.delete("task", ids["task"]),
        "tasks",
        "delete",
        "task",
        "task",
    ),
}


@pytest.mark.parametrize("write_path", list(ERP_WRITES))
def test_every_erp_write_is_exactly_one_feed_entry_with_origin_erp(
    store: ErpStore, erp: ErpEditor, write_path: str
) -> None:
    write, table, operation, kind, item = ERP_WRITES[write_path]
    ids = seed(erp)
    before = store.feed_position()

    result = write(erp, ids)

    entries = store.read_feed(before)
    assert len(entries) == 1, entries
    entry = entries[0]
    assert (entry.table_name, entry.operation, entry.origin, entry.item_kind) == (
        table,
        operation,
        "erp",
        kind,
    )
    assert entry.item_id == (result if item == "new" else ids[item])
    assert entry.user_login in ("mueller", "schmidt")
    assert store.feed_position() == entry.seq


def test_r1_follow_ups_are_never_in_the_feed(store: ErpStore, erp: ErpEditor) -> None:
    before = store.feed_position()
    follow_up = erp.add("follow-up", {"user_login": "mueller", "subject": "Ask again"})
    erp.edit("follow-up", follow_up, {"done": True})
    erp.delete("follow-up", follow_up)
    assert store.read_feed(before) == []


def test_a_save_of_an_item_that_changes_nothing_is_no_feed_entry(
    store: ErpStore, erp: ErpEditor
) -> None:
    ids = seed(erp)
    before = store.feed_position()
    erp.edit("appointment", ids["appointment"], {"subject": "Jour fixe"})
    erp.edit("task", ids["task"], {"subject": "Call back"})
    assert store.read_feed(before) == []


def test_r11_every_save_of_a_user_is_a_feed_entry_even_when_nothing_changed(
    store: ErpStore, erp: ErpEditor
) -> None:
    ids = seed(erp)
    before = store.feed_position()
    # The administrator fixed the mailbox in Exchange and saves the user so the engine re-checks.
    erp.edit("user", ids["user"], {"allow_exchange_sync": True})
    erp.edit("user", ids["user"], {"allow_exchange_sync": True})
    entries = store.read_feed(before)
    assert [(e.item_kind, e.item_id, e.operation, e.row_version) for e in entries] == [
        ("user", ids["user"], "update", 2),
        ("user", ids["user"], "update", 3),
    ]


def test_r11_init_upgrades_an_erp_at_schema_version_1_to_capture_every_user_save(
    erp_db: ErpDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ErpStore(erp_db.url, schema=erp_db.schema) as store:
        monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:1])
        assert store.init() == 1  # installed by an earlier einklang
        user = ErpEditor(store.engine).add("user", {"login": "mueller"})
        monkeypatch.undo()
        assert store.init() == migrations.MIGRATIONS[-1].version
        before = store.feed_position()
        ErpEditor(store.engine).edit("user", user, {"login": "mueller"})
        assert [(e.item_id, e.operation) for e in store.read_feed(before)] == [(user, "update")]


def test_row_version_increments_on_every_change_of_the_item(
    store: ErpStore, erp: ErpEditor, erp_engine: sa.Engine
) -> None:
    ids = seed(erp)

    def version() -> int:
        with erp_engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(appointments.c.row_version).where(
                        appointments.c.id == ids["appointment"]
                    )
                ).scalar_one()
            )

    # Created, then one exception and one participant added.
    assert version() == 3
    erp.edit("appointment", ids["appointment"], {"location": "Room 3"})
    assert version() == 4
    erp.edit("exception", ids["exception"], {"subject": "moved again"})
    assert version() == 5
    erp.delete("participant", ids["participant"])
    assert version() == 6
    assert [e.row_version for e in store.read_feed(0) if e.item_kind == "appointment"] == [
        1,
        2,
        3,
        4,
        5,
        6,
    ]


def test_a_deleted_row_stays_routable_from_its_feed_entry(store: ErpStore, erp: ErpEditor) -> None:
    ids = seed(erp)
    with erp._engine.begin() as conn:  # an imported item carries the engine's stream id
        conn.execute(
            tasks.update()
            .where(tasks.c.id == ids["task"])
            .values(sync_id="7d0c4d1e-8a0b-4d83-9f57-5a0a3c1f7a10")
        )
    before = store.feed_position()
    erp.delete("task", ids["task"])
    [entry] = store.read_feed(before)
    assert (entry.item_kind, entry.item_id, entry.user_login, entry.sync_id) == (
        "task",
        ids["task"],
        "mueller",
        "7d0c4d1e-8a0b-4d83-9f57-5a0a3c1f7a10",
    )


def test_a_write_that_fails_leaves_no_feed_entry(
    store: ErpStore, erp: ErpEditor, erp_engine: sa.Engine
) -> None:
    seed(erp)
    before = store.feed_position()
    with pytest.raises(sa.exc.IntegrityError), erp_engine.begin() as conn:
        conn.execute(
            tasks.insert().values(user_login="mueller", subject="first of two", status="x")
        )
        conn.execute(tasks.insert().values(user_login=None, subject="violates NOT NULL"))
    assert store.read_feed(before) == []
    with erp_engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(change_feed)).scalar_one() > 0
