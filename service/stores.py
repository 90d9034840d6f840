"""Opening what the configuration names: the event store, its read models, the ERP database.

Relative SQLite paths are taken relative to the configuration's `data_dir` (itself relative to
the configuration file), so that a configuration works from whatever directory it is run.
"""

from __future__ import annotations

from pathlib import Path

from engine.store import EventStore, StoreLocation
from projections.projector import Projector
from service.config import ConfigError, Settings

SQLITE = "sqlite:///"


def anchored_url(url: str, data_dir: Path) -> str:
    """`url` with a relative SQLite path made absolute under `data_dir`."""
    if url.startswith(SQLITE):
        path = Path(url.removeprefix(SQLITE))
        if not path.is_absolute():
            return SQLITE + str(data_dir / path)
    return url


def store_location(settings: Settings) -> StoreLocation:
    url = anchored_url(settings.store.url, settings.data_dir)
    return StoreLocation(url.removeprefix(SQLITE) if url.startswith(SQLITE) else url)


def erp_url(settings: Settings) -> str:
    return anchored_url(settings.erp.url, settings.data_dir)


def open_store(settings: Settings, *, must_exist: bool = True) -> EventStore:
    location = store_location(settings)
    if must_exist and not location.is_postgres and not Path(location.sqlite_path).exists():
        raise ConfigError(
            f"no event store at {location.sqlite_path}: has `einklang run` (or the demo) run "
            "with this configuration?"
        )
    return EventStore(
        location,
        aggregate_cache=settings.store.aggregate_cache,
        sqlite_cache_kb=settings.store.sqlite_cache_kb,
    )


def open_views(store: EventStore) -> Projector:
    """The read models of `store` (created empty where they do not exist yet)."""
    return Projector(store)
