"""Pruning the change feed the engine has consumed (issue 11): the ERP keeps no history of ours,
and a reader at the pruned position reads exactly what it would have read before (R15)."""

from __future__ import annotations

import sqlalchemy as sa

from adapters.erp.schema import change_feed, tasks
from adapters.erp.store import ErpStore


def add_tasks(engine: sa.Engine, subjects: list[str]) -> None:
    with engine.begin() as conn:
        for subject in subjects:
            conn.execute(tasks.insert().values(user_login="mueller", subject=subject))


def feed_rows(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(change_feed)).scalar_one())


def test_r15_pruning_keeps_what_a_reader_at_the_position_reads(
    store: ErpStore, erp_engine: sa.Engine
) -> None:
    add_tasks(erp_engine, [f"t{n}" for n in range(10)])
    entries = store.read_feed(0, limit=100)
    assert len(entries) >= 10
    position = entries[5].seq
    after_before_pruning = store.read_feed(position, limit=100)
    total = feed_rows(erp_engine)

    removed = store.prune_feed(position)

    assert removed == 5  # the entries before the position; the one at it stays
    assert feed_rows(erp_engine) == total - 5
    assert store.read_feed(position, limit=100) == after_before_pruning
    assert store.prune_feed(position) == 0  # idempotent
    add_tasks(erp_engine, ["later"])
    later = store.read_feed(position, limit=100)
    assert later[: len(after_before_pruning)] == after_before_pruning
    assert len(later) == len(after_before_pruning) + 1


def test_pruning_at_an_unknown_position_deletes_nothing(
    store: ErpStore, erp_engine: sa.Engine
) -> None:
    add_tasks(erp_engine, ["a", "b"])
    total = feed_rows(erp_engine)
    assert store.prune_feed(0) == 0
    assert store.prune_feed(10**9) == 0
    assert feed_rows(erp_engine) == total
