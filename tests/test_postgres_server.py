"""One setting names the PostgreSQL server of every test and benchmark; CI may require it."""

from __future__ import annotations

import importlib.util
import socket
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.postgres import (
    DEFAULT_POSTGRES_URL,
    POSTGRES_URL,
    drop_schema,
    postgres_url,
    require_postgres,
)

BENCH = Path(__file__).resolve().parents[1] / "bench" / "erp_feed.py"


@pytest.fixture
def nobody_listening() -> str:
    """A URL with a password, on a local port that no server listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"postgresql://postgres:t0p-s3cret@127.0.0.1:{port}/test"


def test_einklang_test_postgres_names_the_server() -> None:
    assert postgres_url({}) == DEFAULT_POSTGRES_URL
    setting = {"EINKLANG_TEST_POSTGRES": "postgresql+psycopg://ci:pw@db:5433/erp"}
    assert postgres_url(setting) == "postgresql://ci:pw@db:5433/erp"


def test_the_feed_benchmark_falls_back_to_the_test_server() -> None:
    spec = importlib.util.spec_from_file_location("erp_feed_bench", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)

    assert bench.postgres_url({}) == DEFAULT_POSTGRES_URL
    assert bench.postgres_url({"EINKLANG_TEST_POSTGRES": "postgresql://db/a"}) == (
        "postgresql://db/a"
    )
    both = {"EINKLANG_TEST_POSTGRES": "postgresql://db/a", "EINKLANG_BENCH_POSTGRES_URL": "b"}
    assert bench.postgres_url(both) == "b"


def test_without_a_server_a_postgres_test_is_skipped(nobody_listening: str) -> None:
    with pytest.raises(pytest.skip.Exception, match="no PostgreSQL server") as skipped:
        require_postgres(nobody_listening, environ={})
    assert "t0p-s3cret" not in str(skipped.value)


def test_with_einklang_require_postgres_a_missing_server_fails_the_test(
    nobody_listening: str,
) -> None:
    with pytest.raises(pytest.fail.Exception, match="EINKLANG_REQUIRE_POSTGRES=1") as failed:
        require_postgres(nobody_listening, environ={"EINKLANG_REQUIRE_POSTGRES": "1"})
    assert "t0p-s3cret" not in str(failed.value)


@pytest.mark.postgres
def test_a_schema_held_by_an_open_transaction_fails_to_drop_instead_of_hanging() -> None:
    require_postgres()
    schema = f"einklang_t_{uuid.uuid4().hex[:10]}"
    table = sql.Identifier(schema, "t")
    with psycopg.connect(POSTGRES_URL, autocommit=True) as setup:
        setup.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        setup.execute(sql.SQL("CREATE TABLE {} (x int)").format(table))
    failed_test = psycopg.connect(POSTGRES_URL)  # its transaction stays open, holding a lock
    dropping = ThreadPoolExecutor(max_workers=1)
    try:
        failed_test.execute(sql.SQL("INSERT INTO {} VALUES (1)").format(table))
        drop = dropping.submit(drop_schema, POSTGRES_URL, schema, lock_timeout_s=0.2)
        with pytest.raises(psycopg.errors.LockNotAvailable):
            drop.result(timeout=10)
    finally:
        failed_test.close()
        dropping.shutdown()
        drop_schema(POSTGRES_URL, schema)
