"""Reading the feed as observations: snapshots, coalescing, users, bad rows, resuming."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.erp.editing import ErpEditor
from adapters.erp.schema import appointments
from adapters.erp.snapshots import MAX_MESSAGE_CHARS
from adapters.erp.store import ErpStore
from engine.errors import TransientError
from engine.model import Appointment, ItemKind, Side, Task, User
from engine.observation import Change, Observation, Origin, UserChange, derive_stream_id
from engine.ports import ErpPort
from tests.erp.conftest import OBSERVED_AT, PASSWORD, ErpDatabase
from tests.erp.samples import appointment_fields, berlin, seed, weekly_series


def observations(changes: tuple[Observation | UserChange, ...]) -> list[Observation]:
    return [c for c in changes if isinstance(c, Observation)]


def test_an_appointment_created_in_the_erp_is_observed_with_its_snapshot(
    store: ErpStore, erp: ErpEditor
) -> None:
    before = store.feed_position()
    row_id = erp.add("appointment", appointment_fields(info_text="Bring the plans"))

    batch = store.read_changes(before)

    [observation] = observations(batch.changes)
    assert observation.side is Side.ERP
    assert observation.kind is ItemKind.APPOINTMENT
    assert observation.change is Change.CHANGED
    assert observation.origin is Origin.USER
    assert (observation.user, observation.native_id, observation.native_version) == (
        "mueller",
        str(row_id),
        "1",
    )
    assert observation.observed_at == OBSERVED_AT
    assert observation.sync_id is None
    assert observation.stream_id == derive_stream_id(
        Side.ERP, "mueller", ItemKind.APPOINTMENT, str(row_id)
    )
    assert observation.snapshot == Appointment(
        subject="Project meeting",
        start=berlin(2026, 11, 2, 9),
        end=berlin(2026, 11, 2, 10),
        location="Room 1",
        info_text="Bring the plans",
    )
    assert batch.position == store.feed_position()


def test_r2_a_changed_exception_is_an_observation_of_the_whole_series(
    store: ErpStore, erp: ErpEditor
) -> None:
    ids = seed(erp)
    before = store.feed_position()
    erp.set_exception(ids["appointment"], berlin(2026, 11, 16, 9), {"deleted": True})

    [observation] = observations(store.read_changes(before).changes)

    assert observation.native_id == str(ids["appointment"])
    snapshot = observation.snapshot
    assert isinstance(snapshot, Appointment)
    assert snapshot.recurrence is not None and snapshot.recurrence.pattern == "weekly"
    assert snapshot.deleted_occurrences == (berlin(2026, 11, 16, 9).astimezone(UTC),)
    [moved] = snapshot.modified_occurrences
    # NULL columns of an exception are the series' values.
    assert (moved.subject, moved.location, moved.start) == (
        "Jour fixe (moved)",
        "Room 1",
        berlin(2026, 11, 9, 9).astimezone(UTC),
    )
    assert [p.email for p in snapshot.participants] == ["a@example.com"]


def test_several_entries_of_one_item_in_a_batch_are_one_observation_of_its_state(
    store: ErpStore, erp: ErpEditor
) -> None:
    before = store.feed_position()
    row_id = erp.add("task", {"user_login": "mueller", "subject": "Draft"})
    erp.edit("task", row_id, {"subject": "Final"})
    other = erp.add("task", {"user_login": "mueller", "subject": "Other"})
    erp.edit("task", row_id, {"percent_complete": 20})

    batch = store.read_changes(before)

    assert [(o.native_id, o.native_version) for o in observations(batch.changes)] == [
        (str(other), "1"),
        (str(row_id), "3"),
    ]
    task = observations(batch.changes)[1].snapshot
    assert isinstance(task, Task) and (task.subject, task.percent_complete) == ("Final", 20)
    assert batch.position == store.feed_position()


def test_a_batch_ends_at_its_limit_and_the_next_one_continues_there(
    store: ErpStore, erp: ErpEditor
) -> None:
    before = store.feed_position()
    ids = [erp.add("task", {"user_login": "mueller", "subject": f"T{n}"}) for n in range(5)]

    first = store.read_changes(before, limit=2)
    second = store.read_changes(first.position, limit=2)
    third = store.read_changes(second.position, limit=2)
    empty = store.read_changes(third.position, limit=2)

    seen = [o.native_id for b in (first, second, third) for o in observations(b.changes)]
    assert seen == [str(i) for i in ids]
    assert (empty.changes, empty.position) == ((), third.position)


def test_a_deleted_item_is_observed_as_deleted_with_its_user_and_sync_id(
    store: ErpStore, erp: ErpEditor
) -> None:
    ids = seed(erp)
    before = store.feed_position()
    erp.delete("appointment", ids["appointment"])

    [observation] = observations(store.read_changes(before).changes)

    assert observation.change is Change.DELETED
    assert (observation.user, observation.native_id, observation.snapshot) == (
        "mueller",
        str(ids["appointment"]),
        None,
    )
    assert observation.stream_id == derive_stream_id(
        Side.ERP, "mueller", ItemKind.APPOINTMENT, str(ids["appointment"])
    )


def test_r11_saving_a_user_is_a_feed_entry_read_as_a_user_change(
    store: ErpStore, erp: ErpEditor
) -> None:
    ids = seed(erp)
    before = store.feed_position()
    erp.edit("user", ids["user"], {"locked": True, "valid_until": "2027-12-31"})
    erp.add("user", {"login": "schmidt", "exchange_mailbox": "schmidt@example.com"})
    erp.delete("user", ids["user"])

    changes = store.read_changes(before).changes

    assert changes == (
        UserChange(
            user=User(login="schmidt", mailbox="schmidt@example.com"), observed_at=OBSERVED_AT
        ),
        UserChange(user=User(login="mueller"), deleted=True, observed_at=OBSERVED_AT),
    )


def test_r15_the_feed_resumes_from_a_stored_position_after_a_restart(
    erp_db: ErpDatabase, store: ErpStore, erp: ErpEditor
) -> None:
    settled = erp.add("task", {"user_login": "mueller", "subject": "done before the stop"})
    first = erp.add("task", {"user_login": "mueller", "subject": "before the stop"})
    stored = store.read_changes(0).position
    store.close()
    # While the engine is stopped the ERP goes on.
    second = erp.add("task", {"user_login": "mueller", "subject": "while stopped"})
    erp.edit("task", first, {"subject": "changed while stopped"})

    with ErpStore(erp_db.url, schema=erp_db.schema) as restarted:
        missed = restarted.read_feed(stored)
        everything = restarted.read_feed(0)
        batch = restarted.read_changes(stored)
        after = restarted.read_changes(batch.position)

    # Exactly the entries committed while stopped, none from before the stored position.
    assert [(e.operation, e.row_id) for e in missed] == [("insert", second), ("update", first)]
    assert all(e.seq > stored for e in missed)
    assert missed == [e for e in everything if e.seq > stored]
    # Coalescing would hide a replay from 0 in the observed items; the feed shows it.
    assert len(everything) > len(missed)
    assert sorted(o.native_id for o in observations(batch.changes)) == sorted(
        [str(first), str(second)]
    )
    assert str(settled) not in {o.native_id for o in observations(batch.changes)}
    assert batch.position == missed[-1].seq
    assert after.changes == ()


BAD_ROWS: dict[str, tuple[str, dict[str, Any], str, str]] = {
    "end before start": (
        "appointment",
        appointment_fields(ends_at=berlin(2026, 11, 2, 8)),
        "END_BEFORE_START",
        "end",
    ),
    "invalid RRULE": (
        "appointment",
        weekly_series(rrule="FREQ=SOMETIMES;BYDAY=XX"),
        "INVALID_RECURRENCE",
        "",
    ),
    "RRULE Exchange cannot express": (
        "appointment",
        weekly_series(rrule="FREQ=MONTHLY;INTERVAL=2;BYDAY=MO"),
        "UNSUPPORTED_RECURRENCE",
        "",
    ),
    "unknown time zone": (
        "appointment",
        appointment_fields(time_zone="Mars/Olympus_Mons"),
        "UNKNOWN_TIME_ZONE",
        "time_zone",
    ),
    "5 MB info text": (
        "appointment",
        appointment_fields(info_text="x" * 5_000_000),
        "INFO_TEXT_TOO_LARGE",
        "info_text",
    ),
    "unknown busy status": (
        "appointment",
        appointment_fields(busy_status="sleeping"),
        "INVALID_FIELD",
        "",
    ),
    "task due before start": (
        "task",
        {
            "user_login": "mueller",
            "subject": "x",
            "start_date": "2026-11-05",
            "due_date": "2026-11-01",
        },
        "END_BEFORE_START",
        "due",
    ),
    "task 150 percent complete": (
        "task",
        {"user_login": "mueller", "subject": "x", "percent_complete": 150},
        "INVALID_FIELD",
        "percent_complete",
    ),
}


@pytest.mark.parametrize("case", list(BAD_ROWS))
def test_bad_erp_data_is_a_typed_error_for_its_row_and_the_feed_keeps_moving(
    store: ErpStore, erp: ErpEditor, case: str
) -> None:
    kind, fields, code, field = BAD_ROWS[case]
    before = store.feed_position()
    bad = erp.add(kind, fields)
    good = erp.add("task", {"user_login": "mueller", "subject": "fine"})

    batch = store.read_changes(before)

    invalid, valid = observations(batch.changes)
    assert (invalid.native_id, invalid.change, invalid.snapshot) == (str(bad), Change.INVALID, None)
    assert invalid.error is not None and invalid.error.code == code
    if field:
        assert invalid.error.field == field
    assert len(invalid.error.message) <= MAX_MESSAGE_CHARS
    assert (valid.native_id, valid.change) == (str(good), Change.CHANGED)
    assert batch.position == store.feed_position()


def test_invalid_utf8_from_a_legacy_import_is_an_encoding_error_for_its_row(
    erp_db: ErpDatabase, store: ErpStore, erp: ErpEditor, erp_engine: sa.Engine
) -> None:
    before = store.feed_position()
    bad = erp.add("appointment", appointment_fields())
    legacy_write = (
        appointments.update()
        .where(appointments.c.id == bad)
        .values(info_text=sa.cast(sa.literal(b"Caf\xe9 um 9", sa.LargeBinary), sa.UnicodeText))
    )
    if erp_db.backend == "postgres":
        # PostgreSQL refuses such bytes at the write; the ERP cannot store them at all.
        legacy_write = legacy_write.values(
            info_text=sa.func.convert_from(sa.literal(b"Caf\xe9 um 9", sa.LargeBinary), "UTF8")
        )
        with pytest.raises(sa.exc.DataError), erp_engine.begin() as conn:
            conn.execute(legacy_write)
        return
    with erp_engine.begin() as conn:
        conn.execute(legacy_write)
    good = erp.add("task", {"user_login": "mueller", "subject": "fine"})

    batch = store.read_changes(before)

    invalid, valid = observations(batch.changes)
    assert invalid.native_id == str(bad) and invalid.change is Change.INVALID
    assert invalid.error is not None
    assert (invalid.error.code, invalid.error.field) == ("INVALID_ENCODING", "info_text")
    assert valid.native_id == str(good) and valid.change is Change.CHANGED
    assert batch.position == store.feed_position()


def test_r5_baseline_lists_every_existing_item_of_the_user(store: ErpStore, erp: ErpEditor) -> None:
    ids = seed(erp)
    erp.add("user", {"login": "schmidt"})
    erp.add("appointment", appointment_fields(user="schmidt"))
    broken = erp.add("task", {"user_login": "mueller", "subject": "x", "percent_complete": -1})

    baseline = list(store.baseline("mueller", [ItemKind.APPOINTMENT, ItemKind.TASK]))

    assert [(o.kind, o.native_id, o.change) for o in baseline] == [
        (ItemKind.APPOINTMENT, str(ids["appointment"]), Change.BASELINE),
        (ItemKind.TASK, str(ids["task"]), Change.BASELINE),
        (ItemKind.TASK, str(broken), Change.BASELINE),
    ]
    assert baseline[1].snapshot is not None and baseline[2].snapshot is None
    assert baseline[2].error is not None and baseline[2].error.code == "INVALID_FIELD"


def test_fetch_returns_the_item_as_it_is_now(store: ErpStore, erp: ErpEditor) -> None:
    ids = seed(erp)
    current = store.fetch("mueller", ItemKind.TASK, str(ids["task"]))
    assert (current.change, current.native_version, current.origin) == (
        Change.CHANGED,
        "1",
        Origin.USER,
    )
    erp.delete("task", ids["task"])
    gone = store.fetch("mueller", ItemKind.TASK, str(ids["task"]))
    assert (gone.change, gone.snapshot, gone.user) == (Change.DELETED, None, "mueller")


def test_the_store_is_the_engines_erp_port(store: ErpStore, erp: ErpEditor) -> None:
    port: ErpPort = store  # checked by mypy against the protocol
    assert port.feed_position() == 0
    erp.add("user", {"login": "weber"})
    assert port.feed_position() == 1


@pytest.mark.parametrize("schema", [None, "erp"])
def test_setting_up_an_unreachable_database_is_a_transient_error(
    unreachable_postgres_url: str, schema: str | None
) -> None:
    with (
        ErpStore(unreachable_postgres_url, schema=schema) as store,
        pytest.raises(TransientError, match="ERP database unavailable") as raised,
    ):
        store.init()
    assert PASSWORD not in str(raised.value)


def test_a_database_password_is_never_shown() -> None:
    with ErpStore("postgresql://einklang:s3cret@db.example:5432/erp", schema="erp") as store:
        assert "s3cret" not in store.display_url
        assert store.display_url == (
            "postgresql+psycopg://einklang:***@db.example:5432/erp (schema erp)"
        )
