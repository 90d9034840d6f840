"""Connection groups: up to 200 mailboxes share one streaming connection (DESIGN §5)."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from adapters.exchange.ews.subscriptions import Affinity, _SubscribeToStreaming
from engine.model import User
from sim.server import EwsServer, ServerConfig
from sim.store import MailboxStore
from tests.ews_watch.conftest import EVERYONE_ADMIN, WatcherFactory, basic_settings
from tests.ews_watch.support import APPOINTMENT, alive, appointment, collect, settle, until

MAILBOXES = 201


@pytest.fixture
def many(store: MailboxStore) -> list[User]:
    users = []
    for number in range(MAILBOXES):
        address = f"user{number:04d}@example.com"
        store.add_mailbox(address)
        users.append(User(login=f"user{number:04d}", mailbox=address, allow_sync=True))
    return users


@pytest.fixture
def server_config(server_config: ServerConfig) -> ServerConfig:
    return replace(server_config, schema=None)  # 400+ requests: checked elsewhere, quicker here


def test_201_mailboxes_make_two_connection_groups_anchored_on_their_first_mailbox(
    server: EwsServer,
    store: MailboxStore,
    many: list[User],
    make_watcher: WatcherFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from pydantic import SecretStr

    caplog.set_level(logging.INFO, logger="sim.server")
    settings = basic_settings(
        server.url,
        username=EVERYONE_ADMIN.username,
        password=SecretStr(EVERYONE_ADMIN.password),
        workers=8,
        max_connections=20,
    )
    watcher = make_watcher(settings)
    watcher.watch(many)

    assert alive(watcher, *(user.login for user in many), within=60)
    assert [len(group) for group in watcher.groups] == [200, 1]
    assert until(lambda: watcher.streaming_connections() == 2, 5)
    settle(watcher)
    last = many[-1]
    store.create_calendar_item(str(last.mailbox), appointment("in the second group"))
    store.create_calendar_item(str(many[7].mailbox), appointment("in the first group"))
    signals = collect(watcher, {(last.login, APPOINTMENT), (many[7].login, APPOINTMENT)}, 1.5)
    assert signals == {(last.login, APPOINTMENT), (many[7].login, APPOINTMENT)}

    # Every Subscribe and GetStreamingEvents of a group is routed by its anchor mailbox.
    anchors = {group.affinity.anchor for group in watcher.groups if group.affinity}
    routed = [
        record.getMessage().split()[2]
        for record in caplog.records
        if record.getMessage().startswith(("EWS Subscribe", "EWS GetStreamingEvents"))
    ]
    assert len(routed) >= MAILBOXES + 2
    assert set(routed) == anchors and len(anchors) == 2
    # Each group keeps the backend cookie its first Subscribe got, and sends only that one.
    cookies = [group.affinity.cookie for group in watcher.groups if group.affinity]
    assert len(set(cookies)) == 2 and all(str(c).startswith("SIM01~") for c in cookies)


def test_a_groups_requests_carry_its_anchor_and_its_cookie_only(
    server: EwsServer, make_watcher: WatcherFactory
) -> None:
    account = make_watcher(basic_settings(server.url)).connection.account("member@example.com")
    service = _SubscribeToStreaming(account=account)
    service.affinity = Affinity(anchor="anchor@example.com")
    first = service._extra_headers()
    service.affinity.cookie = "SIM01~abc"

    assert first["X-AnchorMailbox"] == "anchor@example.com"
    assert first["X-PreferServerAffinity"] == "True"
    assert first["Cookie"] == "" and "X-BackEndOverrideCookie" not in first
    assert service._extra_headers()["Cookie"] == "X-BackEndOverrideCookie=SIM01~abc"
    assert service._extra_headers()["X-BackEndOverrideCookie"] == "SIM01~abc"
