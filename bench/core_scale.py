"""The engine core at a real customer's size (not a test; prints one JSON line) — issue 12.

Builds two stores through the real runtime (stand-in sides, as bench/core_throughput.py): one of
`--small` items (1,000) and one of `--items` items (100,000), each item created in the ERP,
exported, its echo read back, and a quarter of them edited once more (history beyond creation).
Then, on copies of the stores:

- memory and cold start, for each store in a process of its own (so that neither the build nor
  the other store is in its memory), `--rounds` times: `Engine.start()` on the stored positions
  (read models current) — cold_start_s —, then `--changes` changes as below; the engine's
  resident memory afterwards is the process's RSS less what it was with the two stand-in sides
  loaded and nothing of the engine yet;
- throughput, both engines in one process, `--rounds` times: `--changes` ERP changes for each
  — half edits of existing items chosen at random (their aggregates not in memory: loaded from
  the store), half new items — through observe → decide → record → act → echo → project, given
  in `--windows` slices that alternate between the small and the large engine. The shared
  machine's speed drifts by a third within a minute; slices a fraction of a second apart see
  the same machine, so that their ratio measures the store's size and not the neighbours.

Figures: `items`, `rss_mb` (the engine's, large store), `bytes_per_item` (engine memory that
grows per tracked item: the difference between the two stores over the difference in items),
`cold_start_s` (large), `changes_per_s_small`, `changes_per_s_large` (over all rounds),
`large_to_small_ratio` (the median of the rounds' ratios), `build_s` (both stores). Targets at
100,000 items (`--check` exits 1 below one): < 1 KB per item, cold start < 5 s, ratio ≥ 0.9.

The stores are built through `Engine.tick` in big ERP batches (`erp_batch` 5,000, read models
brought up every 50,000 events): the same save path and the same events as any run, at about
the engine's own throughput.

    uv run python bench/core_scale.py [--items 100000] [--users 100] [--changes 2000] [--check]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import pickle
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.check import Target, add_arguments, report, targets_for
from bench.core_throughput import Clock
from bench.standin import StandInErp, StandInExchange
from engine.model import ItemKind, User
from engine.options import SyncOptions
from engine.runtime import Engine
from engine.store import EventStore, StoreLocation
from projections.projector import Projector

BERLIN = ZoneInfo("Europe/Berlin")
TARGETS = (
    Target("bytes_per_item", 1024, at_most=True),
    Target("cold_start_s", 5, at_most=True),
    Target("large_to_small_ratio", 0.9),
)
BASE = datetime(2026, 12, 1, 8, tzinfo=BERLIN)


def logins(users: int) -> list[str]:
    return [f"user{n:03d}" for n in range(users)]


def create(erp: StandInErp, login: str, n: int) -> str:
    start = BASE + timedelta(hours=n % 2000)
    return erp.create(
        login, ItemKind.APPOINTMENT, subject=f"Item {n}", start=start,
        end=start + timedelta(hours=1), location="Room 1", info_text="notes",
    )  # fmt: skip


def engine_on(
    path: Path, erp: StandInErp, exchange: StandInExchange, clock: Clock, **kwargs: Any
) -> tuple[EventStore, Projector, Engine]:
    store = EventStore(StoreLocation(str(path)))
    projector = Projector(store)
    engine = Engine(store, erp, exchange, SyncOptions(), clock=clock, index=projector, **kwargs)
    return store, projector, engine


def build(directory: Path, items: int, users: int) -> None:
    """The store and the two sides (pickled) of `items` items, through the real runtime."""
    clock = Clock()
    erp, exchange = StandInErp(clock), StandInExchange(clock)
    names = logins(users)
    for login in names:
        erp.save_user(User(login=login, mailbox=f"{login}@example.com", allow_sync=True))
    store, projector, engine = engine_on(
        directory / "einklang.db", erp, exchange, clock, erp_batch=5000, project_every=50_000
    )
    engine.start()
    rows = [create(erp, names[n % users], n) for n in range(items)]
    engine.run_until_quiet(max_ticks=100_000)
    clock.now += timedelta(hours=1)
    for n, row in enumerate(rows[: items // 4]):
        erp.edit(row, location=f"Room {n % 7 + 2}")
    engine.run_until_quiet(max_ticks=100_000)
    projector.run()
    projector.close()
    store.close()
    with (directory / "sides.pickle").open("wb") as f:
        pickle.dump((clock, erp, exchange, rows), f, protocol=pickle.HIGHEST_PROTOCOL)


def resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def trim() -> None:
    """Give freed memory back to the system, so that the baseline is what is really in use."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the baseline is a little high
        pass


def load_sides(directory: Path) -> tuple[Clock, StandInErp, StandInExchange, list[str]]:
    with (directory / "sides.pickle").open("rb") as f:
        sides: tuple[Clock, StandInErp, StandInExchange, list[str]] = pickle.load(f)
    return sides


def copy_store(directory: Path) -> Path:
    copy = directory / "measured.db"
    shutil.copy(directory / "einklang.db", copy)
    return copy


def forget_copy(directory: Path) -> None:
    for leftover in directory.glob("measured.db*"):
        leftover.unlink()


class Changes:
    """`changes` ERP changes on one store's sides: half edits of existing rows chosen by `seed`,
    half new items; given out in slices."""

    def __init__(self, erp: StandInErp, rows: list[str], users: int, changes: int, seed: int):
        self.erp, self.rows, self.names = erp, rows, logins(users)
        self.edits = random.Random(seed).sample(rows, min(len(rows), changes // 2))
        self.creations = changes - len(self.edits)
        self.done_edits = self.done_creations = 0

    def make(self, share: float) -> int:
        """Makes the next `share` of the changes; returns how many."""
        edits = min(len(self.edits), self.done_edits + round(share * len(self.edits)))
        creations = min(self.creations, self.done_creations + round(share * self.creations))
        for n in range(self.done_edits, edits):
            self.erp.edit(self.edits[n], subject=f"Edited {n}")
        for n in range(self.done_creations, creations):
            create(self.erp, self.names[n % len(self.names)], len(self.rows) + n)
        made = edits - self.done_edits + creations - self.done_creations
        self.done_edits, self.done_creations = edits, creations
        return made


def measure(directory: Path, changes: int, users: int, seed: int) -> dict[str, float]:
    """Cold start and the engine's memory after `changes` changes on a copy of a built store (a
    process of its own)."""
    clock, erp, exchange, rows = load_sides(directory)
    copy = copy_store(directory)
    trim()
    before = resident_bytes()
    store, projector, engine = engine_on(copy, erp, exchange, clock)
    started = time.perf_counter()
    engine.start()
    cold_start = time.perf_counter() - started
    clock.now += timedelta(hours=1)
    Changes(erp, rows, users, changes, seed).make(1.0)
    engine.run_until_quiet(max_ticks=1000)
    gc.collect()
    engine_bytes = resident_bytes() - before
    projector.close()
    store.close()
    forget_copy(directory)
    return {"items": len(rows), "cold_start_s": cold_start, "engine_bytes": engine_bytes}


def throughput(
    directories: list[Path], changes: int, users: int, seed: int, windows: int
) -> dict[str, float]:
    """changes/s of each store's engine, both in this process, in `windows` alternating slices
    (the order within a slice alternates too)."""
    runs = []
    for directory in directories:
        clock, erp, exchange, rows = load_sides(directory)
        store, projector, engine = engine_on(copy_store(directory), erp, exchange, clock)
        engine.start()
        clock.now += timedelta(hours=1)
        runs.append((engine, Changes(erp, rows, users, changes, seed), store, projector))
    made, spent = [0] * len(runs), [0.0] * len(runs)
    for window in range(windows):
        order = range(len(runs)) if window % 2 == 0 else reversed(range(len(runs)))
        share = 1.0 if window == windows - 1 else 1 / windows
        for n in order:
            engine, slices, _, _ = runs[n]
            started = time.perf_counter()
            made[n] += slices.make(share)
            engine.run_until_quiet(max_ticks=1000)
            spent[n] += time.perf_counter() - started
    for directory, (_, _, store, projector) in zip(directories, runs, strict=True):
        projector.close()
        store.close()
        forget_copy(directory)
    return {f"changes_per_s_{n}": made[n] / spent[n] for n in range(len(runs))}


def child(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def median_run(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Each figure's median over the runs."""
    return {name: statistics.median(run[name] for run in runs) for name in runs[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=1_000, help="items of the small store")
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--changes", type=int, default=2_000, help="changes measured on each")
    parser.add_argument("--windows", type=int, default=10, help="alternating slices of them")
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)  # the child processes
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--throughput", type=Path, nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=3, help="measurements of each (medians)")
    add_arguments(parser)
    args = parser.parse_args()
    if args.build:
        build(args.build, args.items, args.users)
        print(json.dumps({"built": args.items}))
        return 0
    if args.measure:
        print(json.dumps(measure(args.measure, args.changes, args.users, args.seed)))
        return 0
    if args.throughput:
        figures = throughput(args.throughput, args.changes, args.users, args.seed, args.windows)
        print(json.dumps(figures))
        return 0
    targets = targets_for(args, TARGETS)
    users = ["--users", str(args.users), "--changes", str(args.changes)]
    with tempfile.TemporaryDirectory(prefix="einklang-bench-", dir=Path.cwd()) as tmp:
        small, large = Path(tmp) / "small", Path(tmp) / "large"
        started = time.perf_counter()
        for directory, items in ((small, args.small), (large, args.items)):
            directory.mkdir()
            child("--build", str(directory), "--items", str(items), *users)
        build_s = time.perf_counter() - started
        os.sync()  # the builds' writes reach the disk first, not during the measurements
        runs: dict[Path, list[dict[str, Any]]] = {small: [], large: []}
        rates: list[dict[str, Any]] = []
        for seed in range(args.rounds):
            for directory in (small, large):
                runs[directory].append(
                    child("--measure", str(directory), "--seed", str(seed), *users)
                )
            pair = ["--throughput", str(small), str(large), "--windows", str(args.windows)]
            rates.append(child(*pair, "--seed", str(seed), *users))
        at_small, at_large = median_run(runs[small]), median_run(runs[large])
    grown = at_large["engine_bytes"] - at_small["engine_bytes"]
    small_rate = statistics.median(r["changes_per_s_0"] for r in rates)
    large_rate = statistics.median(r["changes_per_s_1"] for r in rates)
    ratios = [r["changes_per_s_1"] / r["changes_per_s_0"] for r in rates]
    result = {
        "items": at_large["items"],
        "rss_mb": round(at_large["engine_bytes"] / 2**20, 1),
        "bytes_per_item": round(max(grown, 0) / max(at_large["items"] - at_small["items"], 1)),
        "cold_start_s": round(at_large["cold_start_s"], 2),
        "changes_per_s_small": round(small_rate),
        "changes_per_s_large": round(large_rate),
        "large_to_small_ratio": round(statistics.median(ratios), 3),
        "ratios": [round(r, 3) for r in ratios],
        "small_items": at_small["items"],
        "small_rss_mb": round(at_small["engine_bytes"] / 2**20, 1),
        "small_cold_start_s": round(at_small["cold_start_s"], 2),
        "build_s": round(build_s, 1),
    }
    return report(result, args, targets)


if __name__ == "__main__":
    raise SystemExit(main())
