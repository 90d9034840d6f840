"""The benchmarks run (tiny), print their JSON line, and `--check` fails below a target."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench import core_scale, core_throughput, erp_feed, export_batch, latency, scale
from bench import replay as replay_bench
from bench.check import Target, missed

ROOT = Path(__file__).resolve().parents[1]

TINY = {
    "core_throughput": ["--changes", "40", "--users", "2", "--raw-events", "400"],
    "core_scale": [
        "--items",
        "300",
        "--small",
        "100",
        "--users",
        "3",
        "--changes",
        "40",
        "--rounds",
        "1",
    ],
    "erp_feed": ["--entries", "200", "--appointments", "40", "--wakeups", "2"],
    "replay": ["--events", "300", "--users", "2"],
    "scale": ["--mailboxes", "3"],
    "latency": [
        *("--edits", "3", "--pull-edits", "2", "--poll-interval", "0.5"),
        *("--graph-edits", "2", "--graph-interval", "1"),
    ],
    "export_batch": ["--items", "3"],
}
BENCHES = {
    "core_throughput": core_throughput.TARGETS,
    "core_scale": core_scale.TARGETS,
    "erp_feed": erp_feed.TARGETS,
    "replay": replay_bench.TARGETS,
    "scale": scale.TARGETS,
    "latency": latency.TARGETS,
    "export_batch": export_batch.TARGETS,
}
IMPOSSIBLE = {
    "core_throughput": "changes_per_s",
    "core_scale": "large_to_small_ratio",
    "erp_feed": "sqlite_snapshots_per_s",
    "replay": "rebuild_ratio",
    "scale": "streaming_connections",
    "latency": "export_p99_s",
    "export_batch": "ratio",
}


@pytest.mark.parametrize("bench", sorted(BENCHES))
def test_a_tiny_run_prints_every_figure_and_check_fails_below_a_target(bench: str) -> None:
    targets = BENCHES[bench]
    impossible = IMPOSSIBLE[bench]
    ceiling = next(t.at_most for t in targets if t.figure == impossible)
    bound = "-1" if ceiling else "1e15"  # a figure no run can meet
    # Every other target at a bound any run meets: only the impossible one can fail the check.
    easy = [f"{t.figure}={'1e12' if t.at_most else '0'}" for t in targets if t.figure != impossible]
    args = [arg for spec in easy for arg in ("--target", spec)]
    done = subprocess.run(
        [
            sys.executable,
            f"bench/{bench}.py",
            *TINY[bench],
            "--check",
            "--target",
            f"{impossible}={bound}",
            *args,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout.strip(), f"no JSON line; the benchmark crashed: {done.stderr[-2000:]}"
    figures = json.loads(done.stdout.strip().splitlines()[-1])  # the JSON line is still printed
    assert {t.figure for t in targets} <= set(figures)
    assert all(
        isinstance(figures[t.figure], int | float)
        for t in targets
        if "postgres" not in t.figure and "notify" not in t.figure
    )
    below = [line for line in done.stderr.splitlines() if line.startswith("below target:")]
    sign, shown = ("≤", "-1") if ceiling else ("≥", "1e+15")
    assert below == [
        f"below target: {impossible} = {figures[impossible]:,} misses its target "
        f"{impossible} {sign} {shown}"
    ]


def test_missed_compares_floors_and_ceilings_and_skips_what_was_not_measured() -> None:
    targets = (Target("rate", 100), Target("latency_ms", 5, at_most=True), Target("pg", 1))
    assert missed({"rate": 100, "latency_ms": 5, "pg": None}, targets) == []
    assert missed({"rate": 99.5, "latency_ms": 5.1, "pg": None}, targets) == [
        "rate = 99.5 misses its target rate ≥ 100",
        "latency_ms = 5.1 misses its target latency_ms ≤ 5",
    ]


def test_the_readme_lists_the_targets_the_benchmarks_check() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\w+)\.py` \| `(\w+)` \| ([≥≤]) ([\d,.]+) \|", readme, re.MULTILINE)
    listed = {
        (bench, figure, sign, float(value.replace(",", ""))) for bench, figure, sign, value in rows
    }
    expected = {
        (bench, t.figure, "≤" if t.at_most else "≥", t.bound)
        for bench, targets in BENCHES.items()
        for t in targets
    }
    assert listed == expected
