"""Streaming change signals (R3): an edit in a mailbox reaches the engine within a second."""

from __future__ import annotations

import time

from engine.ports import ChangeSignals
from sim.model import TaskFields
from sim.server import EwsServer
from sim.store import MailboxStore
from tests.ews_watch.conftest import WatcherFactory, basic_settings
from tests.ews_watch.support import (
    ALICE_USER,
    APPOINTMENT,
    BOB_USER,
    TASK,
    alive,
    appointment,
    collect,
    settle,
    until,
)
from tests.sim.support import ALICE, BOB


def test_r3_streaming_signals_an_edit_within_a_second(
    server: EwsServer, store: MailboxStore, make_watcher: WatcherFactory
) -> None:
    watcher: ChangeSignals = make_watcher(basic_settings(server.url))  # the engine's port
    watcher.watch([ALICE_USER])
    # A new subscription reports its folders: the engine catches up from its sync state.
    first = collect(watcher, {("alice", APPOINTMENT), ("alice", TASK)}, within=10)
    assert first == {("alice", APPOINTMENT), ("alice", TASK)}
    assert watcher.status("alice").alive and watcher.status("alice").mode == "streaming"
    settle(watcher)

    started = time.monotonic()
    item = store.create_calendar_item(ALICE, appointment("in Outlook"))
    assert collect(watcher, {("alice", APPOINTMENT)}, within=1.0) == {("alice", APPOINTMENT)}
    created_after = time.monotonic() - started

    store.update_item(item.item_id, subject="edited in Outlook")
    assert collect(watcher, {("alice", APPOINTMENT)}, within=1.0) == {("alice", APPOINTMENT)}
    store.create_task(ALICE, TaskFields(subject="a task"))
    assert collect(watcher, {("alice", TASK)}, within=1.0) == {("alice", TASK)}
    assert created_after < 1.0


def test_r3_a_connection_renewed_by_the_server_loses_nothing_and_needs_no_catch_up(
    server: EwsServer, store: MailboxStore, make_watcher: WatcherFactory
) -> None:
    watcher = make_watcher(basic_settings(server.url))
    watcher.watch([ALICE_USER])
    assert alive(watcher, "alice")
    settle(watcher)
    [group] = watcher.groups
    opened = group.connections_opened

    # A "minute" is 0.6 s here: the connection is closed by the server and opened again.
    quiet = watcher.wait(1.5)
    store.create_calendar_item(ALICE, appointment("after the renewal"))
    after = collect(watcher, {("alice", APPOINTMENT)}, within=1.0)

    assert group.connections_opened > opened
    assert quiet == set()  # a planned renewal reports nothing
    assert after == {("alice", APPOINTMENT)}


def test_r11_watching_another_set_of_users_subscribes_the_new_and_ends_the_old(
    server: EwsServer, store: MailboxStore, make_watcher: WatcherFactory
) -> None:
    watcher = make_watcher(basic_settings(server.url))
    watcher.watch([ALICE_USER])
    assert alive(watcher, "alice")

    watcher.watch([BOB_USER])
    assert alive(watcher, "bob")
    settle(watcher)
    store.create_calendar_item(ALICE, appointment("alice is no longer watched"))
    store.create_calendar_item(BOB, appointment("bob is"))
    signals = collect(watcher, {("bob", APPOINTMENT)}, within=1.5)

    assert signals == {("bob", APPOINTMENT)}
    assert watcher.status("alice").alive is False
    assert watcher.status("alice").reason == "not watched"
    unsubscribed = [r for r in server.requests if r.operation == "Unsubscribe"]
    assert [(r.mailbox, r.response_code) for r in unsubscribed] == [(ALICE, "NoError")]


def test_beyond_the_hanging_connection_limit_mailboxes_are_polled(
    server: EwsServer, store: MailboxStore, make_watcher: WatcherFactory
) -> None:
    settings = basic_settings(
        server.url, mailboxes_per_group=1, max_streaming_connections=1, poll_interval_s=0.3
    )
    watcher = make_watcher(settings)
    watcher.watch([ALICE_USER, BOB_USER])
    assert alive(watcher, "alice", "bob")

    modes = {watcher.status("alice").mode, watcher.status("bob").mode}
    assert modes == {"streaming", "pull"}
    assert len(watcher.groups) == 1
    settle(watcher)
    store.create_calendar_item(ALICE, appointment("one"))
    store.create_calendar_item(BOB, appointment("two"))
    expected = {("alice", APPOINTMENT), ("bob", APPOINTMENT)}
    assert collect(watcher, expected, within=1.5) == expected


def test_r9_a_user_without_a_mailbox_has_that_as_status_and_a_changed_mailbox_is_followed(
    server: EwsServer, store: MailboxStore, make_watcher: WatcherFactory
) -> None:
    watcher = make_watcher(basic_settings(server.url))
    nobody = ALICE_USER.model_copy(update={"mailbox": None})
    watcher.watch([nobody])
    assert until(
        lambda: watcher.status("alice").reason.endswith("no mailbox stored on the ERP user"), 5
    )

    moved = ALICE_USER.model_copy(update={"mailbox": BOB})  # alice now works in bob's mailbox
    watcher.watch([moved])
    assert alive(watcher, "alice")
    settle(watcher)
    store.create_calendar_item(BOB, appointment("in the new mailbox"))
    assert collect(watcher, {("alice", APPOINTMENT)}, within=1.0) == {("alice", APPOINTMENT)}
