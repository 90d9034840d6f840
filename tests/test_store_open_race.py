"""Two processes opening a new PostgreSQL event store (and its read models) at once (the engine starting while
`einklang status` polls) both succeed: "CREATE … IF NOT EXISTS" races in PostgreSQL's catalog,
and the end-to-end test saw the loser fail with a unique violation."""

from __future__ import annotations

import threading
import uuid

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


@pytest.mark.postgres
def test_r15_stores_opened_at_once_on_a_new_schema_all_open() -> None:
    require_postgres()
    for _ in range(5):
        schema = f"einklang_race_{uuid.uuid4().hex[:10]}"
        location = StoreLocation(f"{POSTGRES_URL}?schema={schema}")
        errors: list[BaseException] = []
        start = threading.Barrier(4)
        threads = [
            threading.Thread(target=open_store, args=(location, start, errors)) for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        drop_schema(POSTGRES_URL, schema)
        assert errors == []
