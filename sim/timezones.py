"""Windows time zone ids, as EWS uses them, and their IANA equivalents.

EWS names time zones by their Windows id ("W. Europe Standard Time"); recurrence expansion needs
the rules, which Python has under IANA names. The table follows the CLDR windowsZones mapping
(territory "001", the primary zone) for the zones our users and tests meet; the display names
are Windows' own, which Exchange returns in the `Name` attribute of StartTimeZone/EndTimeZone.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class WindowsZone:
    """A Windows time zone: its id, display name and the IANA zone with the same rules."""

    windows_id: str
    display_name: str
    iana: str

    @property
    def zoneinfo(self) -> ZoneInfo:
        return ZoneInfo(self.iana)


_ZONES: tuple[WindowsZone, ...] = (
    WindowsZone("UTC", "(UTC) Coordinated Universal Time", "UTC"),
    WindowsZone(
        "GMT Standard Time", "(UTC+00:00) Dublin, Edinburgh, Lisbon, London", "Europe/London"
    ),
    WindowsZone("Greenwich Standard Time", "(UTC+00:00) Monrovia, Reykjavik", "Atlantic/Reykjavik"),
    WindowsZone(
        "W. Europe Standard Time",
        "(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna",
        "Europe/Berlin",
    ),
    WindowsZone(
        "Central Europe Standard Time",
        "(UTC+01:00) Belgrade, Bratislava, Budapest, Ljubljana, Prague",
        "Europe/Budapest",
    ),
    WindowsZone(
        "Romance Standard Time", "(UTC+01:00) Brussels, Copenhagen, Madrid, Paris", "Europe/Paris"
    ),
    WindowsZone(
        "Central European Standard Time",
        "(UTC+01:00) Sarajevo, Skopje, Warsaw, Zagreb",
        "Europe/Warsaw",
    ),
    WindowsZone("GTB Standard Time", "(UTC+02:00) Athens, Bucharest", "Europe/Bucharest"),
    WindowsZone(
        "FLE Standard Time",
        "(UTC+02:00) Helsinki, Kyiv, Riga, Sofia, Tallinn, Vilnius",
        "Europe/Kiev",
    ),
    WindowsZone("E. Europe Standard Time", "(UTC+02:00) Chisinau", "Europe/Chisinau"),
    WindowsZone("Israel Standard Time", "(UTC+02:00) Jerusalem", "Asia/Jerusalem"),
    WindowsZone("Turkey Standard Time", "(UTC+03:00) Istanbul", "Europe/Istanbul"),
    WindowsZone("Russian Standard Time", "(UTC+03:00) Moscow, St. Petersburg", "Europe/Moscow"),
    WindowsZone("Arabian Standard Time", "(UTC+04:00) Abu Dhabi, Muscat", "Asia/Dubai"),
    WindowsZone(
        "India Standard Time", "(UTC+05:30) Chennai, Kolkata, Mumbai, New Delhi", "Asia/Calcutta"
    ),
    WindowsZone(
        "China Standard Time", "(UTC+08:00) Beijing, Chongqing, Hong Kong, Urumqi", "Asia/Shanghai"
    ),
    WindowsZone("Singapore Standard Time", "(UTC+08:00) Kuala Lumpur, Singapore", "Asia/Singapore"),
    WindowsZone("Tokyo Standard Time", "(UTC+09:00) Osaka, Sapporo, Tokyo", "Asia/Tokyo"),
    WindowsZone(
        "AUS Eastern Standard Time", "(UTC+10:00) Canberra, Melbourne, Sydney", "Australia/Sydney"
    ),
    WindowsZone(
        "New Zealand Standard Time", "(UTC+12:00) Auckland, Wellington", "Pacific/Auckland"
    ),
    WindowsZone("Azores Standard Time", "(UTC-01:00) Azores", "Atlantic/Azores"),
    WindowsZone("E. South America Standard Time", "(UTC-03:00) Brasilia", "America/Sao_Paulo"),
    WindowsZone("Atlantic Standard Time", "(UTC-04:00) Atlantic Time (Canada)", "America/Halifax"),
    WindowsZone(
        "Eastern Standard Time", "(UTC-05:00) Eastern Time (US & Canada)", "America/New_York"
    ),
    WindowsZone(
        "Central Standard Time", "(UTC-06:00) Central Time (US & Canada)", "America/Chicago"
    ),
    WindowsZone(
        "Mountain Standard Time", "(UTC-07:00) Mountain Time (US & Canada)", "America/Denver"
    ),
    WindowsZone("US Mountain Standard Time", "(UTC-07:00) Arizona", "America/Phoenix"),
    WindowsZone(
        "Pacific Standard Time", "(UTC-08:00) Pacific Time (US & Canada)", "America/Los_Angeles"
    ),
    WindowsZone("Alaskan Standard Time", "(UTC-09:00) Alaska", "America/Anchorage"),
    WindowsZone("Hawaiian Standard Time", "(UTC-10:00) Hawaii", "Pacific/Honolulu"),
)

_BY_WINDOWS_ID: dict[str, WindowsZone] = {zone.windows_id: zone for zone in _ZONES}


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
    return [zone.windows_id for zone in _ZONES]
