"""The simulator's side of connection groups: one GetStreamingEvents carries the subscriptions
of several mailboxes, but only those its caller made (sim/events.py, `grouped`)."""

from __future__ import annotations

import pytest
from exchangelib import Credentials
from exchangelib.errors import ErrorSubscriptionAccessDenied

from sim.server import EwsServer
from sim.store import MailboxStore
from tests.ews_watch.conftest import EVERYONE_ADMIN
from tests.ews_watch.support import appointment
from tests.sim.support import ALICE, BOB, make_account


def test_one_connection_carries_the_callers_subscriptions_of_several_mailboxes(
    server: EwsServer, store: MailboxStore
) -> None:
    alice, bob = make_account(server, ALICE), make_account(server, BOB)
    ids = [alice.calendar.subscribe_to_streaming(), bob.calendar.subscribe_to_streaming()]
    store.create_calendar_item(ALICE, appointment("for alice"))
    store.create_calendar_item(BOB, appointment("for bob"))

    notifications = list(alice.calendar.get_streaming_events(ids, connection_timeout=1))

    delivered = {n.subscription_id for n in notifications if n.events}
    assert delivered == set(ids)


def test_a_connection_may_not_carry_another_callers_subscription(
    server: EwsServer, store: MailboxStore
) -> None:
    alice = make_account(server, ALICE)
    other = make_account(server, BOB, Credentials(EVERYONE_ADMIN.username, EVERYONE_ADMIN.password))
    ids = [other.calendar.subscribe_to_streaming(), alice.calendar.subscribe_to_streaming()]

    with pytest.raises(ErrorSubscriptionAccessDenied):
        list(other.calendar.get_streaming_events(ids, connection_timeout=1))
