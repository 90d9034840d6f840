"""A store recorded before the state diet of issue 12 (R19): `einklang replay verify` over it
re-derives every recorded decision with today's code and finds no difference.

The fixture was written by the engine at commit df7bf02 (`tests/fixtures/record_history.py`
says how): a story over three users touching R5, R8, R16, R17, series exceptions, a parked row
and restarts. A change to what `decide` is given (a smaller item state, snapshots loaded on
demand, a state restored from a snapshot) that changed any decision shows here.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.store import EventStore, StoreLocation
from replay.verify import verify
from service.cli import main

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "history-df7bf02.sqlite3"
RECORDED_DECISIONS = 82


@pytest.fixture
def recorded(tmp_path: Path) -> Path:
    path = tmp_path / "einklang.db"
    shutil.copy(FIXTURE, path)
    return path


def test_r19_verify_over_a_store_recorded_before_the_state_diet_finds_no_difference(
    recorded: Path,
) -> None:
    store = EventStore(StoreLocation(str(recorded)))
    try:
        report = verify(store)
    finally:
        store.close()
    assert report.decisions == RECORDED_DECISIONS
    assert report.ok, [
        (d.recorded.reason, d.derived and d.derived.reason, d.error) for d in report.differences
    ]


def test_r19_einklang_replay_verify_over_the_recorded_store_reports_all_the_same(
    recorded: Path,
) -> None:
    config = recorded.parent / "einklang.toml"
    config.write_text(
        f"""
[erp]
url = "sqlite:///erp.sqlite3"
[store]
url = "sqlite:///{recorded}"
[exchange]
url = "https://mail.example.com/EWS/Exchange.asmx"
auth = "ntlm"
username = "svc"
password_env = "EWS_PASSWORD"
""",
        encoding="utf-8",
    )
    done = CliRunner().invoke(main, ["--config", str(config), "replay", "verify"])
    assert done.exit_code == 0, done.output
    assert done.output.strip() == f"{RECORDED_DECISIONS} decisions re-derived: all the same"
