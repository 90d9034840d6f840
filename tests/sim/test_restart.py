"""Ids are never reused: not across a restart, and with --data the mailboxes survive one."""

from __future__ import annotations

import datetime as dt

import pytest
from exchangelib import CalendarItem, EWSDateTime
from exchangelib.errors import ErrorItemNotFound
from exchangelib.protocol import close_connections

from sim.server import EwsServer, ServerConfig
from sim.store import MailboxStore
from tests.sim.support import ALICE, BERLIN, make_account


def a_meeting(subject: str) -> CalendarItem:
    start = EWSDateTime(2026, 3, 10, 9, tzinfo=BERLIN)
    return CalendarItem(subject=subject, start=start, end=start + dt.timedelta(hours=1))


def fresh_store() -> MailboxStore:
    store = MailboxStore()
    store.add_mailbox(ALICE)
    return store


def test_an_id_from_before_a_restart_never_updates_another_item(
    server_config: ServerConfig,
) -> None:
    with EwsServer(fresh_store(), server_config) as before:
        old = a_meeting("before the restart")
        old.account = make_account(before, ALICE)
        old.folder = old.account.calendar
        old.save()
        assert before.violations == []
    close_connections()

    restarted = fresh_store()
    with EwsServer(restarted, server_config) as after:
        account = make_account(after, ALICE)
        new = a_meeting("after the restart")
        new.account, new.folder = account, account.calendar
        new.save()
        stale = CalendarItem(
            account=account, folder=account.calendar, id=old.id, changekey=old.changekey
        )
        stale.subject = "overwritten"

        with pytest.raises(ErrorItemNotFound):
            stale.save(update_fields=["subject"])

        assert after.violations == []
    close_connections()
    assert [item.subject for item in restarted.list_items(ALICE)] == ["after the restart"]
    assert old.id != new.id
