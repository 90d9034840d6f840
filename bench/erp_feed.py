"""Change-feed throughput of the ERP store on SQLite and PostgreSQL; prints one JSON line.

Figures (higher is better, except the wake-up time):

- `sqlite_entries_per_s`, `postgres_entries_per_s`: raw feed entries read and decoded per second
  by `ErpStore.read_feed` in batches of 1,000 from a feed of 20,000 task inserts (what a catch-up
  after downtime costs before any snapshot is built).
- `sqlite_snapshots_per_s`, `postgres_snapshots_per_s`: observations (each with a validated
  snapshot) per second produced by `ErpStore.read_changes` (batches of 1,000 entries) over the
  feed of 5,000 appointments, half of them weekly series with one deleted occurrence and two
  participants, all added by the ERP: the feed read, the batched row, exception and participant
  loads, and building each snapshot. A series' detail rows are later entries of the same item,
  so it is observed again in the batch that holds them (entries coalesce within a batch only).
- `notify_wakeup_ms`: median, over 20 rounds, of the time from an ERP commit returning to a
  reader blocked in `wait_for_changes` on PostgreSQL (LISTEN/NOTIFY) waking up.

`--check` exits 1 when a figure misses its target (`TARGETS`, the README's table: measured on
the shared 2-core machine with a safety margin); a null figure is not checked. `--entries`,
`--appointments` and `--wakeups` shrink the run (the tests run it tiny).

PostgreSQL figures are null when no server answers at EINKLANG_BENCH_POSTGRES_URL, else at the
tests' EINKLANG_TEST_POSTGRES (default postgresql://postgres@127.0.0.1:5432/test); the benchmark
uses a schema of its own and drops it afterwards. The figures depend on the machine; compare runs on the same one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from adapters.erp.database import erp_url
from adapters.erp.schema import (
    appointment_exceptions,
    appointment_participants,
    appointments,
    tasks,
)
from adapters.erp.store import ErpStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.check import Target, add_arguments, report, targets_for

FEED_ENTRIES = 20_000
APPOINTMENTS = 5_000
BATCH = 1_000
WAKEUPS = 20
# Measured 2 Dec 2026 on the busy 2-core machine: 14,000 and 1,300 (SQLite), 18,800 and 2,200
# (PostgreSQL) per second, wake-up 0.3 ms.
TARGETS = (
    Target("sqlite_entries_per_s", 4_000),
    Target("sqlite_snapshots_per_s", 400),
    Target("postgres_entries_per_s", 4_000),
    Target("postgres_snapshots_per_s", 500),
    Target("notify_wakeup_ms", 100, at_most=True),
)
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_url(environ: Mapping[str, str] = os.environ) -> str:
    """The bench's own server if one is named, else the test server."""
    return (
        environ.get("EINKLANG_BENCH_POSTGRES_URL")
        or environ.get("EINKLANG_TEST_POSTGRES")
        or DEFAULT_POSTGRES_URL
    )


POSTGRES_URL = postgres_url()


def _fill_feed(store: ErpStore, count: int) -> int:
    start = store.feed_position()
    with store.engine.begin() as conn:
        conn.execute(
            tasks.insert(),
            [{"user_login": f"user{n % 50}", "subject": f"Task {n}"} for n in range(count)],
        )
    return start


def _fill_appointments(store: ErpStore, count: int) -> int:
    start = store.feed_position()
    first = datetime(2026, 11, 2, 8, tzinfo=UTC)
    rows: list[dict[str, Any]] = []
    for n in range(count):
        begins = first + timedelta(days=7 * (n % 20), hours=n % 8)
        series = n % 2 == 0
        rows.append(
            {
                "user_login": f"user{n % 50}",
                "subject": f"Appointment {n}",
                "info_text": "Agenda\n" * 20,
                "starts_at": begins,
                "ends_at": begins + timedelta(hours=1),
                "location": "Room 1",
                "rrule": "FREQ=WEEKLY;BYDAY=MO" if series else None,
            }
        )
    with store.engine.begin() as conn:
        ids = [
            int(r[0])
            for r in conn.execute(appointments.insert().returning(appointments.c.id), rows)
        ]
        series_ids = [row_id for row_id, row in zip(ids, rows, strict=True) if row["rrule"]]
        conn.execute(
            appointment_exceptions.insert(),
            [
                {
                    "appointment_id": row_id,
                    "original_start": row["starts_at"] + timedelta(days=7),
                    "deleted": True,
                }
                for row_id, row in zip(ids, rows, strict=True)
                if row["rrule"]
            ],
        )
        conn.execute(
            appointment_participants.insert(),
            [
                {"appointment_id": row_id, "email": f"p{k}@example.com"}
                for row_id in series_ids
                for k in range(2)
            ],
        )
    return start


def _entries_per_s(store: ErpStore, start: int) -> float:
    position, read = start, 0
    began = time.perf_counter()
    while entries := store.read_feed(position, BATCH):
        read += len(entries)
        position = entries[-1].seq
    return read / (time.perf_counter() - began)


def _snapshots_per_s(store: ErpStore, start: int, count: int) -> float:
    position, observed = start, 0
    began = time.perf_counter()
    while True:
        batch = store.read_changes(position, BATCH)
        if not batch.changes:
            break
        observed += sum(1 for c in batch.changes if getattr(c, "snapshot", None) is not None)
        position = batch.position
    elapsed = time.perf_counter() - began
    if observed < count:
        raise RuntimeError(f"expected at least {count} observations, got {observed}")
    return observed / elapsed


def _wakeup_ms(store: ErpStore, rounds: int) -> float:
    samples: list[float] = []
    for n in range(rounds):
        position = store.feed_position()
        armed = threading.Event()
        woke: list[float] = []

        def moved(position: int = position, armed: threading.Event = armed) -> bool:
            armed.set()
            return any(store.feed_state(position))

        def wait(armed: threading.Event = armed, woke: list[float] = woke) -> None:
            store._feed_waiter().wait(moved, 10.0)
            woke.append(time.perf_counter())

        reader = threading.Thread(target=wait)
        reader.start()
        armed.wait(10.0)
        with store.engine.begin() as conn:
            conn.execute(tasks.insert().values(user_login="user0", subject=f"wake {n}"))
        committed = time.perf_counter()
        reader.join(10.0)
        if not woke:
            raise RuntimeError("the waiting reader was not woken")
        samples.append(max(0.0, woke[0] - committed) * 1000)
    return statistics.median(samples)


def _measure(store: ErpStore, args: argparse.Namespace) -> tuple[float, float]:
    store.init()
    entries = _entries_per_s(store, _fill_feed(store, args.entries))
    snapshots = _snapshots_per_s(
        store, _fill_appointments(store, args.appointments), args.appointments
    )
    return entries, snapshots


def _postgres(args: argparse.Namespace) -> dict[str, float | None]:
    schema = f"einklang_bench_{uuid.uuid4().hex[:8]}"
    try:
        store = ErpStore(POSTGRES_URL, schema=schema)
        with store.engine.connect():  # creating the store does not connect yet
            pass
    except Exception as exc:  # any failure to reach the server means "no figures"
        print(f"PostgreSQL not measured: {type(exc).__name__}", file=sys.stderr)
        return {
            "postgres_entries_per_s": None,
            "postgres_snapshots_per_s": None,
            "notify_wakeup_ms": None,
        }
    try:
        entries, snapshots = _measure(store, args)
        wakeup = _wakeup_ms(store, args.wakeups)
    finally:
        store.close()
        engine = sa.create_engine(erp_url(POSTGRES_URL))
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        engine.dispose()
    return {
        "postgres_entries_per_s": round(entries),
        "postgres_snapshots_per_s": round(snapshots),
        "notify_wakeup_ms": round(wakeup, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=FEED_ENTRIES)
    parser.add_argument("--appointments", type=int, default=APPOINTMENTS)
    parser.add_argument("--wakeups", type=int, default=WAKEUPS)
    add_arguments(parser)
    args = parser.parse_args()
    targets = targets_for(args, TARGETS)
    with (
        tempfile.TemporaryDirectory() as directory,
        ErpStore(f"sqlite:///{Path(directory) / 'erp.sqlite3'}") as store,
    ):
        sqlite_entries, sqlite_snapshots = _measure(store, args)
    figures: dict[str, float | None] = {
        "sqlite_entries_per_s": round(sqlite_entries),
        "sqlite_snapshots_per_s": round(sqlite_snapshots),
        **_postgres(args),
    }
    return report(figures, args, targets)


if __name__ == "__main__":
    raise SystemExit(main())
