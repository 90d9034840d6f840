"""Ids are never reused: not across a restart, and with --data the mailboxes survive one."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from exchangelib import Account, CalendarItem, Credentials, EWSDateTime
from exchangelib.errors import ErrorItemNotFound
from exchangelib.protocol import close_connections

from sim.persistence import SNAPSHOT, StoreFile
from sim.server import EwsServer, ServerConfig
from sim.store import MailboxStore
from tests.sim.sim_process import SimStarter
from tests.sim.support import ALICE, BERLIN, make_account, make_account_at

DEMO_ADMIN = Credentials("admin", "demo")  # `einklang sim` without --admin


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


def test_with_data_the_mailboxes_survive_a_kill_9_and_old_ids_stay_dead(
    start_sim: SimStarter, tmp_path: Path
) -> None:
    data = str(tmp_path / "data")
    sim = start_sim("--port", "0", "--data", data, "--mailbox", ALICE, python_m=True)
    account = make_account_at(sim.wait_for("EWS endpoint:"), ALICE, DEMO_ADMIN)
    kept, edited, deleted = (a_meeting(name) for name in ("kept", "edited", "deleted"))
    for item in (kept, edited, deleted):
        item.account, item.folder = account, account.calendar
        item.save()
    edited.subject = "edited before the crash"
    edited.save(update_fields=["subject"])
    deleted_id, deleted_key = deleted.id, deleted.changekey
    deleted.delete()
    close_connections()
    sim.process.kill()  # kill -9: no chance to save anything on the way out
    sim.process.wait(timeout=20)

    again = start_sim("--port", "0", "--data", data, python_m=True)
    endpoint = again.wait_for("EWS endpoint:")
    assert again.wait_for("Mailboxes:") == ALICE  # kept, without --mailbox and no demo ones
    account = make_account_at(endpoint, ALICE, DEMO_ADMIN)
    found = {item.id: (item.changekey, item.subject) for item in account.calendar.all()}
    stale = CalendarItem(
        account=account, folder=account.calendar, id=deleted_id, changekey=deleted_key
    )
    stale.subject = "resurrected"
    with pytest.raises(ErrorItemNotFound):
        stale.save(update_fields=["subject"])
    new = a_meeting("after the crash")
    new.account, new.folder = account, account.calendar
    new.save()
    close_connections()

    assert found == {
        kept.id: (kept.changekey, "kept"),
        edited.id: (edited.changekey, "edited before the crash"),
    }
    assert new.id not in {kept.id, edited.id, deleted_id}
    again.stop_without_violations()


def test_with_a_store_file_sync_states_and_subscriptions_outlive_a_restart(
    server_config: ServerConfig, tmp_path: Path
) -> None:
    store_file = StoreFile(tmp_path / "data")
    store = store_file.load()
    store.add_mailbox(ALICE)
    with EwsServer(store, server_config, store_file) as before:
        account = make_account(before, ALICE)
        first = a_meeting("first")
        first.account, first.folder = account, account.calendar
        first.save()
        sync_state = _sync(account)[1]
        subscription_id, watermark = account.calendar.subscribe_to_pull()
    close_connections()

    restarted = store_file.load()
    with EwsServer(restarted, server_config, store_file) as after:
        account = make_account(after, ALICE)
        second = a_meeting("second")
        second.account, second.folder = account, account.calendar
        second.save()
        changes, _ = _sync(account, sync_state)
        events = list(account.calendar.get_events(subscription_id, watermark))
        assert after.violations == []
    close_connections()

    kept = restarted.get_item(first.id)
    assert (kept.subject, kept.change_key) == ("first", first.changekey)
    assert changes == [("create", second.id)]
    created = [e.item_id.id for n in events for e in n.events if type(e).__name__ == "CreatedEvent"]
    assert created == [second.id]


def _sync(account: Account, state: str | None = None) -> tuple[list[tuple[str, str]], str]:
    folder = account.calendar
    folder.item_sync_state = state
    changes = [(kind, item.id) for kind, item in folder.sync_items(only_fields=["id"])]
    return changes, folder.item_sync_state


@pytest.mark.parametrize(
    "content", [b"", b"not a snapshot", b"\x80\x05K\x01.", b"csim.store\nNoSuchClass\n."]
)
def test_a_damaged_data_directory_is_one_clear_error(tmp_path: Path, content: bytes) -> None:
    (tmp_path / SNAPSHOT).write_bytes(content)

    result = subprocess.run(
        [sys.executable, "-m", "sim", "--port", "0", "--data", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("einklang sim: error: --data") and "Traceback" not in result.stderr
