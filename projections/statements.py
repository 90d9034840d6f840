"""The SQL the follower writes a page with: plain statements for the hot path (the same text on
SQLite and PostgreSQL but for placeholders), executed as one batch per table."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from projections.rows import ITEM_COLUMNS, PageRows, Row, item_row, item_values

_CHUNK = 500  # ids per `IN (…)` when loading rows


class Statements:
    def __init__(self, tables: dict[str, sa.Table], *, postgres: bool) -> None:
        self.items = tables["item_mapping"]
        self.occurrences = tables["occurrence_mapping"]
        self.log = tables["transfer_log"]
        self.users = tables["user_status"]
        self.tracking = tables["projection_tracking"]
        self._insert = postgresql.insert if postgres else sqlite.insert
        mark = "%s" if postgres else "?"

        def table(t: sa.Table) -> str:
            return f'"{t.schema}"."{t.name}"' if t.schema else f'"{t.name}"'

        def insert(t: sa.Table, columns: Sequence[str]) -> str:
            names = ", ".join(f'"{c}"' for c in columns)
            return f"INSERT INTO {table(t)} ({names}) VALUES ({', '.join([mark] * len(columns))})"

        updates = ", ".join(f'"{c}" = excluded."{c}"' for c in ITEM_COLUMNS if c != "stream_id")
        self.upsert_items = (
            insert(self.items, ITEM_COLUMNS) + f' ON CONFLICT ("stream_id") DO UPDATE SET {updates}'
        )
        log_columns = [c.name for c in self.log.columns]
        self.log_values = operator.itemgetter(*log_columns)  # row dict → values in order
        self.insert_log = insert(self.log, log_columns)
        self.insert_occurrences = insert(self.occurrences, ["stream_id", "original_start", "state"])
        self.delete_occurrences = (
            f'DELETE FROM {table(self.occurrences)} WHERE "stream_id" = {mark}'
        )
        self.update_outcome = (
            f'UPDATE {table(self.log)} SET "outcome" = {mark}, "error" = {mark}, '
            f'"erp_id" = {mark}, "exchange_id" = {mark} WHERE "id" = {mark}'
        )

    def load_items(self, conn: sa.Connection, ids: Sequence[str]) -> dict[str, Row]:
        """The stored rows of these items (those that have one)."""
        rows: dict[str, Row] = {}
        for start in range(0, len(ids), _CHUNK):
            query = sa.select(self.items).where(
                self.items.c.stream_id.in_(ids[start : start + _CHUNK])
            )
            for stored in conn.execute(query).mappings():
                rows[stored["stream_id"]] = item_row(stored)
        return rows

    def write(self, conn: sa.Connection, page: PageRows) -> None:
        """A page's rows, table by table."""
        if page.items:
            conn.exec_driver_sql(self.upsert_items, list(map(item_values, page.items.values())))
        if page.occurrences:
            conn.exec_driver_sql(self.delete_occurrences, [(s,) for s in page.occurrences])
            rows = [r for rs in page.occurrences.values() for r in rs]
            if rows:
                conn.exec_driver_sql(self.insert_occurrences, rows)
        if page.log_rows:
            conn.exec_driver_sql(self.insert_log, list(map(self.log_values, page.log_rows)))
        if page.outcomes:
            conn.exec_driver_sql(
                self.update_outcome,
                [
                    (v["outcome"], v["error"], v["erp_id"], v["exchange_id"], k)
                    for k, v in page.outcomes.items()
                ],
            )
        for user, changes in page.users.items():
            self.upsert(conn, self.users, {"user": user}, changes)

    def upsert(
        self, conn: sa.Connection, table: sa.Table, key: dict[str, Any], values: dict[str, Any]
    ) -> None:
        stmt = self._insert(table).values(**key, **values)
        conn.execute(stmt.on_conflict_do_update(index_elements=list(key), set_=values))
