"""`einklang erp load`: a fixture file is loaded all or nothing, and loading it again adds nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from adapters.erp.editing import EditError, ErpEditor
from adapters.erp.fixtures import FixtureLoader, LoadReport
from adapters.erp.schema import (
    appointment_exceptions,
    appointment_participants,
    appointments,
    follow_ups,
    tasks,
    users,
)
from adapters.erp.store import ErpStore
from tests.erp.conftest import ErpDatabase

GOOD = """
[[user]]
login = "schmidt"
exchange_mailbox = "schmidt@example.com"
allow_exchange_sync = true

[[appointment]]
user_login = "schmidt"
subject = "Jour fixe"
starts_at = "2026-11-02T09:00"
ends_at = "2026-11-02T10:00"
rrule = "FREQ=WEEKLY;BYDAY=MO"
participants = [{ email = "a@example.com", name = "A" }]
exceptions = [{ original_start = "2026-11-09T09:00", deleted = true }]

[[appointment]]
user_login = "schmidt"
subject = "Kickoff"
starts_at = 2026-11-03T14:00:00
ends_at = 2026-11-03T15:00:00+01:00

[[task]]
user_login = "schmidt"
subject = "Call back"
due_date = 2026-11-06

[[follow-up]]
user_login = "schmidt"
subject = "Ask again"
"""

TABLES = (users, appointments, appointment_exceptions, appointment_participants, tasks, follow_ups)


def rows(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
            for t in TABLES
        }


def load(store: ErpStore, path: Path) -> LoadReport:
    return FixtureLoader(ErpEditor(store.engine, checked=True), store.engine).load(path)


@pytest.mark.parametrize(
    "bad_record",
    [
        '[[task]]\nuser_login = "schmidt"\nsubject = "Late"\npercent_complete = "many"\n',
        '[[task]]\nuser_login = "nobody"\nsubject = "For nobody"\n',
        '[[appointment]]\nuser_login = "schmidt"\nsubject = "x"\nstarts_at = "2026-11-02T09:00"\n',
        '[[follow-up]]\nuser_login = "schmidt"\nsubject = "' + "s" * 256 + '"\n',
    ],
    ids=["not a number", "unknown user", "no end", "too long"],
)
def test_a_bad_record_half_way_leaves_nothing_committed(
    erp_db: ErpDatabase, store: ErpStore, tmp_path: Path, bad_record: str
) -> None:
    fixture = tmp_path / "erp.toml"
    # The bad record comes after good ones of its own kind and before others.
    fixture.write_text(GOOD.replace("[[follow-up]]", bad_record + "\n[[follow-up]]", 1))
    before_rows, before_feed = rows(store.engine), store.feed_position()

    with pytest.raises(EditError, match=r"erp\.toml: (task|appointment|follow-up) #\d"):
        load(store, fixture)

    assert rows(store.engine) == before_rows
    assert store.feed_position() == before_feed


def test_loading_a_file_twice_adds_nothing_the_second_time(store: ErpStore, tmp_path: Path) -> None:
    fixture = tmp_path / "erp.toml"
    fixture.write_text(GOOD)

    first = load(store, fixture)
    after_first, feed_after_first = rows(store.engine), store.feed_position()
    second = load(store, fixture)

    assert str(first) == "1 user, 2 appointment, 1 task, 1 follow-up"
    assert str(second) == "nothing new; already there: 1 user, 2 appointment, 1 task, 1 follow-up"
    assert rows(store.engine) == after_first
    assert store.feed_position() == feed_after_first
    assert after_first["appointment_participants"] == after_first["appointment_exceptions"] == 1


def test_a_file_with_new_and_known_records_adds_only_the_new_ones(
    store: ErpStore, tmp_path: Path
) -> None:
    fixture = tmp_path / "erp.toml"
    fixture.write_text(GOOD)
    load(store, fixture)
    fixture.write_text(GOOD + '\n[[task]]\nuser_login = "schmidt"\nsubject = "Write offer"\n')

    assert str(load(store, fixture)) == (
        "1 task; already there: 1 user, 2 appointment, 1 task, 1 follow-up"
    )
    with store.engine.connect() as conn:
        subjects = conn.execute(sa.select(tasks.c.subject).order_by(tasks.c.id)).scalars().all()
    assert subjects == ["Call back", "Write offer"]


def test_a_json_fixture_loads_the_same_way(store: ErpStore, tmp_path: Path) -> None:
    fixture = tmp_path / "erp.json"
    fixture.write_text(
        '{"user": [{"login": "schmidt"}],'
        ' "task": [{"user_login": "schmidt", "subject": "Call back", "percent_complete": 10}]}'
    )

    assert str(load(store, fixture)) == "1 user, 1 task"
    assert str(load(store, fixture)) == "nothing new; already there: 1 user, 1 task"
