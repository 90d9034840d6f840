"""One fold per fact (issue 9): what the read models say of an item is what the engine knows.

The mapping row of every item — its status, reason, sentence, pending writes, retry time,
whether it is linked, its native ids — must equal the engine's own fold of the item's events
(`engine.state`, rebuilt from the store), through failures, retries, conflicts, held and
superseded writes; and a rebuild must give the same rows again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st_

from engine.errors import PermanentError, TransientError
from engine.model import ItemKind, Side
from engine.options import SyncOptions
from engine.ports import ItemIndex, Write
from engine.state import (
    Decision,
    ItemRef,
    ItemState,
    Progress,
    Status,
    Verdict,
    WriteDone,
    WriteFailed,
    decided,
    new_state,
    progress,
    progress_decided,
    progress_failed,
    progress_written,
    write_done,
    write_failed,
)
from tests.harness import Harness, at

FACTS = (
    "user",
    "kind",
    "status",
    "reason",
    "sentence",
    "pending",
    "settled",
    "linked",
    "next_retry_at",
    "erp_id",
    "exchange_id",
)


def _mapping(world: Harness) -> dict[uuid.UUID, dict[str, Any]]:
    items = world.projector.items
    with world.projector.db.connect() as conn:
        return {
            uuid.UUID(r["stream_id"]): dict(r) for r in conn.execute(sa.select(items)).mappings()
        }


def _as_the_engine_knows_it(state: ItemState) -> dict[str, Any]:
    retry = state.next_retry_at
    return {
        "user": state.user,
        "kind": state.kind.value,
        "status": state.status.value,
        "reason": state.reason,
        "sentence": state.sentence,
        "pending": " ".join(sorted({w.side.value for w in state.pending})),
        "settled": state.pending_settled.value if state.pending_settled else None,
        "linked": state.linked,
        "next_retry_at": retry.isoformat().replace("+00:00", "Z") if retry else None,
        "erp_id": state.erp.native_id,
        "exchange_id": state.exchange.native_id,
    }


def _as_projected(row: dict[str, Any]) -> dict[str, Any]:
    return {key: row[key] for key in FACTS}


def _assert_rows_are_the_engines_fold(world: Harness) -> None:
    rows = _mapping(world)
    assert rows
    for stream_id, row in rows.items():
        assert _as_projected(row) == _as_the_engine_knows_it(world.state(stream_id)), stream_id


def _eventful_world(tmp_path: Path, store_url: str, check: Callable[[Harness], None]) -> Harness:
    """Failures, retries, parking, conflicts, held deletions; `check` after every round."""
    world = Harness(tmp_path, SyncOptions(deletion_burst_threshold=3), store_url=store_url)

    def sync() -> None:
        world.sync()
        check(world)

    world.user("mueller")
    world.user("schmidt")
    world.sync()
    rows = [world.erp_appointment(subject=f"Item {n}") for n in range(8)]
    world.erp_task(subject="Call back")
    world.outlook_appointment("schmidt", subject="From Outlook")
    world.outlook_task(subject="Stamps")
    sync()
    # Both sides edit the same item: a conflict, merged and written both ways (R16); the write
    # to Exchange fails for now, and the echo of the ERP write leaves it waiting for its retry.
    both = world.counterpart_in_exchange(rows[0])
    world.exchange.edit(both.id, subject="Outlook's")
    world.erp.edit(rows[0], location="ERP's")
    world.exchange.fail_next_writes.append(TransientError("ErrorServerBusy", retry_after_s=120))
    sync()
    # An item waiting for its retry turns invalid: it is parked, no retry is due any more.
    world.exchange.fail_next_writes.append(TransientError("ErrorServerBusy", retry_after_s=60))
    world.erp.edit(rows[1], subject="Busy server")
    sync()
    world.erp.edit(rows[1], end=at(1, 8))
    sync()
    world.exchange.fail_next_writes.append(PermanentError("ErrorAccessDenied"))
    world.erp.edit(rows[2], subject="Denied")
    sync()
    # A burst of deletions: three go through, the rest are held (R17).
    for row in rows[3:8]:
        world.erp.delete(row)
    sync()
    return world


def test_the_mapping_is_the_engines_own_fold_of_each_item(tmp_path: Path, store_url: str) -> None:
    world = _eventful_world(tmp_path, store_url, _assert_rows_are_the_engines_fold)
    try:
        statuses = {row["status"] for row in _mapping(world).values()}
        assert {"in_sync", "failed", "held", "deleted"} <= statuses, statuses
        # The runtime's lookups (ItemIndex) say what the engine's fold says: the conflict
        # waits for its retry, the parked and the permanently failed items do not.
        index: ItemIndex = world.projector
        states = {s: world.state(s) for s in _mapping(world)}
        assert index.retries() == {
            s: state.next_retry_at
            for s, state in states.items()
            if state.status is Status.FAILED and state.next_retry_at is not None
        }
        assert len(index.retries()) == 1
        assert len(index.streams_of_user("mueller", status=Status.FAILED)) == 3
        world.projector.rebuild()
        _assert_rows_are_the_engines_fold(world)
        world.clock.advance(seconds=600)  # the retry is due: the conflict's write goes through
        world.sync()
        assert world.engine is not None
        world.engine.release_deletions("mueller", by="admin")
        world.sync()
        assert "held" not in {row["status"] for row in _mapping(world).values()}
        _assert_rows_are_the_engines_fold(world)
    finally:
        world.shutdown()


# ---- the Progress rules are the engine's fold, event by event ----------------------------------

STAMP = SyncOptions().stamp()
T0 = datetime(2026, 11, 2, 8, tzinfo=UTC)


def _decision(verdict: Verdict, status: Status, settled: Status, sides: list[Side]) -> Decision:
    return Decision(
        item=ItemRef(user="mueller", kind=ItemKind.APPOINTMENT),
        trigger="erp_changed",
        verdict=verdict,
        reason=f"R_{verdict.value}",
        sentence=f"{verdict.value} to {status.value}",
        status=status,
        settled=settled,
        writes=tuple(
            Write(side=side, operation="update", kind=ItemKind.APPOINTMENT, native_id="n")
            for side in dict.fromkeys(sides)
        ),
        options=STAMP,
    )


decisions = st_.builds(
    _decision,
    st_.sampled_from(Verdict),
    st_.sampled_from(Status),
    st_.sampled_from(Status),
    st_.lists(st_.sampled_from(Side), max_size=2),
)
outcomes = st_.one_of(
    st_.builds(
        WriteDone,
        side=st_.sampled_from(Side),
        operation=st_.sampled_from(["create", "update", "delete"]),
        native_id=st_.just("n"),
        at=st_.just(T0),
    ),
    st_.builds(
        lambda side, transient, attempt: WriteFailed(
            side=side,
            operation="update",
            error_class="ErrorServerBusy" if transient else "ErrorAccessDenied",
            message="no",
            attempt=attempt,
            transient=transient,
            next_retry_at=T0 + timedelta(seconds=30 * attempt),  # read only if transient
            at=T0,
        ),
        st_.sampled_from(Side),
        st_.booleans(),
        st_.integers(1, 5),
    ),
)


def _fold_progress(p: Progress, event: Decision | WriteDone | WriteFailed) -> Progress:
    """The projections' fold, from the same facts the recorded events carry."""
    if isinstance(event, Decision):
        sides = frozenset(w.side for w in event.writes)
        return progress_decided(
            p, event.verdict, event.status, event.settled, sides, event.reason, event.sentence
        )
    if isinstance(event, WriteDone):
        return progress_written(p, event.side)
    return progress_failed(
        p, event.error_class, event.message, event.transient, event.next_retry_at
    )


def _fold_state(state: ItemState, event: Decision | WriteDone | WriteFailed) -> ItemState:
    """The engine's fold (as the aggregate applies its events)."""
    if isinstance(event, Decision):
        return decided(state, event)
    if isinstance(event, WriteDone):
        return write_done(state, event)
    return write_failed(state, event)


@given(st_.lists(st_.one_of(decisions, outcomes), max_size=12))
@settings(max_examples=300, deadline=None)
def test_the_progress_rules_fold_every_event_as_the_engine_does(
    events: list[Decision | WriteDone | WriteFailed],
) -> None:
    state = new_state(uuid.uuid4(), "mueller", ItemKind.APPOINTMENT)
    p = progress(state)
    for event in events:
        state, p = _fold_state(state, event), _fold_progress(p, event)
        assert p == progress(state), event
