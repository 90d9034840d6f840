"""`einklang erp`: set up a store and change ERP data by hand (origin erp), as the demo does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from adapters.erp.migrations import MIGRATIONS
from adapters.erp.store import ErpStore
from engine.model import Appointment, Task
from engine.observation import Change, Observation, UserChange
from service.cli import main
from tests.erp.conftest import PASSWORD, ErpDatabase
from tests.postgres import POSTGRES_URL, require_postgres

EINKLANG = Path(sys.executable).parent / "einklang"
LATEST = MIGRATIONS[-1].version

FIXTURE = """
[[user]]
login = "mueller"
exchange_mailbox = "mueller@example.com"
allow_exchange_sync = true

[[appointment]]
user_login = "mueller"
subject = "Jour fixe"
starts_at = "2026-11-02T09:00"
ends_at = "2026-11-02T10:00"
rrule = "FREQ=WEEKLY;BYDAY=MO"
participants = [{ email = "a@example.com", name = "A" }]
exceptions = [{ original_start = "2026-11-09T09:00", deleted = true }]

[[task]]
user_login = "mueller"
subject = "Call back"
due_date = "2026-11-06"

[[follow-up]]
user_login = "mueller"
subject = "Ask again"
"""


def invoke(erp_db: ErpDatabase, *args: str) -> Result:
    options = ["erp", "--url", erp_db.url]
    if erp_db.schema is not None:
        options += ["--schema", erp_db.schema]
    return CliRunner().invoke(main, [*options, *args])


def run(erp_db: ErpDatabase, *args: str) -> str:
    result = invoke(erp_db, *args)
    assert result.exit_code == 0, result.output
    return result.output


def test_init_twice_leaves_the_schema_as_it_is(erp_db: ErpDatabase) -> None:
    assert f"schema version {LATEST}" in run(erp_db, "init")
    assert f"schema version {LATEST}" in run(erp_db, "init")


def test_a_person_changes_erp_data_from_the_command_line_and_each_change_is_in_the_feed(
    erp_db: ErpDatabase,
) -> None:
    run(erp_db, "init")
    run(erp_db, "add-user", "mueller", "--mailbox", "mueller@example.com")
    run(
        erp_db,
        "add-appointment",
        "mueller",
        "Jour fixe",
        "--start",
        "2026-11-02T09:00",
        "--rrule",
        "FREQ=WEEKLY;BYDAY=MO",
        "--participant",
        "a@example.com",
    )
    run(erp_db, "exception", "1", "2026-11-09T09:00", "--deleted")
    run(erp_db, "add-task", "mueller", "Call back", "--due", "2026-11-06")
    run(erp_db, "edit", "task", "1", "percent_complete=50", "status=in_progress")
    run(erp_db, "delete", "task", "1")

    feed = run(erp_db, "feed").splitlines()
    assert [line.split()[2:4] for line in feed] == [
        ["erp", "insert"],  # user
        ["erp", "insert"],  # appointment
        ["erp", "insert"],  # its participant
        ["erp", "insert"],  # its exception
        ["erp", "insert"],  # task
        ["erp", "update"],
        ["erp", "delete"],
    ]
    assert "mueller@example.com" in run(erp_db, "users")
    listing = run(erp_db, "list")
    assert "'Jour fixe'" in listing and "weekly, 1 exception(s)" in listing


def test_a_fixture_file_loads_users_items_and_follow_ups(
    erp_db: ErpDatabase, tmp_path: Path
) -> None:
    fixture = tmp_path / "erp.toml"
    fixture.write_text(FIXTURE)
    run(erp_db, "init")

    assert run(erp_db, "load", str(fixture)).strip() == (
        "1 user, 1 appointment, 1 task, 1 follow-up"
    )

    with ErpStore(erp_db.url, schema=erp_db.schema) as store:
        changes = store.read_changes(0).changes
    assert isinstance(changes[0], UserChange) and changes[0].user.allow_sync
    appointment, task = (c for c in changes if isinstance(c, Observation))
    assert appointment.change is Change.CHANGED and task.change is Change.CHANGED
    assert isinstance(appointment.snapshot, Appointment)
    assert len(appointment.snapshot.deleted_occurrences) == 1
    assert [p.email for p in appointment.snapshot.participants] == ["a@example.com"]
    assert isinstance(task.snapshot, Task) and task.snapshot.due is not None


def test_a_bad_value_on_the_command_line_is_an_error_message(erp_db: ErpDatabase) -> None:
    run(erp_db, "init")
    run(erp_db, "add-user", "mueller")
    run(erp_db, "add-task", "mueller", "Call back")
    result = invoke(erp_db, "edit", "task", "1", "percent_complete=many")
    assert result.exit_code != 0
    assert "percent_complete" in result.output


def einklang_erp(*args: str) -> str:
    """Run `einklang erp ...` as a person would; returns its output, which must be one error line."""
    result = subprocess.run(
        [str(EINKLANG), "erp", *args], capture_output=True, text=True, timeout=60
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output
    assert PASSWORD not in output
    assert len(output.strip().splitlines()) == 1, output
    return output


@pytest.mark.parametrize(
    "command",
    [["init"], ["--schema", "erp", "init"], ["users"], ["list"], ["add-user", "mueller"]],
    ids=" ".join,
)
def test_an_unreachable_database_is_one_line_without_the_password(
    unreachable_postgres_url: str, command: list[str]
) -> None:
    output = einklang_erp("--url", unreachable_postgres_url, *command)

    assert "127.0.0.1" in output and "einklang:***@" in output


@pytest.mark.parametrize(
    ("url", "schema"),
    [
        (f"postgresql://einklang:{PASSWORD}@127.0.0.1:5432/erp", "Bad-Name"),
        ("sqlite://", "erp"),
    ],
    ids=["not an identifier", "SQLite has no schemas"],
)
def test_a_bad_schema_name_is_one_line(url: str, schema: str) -> None:
    output = einklang_erp("--url", url, "--schema", schema, "init")

    assert "schema" in output.lower()


def test_a_url_that_is_no_database_url_is_one_line() -> None:
    output = einklang_erp("--url", f"einklang:{PASSWORD}", "init")

    assert "URL" in output


@pytest.mark.postgres
def test_a_schema_name_postgresql_refuses_is_one_line() -> None:
    require_postgres()

    output = einklang_erp("--url", POSTGRES_URL, "--schema", "pg_einklang", "init")

    assert "pg_einklang" in output
