"""1,000 mailboxes watched by one process against the simulator; prints one JSON line.

The simulator runs as a subprocess (`python -m sim`, no schema checks) with the mailboxes; one
`ExchangeWatcher` over the real exchangelib subscribes all of them (streaming) and waits until
every mailbox is subscribed and every connection group is connected. Figures:

- `mailboxes`: how many were watched;
- `rss_mb`: the peak resident memory of this process (the watcher's side only), in MB;
- `streaming_connections`: the most hanging GetStreamingEvents connections open at once;
- `subscribe_all_s`: from `watch()` until every mailbox's subscription was made.

`--check` exits 1 when a figure misses its target (`TARGETS`, the README's table: at most
500 MB and 10 connections, DESIGN §5's limit); `--mailboxes` shrinks the run (the tests run it
tiny).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import SecretStr

from adapters.exchange.ews.connection import EwsConnection
from adapters.exchange.ews.settings import EwsSettings
from adapters.exchange.ews.watch import ExchangeWatcher
from bench.check import Target, add_arguments, report, targets_for
from engine.model import User

MAILBOXES = 1_000
ADMIN, PASSWORD = "bench-admin", "bench-pass-123"
TARGETS = (
    Target("rss_mb", 500, at_most=True),
    Target("streaming_connections", 10, at_most=True),
)


def _start_sim(addresses: list[str]) -> tuple[subprocess.Popen[str], str]:
    mailboxes = [arg for address in addresses for arg in ("--mailbox", address)]
    command = [sys.executable, "-m", "sim", "--port", "0", "--admin", f"{ADMIN}:{PASSWORD}"]
    process = subprocess.Popen(
        [*command, "--stream-minute", "2", "--log-level", "WARNING", *mailboxes],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("EWS endpoint:"):
            return process, line.split(": ", 1)[1].strip()
    raise RuntimeError("the simulator did not start")


def _measure(url: str, users: list[User]) -> dict[str, float | int]:
    settings = EwsSettings(
        url=url,
        auth="basic",
        username=ADMIN,
        password=SecretStr(PASSWORD),
        connection_timeout_min=1,  # two seconds with --stream-minute 2
        workers=8,
        max_connections=24,
    )
    watcher = ExchangeWatcher(EwsConnection(settings))
    most = 0
    sampling = threading.Event()

    def sample() -> None:
        nonlocal most
        while not sampling.wait(0.05):
            most = max(most, watcher.streaming_connections())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        started = time.monotonic()
        watcher.watch(users)
        while watcher.subscribed() < len(users):
            time.sleep(0.05)
        subscribe_all = time.monotonic() - started
        groups = -(-len(users) // settings.mailboxes_per_group)
        deadline = time.monotonic() + 30
        while watcher.streaming_connections() < groups and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
    finally:
        sampling.set()
        sampler.join()
        watcher.close(unsubscribe_all=False)
    return {
        "streaming_connections": most,
        "subscribe_all_s": round(subscribe_all, 2),
        # ru_maxrss is in kilobytes on Linux.
        "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mailboxes", type=int, default=MAILBOXES)
    add_arguments(parser)
    args = parser.parse_args()
    targets = targets_for(args, TARGETS)
    users = [
        User(login=f"user{n:04d}", mailbox=f"user{n:04d}@example.com", allow_sync=True)
        for n in range(args.mailboxes)
    ]
    process, url = _start_sim([str(user.mailbox) for user in users])
    try:
        figures = {"mailboxes": len(users), **_measure(url, users)}
    finally:
        process.terminate()
        process.communicate(timeout=30)
    return report(figures, args, targets)


if __name__ == "__main__":
    raise SystemExit(main())
