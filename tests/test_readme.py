"""The README is the front door: every command it shows is run by a test (issue 11), and its
configuration examples are valid configurations.

Commands are read from the README's code blocks. Each must be listed in `RUN_BY` with the test
that runs it, and that test must really invoke it (its words appear there as the test calls
them); a command added to the README without a test fails here.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from service.config import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)

# A command's key (its words before the first option or placeholder) → the test that runs it.
RUN_BY = {
    "bash scripts/demo": "tests/service/test_demo.py",
    "bash scripts/test": ".ci/run",
    "bash scripts/mutation": "tests/test_readme.py",
    "einklang config init": "tests/service/test_config.py",
    "einklang config check": "tests/service/test_config.py",
    "einklang run": "tests/e2e/support.py",
    "einklang status": "tests/service/test_demo.py",
    "einklang audit": "tests/service/test_audit_replay_cli.py",
    "einklang audit stats": "tests/service/test_audit_replay_cli.py",
    "einklang replay explain": "tests/service/test_audit_replay_cli.py",
    "einklang replay verify": "tests/service/test_audit_replay_cli.py",
    "einklang replay what-if": "tests/service/test_audit_replay_cli.py",
    "einklang replay rebuild": "tests/service/test_audit_replay_cli.py",
    "einklang replay bundle export": "tests/service/test_audit_replay_cli.py",
    "einklang replay": "tests/service/test_audit_replay_cli.py",  # --bundle FILE …
    "einklang demo": "tests/service/test_demo.py",
    "einklang erp": "tests/erp/test_cli.py",
    "einklang erp add-user": "tests/erp/test_cli.py",
    "einklang erp add-appointment": "tests/erp/test_cli.py",
    "einklang erp list": "tests/erp/test_cli.py",
    "einklang sim": "tests/sim/test_cli.py",
    "uv run python bench/core_scale.py": "tests/test_bench.py",
    "uv run python bench/core_throughput.py": "tests/test_bench.py",
    "uv run python bench/erp_feed.py": "tests/test_bench.py",
    "uv run python bench/replay.py": "tests/test_bench.py",
    "uv run python bench/scale.py": "tests/test_bench.py",
    "uv run python bench/latency.py": "tests/test_bench.py",
    "uv run python bench/export_batch.py": "tests/test_bench.py",
    "EINKLANG_DEEP=1 uv run pytest tests/engine/test_convergence.py": (
        "tests/engine/test_convergence.py"
    ),
    "uv run pytest": "scripts/test",
    "uv run einklang": "tests/test_readme.py",
    "EINKLANG_REQUIRE_POSTGRES=0 bash scripts/test": ".ci/run",
}
_STARTS = ("einklang ", ".venv/bin/einklang ", "bash scripts/", "uv run ", "EINKLANG_")


def commands() -> list[str]:
    found: list[str] = []
    for lang, body in BLOCK.findall(README):
        if lang:
            continue
        for line in body.replace("\\\n", " ").splitlines():
            command = line.split("  #")[0].strip()
            if command.startswith(_STARTS):
                found.append(command.removeprefix(".venv/bin/"))
    inline = re.findall(r"`((?:EINKLANG_\w+=\S+ )?(?:uv run|bash scripts/)[^`]*)`", README)
    return found + [c for c in inline if c.startswith(_STARTS)]


def key(command: str) -> str:
    """The command's words up to its first option or placeholder (`--config FILE` skipped)."""
    tokens = command.split()
    if tokens[:2] == ["einklang", "--config"]:
        tokens = tokens[:1] + tokens[3:]
    words: list[str] = []
    for index, word in enumerate(tokens):
        if index == 0 and "=" in word:
            words.append(word)  # an environment switch the command is run with
            continue
        if word.startswith(("-", "[", "<", "|")) or word.isupper() or word == "…":
            break
        words.append(word)
        if word.endswith(".py") or (words[0] == "einklang" and word in ("status", "demo", "run")):
            break
    return " ".join(words)


def covering(command: str) -> str | None:
    words = key(command)
    while words and words not in RUN_BY:
        words = words.rsplit(" ", 1)[0] if " " in words else ""
    return RUN_BY.get(words)


def test_every_readme_command_is_run_by_a_test() -> None:
    found = commands()
    assert len(found) > 20  # the parser sees the README's commands
    missing = sorted({c for c in found if covering(c) is None})
    assert missing == []


@pytest.mark.parametrize("command_key", sorted(RUN_BY))
def test_the_listed_test_really_invokes_the_command(command_key: str) -> None:
    where = ROOT / RUN_BY[command_key]
    text = where.read_text(encoding="utf-8")
    if where.name == "run" and where.parent.name == ".ci":
        assert "bash scripts/test" in text
        return
    words = command_key.split()
    if words[0] == "einklang":
        for word in words[1:]:
            assert f'"{word}"' in text, f"{where} does not run `{command_key}`"
    elif words[:2] == ["uv", "run"]:
        assert words[-1].removeprefix("bench/").removesuffix(".py") in text
    elif "=" in words[0]:
        assert words[0].split("=")[0] in text  # the switch the test reads
    else:
        assert words[-1] in text or command_key in text


def test_uv_run_einklang_is_the_command() -> None:
    import subprocess

    done = subprocess.run(
        ["uv", "run", "--frozen", "einklang", "--help"], cwd=ROOT, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "status" in done.stdout and "replay" in done.stdout


def test_bash_scripts_mutation_report_runs() -> None:
    import subprocess

    done = subprocess.run(
        ["bash", "scripts/mutation", "--report"], cwd=ROOT, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr  # 1: a module below 90 % in the last run
    assert "module" in done.stdout and "score" in done.stdout


@pytest.mark.parametrize("example", [b for lang, b in BLOCK.findall(README) if lang == "toml"])
def test_the_configuration_examples_are_valid(example: str) -> None:
    data = tomllib.loads(example)
    data.setdefault("erp", {"url": "sqlite:///erp.sqlite3"})
    data.setdefault("store", {"url": "sqlite:///events.sqlite3"})
    settings = Settings(**data)
    assert settings.exchange.endpoint.startswith("https://")
