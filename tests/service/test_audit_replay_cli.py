"""`einklang audit` and `einklang replay` (issue 13) on a store the real engine path wrote."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from engine.options import SyncOptions
from service.cli import main
from tests.harness import Harness, at


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A store with two users' histories, and a configuration naming it."""
    directory = tmp_path_factory.mktemp("store")
    world = Harness(directory, SyncOptions())
    world.user("mueller")
    world.user("schmidt")
    world.sync()
    kickoff = world.erp_appointment(subject="Kickoff Huber GmbH", location="Raum 1")
    world.erp_task(user="schmidt", subject="Angebot nachfassen")
    world.outlook_appointment(subject="Zahnarzt")
    world.sync()
    world.clock.advance(hours=1)
    world.erp.edit(kickoff, start=at(1, 11), end=at(1, 12))
    world.sync()
    outlook = world.counterpart_in_exchange(kickoff)
    world.exchange.edit(outlook.id, subject="Kickoff Huber GmbH (neu)")
    world.sync()
    ids = {"kickoff": kickoff, "outlook": outlook.id}
    world.shutdown()
    config = directory / "einklang.toml"
    config.write_text(
        f"""
[erp]
url = "sqlite:///erp.sqlite3"
[store]
url = "sqlite:///{directory / "einklang.db"}"
[exchange]
url = "https://mail.example.com/EWS/Exchange.asmx"
auth = "ntlm"
username = "svc"
password_env = "EWS_PASSWORD"
""",
        encoding="utf-8",
    )
    return config, ids


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--config", str(config), *args], catch_exceptions=False)


def test_audit_lists_filters_and_pages(recorded: tuple[Path, dict[str, str]]) -> None:
    config, _ = recorded
    table = run(config, "audit", "--limit", "200")
    assert table.exit_code == 0, table.output
    assert "CREATED_IN_ERP" in table.output and "Kickoff" in table.output
    lines = run(config, "audit", "--json", "--user", "mueller", "--limit", "500").output
    entries = [orjson.loads(line) for line in lines.splitlines()]
    assert entries and {e["user"] for e in entries} == {"mueller"}
    assert [e["id"] for e in entries] == sorted(e["id"] for e in entries)
    found = run(config, "audit", "--json", "--text", "huber gmbh", "--reason", "CHANGED_IN_ERP")
    hits = [orjson.loads(line) for line in found.output.splitlines()]
    assert hits and all(
        "Huber GmbH" in h["subject"] and h["reason"] == "CHANGED_IN_ERP" for h in hits
    )
    page1 = run(config, "audit", "--json", "--limit", "2").output.splitlines()
    page2 = run(config, "audit", "--json", "--limit", "2", "--page", "2").output.splitlines()
    assert len(page1) == len(page2) == 2 and page1 != page2
    rows = list(csv.DictReader(io.StringIO(run(config, "audit", "--csv").output)))
    assert rows and "reason" in rows[0] and "sentence" in rows[0]
    assert run(config, "audit", "--since", "2026-13-01").exit_code == 2
    both = run(config, "audit", "--json", "--csv")
    assert both.exit_code == 2 and "choose one" in both.output


def test_audit_stats_per_user_and_reason(recorded: tuple[Path, dict[str, str]]) -> None:
    config, _ = recorded
    per_user = [
        orjson.loads(line) for line in run(config, "audit", "stats", "--json").output.splitlines()
    ]
    assert {r["user"] for r in per_user} == {"mueller", "schmidt"}
    assert all(r["transfers"] >= 1 for r in per_user)
    per_reason = run(config, "audit", "stats", "--by", "reason")
    assert per_reason.exit_code == 0 and "ECHO" in per_reason.output


def test_replay_explain_by_erp_and_exchange_id(recorded: tuple[Path, dict[str, str]]) -> None:
    config, ids = recorded
    by_erp = run(config, "replay", "explain", ids["kickoff"])
    assert by_erp.exit_code == 0, by_erp.output
    assert "CREATED_IN_ERP" in by_erp.output and "CHANGED_IN_EXCHANGE" in by_erp.output
    by_exchange = run(config, "replay", "explain", ids["outlook"], "--json")
    steps = [orjson.loads(line) for line in by_exchange.output.splitlines()]
    assert any(s["reason"] == "CHANGED_IN_EXCHANGE" for s in steps)
    unknown = run(config, "replay", "explain", "no-such-item")
    assert unknown.exit_code == 2 and "no item" in unknown.output


def test_replay_verify_and_what_if(recorded: tuple[Path, dict[str, str]]) -> None:
    config, _ = recorded
    same = run(config, "replay", "verify")
    assert same.exit_code == 0 and "all the same" in same.output
    mueller = run(config, "replay", "verify", "--user", "mueller")
    assert mueller.exit_code == 0
    assert int(mueller.output.split()[0]) < int(same.output.split()[0])
    whatif = run(config, "replay", "what-if", "--set", "import_enabled=false")
    assert whatif.exit_code == 0 and "IMPORT_OFF" in whatif.output
    bad = run(config, "replay", "what-if", "--set", "colour=blue")
    assert bad.exit_code == 2 and "OPTION one of" in bad.output
    bad_value = run(config, "replay", "what-if", "--set", "conflict_policy=loudest")
    assert bad_value.exit_code == 2 and "conflict_policy" in bad_value.output


def test_replay_rebuild_gives_the_same_read_models(
    recorded: tuple[Path, dict[str, str]],
) -> None:
    config, _ = recorded
    store = config.parent / "einklang.db"
    engine = sa.create_engine(f"sqlite:///{store}")

    def rows() -> list[tuple[object, ...]]:
        with engine.connect() as conn:
            return [
                tuple(r) for r in conn.execute(sa.text("SELECT * FROM transfer_log ORDER BY id"))
            ]

    before = rows()
    result = run(config, "replay", "rebuild")
    assert result.exit_code == 0, result.output
    assert rows() == before and before
    engine.dispose()


def test_bundle_round_trip_without_personal_data(
    recorded: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    config, ids = recorded
    bundle = tmp_path / "support.jsonl"
    exported = run(config, "replay", "bundle", "export", "-o", str(bundle))
    assert exported.exit_code == 0, exported.output and "redacted" in exported.output
    text = bundle.read_text(encoding="utf-8")
    for personal in ("Kickoff", "Huber", "Raum 1", "Angebot", "Zahnarzt", "@example.com"):
        assert personal not in text
    assert "EWS_PASSWORD" not in text and "svc" not in text
    opened = CliRunner().invoke(main, ["replay", "bundle", "open", str(bundle)])
    assert opened.exit_code == 0 and "personal data redacted" in opened.output
    full = run(config, "replay", "verify").output
    on_bundle = CliRunner().invoke(main, ["replay", "--bundle", str(bundle), "verify"])
    assert on_bundle.exit_code == 0 and on_bundle.output == full
    explained = CliRunner().invoke(
        main, ["replay", "--bundle", str(bundle), "explain", ids["kickoff"]]
    )
    assert explained.exit_code == 0 and "CHANGED_IN_EXCHANGE" in explained.output
    again = run(config, "replay", "bundle", "export", "-o", str(bundle))
    assert again.exit_code == 2 and "exists" in again.output
