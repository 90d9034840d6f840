"""Text limits: one table (`columns.MAX_CHARS`), the same on SQLite and PostgreSQL (R18).

Both databases refuse what is too long; the editing API refuses it with the field's name; and a
row another program stored past the limits (a database with wider columns) is parked with its
reason while everything else syncs.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.erp.capture import capture_for
from adapters.erp.columns import MAX_CHARS
from adapters.erp.editing import EditError, ErpEditor
from adapters.erp.schema import (
    appointment_exceptions,
    appointment_participants,
    appointments,
    follow_ups,
    tasks,
    users,
)
from adapters.erp.store import ErpStore
from engine.model import ItemKind
from engine.observation import Change, Observation
from engine.options import SyncOptions
from engine.runtime import Engine
from engine.state import Status
from engine.store import EventStore, StoreLocation
from projections.projector import Projector
from tests.erp.conftest import ErpDatabase
from tests.erp.samples import appointment_fields, berlin, seed
from tests.harness import Clock, mailbox_store_exchange

ERP_TABLES = (users, appointments, appointment_exceptions, appointment_participants, tasks)
FIVE_MB = "x" * (5 * 1024 * 1024)


def limited_columns() -> list[tuple[sa.Table, str, int]]:
    return [
        (table, column.name, MAX_CHARS[column.name])
        for table in (*ERP_TABLES, follow_ups)
        for column in table.columns
        if column.name in MAX_CHARS
    ]


def test_every_text_column_of_the_erp_has_a_limit_or_is_a_long_text() -> None:
    unlimited = {
        f"{table.name}.{column.name}"
        for table in (*ERP_TABLES, follow_ups)
        for column in table.columns
        if isinstance(column.type, sa.String) and column.name not in MAX_CHARS
    }
    assert unlimited == {
        "appointments.info_text",
        "appointments.rrule",
        "tasks.info_text",
        "follow_ups.info_text",
    }


def test_both_databases_refuse_a_value_over_its_limit_in_every_limited_column(
    store: ErpStore, erp: ErpEditor, erp_engine: sa.Engine
) -> None:
    ids = seed(erp)
    ids["follow-up"] = erp.add("follow-up", {"user_login": "mueller", "subject": "Ask"})
    row_of = {
        "users": ids["user"],
        "appointments": ids["appointment"],
        "appointment_exceptions": ids["exception"],
        "appointment_participants": ids["participant"],
        "tasks": ids["task"],
        "follow_ups": ids["follow-up"],
    }
    accepted_too_long, refused_at_limit = [], []
    for table, column, limit in limited_columns():
        row = table.c.id == row_of[table.name]
        try:
            with erp_engine.begin() as conn:
                conn.execute(table.update().where(row).values({column: "y" * (limit + 1)}))
            accepted_too_long.append(f"{table.name}.{column}")
        except sa.exc.DBAPIError:
            pass  # a CHECK on SQLite, VARCHAR(n) on PostgreSQL
        try:
            with erp_engine.begin() as conn:
                conn.execute(table.update().where(row).values({column: "z" * limit}))
        except sa.exc.DBAPIError as exc:
            refused_at_limit.append(f"{table.name}.{column}: {exc.orig}")

    assert accepted_too_long == []
    assert refused_at_limit == []


@pytest.mark.parametrize(
    ("kind", "fields", "message"),
    [
        (
            "appointment",
            appointment_fields(subject=FIVE_MB),
            "appointments.subject: is 5,242,880 characters long; at most 255 are allowed",
        ),
        ("task", {"user_login": "mueller", "location": "x"}, "tasks has no column 'location'"),
        ("user", {"login": "l" * 101}, "users.login: is 101 characters long; at most 100"),
        ("follow-up", {"user_login": "mueller", "subject": "s" * 256}, "follow_ups.subject"),
    ],
    ids=["5 MB subject", "no such column", "login", "follow-up subject"],
)
def test_the_editing_api_refuses_a_value_over_its_limit_and_names_the_field(
    store: ErpStore, erp: ErpEditor, kind: str, fields: dict[str, Any], message: str
) -> None:
    before = store.feed_position()
    with pytest.raises(EditError, match=message[:60].replace("(", r"\(")) as raised:
        erp.add(kind, fields)
    assert len(str(raised.value)) < 200
    assert store.feed_position() == before


def widen(erp_db: ErpDatabase, engine: sa.Engine, table: sa.Table, column: str) -> None:
    """Make the database take longer text in this column, as another ERP's schema might."""
    if erp_db.backend != "postgres":
        return  # SQLite: CHECKs can be ignored (see write_unchecked)
    with engine.begin() as conn:
        # A trigger's column list pins the column's type: drop the capture, widen, put it back.
        triggers = conn.execute(
            sa.text(
                "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal "
                "AND tgrelid = CAST(:table AS regclass)"
            ),
            {"table": table.name},
        ).scalars()
        for trigger in list(triggers):
            conn.exec_driver_sql(f'DROP TRIGGER "{trigger}" ON {table.name}')
        conn.exec_driver_sql(f"ALTER TABLE {table.name} ALTER COLUMN {column} TYPE text")
        capture_for("postgresql").install(conn)


def write_unchecked(engine: sa.Engine, statement: sa.Executable) -> Any:
    """Write as a program that does not go through the limits (SQLite: CHECKs ignored)."""
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if sqlite:
            conn.exec_driver_sql("PRAGMA ignore_check_constraints = ON")
        result = conn.execute(statement)
        inserted = result.inserted_primary_key if result.is_insert else None
        if sqlite:
            conn.exec_driver_sql("PRAGMA ignore_check_constraints = OFF")
        conn.commit()
    return inserted[0] if inserted else None


OVER_LONG: dict[str, tuple[sa.Table, str, str, int]] = {
    "appointment subject": (appointments, "subject", "subject", len(FIVE_MB)),
    "occurrence subject": (appointment_exceptions, "subject", "occurrence subject", len(FIVE_MB)),
    # in a unique index: PostgreSQL's index rows take at most 8 KB
    "participant email": (appointment_participants, "email", "participant email", 1000),
    "task subject": (tasks, "subject", "subject", len(FIVE_MB)),
}


@pytest.mark.parametrize("case", list(OVER_LONG))
def test_a_row_stored_past_the_limits_is_read_as_a_typed_error_and_the_feed_moves_on(
    erp_db: ErpDatabase, store: ErpStore, erp: ErpEditor, erp_engine: sa.Engine, case: str
) -> None:
    table, column, field, length = OVER_LONG[case]
    ids = seed(erp)
    widen(erp_db, erp_engine, table, column)
    before = store.feed_position()
    good = erp.add("appointment", appointment_fields(subject="Fine"))
    row = {
        "appointments": ids["appointment"],
        "appointment_exceptions": ids["exception"],
        "appointment_participants": ids["participant"],
        "tasks": ids["task"],
    }[table.name]
    write_unchecked(
        erp_engine,
        table.update().where(table.c.id == row).values({column: "x" * (length - 5) + "@x.de"}),
    )

    batch = store.read_changes(before)

    by_id = {o.native_id: o for o in batch.changes if isinstance(o, Observation)}
    bad = by_id[str(ids["task"] if table is tasks else ids["appointment"])]
    assert bad.change is Change.INVALID and bad.snapshot is None and bad.error is not None
    assert (bad.error.code, bad.error.field) == ("FIELD_TOO_LONG", field)
    assert f"{field} is {length:,} characters long; at most" in bad.error.message
    assert len(bad.error.message) < 300
    assert by_id[str(good)].change is Change.CHANGED
    assert batch.position == store.feed_position()


@pytest.fixture
def engine_over(
    tmp_path: Path, erp_db: ErpDatabase, store: ErpStore, erp: ErpEditor
) -> Iterator[tuple[Engine, Any, Projector]]:
    clock = Clock(datetime(2026, 11, 2, 8, 0, tzinfo=UTC))
    exchange = mailbox_store_exchange(("mueller@example.com",))(clock)
    erp.edit("user", 1, {"exchange_mailbox": "mueller@example.com"})
    events = EventStore(StoreLocation(str(tmp_path / "einklang.db")))
    projector = Projector(events)
    engine = Engine(
        events,
        ErpStore(erp_db.url, schema=erp_db.schema, clock=clock),
        exchange,
        SyncOptions(),
        clock=clock,
        index=projector,
    )
    engine.run_until_quiet()  # mueller is set up: what follows is after setup (R5)
    yield engine, exchange, projector
    projector.close()
    events.close()


def test_the_engine_parks_an_over_long_field_with_its_reason_and_syncs_everything_else(
    erp_db: ErpDatabase,
    erp: ErpEditor,
    erp_engine: sa.Engine,
    engine_over: tuple[Engine, Any, Projector],
) -> None:
    engine, exchange, projector = engine_over
    widen(erp_db, erp_engine, appointments, "subject")
    first = erp.add("appointment", appointment_fields(subject="Before"))
    bad = write_unchecked(
        erp_engine,
        appointments.insert().values(
            user_login="mueller",
            subject=FIVE_MB,
            starts_at=berlin(2026, 11, 3, 9),
            ends_at=berlin(2026, 11, 3, 10),
        ),
    )
    last = erp.add("appointment", appointment_fields(subject="After"))

    engine.run_until_quiet()

    subjects = [
        i.content.subject for i in exchange.items("mueller@example.com", ItemKind.APPOINTMENT)
    ]
    assert sorted(subjects) == ["After", "Before"]
    log = projector.log
    with projector.db.connect() as conn:
        entries: dict[str, Any] = {}  # each item's first decision
        for r in conn.execute(sa.select(log).order_by(log.c.id)).mappings():
            entries.setdefault(r["erp_id"], r)
    parked = entries[str(bad)]
    assert (parked["verdict"], parked["reason"]) == ("fail", "FIELD_TOO_LONG")
    assert parked["sentence"].startswith("parked: ") and len(parked["sentence"]) < 1000
    assert entries[str(first)]["reason"] == entries[str(last)]["reason"] == "CREATED_IN_ERP"
    assert len(projector.streams_of_user("mueller", status=Status.FAILED)) == 1
