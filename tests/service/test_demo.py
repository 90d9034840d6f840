"""`einklang demo` (issue 11): runs to completion on nothing configured, exits 0, tells its story
readably, and leaves a directory that status, audit and replay work on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EINKLANG = [sys.executable, "-c", "from service.cli import main; main()"]


def einklang(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EINKLANG_")}
    env["COLUMNS"] = "120"
    return subprocess.run(
        [*EINKLANG, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The README's demo command, `bash scripts/demo`, run in a fresh directory."""
    cwd = tmp_path_factory.mktemp("fresh")
    env = {k: v for k, v in os.environ.items() if not k.startswith("EINKLANG_")}
    env["COLUMNS"] = "120"
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "demo"), "--dir", str(cwd / "einklang-demo")],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return cwd / "einklang-demo", done.stdout


def test_the_demo_tells_each_step_and_ends_with_a_summary(demo_dir: tuple[Path, str]) -> None:
    directory, output = demo_dir
    for expected in (
        "R5_PREEXISTING", "CREATED_IN_ERP", "CHANGED_IN_EXCHANGE", "R6_BODY_NOT_IMPORTED",
        "R5_CHANGED_AFTER_SETUP", "What happened", "as expected", "the login is locked",
    ):  # fmt: skip
        assert expected in output, expected
    assert "NOT SEEN" not in output and "Traceback" not in output
    assert {p.name for p in directory.iterdir()} >= {"einklang.toml", "erp.sqlite3"}


def test_status_audit_and_replay_work_on_what_the_demo_left(demo_dir: tuple[Path, str]) -> None:
    """The README's next commands, from the directory the demo ran in."""
    directory, _ = demo_dir
    config = "einklang-demo/einklang.toml"
    table = einklang("--config", config, "status", cwd=directory.parent)
    assert table.returncode == 0 and "mueller" in table.stdout and "alive" in table.stdout
    status = einklang("--config", config, "status", "--json", cwd=directory.parent)
    assert status.returncode == 0, status.stderr
    rows = {r["user"]: r for r in json.loads(status.stdout)}
    assert rows["mueller"]["eligible"] and rows["mueller"]["subscribed"]
    assert not rows["weber"]["eligible"] and "locked" in rows["weber"]["reason"]
    assert not rows["schmidt"]["eligible"]
    audit = einklang("--config", config, "audit", "--user", "mueller", cwd=directory.parent)
    assert audit.returncode == 0 and "CREATED_IN_ERP" in audit.stdout
    audit = einklang(
        "--config", config, "audit", "--user", "mueller", "--json", cwd=directory.parent
    )
    reasons = [json.loads(line)["reason"] for line in audit.stdout.splitlines()]
    assert "CREATED_IN_ERP" in reasons and "R5_CHANGED_AFTER_SETUP" in reasons
    verify = einklang("--config", config, "replay", "verify", cwd=directory.parent)
    assert verify.returncode == 0 and "all the same" in verify.stdout
    first = json.loads(audit.stdout.splitlines()[0])
    explain = einklang(
        "--config", config, "replay", "explain", first["stream_id"], cwd=directory.parent
    )
    assert explain.returncode == 0 and first["reason"] in explain.stdout
    whatif = einklang(
        "--config",
        config,
        "replay",
        "what-if",
        "--set",
        "import_enabled=false",
        cwd=directory.parent,
    )
    assert whatif.returncode == 0 and "R10_IMPORT_OFF" in whatif.stdout
    bundle = directory.parent / "support.jsonl"
    exported = einklang(
        "--config",
        config,
        "replay",
        "bundle",
        "export",
        "-o",
        str(bundle),
        cwd=directory.parent,
    )
    assert exported.returncode == 0 and "Huber" not in bundle.read_text(encoding="utf-8")
    on_bundle = einklang("replay", "--bundle", str(bundle), "verify", cwd=directory)
    assert on_bundle.returncode == 0 and on_bundle.stdout == verify.stdout


def test_the_demo_replaces_its_own_directory_but_no_other(tmp_path: Path) -> None:
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me", encoding="utf-8")
    refused = einklang("demo", "--dir", str(foreign), cwd=tmp_path, timeout=30)
    assert refused.returncode == 2
    assert "not empty" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert (foreign / "notes.txt").read_text(encoding="utf-8") == "keep me"


def test_r20_the_demo_over_microsoft_graph_tells_the_same_story(tmp_path: Path) -> None:
    """`einklang demo --api graph`: the engine talks to the simulator over Graph (TLS, an OAuth2
    app, delta polling); every step shows what it should, and status works on what it left."""
    directory = tmp_path / "graph-demo"
    done = einklang("demo", "--api", "graph", "--dir", str(directory), cwd=tmp_path, timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "(Microsoft Graph)" in done.stdout and "NOT SEEN" not in done.stdout
    assert 'api = "graph"' in (directory / "einklang.toml").read_text(encoding="utf-8")
    status = einklang("--config", str(directory / "einklang.toml"), "status", "--json",
                      cwd=tmp_path)  # fmt: skip
    assert status.returncode == 0, status.stderr
    rows = {row["user"]: row for row in json.loads(status.stdout)}
    assert rows["mueller"]["eligible"] is True and rows["mueller"]["subscribed"] is True
