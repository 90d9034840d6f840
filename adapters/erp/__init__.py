"""The ERP side: a SQL store modelled on the reference ERP, with trigger-based change capture.

- `schema`: the tables (users, appointments with exceptions and participants, tasks, follow-ups,
  change_feed); `columns`: column types and per-row value conversion.
- `capture/`: the capture triggers and the engine's origin mark, one module per dialect.
- `migrations`: numbered schema steps (`einklang erp init`); `limits_upgrade`: the text
  limits on an existing store.
- `database`: engines and transactions for SQLite and PostgreSQL; `lenient`: values PostgreSQL
  stores that the driver cannot convert, read as `Unreadable` instead of failing a query.
- `feed`, `snapshots`, `writes`, `waiting`: reading the feed, rows as snapshots, the engine's
  writes, waiting for commits.
- `store`: `ErpStore`, the engine's `ErpPort`.
- `editing`, `series`, `fixtures`, `cli`: changing ERP data by hand (`einklang erp ...`), as the
  ERP would, every value checked against its column; fixture files loaded all or nothing.
"""

from adapters.erp.store import ErpStore

__all__ = ["ErpStore"]
