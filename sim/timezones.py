"""Windows time zone ids, as EWS uses them, and their IANA equivalents.

EWS names time zones by their Windows id ("W. Europe Standard Time"); recurrence expansion needs
the rules, which Python has under IANA names. The mapping is CLDR's complete windowsZones table
as exchangelib ships it (`exchangelib.winzone`, maintained with CLDR): every Windows id there
reads as its primary IANA zone (territory "001"), as Exchange's own rules for the id follow it.
Ids of zones whose IANA rules this Python does not have are left out (none today).

Display names ("(UTC+01:00) Amsterdam, Berlin, …", the `Name` attribute of StartTimeZone and
the calendar:TimeZone string) are Windows' own; CLDR has none, so the common ones are listed
below and every other zone is named by its id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from exchangelib.winzone import MS_TIMEZONE_TO_IANA_MAP

# Windows' display names of the zones users meet most; the rest are named by their id.
_DISPLAY_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "UTC": "(UTC) Coordinated Universal Time",
        "GMT Standard Time": "(UTC+00:00) Dublin, Edinburgh, Lisbon, London",
        "Greenwich Standard Time": "(UTC+00:00) Monrovia, Reykjavik",
        "W. Europe Standard Time": "(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna",
        "Central Europe Standard Time": "(UTC+01:00) Belgrade, Bratislava, Budapest, Ljubljana, "
        "Prague",
        "Romance Standard Time": "(UTC+01:00) Brussels, Copenhagen, Madrid, Paris",
        "Central European Standard Time": "(UTC+01:00) Sarajevo, Skopje, Warsaw, Zagreb",
        "GTB Standard Time": "(UTC+02:00) Athens, Bucharest",
        "FLE Standard Time": "(UTC+02:00) Helsinki, Kyiv, Riga, Sofia, Tallinn, Vilnius",
        "E. Europe Standard Time": "(UTC+02:00) Chisinau",
        "Kaliningrad Standard Time": "(UTC+02:00) Kaliningrad",
        "Israel Standard Time": "(UTC+02:00) Jerusalem",
        "Belarus Standard Time": "(UTC+03:00) Minsk",
        "Turkey Standard Time": "(UTC+03:00) Istanbul",
        "Russian Standard Time": "(UTC+03:00) Moscow, St. Petersburg",
        "Arabian Standard Time": "(UTC+04:00) Abu Dhabi, Muscat",
        "India Standard Time": "(UTC+05:30) Chennai, Kolkata, Mumbai, New Delhi",
        "China Standard Time": "(UTC+08:00) Beijing, Chongqing, Hong Kong, Urumqi",
        "Singapore Standard Time": "(UTC+08:00) Kuala Lumpur, Singapore",
        "Tokyo Standard Time": "(UTC+09:00) Osaka, Sapporo, Tokyo",
        "AUS Eastern Standard Time": "(UTC+10:00) Canberra, Melbourne, Sydney",
        "New Zealand Standard Time": "(UTC+12:00) Auckland, Wellington",
        "Azores Standard Time": "(UTC-01:00) Azores",
        "E. South America Standard Time": "(UTC-03:00) Brasilia",
        "Atlantic Standard Time": "(UTC-04:00) Atlantic Time (Canada)",
        "Eastern Standard Time": "(UTC-05:00) Eastern Time (US & Canada)",
        "US Eastern Standard Time": "(UTC-05:00) Indiana (East)",
        "Central Standard Time": "(UTC-06:00) Central Time (US & Canada)",
        "Mountain Standard Time": "(UTC-07:00) Mountain Time (US & Canada)",
        "US Mountain Standard Time": "(UTC-07:00) Arizona",
        "Pacific Standard Time": "(UTC-08:00) Pacific Time (US & Canada)",
        "Alaskan Standard Time": "(UTC-09:00) Alaska",
        "Aleutian Standard Time": "(UTC-10:00) Aleutian Islands",
        "Hawaiian Standard Time": "(UTC-10:00) Hawaii",
    }
)


@dataclass(frozen=True)
class WindowsZone:
    """A Windows time zone: its id, display name and the IANA zone with the same rules."""

    windows_id: str
    display_name: str
    iana: str

    @property
    def zoneinfo(self) -> ZoneInfo:
        return _zoneinfo(self.iana)


@cache
def _zoneinfo(iana: str) -> ZoneInfo:
    return ZoneInfo(iana)


def _load() -> dict[str, WindowsZone]:
    python_zones = available_timezones()
    zones: dict[str, WindowsZone] = {}
    for windows_id, iana in MS_TIMEZONE_TO_IANA_MAP.items():
        if windows_id.startswith("tzone://") or iana not in python_zones:
            continue
        try:
            _zoneinfo(iana)
        except ZoneInfoNotFoundError:  # pragma: no cover - available_timezones() listed it
            continue
        zones[windows_id] = WindowsZone(
            windows_id, _DISPLAY_NAMES.get(windows_id, windows_id), iana
        )
    return zones


_BY_WINDOWS_ID: Mapping[str, WindowsZone] = MappingProxyType(_load())


class UnknownTimeZone(LookupError):
    """A Windows time zone id the simulator has no rules for (EWS answers ErrorTimeZone)."""


def windows_zone(windows_id: str) -> WindowsZone:
    """Look up a Windows time zone id (case-sensitive, as in EWS)."""
    try:
        return _BY_WINDOWS_ID[windows_id]
    except KeyError:
        raise UnknownTimeZone(windows_id) from None


def zoneinfo_for(windows_id: str) -> ZoneInfo:
    """The IANA rules for a Windows time zone id."""
    return windows_zone(windows_id).zoneinfo


def known_windows_ids() -> list[str]:
    return sorted(_BY_WINDOWS_ID)
