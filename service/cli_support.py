"""What the commands that read a configuration share: finding it, opening the store, times."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime

import click

from adapters.erp.cli import UserError
from engine.store import EventStore
from service.config import ConfigError, Settings, config_path, load
from service.stores import open_store


def settings_from(ctx: click.Context) -> Settings:
    try:
        return load(config_path(ctx.find_root().params.get("config")))
    except ConfigError as exc:
        raise UserError(str(exc)) from None


@contextmanager
def configured_store(ctx: click.Context) -> Iterator[EventStore]:
    settings = settings_from(ctx)
    try:
        store = open_store(settings)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    try:
        yield store
    finally:
        store.close()


def moment(value: str | None, option: str) -> datetime | None:
    """A time given on the command line: ISO date or date-time; without a zone, local time."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            parsed = datetime.combine(date.fromisoformat(value), datetime.min.time())
        except ValueError:
            raise UserError(
                f"{option} {value!r}: give a date or time such as 2026-11-02 or 2026-11-02T08:00"
            ) from None
    return parsed if parsed.tzinfo is not None else parsed.astimezone()
