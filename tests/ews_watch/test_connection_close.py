"""Closing an EWS connection closes its HTTP sessions and forgets them (the process's shutdown
path, service/wiring.Process.close): a new connection to the same server starts afresh."""

from __future__ import annotations

from exchangelib.protocol import Protocol

from adapters.exchange.ews.connection import EwsConnection
from adapters.exchange.ews.port import EwsExchange
from sim.server import EwsServer
from tests.ews_watch.conftest import basic_settings
from tests.ews_watch.support import ALICE_USER


def test_closing_a_connection_closes_and_forgets_its_sessions(server: EwsServer) -> None:
    connection = EwsConnection(basic_settings(server.url))
    assert EwsExchange(connection.account).check_mailbox(ALICE_USER).reachable
    protocol, _ = Protocol[connection.configuration]
    assert protocol._session_pool_size > 0  # the request above opened one

    connection.close()

    assert protocol._session_pool_size == 0
    assert (connection.configuration.service_endpoint, connection.credentials) not in (
        Protocol._protocol_cache
    )
    connection.close()  # twice: nothing left to close, nothing raised
    again = EwsConnection(basic_settings(server.url))
    assert EwsExchange(again.account).check_mailbox(ALICE_USER).reachable
    again.close()


def test_closing_a_connection_that_sent_nothing_is_harmless(server: EwsServer) -> None:
    connection = EwsConnection(basic_settings(server.url))
    connection.close()
    assert (connection.configuration.service_endpoint, connection.credentials) not in (
        Protocol._protocol_cache
    )
