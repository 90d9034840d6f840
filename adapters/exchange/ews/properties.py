"""The engine's extended properties on Exchange items, registered once with exchangelib.

The stream id (DESIGN §3) travels on every item we write, so that a re-export after a crash
finds the item it made and notifications map straight to their stream; the IANA zone an item
was written in is kept beside it, so that Europe/Vienna does not read back as the Windows zone's
primary Europe/Berlin. Both live in one property set of our own (a fixed GUID: never change it,
items carry it for years).
"""

from __future__ import annotations

import threading
from typing import Final

from exchangelib import CalendarItem, ExtendedProperty
from exchangelib import Task as EwsTask

PROPERTY_SET_ID: Final = "c11ff724-aa03-4555-9952-8fa248a11c3e"
SYNC_ID: Final = "einklang_sync_id"
WRITTEN_ZONE: Final = "einklang_time_zone"


class SyncIdProperty(ExtendedProperty):  # type: ignore[misc]  # exchangelib is untyped
    """The item's stream id (a UUID as text)."""

    property_set_id = PROPERTY_SET_ID
    property_name = "EinklangSyncId"
    property_type = "String"


class WrittenZoneProperty(ExtendedProperty):  # type: ignore[misc]
    """The IANA zone the engine wrote the item in."""

    property_set_id = PROPERTY_SET_ID
    property_name = "EinklangTimeZone"
    property_type = "String"


_lock = threading.Lock()


def register_properties() -> None:
    """Make the properties known to exchangelib's item classes; safe to call any number of times.

    exchangelib registers extended properties on its classes, for the whole process: the adapter
    calls this before every use rather than once, so that code which takes them away again
    (`deregister_properties`, for tests that enumerate exchangelib's fields) cannot break it.
    """
    with _lock:
        for model in (CalendarItem, EwsTask):
            names = {field.name for field in model.FIELDS}
            for name, cls in ((SYNC_ID, SyncIdProperty), (WRITTEN_ZONE, WrittenZoneProperty)):
                if name not in names:
                    model.register(name, cls)


def deregister_properties() -> None:
    """Undo `register_properties` (exchangelib's item classes as they ship)."""
    with _lock:
        for model in (CalendarItem, EwsTask):
            names = {field.name for field in model.FIELDS}
            for name in (SYNC_ID, WRITTEN_ZONE):
                if name in names:
                    model.deregister(name)
