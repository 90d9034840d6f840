"""The Graph adapter against the simulator's Graph side: throttling, token renewal, the watcher."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from adapters.exchange.graph.port import GraphExchange
from adapters.exchange.graph.watch import GraphWatcher
from engine.model import ItemKind, Task, User
from engine.observation import Change
from engine.ports import OccurrenceChange, SubscriptionStatus
from sim.graph.context import CALENDARS_READWRITE
from sim.graph.faults import Throttled
from tests.exchange.conformance import (
    JOUR_FIXE,
    KICKOFF,
    STARTS,
    fetched,
    moved,
)
from tests.exchange.graph_outlook import graph_outlook
from tests.exchange.support import MAILBOX, MAILBOXES, USER, creating, read_all, updating
from tests.harness import Clock


def test_r20_graph_throttling_429_is_retried_after_retry_after(
    clock: Clock, tmp_path: Path
) -> None:
    with graph_outlook(clock, tmp_path) as exchange:
        item_id = exchange.create(MAILBOX, KICKOFF)
        assert exchange.server.graph is not None
        exchange.server.graph.faults.add(Throttled(retry_after=1), operation="calendarView.delta")
        observations, _, _ = read_all(exchange, ItemKind.APPOINTMENT, None)
        assert [o.native_id for o in observations] == [item_id]
        assert exchange.client.retries == 1


def test_r20_graph_token_expiry_mid_run_is_renewed_by_msal(clock: Clock, tmp_path: Path) -> None:
    with graph_outlook(clock, tmp_path) as exchange:
        assert exchange.check_mailbox(USER).reachable
        asked = exchange.client.tokens.requests
        clock.advance(seconds=2 * 3600)  # the simulator's tokens last 60 minutes
        assert exchange.check_mailbox(USER).reachable
        assert exchange.client.tokens.requests == asked + 1


def _wait_for(watcher: GraphWatcher, wanted: tuple[str, ItemKind], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if wanted in watcher.wait(0.2):
            return True
    return False


def test_r3_graph_watcher_signals_a_change_made_in_outlook(clock: Clock, tmp_path: Path) -> None:
    with graph_outlook(clock, tmp_path) as exchange:
        settings = exchange.settings.model_copy(update={"poll_interval_s": 0.2})
        watcher = GraphWatcher(exchange.client, settings)
        try:
            watcher.watch([USER])
            assert watcher.wait(1) >= {(USER.login, ItemKind.APPOINTMENT)}  # catch up first
            assert _wait_for(watcher, ("never", ItemKind.TASK), 1.0) is False  # settle
            assert watcher.status(USER.login) == SubscriptionStatus(alive=True, mode="pull")
            exchange.create(MAILBOX, KICKOFF)
            assert _wait_for(watcher, (USER.login, ItemKind.APPOINTMENT), 5.0)
            exchange.create(MAILBOX, Task(subject="Call back"))
            assert _wait_for(watcher, (USER.login, ItemKind.TASK), 5.0)
            watcher.watch([])  # R11: unwatched at once
            assert watcher.status(USER.login).reason == "not watched"
        finally:
            watcher.close()


def test_r12_graph_watcher_reports_an_access_policy_denial(clock: Clock, tmp_path: Path) -> None:
    with graph_outlook(clock, tmp_path) as exchange:
        exchange.unreachable[MAILBOX] = "denied"
        settings = exchange.settings.model_copy(update={"poll_interval_s": 0.2})
        other = User(login="schmidt", mailbox=MAILBOXES[1], allow_sync=True)
        watcher = GraphWatcher(exchange.client, settings)
        try:
            watcher.watch([USER, other])
            deadline = time.monotonic() + 5
            while watcher.status(USER.login).reason in ("starting", "") and (
                time.monotonic() < deadline
            ):
                time.sleep(0.05)
            status = watcher.status(USER.login)
            assert (status.alive, status.reason) == (False, "ErrorAccessDenied")
            assert status.retry_at is not None
            while not watcher.status(other.login).alive and time.monotonic() < deadline:
                time.sleep(0.05)
            assert watcher.status(other.login).alive  # the others go on
        finally:
            watcher.close()


def test_r20_graph_throttled_batch_requests_are_sent_again(clock: Clock, tmp_path: Path) -> None:
    with graph_outlook(clock, tmp_path) as exchange:
        stream = uuid.uuid4()
        item_id = exchange.apply(USER, stream, creating(JOUR_FIXE)).native_id
        target = JOUR_FIXE.replace(modified_occurrences=(moved(STARTS[1]),))
        change = OccurrenceChange(
            original_start=STARTS[1], action="modify", occurrence=target.modified_occurrences[0]
        )
        assert exchange.server.graph is not None
        exchange.server.graph.faults.add(Throttled(retry_after=1), operation="events.update")
        exchange.apply(USER, stream, updating(exchange.get(item_id), target, occurrences=[change]))
        updates = [
            (r.in_batch, r.status)
            for r in exchange.server.graph.requests
            if r.operation == "events.update"
        ]
        # Only the occurrence is written (the series is as it was), in a $batch: its 429 is
        # sent again after the Retry-After.
        assert updates == [(True, 429), (True, 200)]
        assert exchange.client.retries == 1
        assert fetched(exchange, item_id).sync_hash == target.sync_hash


def test_ga3_a_series_deleted_while_the_engine_was_down_is_reported_deleted(
    clock: Clock, tmp_path: Path
) -> None:
    """GA3: delta rounds name occurrences, never their series master. A port that starts anew
    (the engine restarted) and then sees the series' occurrences all `@removed` must still report
    the master deleted — the series ids it read are kept in the checkpoint (failed before: only
    the occurrence ids were reported, which the engine does not know, so the ERP kept the
    series). The simulator's report of a deleted master as an item outside the window is
    switched off: that Graph reports it is not documented (sim G3)."""
    with graph_outlook(clock, tmp_path) as exchange:
        assert exchange.server.graph is not None
        exchange.server.graph.settings.report_outside_window = False
        series = exchange.create(MAILBOX, JOUR_FIXE)
        single = exchange.create(MAILBOX, KICKOFF)
        first, checkpoint, _ = read_all(exchange.port, ItemKind.APPOINTMENT, None)
        assert {o.native_id for o in first} == {series, single}
        restarted = GraphExchange(exchange.client, exchange.settings, clock=clock)
        exchange.delete(series)
        seen, checkpoint, _ = read_all(restarted, ItemKind.APPOINTMENT, checkpoint)
        deleted = {o.native_id for o in seen if o.change is Change.DELETED}
        assert series in deleted, [(o.native_id, o.change) for o in seen]
        assert single not in deleted
        # Once reported, the series is forgotten: a later round does not report it again.
        exchange.edit(single, subject="Kickoff (moved)")
        again, _, _ = read_all(
            GraphExchange(exchange.client, exchange.settings, clock=clock),
            ItemKind.APPOINTMENT,
            checkpoint,
        )
        assert [(o.native_id, o.change) for o in again] == [(single, Change.CHANGED)]


def test_r10_graph_watcher_polls_only_the_synchronised_folders(
    clock: Clock, tmp_path: Path
) -> None:
    """With task sync off (R10) an app may hold no To Do permission: the watcher must not poll
    tasks/delta, or every mailbox would be down with ErrorAccessDenied (failed before: it
    polled both folders whatever was synchronised)."""
    with graph_outlook(clock, tmp_path) as exchange:
        assert exchange.server.graph is not None
        exchange.server.graph.settings.permissions[exchange.settings.client_id] = frozenset(
            {CALENDARS_READWRITE}
        )
        settings = exchange.settings.model_copy(update={"poll_interval_s": 0.2})
        watcher = GraphWatcher(exchange.client, settings, kinds=(ItemKind.APPOINTMENT,))
        try:
            watcher.watch([USER])
            assert watcher.wait(1) == {(USER.login, ItemKind.APPOINTMENT)}  # catch up first
            deadline = time.monotonic() + 5
            while watcher.status(USER.login).reason == "starting" and time.monotonic() < deadline:
                time.sleep(0.05)
            status = watcher.status(USER.login)
            assert (status.alive, status.reason) == (True, ""), status
        finally:
            watcher.close()
