"""Issue 10 as support sees it: `einklang audit --item` and `einklang replay explain` show both
halves of a move (the old user's stream and the new user's), `replay verify` re-derives it."""

from __future__ import annotations

from pathlib import Path

import orjson
from click.testing import CliRunner, Result

from engine import reasons
from engine.options import SyncOptions
from service.cli import main
from tests.harness import Harness


def recorded_move(directory: Path) -> tuple[Path, str]:
    world = Harness(directory, SyncOptions())
    try:
        world.user("mueller")
        world.user("schmidt")
        world.sync()
        row = world.erp_appointment(subject="Kickoff")
        world.sync()
        world.erp.edit(row, user_login="schmidt")
        world.sync()
    finally:
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
    return config, row


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--config", str(config), *args], catch_exceptions=False)


def test_audit_explain_and_verify_show_a_move_from_both_sides(tmp_path: Path) -> None:
    config, row = recorded_move(tmp_path)
    audit = run(config, "audit", "--item", row, "--json", "--limit", "100")
    assert audit.exit_code == 0, audit.output
    entries = [orjson.loads(line) for line in audit.output.splitlines()]
    moves = [(e["user"], e["reason"], e["operation"], e["outcome"]) for e in entries]
    assert ("mueller", reasons.MOVED_AWAY, "delete", "done") in moves
    assert ("schmidt", reasons.MOVED_IN, "create", "done") in moves
    explained = run(config, "replay", "explain", row)
    assert explained.exit_code == 0, explained.output
    assert explained.output.count("item ") >= 2
    assert "now schmidt's" in explained.output and "moved from mueller" in explained.output
    same = run(config, "replay", "verify")
    assert same.exit_code == 0 and "all the same" in same.output
