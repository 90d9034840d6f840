"""Reading the event log in order, as plain tuples, for followers that decode JSON themselves.

The library's notification reader builds a UUID and a `Notification` per event, which alone
caps a projection at about a third of the rate it reaches otherwise; these read the same rows
of the same table (SQLite: the table's rowid; PostgreSQL: its notification_id).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from eventsourcing.persistence import Recorder
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder

LogEntry = tuple[int, str, str, bytes]  # notification id, stream id, topic, JSON state


@dataclass(frozen=True)
class LogScan:
    """A stretch of the log: the entries of the topics asked for, how many events the stretch
    held in all, and the notification id of its last event (`start - 1` when it held none)."""

    entries: list[LogEntry]
    scanned: int
    last: int


def read_page(
    recorder: Recorder, start: int, limit: int, topics: Sequence[str] = ()
) -> list[LogEntry]:
    """Up to `limit` events from notification id `start` (inclusive), in order. Given
    `topics`, only their events carry a state (the others come with b"", in order)."""
    if isinstance(recorder, SQLiteApplicationRecorder):
        state = "state"
        if topics:
            state = f"CASE WHEN topic IN ({','.join('?' * len(topics))}) THEN state ELSE x'' END"
        with recorder.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT rowid, originator_id, topic, {state} FROM {recorder.events_table_name} "
                "WHERE rowid >= ? ORDER BY rowid LIMIT ?",
                (*topics, start, limit),
            )
            # The id is given in the usual form only where a state is read with it.
            return [(r[0], _dashed(r[1]) if r[3] else r[1], r[2], r[3]) for r in c.fetchall()]
    assert isinstance(recorder, PostgresApplicationRecorder)
    from psycopg.sql import SQL

    wanted = (
        SQL("CASE WHEN topic = ANY(%s) THEN state ELSE ''::bytea END") if topics else SQL("state")
    )
    statement = SQL(
        "SELECT notification_id, originator_id, topic, {} AS state FROM {} "
        "WHERE notification_id >= %s ORDER BY notification_id LIMIT %s"
    ).format(wanted, _pg_table(recorder))
    params: tuple[Any, ...] = (list(topics), start, limit) if topics else (start, limit)
    with recorder.datastore.transaction(commit=False) as curs:
        curs.execute(statement, params)
        return [_pg_entry(r) for r in curs.fetchall()]


def read_scan(recorder: Recorder, start: int, limit: int, topics: Sequence[str]) -> LogScan:
    """The next `limit` events of the log from notification id `start` (inclusive), of which
    only those of `topics` are read and returned; `scanned` counts them all.

    A follower that needs a few event types (the read models: the observations, a good part of
    the log, are not among them) skips the others in the database instead of receiving a row
    for each: the stretch is delimited first, then read with the topics as a filter.
    """
    if isinstance(recorder, SQLiteApplicationRecorder):
        # The table's rowids are consecutive (rows are only ever appended, and a rolled-back
        # insert gives its rowids back): a stretch is a range of them, its end found in the
        # rowid tree at once — counting its rows would read every page of it twice.
        table = recorder.events_table_name
        with recorder.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT max(rowid) FROM {table}")
            last = min(start + limit - 1, c.fetchone()[0] or 0)
            if last < start:
                return LogScan([], 0, start - 1)
            c.execute(
                f"SELECT rowid, originator_id, topic, state FROM {table} WHERE rowid BETWEEN ? "
                f"AND ? AND topic IN ({','.join('?' * len(topics))}) ORDER BY rowid",
                (start, last, *topics),
            )
            entries = [(r[0], _dashed(r[1]), r[2], r[3]) for r in c.fetchall()]
        return LogScan(entries, last - start + 1, last)
    assert isinstance(recorder, PostgresApplicationRecorder)
    from psycopg.sql import SQL

    table = _pg_table(recorder)
    with recorder.datastore.transaction(commit=False) as curs:
        curs.execute(
            SQL(
                "SELECT count(*) AS scanned, max(notification_id) AS last FROM (SELECT "
                "notification_id FROM {} WHERE notification_id >= %s ORDER BY notification_id "
                "LIMIT %s) AS stretch"
            ).format(table),
            (start, limit),
        )
        found = curs.fetchone()
        if found is None or not found["scanned"]:
            return LogScan([], 0, start - 1)
        curs.execute(
            SQL(
                "SELECT notification_id, originator_id, topic, state FROM {} WHERE notification_id "
                "BETWEEN %s AND %s AND topic = ANY(%s) ORDER BY notification_id"
            ).format(table),
            (start, found["last"], list(topics)),
        )
        entries = [_pg_entry(r) for r in curs.fetchall()]
    return LogScan(entries, int(found["scanned"]), int(found["last"]))


def _pg_table(recorder: PostgresApplicationRecorder) -> Any:
    from psycopg.sql import SQL, Identifier

    return SQL("{}.{}").format(
        Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name)
    )


def _pg_entry(row: Any) -> LogEntry:
    return (row["notification_id"], str(row["originator_id"]), row["topic"], bytes(row["state"]))


@lru_cache(maxsize=65_536)  # an item's events come close together in the log
def _dashed(originator_id: str) -> str:
    """SQLite keeps UUIDs as 32 hex digits; the read models show them in the usual form."""
    if len(originator_id) == 32:
        h = originator_id
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    return originator_id
