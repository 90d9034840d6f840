"""Fixtures for the Exchange port tests: both implementations of the port side by side.

`exchange` is each of them in turn — the in-memory fake the engine tests grew up with and the
port over the simulator's mailbox store — so that one suite states the contract for both;
`port` is the store's alone, for what only it can show (Windows time zones, EWS errors).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.exchange.mailbox_store import MailboxStorePort
from tests.exchange.support import mailbox_store_exchange
from tests.harness import Clock, Outlook, fake_exchange


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 2, 8, 0, tzinfo=UTC))


@pytest.fixture(params=["fake", "mailbox_store"])
def exchange(request: pytest.FixtureRequest, clock: Clock) -> Outlook:
    if request.param == "fake":
        return fake_exchange(clock)
    return mailbox_store_exchange()(clock)


@pytest.fixture
def port(clock: Clock) -> MailboxStorePort:
    built = mailbox_store_exchange()(clock)
    assert isinstance(built, MailboxStorePort)
    return built
