"""Two processes opening a new event store (and its read models) at once (the engine starting while
`einklang status` polls) both succeed: "CREATE … IF NOT EXISTS" races in PostgreSQL's catalog,
and the end-to-end test saw the loser fail with a unique violation; on SQLite one saw the read
models' tables without their version row and dropped them under the other ("no such table")."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest

from engine.store import EventStore, StoreLocation
from projections.projector import Projector
from tests.postgres import POSTGRES_URL, drop_schema, require_postgres


def open_store(
    location: StoreLocation, start: threading.Barrier, errors: list[BaseException]
) -> None:
    try:
        start.wait()
        store = EventStore(location)
        Projector(store).close()  # the read models race the same way
        store.close()
    except BaseException as exc:  # reported by the test
        errors.append(exc)


def opened_at_once(location: StoreLocation) -> list[BaseException]:
    """What went wrong when four threads open the store at the same moment."""
    errors: list[BaseException] = []
    start = threading.Barrier(4)
    threads = [
        threading.Thread(target=open_store, args=(location, start, errors)) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


@pytest.mark.postgres
def test_r15_stores_opened_at_once_on_a_new_schema_all_open() -> None:
    require_postgres()
    for _ in range(5):
        schema = f"einklang_race_{uuid.uuid4().hex[:10]}"
        errors = opened_at_once(StoreLocation(f"{POSTGRES_URL}?schema={schema}"))
        drop_schema(POSTGRES_URL, schema)
        assert errors == []


def test_r15_stores_opened_at_once_on_a_new_sqlite_file_all_open(tmp_path: Path) -> None:
    for n in range(10):
        assert opened_at_once(StoreLocation(str(tmp_path / f"einklang-{n}.db"))) == []
