"""Windows time zone ids, as Exchange names zones, and the IANA zones our model uses.

Exchange stores a Windows id ("W. Europe Standard Time") on every calendar item; the domain model
and the ERP use IANA names ("Europe/Berlin"). The mapping is CLDR's complete windowsZones table
as exchangelib ships it (`exchangelib.winzone`, with the IANA aliases it adds): each Windows id
reads back as its primary IANA zone (CLDR territory "001"), and every IANA zone CLDR lists for it
writes as it — unless the zone's rules have since parted from the primary's (tzdata moves faster
than CLDR's table), because a time written in such a zone would read back shifted: those zones
are refused as UnknownTimeZone rather than mapped wrongly.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo, available_timezones

from exchangelib.winzone import IANA_TO_MS_TIMEZONE_MAP, MS_TIMEZONE_TO_IANA_MAP

from engine.errors import UnknownTimeZone

# Twice a day, every fifth day of a year: zones whose rules have parted (another offset, DST
# dropped or moved by weeks) disagree at one of these. tests/exchange/test_timezones.py checks
# every hour of the year.
_SAMPLES = tuple(
    datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=day, hours=hour)
    for day in range(0, 365, 5)
    for hour in (3, 15)
)


def _offsets(iana: str) -> tuple[timedelta | None, ...]:
    zone = ZoneInfo(iana)
    return tuple(instant.astimezone(zone).utcoffset() for instant in _SAMPLES)


def _build() -> tuple[dict[str, str], dict[str, str]]:
    python_zones = available_timezones()
    primaries = {
        windows_id: iana
        for windows_id, iana in MS_TIMEZONE_TO_IANA_MAP.items()
        if not windows_id.startswith("tzone://") and iana in python_zones
    }
    rules = {iana: _offsets(iana) for iana in primaries.values()}
    to_windows: dict[str, str] = {}
    for iana, (windows_id, _territory) in IANA_TO_MS_TIMEZONE_MAP.items():
        primary = primaries.get(windows_id)
        if primary is None or iana not in python_zones:
            continue
        if iana == primary or _offsets(iana) == rules[primary]:
            to_windows[iana] = windows_id
    return primaries, to_windows


_PRIMARIES, _TO_WINDOWS = _build()
WINDOWS_TO_IANA: Mapping[str, str] = MappingProxyType(_PRIMARIES)
IANA_TO_WINDOWS: Mapping[str, str] = MappingProxyType(_TO_WINDOWS)


def windows_zone(iana: str) -> str:
    """The Windows id Exchange needs for an IANA zone of ours."""
    try:
        return IANA_TO_WINDOWS[iana]
    except KeyError:
        raise UnknownTimeZone(
            f"time zone {iana!r} has no Windows time zone id that Exchange knows",
            field="time_zone",
        ) from None


def iana_zone(windows_id: str, *, written_as: str | None = None) -> str:
    """The IANA zone for a Windows id read from Exchange.

    `written_as` is the IANA name we wrote the item with; it is kept while the item is still in
    that Windows zone, so that Europe/Vienna does not come back as Europe/Berlin.
    """
    if written_as is not None and IANA_TO_WINDOWS.get(written_as) == windows_id:
        return written_as
    try:
        return WINDOWS_TO_IANA[windows_id]
    except KeyError:
        raise UnknownTimeZone(
            f"Exchange time zone {windows_id!r} has no IANA equivalent in CLDR's table",
            field="time_zone",
        ) from None
