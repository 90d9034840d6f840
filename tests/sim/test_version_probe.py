"""A client that does not say which Exchange version it expects asks the server (ConvertId)."""

from __future__ import annotations

from exchangelib import BASIC, IMPERSONATION, Account, Configuration, Credentials, FailFast

from sim.server import EwsServer
from tests.sim.support import ADMIN, ALICE


def test_exchangelib_without_a_version_hint_connects_and_works(server: EwsServer) -> None:
    config = Configuration(
        service_endpoint=server.url,
        credentials=Credentials(ADMIN.username, ADMIN.password),
        auth_type=BASIC,
        retry_policy=FailFast(),
    )
    account = Account(ALICE, config=config, autodiscover=False, access_type=IMPERSONATION)

    assert (account.version.build.major_version, account.version.api_version) == (
        15,
        "Exchange2016",
    )
    assert account.calendar.all().count() == 0
    assert next(record.operation for record in server.requests) == "ConvertId"
