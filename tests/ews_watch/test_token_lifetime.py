"""A short-lived OAuth2 token is renewed through msal before it expires: no 401 on the way."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import replace
from pathlib import Path

import pytest

from sim.clock import ManualClock
from sim.server import EwsServer, ServerConfig
from tests.ews_watch.conftest import WatcherFactory, oauth_settings
from tests.ews_watch.support import ALICE_USER, BOB_USER, alive
from tests.ews_watch.test_auth import ca_bundle

__all__ = ["ca_bundle"]


@pytest.fixture
def server_config(server_config: ServerConfig) -> ServerConfig:
    return replace(server_config, token_lifetime=dt.timedelta(seconds=2))


def test_r9_a_short_lived_token_is_renewed_before_it_expires(
    tls_server: EwsServer, clock: ManualClock, ca_bundle: Path, make_watcher: WatcherFactory
) -> None:
    watcher = make_watcher(oauth_settings(tls_server, ca_bundle))
    watcher.watch([ALICE_USER])
    assert alive(watcher, "alice")
    issued = tls_server.tokens.issued_count

    time.sleep(1.2)  # past half the token's life: it is handed over as expired
    clock.advance(dt.timedelta(seconds=1.2))
    watcher.watch([ALICE_USER, BOB_USER])

    assert alive(watcher, "bob")
    assert tls_server.tokens.issued_count > issued
    assert [r for r in tls_server.requests if r.status == 401] == []
