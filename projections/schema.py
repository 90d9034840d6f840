"""The read models' tables, beside the event store (same SQLite file or PostgreSQL schema)."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

# Bump when a table changes: the projector then drops its tables and rebuilds them from the log.
SCHEMA_VERSION = 7

# Rows are keyed by an integer per item, numbered in the order the items first appear in the
# log: an item's rows, index entries and log entries sit beside those of the items created with
# it, so a page of changes to recent items writes a few pages of the file, not one per random
# stream id (issue 12). The stream id itself is indexed once, when the item appears.


def build_metadata(schema: str | None = None) -> MetaData:
    metadata = MetaData(schema=schema)

    Table(
        "projection_tracking",
        metadata,
        Column("name", String(64), primary_key=True),
        Column("position", Integer, nullable=False),
    )

    # The mapping: one row per item and user (R18: "what happened to this item").
    Table(
        "item_mapping",
        metadata,
        Column("item", Integer, primary_key=True, autoincrement=False),  # SQLite: the rowid
        Column("stream_id", String(36), nullable=False),
        Column("user", String(128), nullable=False),
        Column("kind", String(16), nullable=False),
        Column("erp_id", String(128)),
        Column("exchange_id", String(512)),
        Column("subject", Text),
        # Where its writes stand, as the engine folds it (engine.state.Progress):
        Column("status", String(16), nullable=False),
        Column("reason", String(64)),
        Column("sentence", Text),
        Column("linked", Boolean, nullable=False, default=False),
        Column("pending", String(16), nullable=False, default=""),  # sides waiting for a write
        Column("settled", String(16)),  # the status once they are written
        Column("transfer_id", Integer),  # the transfer-log row those writes complete
        Column("next_retry_at", String(32)),
        Column("updated_at", String(32)),
        Column("exceptions", Integer, nullable=False, default=0),  # deviating occurrences (R2)
        # Only columns that are set once (or rarely) are indexed: a decision rewrites the row's
        # progress columns and no index entry. Status lookups (start-up, `status`) scan.
        Index("ix_item_mapping_stream", "stream_id", unique=True),
        Index("ix_item_mapping_user", "user"),
        Index("ix_item_mapping_erp", "erp_id"),
        Index("ix_item_mapping_exchange", "exchange_id"),
    )

    # Occurrences of series that deviate (modified or deleted), as last agreed (R2).
    Table(
        "occurrence_mapping",
        metadata,
        Column("item", Integer, primary_key=True, autoincrement=False),
        Column("original_start", String(32), primary_key=True),
        Column("state", String(16), nullable=False),
    )

    # The transfer log: one row per decision (transfer, skip, echo, failure), R13, R18.
    Table(
        "transfer_log",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=False),  # notification id
        Column("at", String(32), nullable=False),
        Column("user", String(128), nullable=False),
        Column("item", Integer, nullable=False),  # item_mapping.item
        Column("stream_id", String(36), nullable=False),
        Column("kind", String(16), nullable=False),
        Column("erp_id", String(128)),
        Column("exchange_id", String(512)),
        Column("subject", Text),
        Column("trigger", String(32), nullable=False),
        Column("verdict", String(16), nullable=False),
        Column("direction", String(24), nullable=False),
        Column("operation", String(16), nullable=False),
        Column("changed_fields", Text, nullable=False),
        Column("reason", String(64), nullable=False),
        Column("sentence", Text, nullable=False),
        Column("outcome", String(16), nullable=False),
        Column("error", Text),
        Column("details", Text),  # JSON: conflicts with both versions, dropped occurrences
        Column("options_hash", String(32), nullable=False),
        # Led by the time, not the user: a page of decisions adds its entries at the end of
        # one range, where an index led by the user added one in each user's range — a page
        # written per user and commit (issue 12). A user's time range is found in it all the
        # same (the user is in the entry), and an item's history by `ix_transfer_log_item`.
        Index("ix_transfer_log_at_user", "at", "user"),
        Index("ix_transfer_log_item", "item"),
    )

    # Users as the engine sees them (R8, R12, R17 alerts).
    Table(
        "user_status",
        metadata,
        Column("user", String(128), primary_key=True),
        Column("eligible", Boolean, nullable=False, default=False),
        Column("reason", Text),
        Column("set_up_at", String(32)),
        Column("deletions_paused", Boolean, nullable=False, default=False),
        Column("paused_at", String(32)),
        Column("updated_at", String(32)),
        Column("mailbox", String(320)),  # the mailbox R9 names
        Column("reachable", Boolean),  # whether Exchange let the engine in (R12)
        Column("subscribed", Boolean),  # whether its change subscription is alive (R12)
        Column("subscription_reason", Text),
        Column("subscription_mode", String(16)),
        # When a transfer last went each way (R12): the decision time of the latest transfer
        # done in that direction, kept here as transfers complete rather than found in an index
        # of the log, which would take a page per user and commit.
        Column("last_export", String(32)),
        Column("last_import", String(32)),
    )
    return metadata
