"""Fixtures for the Exchange port tests: the port over the simulator's mailbox store.

`exchange` is the port as the engine sees it (the contract every Exchange adapter keeps);
`port` is the same, typed as the store's port, for what only it can show (Windows time zones,
EWS errors).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.doubles.mailbox_store import MailboxStorePort
from tests.harness import Clock, Outlook, mailbox_store_exchange


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 2, 8, 0, tzinfo=UTC))


@pytest.fixture
def exchange(clock: Clock) -> Outlook:
    return mailbox_store_exchange()(clock)


@pytest.fixture
def port(clock: Clock) -> MailboxStorePort:
    built = mailbox_store_exchange()(clock)
    assert isinstance(built, MailboxStorePort)
    return built
