"""Reading an item's newest feed entry does not scan its history (the index on item, seq).

The queries the store runs on the feed for one item are recorded while it fetches the item,
and the database's own plan for each is checked: on PostgreSQL the rows actually read
(EXPLAIN ANALYZE), on SQLite the plan (a search on the index, no sort of the history).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from adapters.erp.editing import ErpEditor
from adapters.erp.store import ErpStore
from engine.model import ItemKind
from tests.erp.conftest import ErpDatabase

HISTORY = 20_000

_POSTGRES_HISTORY = """
INSERT INTO change_feed (table_name, row_id, operation, origin, changed_at, item_kind, item_id,
                         user_login, row_version)
SELECT 'tasks', :id, 'update', 'erp', now(), 'task', :id, 'mueller', n
FROM generate_series(2, :last) AS n
"""
_SQLITE_HISTORY = """
INSERT INTO change_feed (table_name, row_id, operation, origin, changed_at, item_kind, item_id,
                         user_login, row_version)
WITH RECURSIVE versions(n) AS (SELECT 2 UNION ALL SELECT n + 1 FROM versions WHERE n < :last)
SELECT 'tasks', :id, 'update', 'erp', '2026-11-26 12:00:00', 'task', :id, 'mueller', n
FROM versions
"""


def long_history(engine: sa.Engine, task: int) -> None:
    """A task saved HISTORY times (written straight into the feed: the triggers are not tested)."""
    history = _POSTGRES_HISTORY if engine.dialect.name == "postgresql" else _SQLITE_HISTORY
    with engine.begin() as conn:
        conn.execute(sa.text(history), {"id": task, "last": HISTORY + 1})
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE change_feed")
        conn.commit()


def feed_queries(store: ErpStore) -> Iterator[list[tuple[str, Any]]]:
    recorded: list[tuple[str, Any]] = []

    def record(conn: sa.Connection, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "change_feed" in statement:
            recorded.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        yield recorded
    finally:
        event.remove(store.engine, "before_cursor_execute", record)


@pytest.fixture
def recorded(store: ErpStore) -> Iterator[list[tuple[str, Any]]]:
    yield from feed_queries(store)


def rows_read(plan: dict[str, Any]) -> int:
    """Rows the scans of a PostgreSQL plan (EXPLAIN ANALYZE, JSON) returned, all loops."""
    own = 0
    if "Scan" in plan["Node Type"]:
        own = int(plan["Actual Rows"]) * int(plan["Actual Loops"])
    return own + sum(rows_read(child) for child in plan.get("Plans", []))


def test_fetching_an_item_with_a_long_history_reads_one_feed_entry(
    erp_db: ErpDatabase,
    store: ErpStore,
    erp: ErpEditor,
    erp_engine: sa.Engine,
    recorded: list[tuple[str, Any]],
) -> None:
    task = erp.add("task", {"user_login": "mueller", "subject": "Call back"})
    long_history(erp_engine, task)
    recorded.clear()

    store.fetch("mueller", ItemKind.TASK, str(task))

    assert recorded, "fetch read nothing from the feed"
    with erp_engine.connect() as conn:
        for statement, parameters in recorded:
            if erp_db.backend == "postgres":
                [[plan]] = conn.exec_driver_sql(
                    f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters
                ).one()
                assert rows_read(plan["Plan"]) <= 2, plan
            else:
                details = [
                    str(row[-1])
                    for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
                ]
                assert any("USING INDEX ix_change_feed_item_seq" in d for d in details), details
                assert not any("TEMP B-TREE" in d for d in details), details
