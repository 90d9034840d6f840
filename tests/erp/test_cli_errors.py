"""`einklang erp …` with bad input: one clear line on stderr naming the field, exit status 2.

Never a traceback, whatever the arguments, options or files: each case below names a field and
must see it named in the message; the property tests throw arbitrary text (and bytes that are no
UTF-8) at every argument of every subcommand.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.erp.database import create_erp_engine
from adapters.erp.editing import TABLES
from adapters.erp.schema import appointment_exceptions, appointments, tasks, users
from service.cli import main
from tests.postgres import POSTGRES_URL, drop_schema, require_postgres

EINKLANG = Path(sys.executable).parent / "einklang"


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def erp_file(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[str]]:
    """An ERP store with a user, a weekly series (appointment 1) and a single one (2): the
    `--url` (and `--schema`) options naming it."""
    schema = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('erp') / 'erp.sqlite3'}"
    else:
        require_postgres()
        url, schema = POSTGRES_URL, f"einklang_cli_{uuid.uuid4().hex[:12]}"
    target = ["--url", url, *(["--schema", schema] if schema else [])]
    for args in (
        ["init"],
        ["add-user", "mueller", "--mailbox", "mueller@example.com"],
        ["add-appointment", "mueller", "Jour fixe", "--start", "2026-11-02T09:00"],
        ["add-appointment", "mueller", "Kickoff", "--start", "2026-11-03T09:00"],
        ["add-task", "mueller", "Call back"],
    ):
        result = erp(target, *args)
        assert result.exit_code == 0, result.output
    engine = create_erp_engine(url, schema=schema)
    with engine.begin() as conn:
        conn.execute(
            appointments.update().where(appointments.c.id == 1).values(rrule="FREQ=WEEKLY;BYDAY=MO")
        )
    engine.dispose()
    yield target
    if schema is not None:
        drop_schema(url, schema)


def erp(target: Path | list[str], *args: str) -> Result:
    options = ["--url", f"sqlite:///{target}"] if isinstance(target, Path) else target
    return CliRunner().invoke(main, ["erp", *options, *args])


def one_line_error(result: Result) -> str:
    """The error line of a refused command; fails the test on anything else."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert result.stdout == ""
    return lines[0]


BAD_ARGUMENTS: dict[str, tuple[list[str], str]] = {
    "unknown time zone, time without offset": (
        [
            "add-appointment",
            "mueller",
            "X",
            "--start",
            "2026-11-02T09:00",
            "--time-zone",
            "Mars/Base",
        ],
        "--time-zone",
    ),
    "start is no time": (["add-appointment", "mueller", "X", "--start", "Monday 9"], "--start"),
    "end is no time": (
        ["add-appointment", "mueller", "X", "--start", "2026-11-02T09:00", "--end", "10h"],
        "--end",
    ),
    "start in year 1, Berlin": (
        ["add-appointment", "mueller", "X", "--start", "0001-01-01T00:00"],
        "--start",
    ),
    "start at the end of time": (
        ["add-appointment", "mueller", "X", "--start", "9999-12-31T23:30+00:00"],
        "--start",
    ),
    "appointment of an unknown user": (
        ["add-appointment", "nobody", "X", "--start", "2026-11-02T09:00"],
        "no ERP user 'nobody'",
    ),
    "task of an unknown user": (["add-task", "nobody", "X"], "no ERP user 'nobody'"),
    "subject too long": (
        ["add-appointment", "mueller", "S" * 256, "--start", "2026-11-02T09:00"],
        "appointments.subject",
    ),
    "subject with NUL": (["add-task", "mueller", "Call\x00back"], "tasks.subject"),
    "rule Exchange cannot express": (
        [
            "add-appointment",
            "mueller",
            "X",
            "--start",
            "2026-11-02T09:00",
            "--rrule",
            "FREQ=HOURLY",
        ],
        "appointments.rrule",
    ),
    "rule that is no rule": (
        ["add-appointment", "mueller", "X", "--start", "2026-11-02T09:00", "--rrule", "weekly"],
        "appointments.rrule",
    ),
    "participant that is no address": (
        ["add-appointment", "mueller", "X", "--start", "2026-11-02T09:00", "--participant", "Anna"],
        "appointment_participants.email",
    ),
    "reminder that is no number": (
        ["add-appointment", "mueller", "X", "--start", "2026-11-02T09:00", "--reminder", "soon"],
        "--reminder",
    ),
    "malformed mailbox": (["add-user", "weber", "--mailbox", "weber at firma"], "exchange_mailbox"),
    "login too long": (["add-user", "w" * 101], "users.login"),
    "login taken": (["add-user", "mueller"], "users already has a row with login 'mueller'"),
    "participant twice": (
        [
            "add-appointment",
            "mueller",
            "X",
            "--start",
            "2026-11-02T09:00",
            "--participant",
            "a@example.com",
            "--participant",
            "a@example.com",
        ],
        "already has a row with appointment_id",
    ),
    "valid-from is no date": (["add-user", "weber", "--valid-from", "soon"], "users.valid_from"),
    "due is no date": (["add-task", "mueller", "X", "--due", "2026-13-01"], "tasks.due_date"),
    "occurrence not on the pattern": (
        ["exception", "1", "2026-11-10T09:00", "--deleted"],
        "not an occurrence of the series",
    ),
    "occurrence at another time": (
        ["exception", "1", "2026-11-09T10:00", "--subject", "Moved"],
        "the nearest are 2026-11-09T09:00+01:00 and 2026-11-16T09:00+01:00",
    ),
    "occurrence of a single appointment": (
        ["exception", "2", "2026-11-03T09:00", "--deleted"],
        "it is not a series",
    ),
    "occurrence of no appointment": (["exception", "99", "2026-11-09T09:00"], "no appointment 99"),
    "original start is no time": (["exception", "1", "next monday"], "original_start"),
    "edit of an unknown column": (["edit", "task", "1", "colour=red"], "'colour'"),
    "edit without =": (["edit", "task", "1", "subject"], "COLUMN=VALUE"),
    "edit of a number with text": (
        ["edit", "task", "1", "percent_complete=half"],
        "percent_complete",
    ),
    "edit of a number beyond 32 bits": (
        ["edit", "task", "1", "percent_complete=99999999999"],
        "percent_complete",
    ),
    "edit of a flag with text": (["edit", "appointment", "2", "private=perhaps"], "private"),
    "edit of an unknown time zone": (
        ["edit", "appointment", "2", "time_zone=Nowhere"],
        "time_zone",
    ),
    "edit of an unknown status": (["edit", "task", "1", "status=done"], "tasks.status"),
    "edit of the row version": (["edit", "task", "1", "row_version=7"], "'row_version'"),
    "edit of the user to an unknown one": (["edit", "task", "1", "user_login=nobody"], "nobody"),
    "edit of a missing row": (["edit", "task", "99", "subject=x"], "no task 99"),
    "edit of a missing exception's start": (
        ["edit", "exception", "99", "original_start=2026-11-09T09:00"],
        "no exception 99",
    ),
    "feed limit below one": (["feed", "--limit", "-1"], "--limit"),
    "edit of an unknown kind": (["edit", "meeting", "1", "subject=x"], "'meeting' is not one of"),
    "edit of the same column twice": (["edit", "task", "1", "subject=a", "subject=b"], "twice"),
    "delete of a missing row": (["delete", "task", "99"], "no task 99"),
    "missing argument": (["add-task", "mueller"], "SUBJECT"),
    "row id is no number": (["delete", "task", "one"], "ROW_ID"),
    "feed limit is no number": (["feed", "--limit", "ten"], "--limit"),
    "today is no date": (["users", "--today", "tomorrow"], "--today"),
    "unknown option": (["users", "--colour"], "--colour"),
    "unknown command": (["remove"], "remove"),
    "argument that is no UTF-8": (["add-task", "mueller", "Caf\udce9"], "argument 'Caf"),
    "option value that is no UTF-8": (
        ["add-user", "weber", "--short-name", "W\udcfc"],
        "the value of --short-name is not UTF-8 text (byte 0xFC)",
    ),
}


@pytest.mark.parametrize("case", list(BAD_ARGUMENTS))
def test_a_bad_argument_is_one_line_naming_the_field(erp_file: list[str], case: str) -> None:
    args, named = BAD_ARGUMENTS[case]
    before = feed(erp_file)

    assert named in one_line_error(erp(erp_file, *args))
    assert feed(erp_file) == before  # nothing was written


def feed(path: Path | list[str]) -> str:
    result = erp(path, "feed", "--limit", "1000")
    assert result.exit_code == 0, result.output
    return result.output


BAD_FILES: dict[str, tuple[str, bytes, str]] = {
    "not UTF-8": ("erp.toml", b'[[user]]\nlogin = "m\xfcller"\n', "not UTF-8 text (byte 0xFC"),
    "a lone surrogate escaped in JSON": (
        "erp.json",
        b'{"user": [{"login": "m\\udcfcller"}]}',
        "users.login: is not UTF-8 text (byte 0xFC)",
    ),
    "broken TOML": ("erp.toml", b"[[user]\nlogin = 'x'\n", "not valid TOML"),
    "broken JSON": ("erp.json", b'{"user": [', "not valid JSON"),
    "JSON that is a list": ("erp.json", b'[{"login": "x"}]', "must be a table of [[user]]"),
    "a kind that is no list": ("erp.toml", b"user = 5\n", "user must be a list of tables"),
    "a record that is no table": ("erp.json", b'{"task": ["Call back"]}', "task must be a list"),
    "an unknown section": (
        "erp.toml",
        b'[[users]]\nlogin = "x"\n',
        "unknown section 'users'; sections are user, appointment, task, follow-up",
    ),
    "an unknown field": ("erp.toml", b'[[user]]\nlogin = "x"\ncolour = 1\n', "'colour'"),
    "a time that is a number": (
        "erp.toml",
        b'[[appointment]]\nuser_login = "mueller"\nstarts_at = 5\nends_at = 6\n',
        "appointment #1: appointments.starts_at: 5 is not a time",
    ),
    "a time of day without a date": (
        "erp.toml",
        b'[[appointment]]\nuser_login = "mueller"\nstarts_at = 09:00:00\nends_at = 10:00:00\n',
        "appointments.starts_at",
    ),
    "a subject that is a number": (
        "erp.toml",
        b'[[task]]\nuser_login = "mueller"\nsubject = 42\n',
        "tasks.subject: 42 is not text",
    ),
    "a flag that is a string": (
        "erp.json",
        b'{"user": [{"login": "x", "locked": "maybe"}]}',
        "users.locked",
    ),
    "a missing required field": ("erp.toml", b'[[user]]\nshort_name = "X"\n', "a user needs login"),
    "a null login": ("erp.json", b'{"user": [{"login": null}]}', "users.login cannot be empty"),
    "participants that are no list": (
        "erp.toml",
        b'[[appointment]]\nuser_login = "mueller"\nparticipants = "a@example.com"\n',
        "participants must be a list of tables",
    ),
    "the same participant twice": (
        "erp.toml",
        b'[[appointment]]\nuser_login = "mueller"\nsubject = "S"\nstarts_at = "2026-11-02T09:00"\n'
        b'ends_at = "2026-11-02T10:00"\n'
        b'participants = [{ email = "a@example.com" }, { email = "a@example.com" }]\n',
        "participant #2: appointment_participants already has a row with",
    ),
    "an exception without its start": (
        "erp.toml",
        b'[[appointment]]\nuser_login = "mueller"\nsubject = "S"\nstarts_at = "2026-11-02T09:00"\n'
        b'ends_at = "2026-11-02T10:00"\nrrule = "FREQ=DAILY"\nexceptions = [{ deleted = true }]\n',
        "exception #1: needs original_start",
    ),
    "a task of an unknown user": (
        "erp.toml",
        b'[[task]]\nuser_login = "nobody"\nsubject = "S"\n',
        "task #1: there is no ERP user 'nobody'",
    ),
    "a number beyond 64 bits": (
        "erp.json",
        b'{"task": [{"user_login": "mueller", "percent_complete": 1e999}]}',
        "percent_complete",
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_file_is_one_line_naming_the_field_and_loads_nothing(
    erp_file: list[str], tmp_path: Path, case: str
) -> None:
    name, content, named = BAD_FILES[case]
    fixture = tmp_path / name
    fixture.write_bytes(content)
    before = feed(erp_file)

    assert named in one_line_error(erp(erp_file, "load", str(fixture)))
    assert feed(erp_file) == before


def test_a_file_with_a_bad_record_half_way_loads_nothing_and_twice_adds_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "erp.sqlite3"
    assert erp(path, "init").exit_code == 0
    good = tmp_path / "good.toml"
    good.write_text(
        '[[user]]\nlogin = "mueller"\n\n[[task]]\nuser_login = "mueller"\nsubject = "Call back"\n'
    )
    bad = tmp_path / "bad.toml"
    bad.write_text(good.read_text() + '\n[[task]]\nuser_login = "mueller"\nsubject = 7\n')

    assert "task #2" in one_line_error(erp(path, "load", str(bad)))
    assert feed(path) == ""
    assert erp(path, "load", str(good)).output == "1 user, 1 task\n"
    again = erp(path, "load", str(good))
    assert again.output == "nothing new; already there: 1 user, 1 task\n"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tasks)).scalar_one() == 1
    engine.dispose()


# ---- arbitrary input ------------------------------------------------------------------------

# Text a terminal can hand over: any Unicode, and bytes that are no UTF-8 (as Python decodes them).
ARGUMENT = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=30),
    st.text(st.sampled_from("\udcff\udcfe\udc80abc:-T0123456789"), min_size=1, max_size=12),
    st.sampled_from(
        [
            "",
            "-",
            "--",
            "0",
            "-1",
            "+-5",
            "²",
            "١٢",
            "1e3",
            "2026-11-09T09:00",
            "Europe/Berlin",
            "x=y",
        ]
    ),
)
COMMANDS = st.sampled_from(
    [
        ["add-user"],
        ["add-appointment", "mueller"],
        ["add-appointment", "mueller", "X", "--start"],
        ["add-appointment", "mueller", "X", "--start", "2026-11-02T09:00", "--time-zone"],
        ["add-appointment", "mueller", "X", "--start", "2026-11-02T09:00", "--rrule"],
        ["add-task", "mueller", "X", "--due"],
        ["add-task"],
        ["exception", "1"],
        ["exception", "1", "2026-11-09T09:00", "--start"],
        ["edit", "task", "1"],
        ["edit", "appointment", "2"],
        ["edit", "exception"],
        ["edit", "participant", "1"],
        ["edit", "user", "1"],
        ["exception", "1", "2026-11-09T09:00", "--deleted", "--end"],
        ["delete", "task"],
        ["list", "--user"],
        ["users", "--today"],
        ["feed", "--after"],
    ]
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(command=COMMANDS, arguments=st.lists(ARGUMENT, min_size=1, max_size=3))
def test_no_argument_makes_a_command_print_a_traceback(
    erp_file: list[str], command: list[str], arguments: list[str]
) -> None:
    result = erp(erp_file, *command, *arguments)

    if result.exit_code != 0:
        assert one_line_error(result)


FIELD_VALUES = st.one_of(
    st.text(max_size=20),
    st.integers(),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=2),
    st.lists(
        st.dictionaries(
            st.sampled_from(["email", "original_start", "name", "deleted"]), st.text(max_size=20)
        ),
        max_size=2,
    ),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
RECORDS = st.dictionaries(
    st.sampled_from(
        sorted(
            {c.name for table in TABLES.values() for c in table.columns}
            | {"participants", "exceptions", "colour"}
        )
    ),
    FIELD_VALUES,
    max_size=6,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    kind=st.sampled_from(["user", "appointment", "task", "follow-up"]),
    records=st.lists(RECORDS, max_size=3),
)
def test_no_file_content_makes_load_print_a_traceback(
    erp_file: list[str], tmp_path_factory: pytest.TempPathFactory, kind: str, records: list[object]
) -> None:
    import json

    fixture = tmp_path_factory.mktemp("fixture") / "erp.json"
    fixture.write_text(json.dumps({kind: records}))

    result = erp(erp_file, "load", str(fixture))

    if result.exit_code != 0:
        assert one_line_error(result)


# ---- as a person runs it: the real process, real bytes ------------------------------------


def test_bytes_that_are_no_utf8_are_one_line_from_the_real_process(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'erp.sqlite3'}".encode()
    args = [b"add-task", b"mueller", b"X", b"--info", b"K\xfcche"]

    result = subprocess.run(
        [os.fsencode(EINKLANG), b"erp", b"--url", url, *args], capture_output=True, timeout=60
    )

    assert result.returncode == 2, result.stderr
    assert b"Traceback" not in result.stderr and result.stdout == b""
    [line] = result.stderr.strip().splitlines()
    assert b"the value of --info is not UTF-8 text (byte 0xFC)" in line


EDITED = st.sampled_from(
    [("task", "1", c.name) for c in tasks.columns]
    + [("appointment", "2", c.name) for c in appointments.columns]
    + [("exception", "1", c.name) for c in appointment_exceptions.columns]
    + [("user", "1", c.name) for c in users.columns]
)


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(edited=EDITED, value=ARGUMENT)
def test_no_value_of_any_column_makes_edit_print_a_traceback(
    erp_file: list[str], edited: tuple[str, str, str], value: str
) -> None:
    kind, row_id, column = edited
    if column == "login":
        return  # renaming the user every other test relies on
    result = erp(erp_file, "edit", kind, row_id, f"{column}={value}")

    if result.exit_code != 0:
        assert one_line_error(result)
