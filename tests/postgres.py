"""The PostgreSQL test server: where it is, and what a test does when it does not answer.

`EINKLANG_TEST_POSTGRES` names the server for every test (default below). A PostgreSQL test is
skipped, with the reason, when no server answers — unless `EINKLANG_REQUIRE_POSTGRES=1` (set by
scripts/test, which CI runs), where a missing server fails the test instead of hiding it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_url(environ: Mapping[str, str] = os.environ) -> str:
    """The test server as a libpq URL (a `postgresql+psycopg://` setting is accepted too)."""
    url = make_url(environ.get("EINKLANG_TEST_POSTGRES") or DEFAULT_POSTGRES_URL)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


POSTGRES_URL = postgres_url()


@cache
def postgres_unavailable(url: str = POSTGRES_URL) -> str | None:
    """None if the server at `url` answers, else why not."""
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as error:
        return str(error).strip().splitlines()[0]
    return None


def require_postgres(url: str = POSTGRES_URL, environ: Mapping[str, str] = os.environ) -> None:
    """Skip the calling test if no server answers at `url`; fail it if PostgreSQL is required."""
    problem = postgres_unavailable(url)
    if problem is None:
        return
    where = make_url(url).render_as_string(hide_password=True)
    message = f"no PostgreSQL server at {where}: {problem}"
    if environ.get("EINKLANG_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"{message} (EINKLANG_REQUIRE_POSTGRES=1: it must be there)", pytrace=False)
    pytest.skip(message)


def drop_schema(url: str, schema: str, lock_timeout_s: float = 10.0) -> None:
    """Drop a test's schema; a transaction left open (by a failed test) fails this, not hangs it."""
    with psycopg.connect(url, autocommit=True) as conn:
        timeout = sql.Literal(f"{round(lock_timeout_s * 1000)}ms")
        conn.execute(sql.SQL("SET lock_timeout = {}").format(timeout))
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
