"""Export throughput over EWS, one item per request vs. batches; prints one JSON line.

The simulator runs as a subprocess (`python -m sim`, no schema checks) with two mailboxes; the
EWS port (`adapters.exchange.ews.port.EwsExchange`, the real exchangelib over HTTP) creates
`--items` appointments in the first mailbox one `apply` at a time (a FindItem for the sync id
and a CreateItem each) and as many in the second with one `apply_many` (one FindItem and one
CreateItem per 100 items), as the engine does for an ERP bulk import. Figures:

- `items`: appointments created each way;
- `single_items_per_s`, `batch_items_per_s`: created per second each way;
- `ratio`: batch over single, both measured in this run on this machine.

`--check` exits 1 when a figure misses its target (`TARGETS`, the README's table); `--items`
shrinks the run (the tests run it tiny).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import SecretStr

from adapters.exchange.ews.connection import EwsConnection
from adapters.exchange.ews.port import EwsExchange
from adapters.exchange.ews.settings import EwsSettings
from bench.check import Target, add_arguments, report, targets_for
from engine.model import Appointment, ItemKind, Side, User
from engine.ports import Write, WriteResult

ITEMS = 500
ADMIN, PASSWORD = "bench-admin", "bench-pass-123"
SINGLE = User(login="single", mailbox="single@example.com", allow_sync=True)
BATCH = User(login="batch", mailbox="batch@example.com", allow_sync=True)
TARGETS = (
    Target("batch_items_per_s", 100),
    Target("ratio", 10),
)


def _start_sim(addresses: list[str]) -> tuple[subprocess.Popen[str], str]:
    mailboxes = [arg for address in addresses for arg in ("--mailbox", address)]
    command = [sys.executable, "-m", "sim", "--port", "0", "--admin", f"{ADMIN}:{PASSWORD}"]
    process = subprocess.Popen(
        [*command, "--log-level", "WARNING", *mailboxes],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("EWS endpoint:"):
            return process, line.split(": ", 1)[1].strip()
    raise RuntimeError("the simulator did not start")


def _writes(count: int) -> list[tuple[uuid.UUID, Write]]:
    first = datetime(2027, 1, 4, 9, tzinfo=UTC)
    writes = []
    for n in range(count):
        start = first + timedelta(days=n // 8, hours=n % 8)
        snapshot = Appointment(subject=f"Import {n}", start=start, end=start + timedelta(hours=1))
        write = Write(
            side=Side.EXCHANGE, operation="create", kind=ItemKind.APPOINTMENT, snapshot=snapshot
        )
        writes.append((uuid.uuid4(), write))
    return writes


def _measure(url: str, items: int) -> dict[str, float | int]:
    settings = EwsSettings(url=url, auth="basic", username=ADMIN, password=SecretStr(PASSWORD))
    port = EwsExchange(EwsConnection(settings).account)
    port.check_mailbox(SINGLE)  # the connection is open before the clocks start
    port.check_mailbox(BATCH)

    started = time.perf_counter()
    for stream_id, write in _writes(items):
        port.apply(SINGLE, stream_id, write)
    single = time.perf_counter() - started

    started = time.perf_counter()
    results = port.apply_many(BATCH, _writes(items))
    batch = time.perf_counter() - started
    failed = [result for result in results if not isinstance(result, WriteResult)]
    if failed:
        raise RuntimeError(f"{len(failed)} batched writes failed, e.g. {failed[0]}")
    return {
        "items": items,
        "single_items_per_s": round(items / single, 1),
        "batch_items_per_s": round(items / batch, 1),
        "ratio": round(single / batch, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=ITEMS)
    add_arguments(parser)
    args = parser.parse_args()
    targets = targets_for(args, TARGETS)
    process, url = _start_sim([str(SINGLE.mailbox), str(BATCH.mailbox)])
    try:
        figures = _measure(url, args.items)
    finally:
        process.terminate()
        process.communicate(timeout=30)
    return report(figures, args, targets)


if __name__ == "__main__":
    raise SystemExit(main())
