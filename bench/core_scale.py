"""The engine core at a real customer's size (not a test; prints one JSON line) — issue 12.

Builds two stores through the real runtime (stand-in sides, as bench/core_throughput.py): one of
`--small` items (1,000) and one of `--items` items (100,000), each item created in the ERP,
exported, its echo read back, and a quarter of them edited once more (history beyond creation).
Then, for each store, a process of its own (so that neither the build nor the other store is in
its memory) loads the two stand-in sides, starts a new engine on a copy of the store and
measures (`--rounds` times, small and large in turn; the medians are reported):

- cold_start_s: `Engine.start()` on the stored positions (read models current);
- changes_per_s: `--changes` ERP changes after the start — half edits of existing items chosen
  at random (their aggregates not in memory: loaded from the store), half new items — through
  observe → decide → record → act → echo → project;
- the engine's resident memory afterwards: the process's RSS less what it was with the two
  stand-in sides loaded and nothing of the engine yet.

Figures: `items`, `rss_mb` (the engine's, large store), `bytes_per_item` (engine memory that
grows per tracked item: the difference between the two stores over the difference in items),
`cold_start_s` (large), `changes_per_s_small`, `changes_per_s_large`, `large_to_small_ratio`,
`build_s` (both stores). Targets at 100,000 items (`--check` exits 1 below one): < 1 KB per
item, cold start < 5 s, ratio ≥ 0.9.

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


def measure(directory: Path, changes: int, users: int, seed: int) -> dict[str, float]:
    """Cold start, changes/s and the engine's memory on a copy of a built store (a process of
    its own); `seed` chooses the items edited."""
    with (directory / "sides.pickle").open("rb") as f:
        clock, erp, exchange, rows = pickle.load(f)
    copy = directory / "measured.db"
    shutil.copy(directory / "einklang.db", copy)
    trim()
    before = resident_bytes()
    store, projector, engine = engine_on(copy, erp, exchange, clock)
    started = time.perf_counter()
    engine.start()
    cold_start = time.perf_counter() - started
    clock.now += timedelta(hours=1)
    names = logins(users)
    edited = random.Random(seed).sample(rows, min(len(rows), changes // 2))
    started = time.perf_counter()
    for n, row in enumerate(edited):
        erp.edit(row, subject=f"Edited {n}")
    for n in range(changes - len(edited)):
        create(erp, names[n % users], len(rows) + n)
    engine.run_until_quiet(max_ticks=1000)
    elapsed = time.perf_counter() - started
    gc.collect()
    engine_bytes = resident_bytes() - before
    projector.close()
    store.close()
    for leftover in directory.glob("measured.db*"):
        leftover.unlink()
    return {
        "items": len(rows),
        "cold_start_s": cold_start,
        "changes_per_s": changes / elapsed,
        "engine_bytes": engine_bytes,
    }


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
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)  # the child processes
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
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
        # Alternately, so that a machine busy for a while slows both alike; medians.
        runs: dict[Path, list[dict[str, Any]]] = {small: [], large: []}
        for seed in range(args.rounds):
            for directory in (small, large):
                runs[directory].append(
                    child("--measure", str(directory), "--seed", str(seed), *users)
                )
        at_small, at_large = median_run(runs[small]), median_run(runs[large])
    grown = at_large["engine_bytes"] - at_small["engine_bytes"]
    result = {
        "items": at_large["items"],
        "rss_mb": round(at_large["engine_bytes"] / 2**20, 1),
        "bytes_per_item": round(max(grown, 0) / max(at_large["items"] - at_small["items"], 1)),
        "cold_start_s": round(at_large["cold_start_s"], 2),
        "changes_per_s_small": round(at_small["changes_per_s"]),
        "changes_per_s_large": round(at_large["changes_per_s"]),
        "large_to_small_ratio": round(at_large["changes_per_s"] / at_small["changes_per_s"], 3),
        "small_items": at_small["items"],
        "small_rss_mb": round(at_small["engine_bytes"] / 2**20, 1),
        "small_cold_start_s": round(at_small["cold_start_s"], 2),
        "build_s": round(build_s, 1),
    }
    return report(result, args, targets)


if __name__ == "__main__":
    raise SystemExit(main())
