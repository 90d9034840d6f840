"""Lost subscriptions, dropped connections, a busy server, denied mailboxes (DESIGN §5, R12)."""

from __future__ import annotations

import datetime as dt
import time
from contextlib import contextmanager
from dataclasses import replace

from pydantic import SecretStr

from sim.clock import ManualClock
from sim.faults import DropStream, ResponseError, ServerBusy
from sim.model import TaskFields
from sim.operations.base import StreamTiming
from sim.server import EwsServer, ServerConfig
from sim.store import MailboxStore
from tests.ews_watch.conftest import EVERYONE_ADMIN, WatcherFactory, basic_settings, checked
from tests.ews_watch.support import (
    ALICE_USER,
    APPOINTMENT,
    BOB_USER,
    CAROL_USER,
    TASK,
    alive,
    appointment,
    collect,
    settle,
    until,
)
from tests.sim.support import ALICE, BOB

BOTH = {("alice", APPOINTMENT), ("alice", TASK)}


def subscription_ids(server: EwsServer, mailbox: str) -> int:
    return sum(1 for r in server.requests if r.operation == "Subscribe" and r.mailbox == mailbox)


def test_an_expired_streaming_subscription_is_made_anew_and_the_folders_caught_up(
    server: EwsServer, store: MailboxStore, make_watcher: WatcherFactory
) -> None:
    watcher = make_watcher(basic_settings(server.url))
    watcher.watch([ALICE_USER])
    assert alive(watcher, "alice")
    settle(watcher)
    [group] = watcher.groups
    [member] = group.members()

    store.expire_subscription(member.subscription_id)
    caught_up = collect(watcher, BOTH, within=5)
    assert caught_up == BOTH
    assert alive(watcher, "alice")
    settle(watcher)
    store.create_calendar_item(ALICE, appointment("after the new subscription"))

    assert collect(watcher, {("alice", APPOINTMENT)}, within=1.0) == {("alice", APPOINTMENT)}
    assert subscription_ids(server, ALICE) == 2
    assert [m.subscription_id for m in group.members()] != [member.subscription_id]


def test_a_dropped_streaming_connection_reconnects_and_catches_up(
    server: EwsServer, store: MailboxStore, make_watcher: WatcherFactory
) -> None:
    watcher = make_watcher(basic_settings(server.url))
    watcher.watch([ALICE_USER])
    assert alive(watcher, "alice")
    settle(watcher)
    [group] = watcher.groups
    opened = group.connections_opened
    server.faults.add(DropStream(after_envelopes=1), operation="GetStreamingEvents")

    # The connection in use is renewed by the server within a "minute"; the next one drops.
    caught_up = collect(watcher, BOTH, within=5)
    settle(watcher)
    store.create_calendar_item(ALICE, appointment("after the drop"))

    assert caught_up == BOTH
    assert collect(watcher, {("alice", APPOINTMENT)}, within=1.0) == {("alice", APPOINTMENT)}
    assert group.connections_opened >= opened + 2
    assert subscription_ids(server, ALICE) == 1  # the subscription survived the drop


def test_error_server_busy_waits_the_back_off_the_server_asks_for(
    server: EwsServer, make_watcher: WatcherFactory
) -> None:
    server.faults.add(ServerBusy(back_off_ms=700), operation="Subscribe")
    watcher = make_watcher(basic_settings(server.url))
    started = time.monotonic()
    watcher.watch([ALICE_USER])

    assert alive(watcher, "alice")
    waited = time.monotonic() - started
    assert waited >= 0.7
    codes = [r.response_code for r in server.requests if r.operation == "Subscribe"]
    assert codes == ["ErrorServerBusy", "NoError"]


def test_a_busy_streaming_connection_is_opened_again_after_the_back_off(
    server: EwsServer, store: MailboxStore, make_watcher: WatcherFactory
) -> None:
    watcher = make_watcher(basic_settings(server.url))
    watcher.watch([ALICE_USER])
    assert alive(watcher, "alice")
    settle(watcher)
    server.faults.add(ServerBusy(back_off_ms=300), operation="GetStreamingEvents")

    assert collect(watcher, BOTH, within=5) == BOTH  # the failed connection: catch up
    settle(watcher)
    store.create_calendar_item(ALICE, appointment("after the busy server"))
    assert collect(watcher, {("alice", APPOINTMENT)}, within=1.0) == {("alice", APPOINTMENT)}


def test_r12_a_denied_mailbox_is_its_users_status_and_is_retried_with_a_growing_back_off(
    server: EwsServer, store: MailboxStore, make_watcher: WatcherFactory
) -> None:
    watcher = make_watcher(basic_settings(server.url, retry_initial_s=0.2, retry_max_s=0.8))
    watcher.watch([ALICE_USER, CAROL_USER])
    assert alive(watcher, "alice")
    assert until(lambda: "ErrorImpersonateUserDenied" in watcher.status("carol").reason, 5)
    denied = watcher.status("carol")
    assert denied.alive is False and denied.retry_at is not None

    # Meanwhile the other mailbox goes on as if nothing happened.
    settle(watcher)
    store.create_calendar_item(ALICE, appointment("alice is not held up"))
    assert collect(watcher, {("alice", APPOINTMENT)}, within=1.0) == {("alice", APPOINTMENT)}

    time.sleep(3)
    tries = [r for r in server.requests if r.response_code == "ErrorImpersonateUserDenied"]
    # Back-offs of about 0.2, 0.4, 0.8, 0.8 … seconds (with jitter): a handful, not a storm.
    assert 3 <= len(tries) <= 14
    assert watcher.status("carol").alive is False


def test_r12_a_missing_mailbox_is_watched_once_it_exists(
    server: EwsServer, store: MailboxStore, make_watcher: WatcherFactory
) -> None:
    dora = ALICE_USER.model_copy(update={"login": "dora", "mailbox": "dora@example.com"})
    settings = basic_settings(
        server.url,
        username=EVERYONE_ADMIN.username,
        password=SecretStr(EVERYONE_ADMIN.password),
        retry_initial_s=0.2,
        retry_max_s=0.4,
    )
    watcher = make_watcher(settings)
    watcher.watch([dora])
    assert until(lambda: "ErrorNonExistentMailbox" in watcher.status("dora").reason, 5)

    store.add_mailbox("dora@example.com")

    assert alive(watcher, "dora", within=5)
    assert collect(watcher, {("dora", APPOINTMENT), ("dora", TASK)}, within=2)


def test_pull_an_expired_subscription_is_made_anew_without_the_old_watermark(
    server: EwsServer, store: MailboxStore, clock: ManualClock, make_watcher: WatcherFactory
) -> None:
    settings = basic_settings(
        server.url, notifications="pull", poll_interval_s=0.2, pull_timeout_min=1
    )
    watcher = make_watcher(settings)
    watcher.watch([ALICE_USER])
    assert alive(watcher, "alice")
    settle(watcher)

    clock.advance(dt.timedelta(minutes=2))  # not polled within its timeout on the server's clock
    assert collect(watcher, BOTH, within=5) == BOTH
    assert alive(watcher, "alice")
    settle(watcher)
    store.create_calendar_item(ALICE, appointment("after the new pull subscription"))

    assert collect(watcher, {("alice", APPOINTMENT)}, within=1.0) == {("alice", APPOINTMENT)}
    codes = [r.response_code for r in server.requests if r.operation == "GetEvents"]
    assert "ErrorExpiredSubscription" in codes
    assert subscription_ids(server, ALICE) == 2


def test_pull_an_invalid_watermark_subscribes_anew_and_catches_up(
    server: EwsServer, store: MailboxStore, make_watcher: WatcherFactory
) -> None:
    watcher = make_watcher(basic_settings(server.url, notifications="pull", poll_interval_s=0.2))
    watcher.watch([ALICE_USER, BOB_USER])
    assert alive(watcher, "alice", "bob")
    settle(watcher)
    server.faults.add(ResponseError("ErrorInvalidWatermark"), operation="GetEvents", mailbox=ALICE)

    assert collect(watcher, BOTH, within=5) == BOTH
    assert alive(watcher, "alice")
    settle(watcher)
    store.create_calendar_item(BOB, appointment("bob was never disturbed"))
    assert collect(watcher, {("bob", APPOINTMENT)}, within=1.0) == {("bob", APPOINTMENT)}
    assert subscription_ids(server, ALICE) == 2 and subscription_ids(server, BOB) == 1


def test_a_busy_mailbox_does_not_hold_up_the_others(
    server: EwsServer, make_watcher: WatcherFactory
) -> None:
    # exchangelib 5.6.0's FaultTolerance keeps one back-off for the whole process: every
    # mailbox would wait out BOB's three seconds. The watcher retries per mailbox instead.
    server.faults.add(ServerBusy(back_off_ms=3000), operation="GetFolder", mailbox=BOB)
    watcher = make_watcher(basic_settings(server.url))
    started = time.monotonic()
    watcher.watch([BOB_USER, ALICE_USER])

    assert alive(watcher, "alice", within=2.5)
    alice_after = time.monotonic() - started
    assert alive(watcher, "bob", within=10)
    bob_after = time.monotonic() - started

    assert alice_after < 2.0 <= 3.0 <= bob_after


def test_pull_pages_through_more_events_than_one_get_events_answer(
    server: EwsServer, store: MailboxStore, make_watcher: WatcherFactory
) -> None:
    # exchangelib 5.6.0's Folder.get_events() re-sends its first watermark while MoreEvents is
    # true and never ends; the watcher pages with the last event's watermark.
    watcher = make_watcher(basic_settings(server.url, notifications="pull", poll_interval_s=1.0))
    watcher.watch([ALICE_USER])
    assert alive(watcher, "alice")
    settle(watcher)
    for number in range(store.notifications.settings.max_events_per_get * 2 + 5):
        store.create_calendar_item(ALICE, appointment(f"item {number}"))

    assert collect(watcher, {("alice", APPOINTMENT)}, within=3.0) == {("alice", APPOINTMENT)}
    settle(watcher, quiet=1.5)
    store.create_task(ALICE, TaskFields(subject="after the pages"))
    assert collect(watcher, {("alice", TASK)}, within=2.0) == {("alice", TASK)}
    pages = [r for r in server.requests if r.operation == "GetEvents"]
    assert len(pages) >= 3


def streams_both(server: EwsServer) -> bool:
    """A streaming connection was opened after every Subscribe (it carries them all)."""
    operations = [r.operation for r in server.requests]
    last = max(i for i, name in enumerate(operations) if name == "Subscribe")
    return "GetStreamingEvents" in operations[last:]


def test_unsubscribing_one_member_ends_only_its_subscription_not_its_groups(
    store: MailboxStore, server_config: ServerConfig, make_watcher: WatcherFactory
) -> None:
    """R11: a user leaving a streaming group is unsubscribed while the group's connection is
    open (until its next heartbeat); the server ends that connection naming the lost
    subscription. The other members keep theirs: they are not subscribed anew."""
    slow = replace(server_config, timing=StreamTiming(minute_seconds=60, heartbeat_seconds=1))
    with contextmanager(checked)(EwsServer(store, slow).start()) as server:
        watcher = make_watcher(basic_settings(server.url))
        watcher.watch([ALICE_USER, BOB_USER])
        assert alive(watcher, "alice", "bob")
        [group] = watcher.groups
        assert until(lambda: streams_both(server) and group.connected, 5)
        settle(watcher)
        opened = group.connections_opened

        watcher.watch([BOB_USER])
        assert until(lambda: group.connections_opened > opened and group.connected, 5)
        store.create_calendar_item(BOB, appointment("bob is still watched"))
        signals = collect(watcher, {("bob", APPOINTMENT)}, within=2)

        assert ("bob", APPOINTMENT) in signals
        assert subscription_ids(server, BOB) == 1
        assert group.logins() == ["bob"]
        assert watcher.status("bob").alive
        unsubscribed = [r.mailbox for r in server.requests if r.operation == "Unsubscribe"]
        assert unsubscribed == [ALICE]
