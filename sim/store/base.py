"""What every part of the store shares: settings, the lock, the change sequence and the hub.

The store is composed of parts as Radicale's `storage/multifilesystem` composes its collection:
each `StorePart*` class holds one concern and inherits the parts it builds on, all from
`StoreBase`; `sim.store.MailboxStore` combines them.
"""

from __future__ import annotations

import itertools
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sim import ids
from sim.clock import Clock, SystemClock
from sim.events import NotificationHub, NotificationSettings
from sim.model import require_utc
from sim.store.records import ItemRecord, MailboxRecord


@dataclass(frozen=True)
class StoreSettings:
    notifications: NotificationSettings = field(default_factory=NotificationSettings)
    # Exchange sync states do not age by themselves; set this to simulate ones that went stale.
    sync_state_max_age: timedelta | None = None
    max_sync_changes: int = 512


class StoreBase:
    """The state all parts work on; every public method of a part takes `_lock`."""

    def __init__(self, clock: Clock | None = None, settings: StoreSettings | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        self.settings = settings or StoreSettings()
        self._lock = threading.RLock()
        self._seq = itertools.count(1)
        self._mailboxes: dict[str, MailboxRecord] = {}
        self._by_number: dict[int, MailboxRecord] = {}
        self._seal = ids.TokenSeal(secrets.token_bytes(32))
        self.notifications = NotificationHub(
            self._lock, self.clock, self._seal, self.settings.notifications, self._next_seq
        )

    def _next_seq(self) -> int:
        return next(self._seq)

    def _touch(self, record: ItemRecord, changed: set[str]) -> None:
        record.version = self._next_seq()
        record.last_modified = self.clock.now()
        for name in changed:
            record.field_versions[name] = record.version


def utc(value: datetime | None) -> datetime:
    normalised = require_utc(value, "time")
    assert normalised is not None
    return normalised
