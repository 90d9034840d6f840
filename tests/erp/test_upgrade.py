"""An SQLite ERP store made before the text limits gets them with `init`, keeping every row,
id counter and feed entry as it was."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from adapters.erp import migrations
from adapters.erp.capture import capture_for
from adapters.erp.database import create_erp_engine
from adapters.erp.editing import ErpEditor
from adapters.erp.schema import (
    appointment_exceptions,
    appointments,
    metadata,
    schema_version,
    tasks,
)
from adapters.erp.store import ErpStore
from engine.errors import PermanentError

INSTALLED = datetime(2026, 11, 1, tzinfo=UTC)


def version_2_store(path: Path) -> str:
    """The tables as einklang's schema version 2 made them: no CHECKs, no shared-mailbox mark."""
    old = sa.MetaData()
    for table in metadata.sorted_tables:
        copy = table.to_metadata(old)
        for check in [c for c in copy.constraints if isinstance(c, sa.CheckConstraint)]:
            copy.constraints.discard(check)
    url = f"sqlite:///{path}"
    engine = create_erp_engine(url)
    with engine.begin() as conn:
        old.create_all(conn)
        conn.exec_driver_sql("ALTER TABLE users DROP COLUMN exchange_mailbox_shared")
        capture_for("sqlite").install(conn)
        conn.execute(
            schema_version.insert(),
            [
                {
                    "version": step.version,
                    "description": step.description,
                    "applied_at": INSTALLED,
                }
                for step in migrations.MIGRATIONS[:2]
            ],
        )
        assert (
            "CHECK"
            not in conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name = 'appointments'"
            ).scalar_one()
        )
    engine.dispose()
    return url


def dump(engine: sa.Engine) -> dict[str, list[tuple[object, ...]]]:
    with engine.connect() as conn:
        return {
            name: [tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {name} ORDER BY 1")]
            for name in (
                "appointments",
                "appointment_exceptions",
                "appointment_participants",
                "tasks",
                "follow_ups",
                "change_feed",
                "sqlite_sequence",
            )
        }


def test_init_adds_the_limits_to_an_old_sqlite_store_and_keeps_everything(tmp_path: Path) -> None:
    url = version_2_store(tmp_path / "erp.sqlite3")
    erp = ErpEditor(create_erp_engine(url))
    erp.add("user", {"login": "mueller", "exchange_mailbox": "mueller@example.com"})
    series = erp.add(
        "appointment",
        {
            "user_login": "mueller",
            "subject": "Jour fixe",
            "starts_at": "2026-11-02T09:00",
            "ends_at": "2026-11-02T10:00",
            "rrule": "FREQ=WEEKLY;BYDAY=MO",
        },
    )
    erp.set_exception(series, "2026-11-09T09:00", {"deleted": True})
    erp.add("participant", {"appointment_id": series, "email": "a@example.com"})
    gone = erp.add("task", {"user_login": "mueller", "subject": "Deleted later"})
    erp.add("task", {"user_login": "mueller", "subject": "Call back"})
    erp.delete("task", gone + 1)  # the highest id is gone: it must never come back
    before = dump(erp.engine)

    with ErpStore(url) as store:
        assert store.init() == migrations.MIGRATIONS[-1].version
        assert dump(erp.engine) == before  # rows, counters and feed as they were
        assert [(u.login, u.mailbox, u.mailbox_shared) for u in store.users()] == [
            ("mueller", "mueller@example.com", False)
        ]
        with (
            pytest.raises(sa.exc.IntegrityError, match="ck_appointments_subject_length"),
            erp.engine.begin() as conn,
        ):
            conn.execute(appointments.update().values(subject="s" * 256))
        position = store.feed_position()
        assert erp.add("task", {"user_login": "mueller", "subject": "New"}) == gone + 2
        erp.delete("appointment", series)  # capture and the cascade still work
        assert [(e.table_name, e.operation) for e in store.read_feed(position)] == [
            ("tasks", "insert"),
            ("appointments", "delete"),
        ]
        with erp.engine.connect() as conn:
            assert conn.execute(sa.select(appointment_exceptions)).all() == []
            assert conn.execute(
                sa.select(tasks.c.subject).order_by(tasks.c.id)
            ).scalars().all() == [
                "Deleted later",
                "New",
            ]
    erp.engine.dispose()


def test_an_old_row_over_a_limit_stops_the_upgrade_with_the_row_to_shorten(tmp_path: Path) -> None:
    url = version_2_store(tmp_path / "erp.sqlite3")
    erp = ErpEditor(create_erp_engine(url))
    erp.add("user", {"login": "mueller"})
    with erp.engine.begin() as conn:
        conn.execute(tasks.insert().values(user_login="mueller", subject="x" * 300))
    before = dump(erp.engine)

    with ErpStore(url) as store:
        with pytest.raises(PermanentError, match="tasks row 1: subject is 300 characters long"):
            store.init()
        assert dump(erp.engine) == before
        with erp.engine.begin() as conn:
            conn.execute(tasks.update().values(subject="Call back"))
        assert store.init() == migrations.MIGRATIONS[-1].version
    erp.engine.dispose()
