"""`einklang erp init` brings an existing ERP store up to date without losing its feed."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from adapters.erp import migrations
from adapters.erp.editing import ErpEditor
from adapters.erp.migrations import MIGRATIONS
from adapters.erp.schema import change_feed
from adapters.erp.store import ErpStore
from tests.erp.conftest import ErpDatabase


def as_version_2_left_it(engine: sa.Engine) -> None:
    """The feed of schema version 2: no transaction ids, the item index without the sequence,
    and on PostgreSQL the statement triggers that took the global feed lock."""
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_change_feed_order")
        conn.exec_driver_sql("DROP INDEX ix_change_feed_item_seq")
        conn.exec_driver_sql("ALTER TABLE change_feed DROP COLUMN tx_id")
        conn.exec_driver_sql("CREATE INDEX ix_change_feed_item ON change_feed (item_kind, item_id)")
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql(
                "CREATE FUNCTION einklang_feed_lock() RETURNS trigger LANGUAGE plpgsql AS $$ "
                "BEGIN PERFORM pg_advisory_xact_lock(42); RETURN NULL; END $$"
            )
            for table in ("users", "appointments", "tasks"):
                conn.exec_driver_sql(
                    f"CREATE TRIGGER einklang_feed_lock BEFORE INSERT OR UPDATE OR DELETE ON "
                    f"{table} FOR EACH STATEMENT EXECUTE FUNCTION einklang_feed_lock()"
                )


def feed_lock_triggers(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                    "WHERE c.relnamespace = current_schema()::regnamespace "
                    "AND t.tgname = 'einklang_feed_lock'"
                )
            ).scalar_one()
        )


def test_init_upgrades_a_version_2_feed_to_transaction_ids_and_the_item_index(
    erp_db: ErpDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ErpStore(erp_db.url, schema=erp_db.schema) as store:
        monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:2])
        assert store.init() == 2  # installed by an earlier einklang
        monkeypatch.undo()
        erp = ErpEditor(store.engine)
        with store.engine.begin() as conn:  # the user as that einklang's tables hold it
            conn.execute(sa.text("INSERT INTO users (login) VALUES ('mueller')"))
        old = [erp.add("task", {"user_login": "mueller", "subject": f"old {n}"}) for n in range(3)]
        stored_position = store.read_feed(0)[1].seq  # where an engine had got to (user, old 0)
        as_version_2_left_it(store.engine)

        assert store.init() == MIGRATIONS[-1].version
        new = erp.add("task", {"user_login": "mueller", "subject": "new"})

        assert [e.row_id for e in store.read_feed(stored_position)] == [old[1], old[2], new]
        inspector = sa.inspect(store.engine)
        assert "tx_id" in {c["name"] for c in inspector.get_columns(change_feed.name)}
        indexes = {i["name"]: i["column_names"] for i in inspector.get_indexes(change_feed.name)}
        assert indexes.get("ix_change_feed_item_seq") == ["item_kind", "item_id", "seq"]
        assert "ix_change_feed_item" not in indexes
        with store.engine.connect() as conn:
            tx_ids = conn.execute(sa.select(change_feed.c.tx_id).order_by(change_feed.c.seq))
            *earlier, latest = [int(t) for t in tx_ids.scalars()]
        assert earlier == [0, 0, 0, 0]  # the user and the old tasks
        if erp_db.backend == "postgres":
            assert latest > 0
            assert feed_lock_triggers(store.engine) == 0
        assert store.init() == MIGRATIONS[-1].version  # and again: nothing left to do
