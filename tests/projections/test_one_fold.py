"""One fold per fact (issue 9): what the read models say of an item is what the engine knows.

The mapping row of every item — its status, reason, sentence, pending writes, retry time,
whether it is linked, its native ids — must equal the engine's own fold of the item's events
(`engine.state`, rebuilt from the store), through failures, retries, conflicts, held and
superseded writes; and a rebuild must give the same rows again.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from engine.errors import PermanentError, TransientError
from engine.options import SyncOptions
from engine.state import ItemState
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


def _eventful_world(tmp_path: Path) -> Harness:
    world = Harness(tmp_path, options=SyncOptions(deletion_burst_threshold=3))
    world.user("mueller")
    world.user("schmidt")
    world.sync()
    rows = [world.erp_appointment(subject=f"Item {n}") for n in range(8)]
    world.erp_task(subject="Call back")
    world.outlook_appointment("schmidt", subject="From Outlook")
    world.outlook_task(subject="Stamps")
    world.sync()
    # Both sides edit the same item: a conflict, merged and written both ways (R16); the write
    # to Exchange fails for now, and the echo of the ERP write leaves it waiting for its retry.
    both = world.counterpart_in_exchange(rows[0])
    world.exchange.edit(both.id, subject="Outlook's")
    world.erp.edit(rows[0], location="ERP's")
    world.exchange.fail_next_writes.append(TransientError("ErrorServerBusy", retry_after_s=120))
    world.sync()
    # An item waiting for its retry turns invalid: it is parked, no retry is due any more.
    world.exchange.fail_next_writes.append(TransientError("ErrorServerBusy", retry_after_s=60))
    world.erp.edit(rows[1], subject="Busy server")
    world.sync()
    world.erp.edit(rows[1], end=at(1, 8))
    world.sync()
    world.exchange.fail_next_writes.append(PermanentError("ErrorAccessDenied"))
    world.erp.edit(rows[2], subject="Denied")
    world.sync()
    # A burst of deletions: three go through, the rest are held (R17).
    for row in rows[3:8]:
        world.erp.delete(row)
    world.sync()
    return world


def test_the_mapping_is_the_engines_own_fold_of_each_item(tmp_path: Path) -> None:
    world = _eventful_world(tmp_path)
    try:
        statuses = {row["status"] for row in _mapping(world).values()}
        assert {"in_sync", "failed", "held", "deleted"} <= statuses, statuses
        _assert_rows_are_the_engines_fold(world)
        world.projector.rebuild()
        _assert_rows_are_the_engines_fold(world)
    finally:
        world.shutdown()
