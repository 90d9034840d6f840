"""The support tools on a large store (not a test; prints one JSON line) — issue 13.

Builds a store of about `--events` events through the real runtime (stand-in sides, as
bench/core_throughput.py), then measures on it, in one run:

- raw_read_events_per_s: reading every stored event and decoding its JSON (the floor any
  follower pays), the same rows the projections read;
- rebuild_events_per_s: the read models rebuilt from zero (`einklang replay rebuild`), in a
  process of its own after the engine's writes reached the disk; rebuild_ratio = rebuild / raw.
  Both are the medians of `--repeat` runs taken in turn (the machine is shared: a single run of
  either can be slowed by the neighbours);
- small_*: the same two rates on a store of `--small-events` events built in the same run
  (skipped when not smaller than `--events`): the ratio does not fall as the store grows;
- explain_ms: one item's history (`einklang replay explain`), median of 20 items;
- audit_query_ms: one user's transfer log in a time range, a page of 100 (`einklang audit
  --user U --since T --until T`), median of 20 queries;
- verify_events_per_s: `replay verify` over one user's items.

    uv run python bench/replay.py [--events 1000000] [--users 20] [--small-events 20000]
                                  [--repeat 3] [--out FILE] [--check]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.check import Target, add_arguments, report, targets_for
from bench.core_throughput import Clock, rebuild_rate
from bench.standin import StandInErp, StandInExchange
from engine.model import ItemKind, User
from engine.options import SyncOptions
from engine.runtime import Engine
from engine.store import EventStore, StoreLocation
from projections.projector import Projector
from projections.queries import AuditLog, Filters
from replay.explain import explain
from replay.verify import verify

BERLIN = ZoneInfo("Europe/Berlin")
EVENTS_PER_CHANGE = 5  # observed, decided, written, the echo observed and decided
TARGETS = (
    Target("explain_ms", 100, at_most=True),
    Target("audit_query_ms", 200, at_most=True),
    Target("rebuild_ratio", 0.5),
)


def build(path: Path, events: int, users: int) -> list[str]:
    """A store of about `events` events: creations, then rounds of edits, an hour apart."""
    clock = Clock()
    erp, exchange = StandInErp(clock), StandInExchange(clock)
    logins = [f"user{n:03d}" for n in range(users)]
    for login in logins:
        erp.save_user(User(login=login, mailbox=f"{login}@example.com", allow_sync=True))
    store = EventStore(StoreLocation(str(path)))
    projector = Projector(store)
    engine = Engine(store, erp, exchange, SyncOptions(), clock=clock, index=projector)
    engine.start()
    items = max(users, events // EVENTS_PER_CHANGE // 4)
    base = datetime(2026, 12, 1, 8, tzinfo=BERLIN)
    rows = []
    for n in range(items):
        start = base + timedelta(hours=n % 2000)
        rows.append(
            erp.create(
                logins[n % users], ItemKind.APPOINTMENT, subject=f"Item {n}", start=start,
                end=start + timedelta(hours=1), location="Room 1",
            )
        )  # fmt: skip
    engine.run_until_quiet(max_ticks=10_000)
    edit = 0
    while store.max_notification_id() < events:
        clock.now += timedelta(hours=1)
        for row in rows[: min(len(rows), 5000)]:
            erp.edit(row, location=f"Room {edit % 7}")
            edit += 1
        engine.run_until_quiet(max_ticks=10_000)
        rows = rows[5000:] + rows[:5000]
    projector.run()
    projector.close()
    store.close()
    return logins


def raw_read_rate(path: Path) -> tuple[int, float]:
    store = EventStore(StoreLocation(str(path)))
    started = time.perf_counter()
    position, count = 1, 0
    while True:
        page = store.log_page(position, 1000)
        if not page:
            break
        for _, _, _, state in page:
            orjson.loads(state)
        count += len(page)
        position = page[-1][0] + 1
    elapsed = time.perf_counter() - started
    store.close()
    return count, count / elapsed


def read_and_rebuild(path: Path, repeat: int) -> tuple[int, float, float]:
    """Events, raw read rate and rebuild rate: medians of `repeat` runs, one of each in turn."""
    raws, rebuilds = [], []
    events = 0
    for _ in range(repeat):
        events, raw = raw_read_rate(path)
        raws.append(raw)
        rebuilds.append(rebuild_rate(path.parent))  # core_throughput's child process
    return events, statistics.median(raws), statistics.median(rebuilds)


def queries(path: Path, logins: list[str]) -> dict[str, float]:
    store = EventStore(StoreLocation(str(path)))
    projector = Projector(store)
    audit = AuditLog(projector)
    streams = projector.streams_of_user(logins[0])
    sample = streams[:: max(1, len(streams) // 20)][:20]
    explain_ms = []
    for stream in sample:
        started = time.perf_counter()
        explain(store, stream)
        explain_ms.append((time.perf_counter() - started) * 1000)
    since = datetime(2026, 11, 2, 10, tzinfo=UTC)
    audit_ms = []
    for n in range(20):
        where = Filters(user=logins[n % len(logins)], since=since, until=since + timedelta(hours=6))
        started = time.perf_counter()
        audit.search(where, limit=100)
        audit_ms.append((time.perf_counter() - started) * 1000)
    started = time.perf_counter()
    checked = sum(len(store.events_of(s)) for s in streams)
    verify(store, streams)
    verify_s = time.perf_counter() - started
    projector.close()
    store.close()
    return {
        "explain_ms": statistics.median(explain_ms),
        "audit_query_ms": statistics.median(audit_ms),
        "verify_events_per_s": checked / verify_s,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--small-events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    add_arguments(parser)
    args = parser.parse_args()
    targets = targets_for(args, TARGETS)
    repeat = max(1, args.repeat)
    small: dict[str, float | None] = dict.fromkeys(("events", "raw", "rebuild", "ratio"))
    with tempfile.TemporaryDirectory(prefix="einklang-bench-", dir=Path.cwd()) as tmp:
        if 0 < args.small_events < args.events:
            path = Path(tmp) / "small" / "einklang.db"
            path.parent.mkdir()
            build(path, args.small_events, args.users)
            count, raw, rebuild = read_and_rebuild(path, repeat)
            small = {"events": count, "raw": raw, "rebuild": rebuild, "ratio": rebuild / raw}
        path = Path(tmp) / "einklang.db"  # the file name core_throughput's child opens
        logins = build(path, args.events, args.users)
        events, raw, rebuild = read_and_rebuild(path, repeat)
        figures = queries(path, logins)
    result = {
        "events": events,
        "rebuild_events_per_s": round(rebuild),
        "raw_read_events_per_s": round(raw),
        "rebuild_ratio": round(rebuild / raw, 3),
        "small_events": small["events"],
        "small_rebuild_events_per_s": _rounded(small["rebuild"]),
        "small_raw_read_events_per_s": _rounded(small["raw"]),
        "small_rebuild_ratio": _rounded(small["ratio"], 3),
        "explain_ms": round(figures["explain_ms"], 2),
        "audit_query_ms": round(figures["audit_query_ms"], 2),
        "verify_events_per_s": round(figures["verify_events_per_s"]),
    }
    return report(result, args, targets)


def _rounded(value: float | None, digits: int | None = None) -> float | None:
    return None if value is None else round(value, digits)


if __name__ == "__main__":
    raise SystemExit(main())
