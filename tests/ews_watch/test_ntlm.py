"""NTLM, on-premises Exchange's default authentication (R9), end to end: the real adapter
(exchangelib, requests_ntlm, pyspnego) against `einklang sim --ntlm` over HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from adapters.exchange.ews.connection import EwsConnection
from adapters.exchange.ews.port import EwsExchange
from engine.errors import TransientError
from engine.model import Appointment, ItemKind, Side
from engine.ports import Write
from sim.auth import AdminAccount
from sim.server import EwsServer, ServerConfig
from sim.store import MailboxStore
from tests.ews_watch.conftest import WatcherFactory, basic_settings, checked
from tests.ews_watch.support import ALICE_USER, alive, until
from tests.harness import at
from tests.sim.support import MESSAGES_XSD

DOMAIN_ADMIN = AdminAccount("FIRMA\\svc-einklang", "ntlm-pass-789", None)


@pytest.fixture
def ntlm_server(store: MailboxStore) -> Iterator[EwsServer]:
    config = ServerConfig(admins=(DOMAIN_ADMIN,), schema=MESSAGES_XSD, ntlm=True)
    yield from checked(EwsServer(store, config).start())


def _port(server: EwsServer, password: str) -> EwsExchange:
    settings = basic_settings(
        server.url,
        auth="ntlm",
        username=DOMAIN_ADMIN.username,
        password=SecretStr(password),
        transient_attempts=1,
    )
    return EwsExchange(EwsConnection(settings).account)


def _creating(subject: str) -> Write:
    snapshot = Appointment(subject=subject, start=at(3, 9), end=at(3, 10))
    return Write(
        side=Side.EXCHANGE, operation="create", kind=ItemKind.APPOINTMENT, snapshot=snapshot
    )


def test_r9_ntlm_checks_writes_and_reads_a_mailbox_handshaking_once_per_connection(
    ntlm_server: EwsServer,
) -> None:
    port = _port(ntlm_server, DOMAIN_ADMIN.password)

    assert port.check_mailbox(ALICE_USER).reachable
    made = port.apply(ALICE_USER, uuid.uuid4(), _creating("Kickoff"))
    batch = port.read_changes(ALICE_USER, ItemKind.APPOINTMENT, None)
    port.apply_many(ALICE_USER, [(uuid.uuid4(), _creating(f"Import {n}")) for n in range(3)])

    assert [o.native_id for o in batch.observations] == [made.native_id]
    records = ntlm_server.requests
    answered = [r for r in records if r.status == 200]
    assert {r.principal for r in answered} == {DOMAIN_ADMIN.username}
    # NTLM authenticates the connection: one handshake (one 401) per connection, not per request.
    refused = [r for r in records if r.status == 401]
    assert len(answered) >= 5 and len(refused) <= 2 * len(answered) // 5


def test_r12_a_wrong_ntlm_password_is_the_users_status_with_the_reason(
    ntlm_server: EwsServer, make_watcher: WatcherFactory
) -> None:
    port = _port(ntlm_server, "not-the-password")

    status = port.check_mailbox(ALICE_USER)
    with pytest.raises(TransientError) as refused:
        port.apply(ALICE_USER, uuid.uuid4(), _creating("Kickoff"))

    assert not status.reachable and "UnauthorizedError" in status.reason, status
    assert "not-the-password" not in status.reason + str(refused.value)
    watcher = make_watcher(
        basic_settings(
            ntlm_server.url,
            auth="ntlm",
            username=DOMAIN_ADMIN.username,
            password=SecretStr("not-the-password"),
        )
    )
    watcher.watch([ALICE_USER])
    assert until(lambda: "UnauthorizedError" in watcher.status("alice").reason, 10)
    assert not watcher.status("alice").alive
    assert not alive(watcher, "alice", within=0.5)
