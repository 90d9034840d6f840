"""Helpers for the watcher tests: users, items "edited in Outlook", collecting signals."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable

from adapters.exchange.ews.watch import ExchangeWatcher
from engine.model import ItemKind, User
from engine.ports import ChangeSignals, SubscriptionStatus
from sim.model import CalendarFields
from tests.sim.support import ALICE, BOB, CAROL

APPOINTMENT, TASK = ItemKind.APPOINTMENT, ItemKind.TASK
ALICE_USER = User(login="alice", mailbox=ALICE, allow_sync=True)
BOB_USER = User(login="bob", mailbox=BOB, allow_sync=True)
CAROL_USER = User(login="carol", mailbox=CAROL, allow_sync=True)  # the admin may not impersonate

Signal = tuple[str, ItemKind]


def appointment(subject: str, day: int = 10) -> CalendarFields:
    start = dt.datetime(2026, 3, day, 9, tzinfo=dt.UTC)
    return CalendarFields(subject=subject, start=start, end=start + dt.timedelta(hours=1))


def collect(watcher: ChangeSignals, expected: Iterable[Signal], within: float) -> set[Signal]:
    """Signals until all of `expected` arrived or `within` seconds passed; all that came."""
    wanted = set(expected)
    seen: set[Signal] = set()
    deadline = time.monotonic() + within
    while not wanted <= seen:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        seen |= watcher.wait(left)
    return seen


def settle(watcher: ChangeSignals, quiet: float = 0.3) -> set[Signal]:
    """Drain the signals until none came for `quiet` seconds."""
    drained: set[Signal] = set()
    while batch := watcher.wait(quiet):
        drained |= batch
    return drained


def until(condition: Callable[[], bool], within: float, step: float = 0.02) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def alive(watcher: ExchangeWatcher, *logins: str, within: float = 10) -> bool:
    return until(lambda: all(watcher.status(login).alive for login in logins), within)


def status_of(watcher: ExchangeWatcher, login: str) -> SubscriptionStatus:
    return watcher.status(login)
