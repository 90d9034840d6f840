"""A store with one mailbox (the simulator's tests share a store of three)."""

from __future__ import annotations

import pytest

from sim.clock import ManualClock
from sim.store import MailboxStore
from tests.sim.mailbox_store.support import MAILBOX


@pytest.fixture
def store(clock: ManualClock) -> MailboxStore:
    store = MailboxStore(clock=clock)
    store.add_mailbox(MAILBOX)
    return store
