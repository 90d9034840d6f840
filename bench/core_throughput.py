"""Throughput of the engine core on the SQLite store (not a test; prints one JSON line).

Drives N item changes made in the (in-memory) ERP through the real runtime — observe → decide →
record → act on the (in-memory) Exchange → project — and measures, in the same run and on the
same file system:

- changes_per_s: ERP item changes brought to Exchange per second, including reading the echo of
  each write back from Exchange, saving every event, and keeping the projections current;
- events_per_s: events the engine appended per second in that time;
- raw_append_events_per_s: eventsourcing's own batched append rate on this machine (plain
  aggregates, 100 per save, the SQLite recorder), the ceiling any engine built on it can reach;
- ratio: events_per_s / raw_append_events_per_s — the share of the raw rate the engine keeps
  while it also decides, acts and projects;
- rebuild_events_per_s: projections rebuilt from zero over the whole log.

Targets (`TARGETS`, the README's table; `--check` exits 1 below one): measured on the shared
2-core machine with a safety margin.

    uv run python bench/core_throughput.py [--changes 20000] [--users 10] [--out FILE] [--check]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.check import Target, add_arguments, report, targets_for
from bench.standin import StandInErp, StandInExchange
from engine.model import ItemKind, User
from engine.options import SyncOptions
from engine.runtime import Engine
from engine.store import EventStore, StoreLocation
from projections.projector import Projector

BERLIN = ZoneInfo("Europe/Berlin")
# Measured 26 Nov 2026: ~2,450 changes/s, ratio 0.40, rebuild ~120,000 events/s.
TARGETS = (
    Target("changes_per_s", 1_000),
    Target("ratio", 0.15),
    Target("rebuild_events_per_s", 50_000),
)


class Counter(Aggregate):
    @event("Counted")
    def count(self, amount: int) -> None:
        self.total = getattr(self, "total", 0) + amount


def raw_append_rate(directory: Path, events: int = 60_000, per_save: int = 100) -> float:
    """eventsourcing alone: new aggregates with one more event each, 100 aggregates per save."""
    app: Application[uuid.UUID] = Application(
        env={
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(directory / "raw.db"),
        }
    )
    started = time.perf_counter()
    written = 0
    while written < events:
        batch = []
        for _ in range(per_save // 2):
            counter = Counter()
            counter.count(amount=1)
            batch.append(counter)
        app.save(*batch)
        written += per_save
    elapsed = time.perf_counter() - started
    app.close()
    return written / elapsed


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 2, 8, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def engine_rate(directory: Path, changes: int, users: int) -> dict[str, float]:
    clock = Clock()
    erp, exchange = StandInErp(clock), StandInExchange(clock)
    logins = [f"user{n:03d}" for n in range(users)]
    for login in logins:
        erp.save_user(User(login=login, mailbox=f"{login}@example.com", allow_sync=True))
    store = EventStore(StoreLocation(str(directory / "einklang.db")))
    projector = Projector(store)
    engine = Engine(store, erp, exchange, SyncOptions(), clock=clock, index=projector)
    engine.start()
    # Half creations, half edits of items the engine already transferred.
    created = changes // 2
    base = datetime(2026, 12, 1, 8, tzinfo=BERLIN)
    rows = []
    for n in range(created):
        start = base + timedelta(hours=n % 500)
        rows.append(
            erp.create(
                logins[n % users],
                ItemKind.APPOINTMENT,
                subject=f"Item {n}",
                start=start,
                end=start + timedelta(hours=1),
                location="Room 1",
                info_text="notes",
            )
        )
    started = time.perf_counter()
    events_before = store.max_notification_id()
    engine.run_until_quiet(max_ticks=1000)
    for n, row in enumerate(rows[: changes - created]):
        erp.edit(row, location=f"Room {n % 7}")
    engine.run_until_quiet(max_ticks=1000)
    elapsed = time.perf_counter() - started
    events = store.max_notification_id() - events_before
    assert sum(exchange.count(u, ItemKind.APPOINTMENT) for u in logins) == created

    projector.close()
    store.close()
    return {
        "changes_per_s": changes / elapsed,
        "events_per_s": events / elapsed,
        "events": float(events),
    }


def rebuild_rate(directory: Path) -> float:
    """Projections rebuilt from zero by a process of its own, as `einklang replay rebuild` runs."""
    os.sync()  # the engine's writes reach the disk first, not during the measurement
    done = subprocess.run(
        [sys.executable, __file__, "--rebuild", str(directory / "einklang.db")],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(json.loads(done.stdout.strip().splitlines()[-1])["rebuild_events_per_s"])


def rebuild_here(path: Path) -> None:
    store = EventStore(StoreLocation(str(path)))
    projector = Projector(store)
    started = time.perf_counter()
    rebuilt = projector.rebuild()
    elapsed = time.perf_counter() - started
    projector.close()
    store.close()
    print(json.dumps({"rebuild_events_per_s": rebuilt / elapsed, "events": rebuilt}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=20_000)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--raw-events", type=int, default=60_000, help=argparse.SUPPRESS)
    parser.add_argument("--rebuild", type=Path, help=argparse.SUPPRESS)  # the child process
    add_arguments(parser)
    args = parser.parse_args()
    if args.rebuild:
        rebuild_here(args.rebuild)
        return 0
    targets = targets_for(args, TARGETS)
    with tempfile.TemporaryDirectory(prefix="einklang-bench-", dir=Path.cwd()) as tmp:
        directory = Path(tmp)
        raw = raw_append_rate(directory, args.raw_events)
        os.sync()
        figures = engine_rate(directory, args.changes, args.users)
        figures["rebuild_events_per_s"] = rebuild_rate(directory)
    result = {
        "changes": args.changes,
        "changes_per_s": round(figures["changes_per_s"]),
        "events_per_s": round(figures["events_per_s"]),
        "raw_append_events_per_s": round(raw),
        "ratio": round(figures["events_per_s"] / raw, 3),
        "rebuild_events_per_s": round(figures["rebuild_events_per_s"]),
    }
    return report(result, args, targets)


if __name__ == "__main__":
    raise SystemExit(main())
