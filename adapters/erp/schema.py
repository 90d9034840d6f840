"""The ERP's tables, modelled on the reference ERP (DESIGN.md §6), in SQLAlchemy Core.

Appointments and tasks belong to one ERP user each (`user_login`). `sync_id` is the engine's
stream id for rows it created; rows created in the ERP leave it empty. `row_version` is kept by
the change-capture triggers (capture/), never by the code that writes rows.

Text columns are limited by one table, `columns.MAX_CHARS`, so that both dialects keep the same limits:
PostgreSQL's VARCHAR(n) enforces them itself; SQLite ignores VARCHAR lengths, so its tables get a
CHECK per limited column. The editing API refuses longer values with the same table, and the
reader parks an item whose row exceeds it (written by a program that bypassed these limits).

`users.exchange_mailbox_shared` is büro+'s "gemeinsames Postfach" mark: the stored mailbox is a
shared (team) mailbox, not the user's own, so the user's calendar is never synchronised into it.
"""

from __future__ import annotations

import sqlalchemy as sa

from adapters.erp.columns import MAX_CHARS, LocalDate, UtcTimestamp

metadata = sa.MetaData()


def _text(name: str, *args: object, **kwargs: object) -> sa.Column[str]:
    """A text column limited by `MAX_CHARS`."""
    return sa.Column(name, sa.Unicode(MAX_CHARS[name]), *args, **kwargs)  # type: ignore[arg-type]


# SQLite's INTEGER PRIMARY KEY is the rowid only with this exact type; elsewhere use 64 bits.
_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    _text("login", nullable=False, unique=True),
    _text("short_name", nullable=False, server_default=""),
    _text("exchange_mailbox"),
    sa.Column("exchange_mailbox_shared", sa.Boolean, nullable=False, server_default=sa.false()),
    _text("outlook_account"),
    sa.Column("allow_exchange_sync", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("locked", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("valid_from", LocalDate),
    sa.Column("valid_until", LocalDate),
    sa.Column("row_version", sa.Integer, nullable=False, server_default="1"),
    sqlite_autoincrement=True,  # never reuse an id: native ids name items for good
)

appointments = sa.Table(
    "appointments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    _text("user_login", nullable=False, index=True),
    _text("sync_id", unique=True),
    _text("subject", nullable=False, server_default=""),
    sa.Column("info_text", sa.UnicodeText, nullable=False, server_default=""),
    sa.Column("starts_at", UtcTimestamp, nullable=False),
    sa.Column("ends_at", UtcTimestamp, nullable=False),
    sa.Column("all_day", sa.Boolean, nullable=False, server_default=sa.false()),
    _text("location", nullable=False, server_default=""),
    _text("busy_status", nullable=False, server_default="busy"),
    sa.Column("private", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("reminder_minutes", sa.Integer),
    _text("time_zone", nullable=False, server_default="Europe/Berlin"),
    sa.Column("rrule", sa.UnicodeText),  # RFC 5545 RRULE without DTSTART; NULL: single
    # Bumped by each engine write, so that a write changing only exceptions or participants is
    # still exactly one feed entry (their own triggers stay silent for the engine's writes).
    sa.Column("sync_revision", sa.Integer, nullable=False, server_default="0"),
    sa.Column("row_version", sa.Integer, nullable=False, server_default="1"),
    sqlite_autoincrement=True,  # never reuse an id: native ids name items for good
)

# Modified or deleted occurrences of a series, keyed by the occurrence's original start (R2).
# NULL in a modified occurrence's columns means "as in the series".
appointment_exceptions = sa.Table(
    "appointment_exceptions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "appointment_id",
        sa.Integer,
        sa.ForeignKey("appointments.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("original_start", UtcTimestamp, nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("starts_at", UtcTimestamp),
    sa.Column("ends_at", UtcTimestamp),
    _text("subject"),
    _text("location"),
    _text("busy_status"),
    sa.UniqueConstraint("appointment_id", "original_start"),
    sqlite_autoincrement=True,  # never reuse an id: native ids name items for good
)

appointment_participants = sa.Table(
    "appointment_participants",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "appointment_id",
        sa.Integer,
        sa.ForeignKey("appointments.id", ondelete="CASCADE"),
        nullable=False,
    ),
    _text("email", nullable=False),
    _text("name", nullable=False, server_default=""),
    sa.Column("required", sa.Boolean, nullable=False, server_default=sa.true()),
    _text("response", nullable=False, server_default="unknown"),
    sa.UniqueConstraint("appointment_id", "email"),
    sqlite_autoincrement=True,  # never reuse an id: native ids name items for good
)

tasks = sa.Table(
    "tasks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    _text("user_login", nullable=False, index=True),
    _text("sync_id", unique=True),
    _text("subject", nullable=False, server_default=""),
    sa.Column("info_text", sa.UnicodeText, nullable=False, server_default=""),
    sa.Column("start_date", LocalDate),
    sa.Column("due_date", LocalDate),
    _text("status", nullable=False, server_default="not_started"),
    sa.Column("percent_complete", sa.Integer, nullable=False, server_default="0"),
    _text("priority", nullable=False, server_default="normal"),
    sa.Column("reminder_at", UtcTimestamp),
    sa.Column("completed_at", UtcTimestamp),
    sa.Column("sync_revision", sa.Integer, nullable=False, server_default="0"),
    sa.Column("row_version", sa.Integer, nullable=False, server_default="1"),
    sqlite_autoincrement=True,  # never reuse an id: native ids name items for good
)

# Wiedervorlagen: present like in the reference ERP, never captured and never synced (R1).
follow_ups = sa.Table(
    "follow_ups",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    _text("user_login", nullable=False, index=True),
    _text("subject", nullable=False, server_default=""),
    sa.Column("due_date", LocalDate),
    sa.Column("info_text", sa.UnicodeText, nullable=False, server_default=""),
    sa.Column("done", sa.Boolean, nullable=False, server_default=sa.false()),
    sqlite_autoincrement=True,  # never reuse an id: native ids name items for good
)

# Filled only by the capture triggers. The item columns are copied so that an entry stays
# routable after its row is gone; for exceptions and participants the item is the appointment.
# Read in the order (tx_id, seq): tx_id is the writing transaction's id on PostgreSQL (see
# capture/postgresql.py), 0 on SQLite, where writers commit one after the other in seq order.
change_feed = sa.Table(
    "change_feed",
    metadata,
    sa.Column("seq", _BigId, primary_key=True, autoincrement=True),
    sa.Column("tx_id", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("table_name", sa.String(40), nullable=False),
    sa.Column("row_id", sa.BigInteger, nullable=False),
    sa.Column("operation", sa.String(6), nullable=False),  # insert | update | delete
    sa.Column("origin", sa.String(4), nullable=False),  # erp | sync
    sa.Column("changed_at", UtcTimestamp, nullable=False),
    sa.Column("item_kind", sa.String(11), nullable=False),  # user | appointment | task
    sa.Column("item_id", sa.BigInteger, nullable=False),
    _text("user_login", nullable=False),
    _text("sync_id"),
    sa.Column("row_version", sa.Integer),  # the item's version after this change
    sa.Index("ix_change_feed_order", "tx_id", "seq"),
    sa.Index("ix_change_feed_item_seq", "item_kind", "item_id", "seq"),
    sqlite_autoincrement=True,  # never reuse an id: native ids name items for good
)

schema_version = sa.Table(
    "einklang_schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("description", sa.Unicode(200), nullable=False),
    sa.Column("applied_at", UtcTimestamp, nullable=False),
)


def _length_checks(*tables: sa.Table) -> None:
    """SQLite does not enforce VARCHAR(n): a CHECK per limited column does (PostgreSQL's own)."""
    for table in tables:
        for column in table.columns:
            if column.name in MAX_CHARS:
                check = sa.CheckConstraint(
                    f"length({column.name}) <= {MAX_CHARS[column.name]}",
                    name=f"ck_{table.name}_{column.name}_length",
                )
                table.append_constraint(check.ddl_if(dialect="sqlite"))


_length_checks(
    users, appointments, appointment_exceptions, appointment_participants, tasks, follow_ups
)


# The tables whose changes the engine observes, with the item kind their changes belong to.
ITEM_TABLES = {"users": "user", "appointments": "appointment", "tasks": "task"}
APPOINTMENT_DETAIL_TABLES = ("appointment_exceptions", "appointment_participants")
# Maintained by the triggers, never a change of its own.
VERSION_COLUMN = "row_version"


def data_columns(table: sa.Table) -> list[str]:
    """The columns whose change is a change of the row (everything but its id and version)."""
    return [c.name for c in table.columns if c.name not in ("id", VERSION_COLUMN)]
