"""Fixture files (`einklang erp load`): users, appointments, tasks and follow-ups in TOML or JSON.

```toml
[[user]]
login = "mueller"
exchange_mailbox = "mueller@example.com"

[[appointment]]
user_login = "mueller"
subject = "Jour fixe"
starts_at = "2026-11-02T09:00"          # without offset: in the appointment's time_zone
ends_at = "2026-11-02T10:00"
rrule = "FREQ=WEEKLY;BYDAY=MO"
participants = [{ email = "a@example.com" }]
exceptions = [{ original_start = "2026-11-09T09:00", deleted = true }]
```

A file is loaded all or nothing: in one transaction, so that a bad record anywhere leaves the
store as it was. Loading is idempotent by natural key — a user by `login`; an appointment by
(`user_login`, `starts_at`, `subject`); a task and a follow-up by (`user_login`, `subject`). A
record whose key is already in the store is left as it is (with its participants and
exceptions), so loading the same file twice adds nothing the second time. Change such rows with
`einklang erp edit`.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adapters.erp.database import writing
from adapters.erp.editing import TABLES, EditError, ErpEditor, shown

KINDS = ("user", "appointment", "task", "follow-up")
NATURAL_KEYS: dict[str, tuple[str, ...]] = {
    "user": ("login",),
    "appointment": ("user_login", "starts_at", "subject"),
    "task": ("user_login", "subject"),
    "follow-up": ("user_login", "subject"),
}
_DETAILS = {"appointment": ("participants", "exceptions")}


@dataclass
class LoadReport:
    added: dict[str, int] = field(default_factory=dict)
    present: dict[str, int] = field(default_factory=dict)  # skipped: their key is in the store

    def __str__(self) -> str:
        def listed(counts: dict[str, int]) -> str:
            return ", ".join(f"{n} {kind}" for kind, n in counts.items())

        if not self.present:
            return listed(self.added) or "nothing to load"
        present = f"already there: {listed(self.present)}"
        return f"{listed(self.added)}; {present}" if self.added else f"nothing new; {present}"


def read_fixture(path: Path) -> dict[str, list[dict[str, Any]]]:
    """The file's records by kind, or an `EditError` saying what is wrong with the file."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise EditError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EditError(
            f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02X} at offset {exc.start}): "
            "save it as UTF-8"
        ) from None
    is_json = path.suffix.lower() == ".json"
    try:
        data: Any = json.loads(text) if is_json else tomllib.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and TOMLDecodeError
        kind = "JSON" if is_json else "TOML (name a .json file for JSON)"
        raise EditError(f"{path}: not valid {kind}: {_one_line(exc)}") from None
    if not isinstance(data, dict):
        raise EditError(f"{path}: must be a table of {', '.join(f'[[{k}]]' for k in KINDS)}")
    for key in data:
        if key not in KINDS:
            raise EditError(
                f"{path}: unknown section {shown(key)}; sections are {', '.join(KINDS)}"
            )
    records: dict[str, list[dict[str, Any]]] = {}
    for kind in KINDS:
        listed = data.get(kind, [])
        if not isinstance(listed, list) or not all(isinstance(r, dict) for r in listed):
            raise EditError(f"{path}: {kind} must be a list of tables ([[{kind}]])")
        for index, record in enumerate(listed, 1):
            for detail in _DETAILS.get(kind, ()):
                items = record.get(detail, [])
                if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                    raise EditError(
                        f"{path}: {kind} #{index}: {detail} must be a list of tables "
                        f"such as [{{ ... }}]"
                    )
        records[kind] = listed
    return records


class FixtureLoader:
    """Loads fixture files through the editing API, all or nothing."""

    def __init__(self, editor: ErpEditor, engine: sa.Engine) -> None:
        self._editor = editor
        self._engine = engine

    def load(self, path: Path) -> LoadReport:
        records = read_fixture(path)
        report = LoadReport()
        with writing(self._engine) as conn:
            for kind in KINDS:
                for index, record in enumerate(records[kind], 1):
                    try:
                        added = self._record(conn, kind, record)
                    except EditError as exc:
                        raise EditError(f"{path}: {kind} #{index}: {exc}") from None
                    counts = report.added if added else report.present
                    counts[kind] = counts.get(kind, 0) + 1
        return report

    def _record(self, conn: Connection, kind: str, record: Mapping[str, Any]) -> bool:
        fields = dict(record)
        participants = fields.pop("participants", [])
        exceptions = fields.pop("exceptions", [])
        if self._present(conn, kind, fields):
            return False
        row_id = self._editor.add_in(conn, kind, fields)
        for number, participant in enumerate(participants, 1):
            try:
                self._editor.add_in(conn, "participant", {**participant, "appointment_id": row_id})
            except EditError as exc:
                raise EditError(f"participant #{number}: {exc}") from None
        for number, exception in enumerate(exceptions, 1):
            exception = dict(exception)
            try:
                if "original_start" not in exception:
                    raise EditError("needs original_start, the start of the occurrence it changes")
                original = exception.pop("original_start")
                self._editor.set_exception_in(conn, row_id, original, exception)
            except EditError as exc:
                raise EditError(f"exception #{number}: {exc}") from None
        return True

    def _present(self, conn: Connection, kind: str, fields: Mapping[str, Any]) -> bool:
        """Whether a row with this record's natural key exists (checked values, or an error)."""
        table = TABLES[kind]
        key = {name: fields.get(name, "") for name in NATURAL_KEYS[kind]}
        if any(value is None for value in key.values()):
            return False  # the insert says what is missing
        given = dict(key)
        if "time_zone" in fields and kind == "appointment":
            given["time_zone"] = fields["time_zone"]  # the zone of a start without offset
        values = self._editor.values_in(conn, table, given)
        where = [table.c[name] == values[name] for name in key]
        return conn.execute(sa.select(table.c.id).where(*where).limit(1)).first() is not None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
