"""Values PostgreSQL stores that the driver cannot convert, read as `Unreadable` instead.

psycopg turns dates, times, timestamps and intervals into Python objects while it fetches a
result; `infinity`, a year past 9999 or before year 1 (BC), a time of 24:00 or an interval past
Python's range raise there, and would fail the whole query: one such row in the feed would stop
every read. The ERP's connections load these types through a loader that falls back to an
`Unreadable` value, which the snapshot code reports as a typed error of that row alone.
Numbers (NaN, infinity), text and booleans convert without error; PostgreSQL refuses NUL
characters and invalid UTF-8 at the write already.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import abc
from psycopg.abc import AdaptContext, Buffer
from psycopg.adapt import AdaptersMap, Loader
from psycopg.pq import Format

# Every type psycopg converts whose conversion can fail on a value PostgreSQL accepts.
CONVERTED_TYPES = ("date", "time", "timetz", "timestamp", "timestamptz", "interval")


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A stored value outside what Python (and so the engine) can represent."""

    text: str
    reason: str


def load_leniently(adapters: AdaptersMap) -> None:
    """Register the falling-back loaders on a connection's (or the global) adapters."""
    for name in CONVERTED_TYPES:
        info = adapters.types.get(name)
        if info is None:
            continue
        for fmt in (Format.TEXT, Format.BINARY):
            strict = adapters.get_loader(info.oid, fmt)
            if strict is not None and not issubclass(strict, _Lenient):
                adapters.register_loader(info.oid, _lenient(strict, fmt))


class _Lenient(Loader):
    strict: type[abc.Loader]

    def __init__(self, oid: int, context: AdaptContext | None = None) -> None:
        super().__init__(oid, context)
        self._strict = self.strict(oid, context)

    def load(self, data: Buffer) -> Any:
        try:
            return self._strict.load(data)
        except (psycopg.DataError, ValueError, OverflowError) as exc:
            text = bytes(data).decode("utf-8", "replace") if self.format is Format.TEXT else ""
            return Unreadable(text=text, reason=str(exc).splitlines()[0] if str(exc) else "")


def _lenient(strict: type[abc.Loader], fmt: Format) -> type[Loader]:
    return type(f"Lenient{strict.__name__}", (_Lenient,), {"strict": strict, "format": fmt})
