"""The SQL the follower writes a page with: plain statements for the hot path (the same text on
SQLite and PostgreSQL but for placeholders), executed as one batch per table."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from projections.rows import (
    ITEM_COLUMNS,
    LOG_COLUMNS,
    PROGRESS_COLUMNS,
    PageRows,
    Row,
    Transfer,
    done_in_page,
    item_row,
    item_values,
    last_done,
    progress_values,
)

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

        def update(t: sa.Table, columns: Sequence[str], key: str) -> str:
            values = ", ".join(f'"{c}" = {mark}' for c in columns)
            return f'UPDATE {table(t)} SET {values} WHERE "{key}" = {mark}'

        self._mark = mark
        names = ", ".join(f'"{c}"' for c in ITEM_COLUMNS)
        self._select_items = f'SELECT {names} FROM {table(self.items)} WHERE "stream_id"'
        self.insert_items = insert(self.items, ITEM_COLUMNS)
        self.update_progress = update(self.items, PROGRESS_COLUMNS, "item")  # no index entry
        self.update_ids = update(self.items, ["erp_id", "exchange_id"], "item")
        assert set(LOG_COLUMNS) == {c.name for c in self.log.columns}
        self.insert_log = insert(self.log, LOG_COLUMNS)
        self.insert_occurrences = insert(self.occurrences, ["item", "original_start", "state"])
        self.delete_occurrences = f'DELETE FROM {table(self.occurrences)} WHERE "item" = {mark}'
        self._transfers = f'SELECT "user", "direction", "at" FROM {table(self.log)} WHERE "id"'
        # A user's last transfer each way only moves forward (R12); the row may not exist yet.
        name = f'"{self.users.name}"'

        def newest(column: str) -> str:
            old, new = f'{name}."{column}"', f'excluded."{column}"'
            keep = f"{new} IS NULL OR ({old} IS NOT NULL AND {old} >= {new})"
            return f'"{column}" = CASE WHEN {keep} THEN {old} ELSE {new} END'

        last = ["user", "eligible", "deletions_paused", "last_export", "last_import"]
        self.upsert_last_done = (
            f'{insert(self.users, last)} ON CONFLICT ("user") DO UPDATE SET '
            f"{newest('last_export')}, {newest('last_import')}"
        )
        self.update_outcome = (
            f'UPDATE {table(self.log)} SET "outcome" = {mark}, "error" = {mark}, '
            f'"erp_id" = {mark}, "exchange_id" = {mark} WHERE "id" = {mark}'
        )

    def load_items(self, conn: sa.Connection, ids: Sequence[str]) -> dict[str, Row]:
        """The stored rows of these items (those that have one)."""
        rows: dict[str, Row] = {}
        for values in self._select_in(conn, self._select_items, ids):
            stored = dict(zip(ITEM_COLUMNS, values, strict=True))
            rows[stored["stream_id"]] = item_row(stored)
        return rows

    def write_log(self, conn: sa.Connection, rows: PageRows) -> None:
        """A page's transfer-log rows and the outcomes of earlier ones, and the users' last
        transfer each way that those made done; then forgets them."""
        done = done_in_page(rows.log_rows)
        if rows.log_rows:
            _many(conn, self.insert_log, rows.log_rows)
        if rows.outcomes:
            earlier = [k for k, v in rows.outcomes.items() if v[0] == "done"]
            if earlier:
                done += self._logged(conn, earlier)
            _many(conn, self.update_outcome, [(*v, k) for k, v in rows.outcomes.items()])
        if done:
            latest = [(user, False, False, e, i) for user, e, i in last_done(done)]
            _many(conn, self.upsert_last_done, latest)
        rows.log_rows, rows.log_index, rows.outcomes = [], {}, {}

    def _logged(self, conn: sa.Connection, ids: Sequence[int]) -> list[Transfer]:
        """(user, direction, time) of these transfer-log rows, written on earlier pages."""
        return [(user, way, at) for user, way, at in self._select_in(conn, self._transfers, ids)]

    def _select_in(
        self, conn: sa.Connection, select: str, keys: Sequence[Any]
    ) -> Iterator[Sequence[Any]]:
        """The rows of `select` (which ends in the key column) whose key is one of `keys`, asked
        for `_CHUNK` keys at a time."""
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            marks = ", ".join([self._mark] * len(chunk))
            yield from conn.exec_driver_sql(f"{select} IN ({marks})", tuple(chunk))

    def write_items(self, conn: sa.Connection, rows: PageRows) -> None:
        """A transaction's item rows, their occurrences and the users: new items inserted, the
        others' progress updated (and their ids, where an outcome gave one)."""
        new = [r for r in rows.items.values() if r["stored"] is None]
        if new:
            _many(conn, self.insert_items, list(map(item_values, new)))
        if len(new) < len(rows.items):
            stored = [r for r in rows.items.values() if r["stored"] is not None]
            _many(conn, self.update_progress, list(map(progress_values, stored)))
            ids = [
                (r["erp_id"], r["exchange_id"], r["item"])
                for r in stored
                if r["stored"] != (r["erp_id"], r["exchange_id"])
            ]
            if ids:
                _many(conn, self.update_ids, ids)
        if rows.occurrences:
            _many(conn, self.delete_occurrences, [(s,) for s in rows.occurrences])
            occurrences = [r for rs in rows.occurrences.values() for r in rs]
            if occurrences:
                _many(conn, self.insert_occurrences, occurrences)
        for user, changes in rows.users.items():
            self.upsert(conn, self.users, {"user": user}, changes)

    def upsert(
        self, conn: sa.Connection, table: sa.Table, key: dict[str, Any], values: dict[str, Any]
    ) -> None:
        stmt = self._insert(table).values(**key, **values)
        conn.execute(stmt.on_conflict_do_update(index_elements=list(key), set_=values))


def _many(conn: sa.Connection, statement: str, rows: Sequence[Sequence[Any]]) -> None:
    """One statement for many rows, straight to the driver (which takes lists as they are)."""
    cursor = conn.connection.cursor()
    try:
        cursor.executemany(statement, rows)
    finally:
        cursor.close()
