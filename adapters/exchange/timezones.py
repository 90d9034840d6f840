"""Windows time zone ids, as Exchange names zones, and the IANA zones our model uses.

Exchange stores a Windows id ("W. Europe Standard Time") on every calendar item; the domain model
and the ERP use IANA names ("Europe/Berlin"). The table follows CLDR's windowsZones mapping for the
zones of Europe and the United States, plus UTC: each Windows id reads back as its primary IANA
zone (CLDR territory "001"), and every IANA zone CLDR lists for it in those regions writes as it.
This is our own table on purpose: the simulator's is the oracle we are tested against.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from engine.errors import UnknownTimeZone

# Windows id -> (primary IANA zone, further IANA zones with the same rules).
_ZONES: dict[str, tuple[str, tuple[str, ...]]] = {
    "UTC": ("UTC", ("Etc/UTC", "Etc/GMT")),
    "GMT Standard Time": (
        "Europe/London",
        (
            "Europe/Dublin",
            "Europe/Lisbon",
            "Europe/Guernsey",
            "Europe/Isle_of_Man",
            "Europe/Jersey",
            "Atlantic/Canary",
            "Atlantic/Faroe",
            "Atlantic/Madeira",
        ),
    ),
    "Greenwich Standard Time": ("Atlantic/Reykjavik", ()),
    "W. Europe Standard Time": (
        "Europe/Berlin",
        (
            "Europe/Amsterdam",
            "Europe/Andorra",
            "Europe/Busingen",
            "Europe/Gibraltar",
            "Europe/Luxembourg",
            "Europe/Malta",
            "Europe/Monaco",
            "Europe/Oslo",
            "Europe/Rome",
            "Europe/San_Marino",
            "Europe/Stockholm",
            "Europe/Vaduz",
            "Europe/Vatican",
            "Europe/Vienna",
            "Europe/Zurich",
            "Arctic/Longyearbyen",
        ),
    ),
    "Central Europe Standard Time": (
        "Europe/Budapest",
        (
            "Europe/Belgrade",
            "Europe/Bratislava",
            "Europe/Ljubljana",
            "Europe/Podgorica",
            "Europe/Prague",
            "Europe/Tirane",
        ),
    ),
    "Romance Standard Time": (
        "Europe/Paris",
        ("Europe/Brussels", "Europe/Copenhagen", "Europe/Madrid", "Africa/Ceuta"),
    ),
    "Central European Standard Time": (
        "Europe/Warsaw",
        ("Europe/Sarajevo", "Europe/Skopje", "Europe/Zagreb"),
    ),
    "GTB Standard Time": (
        "Europe/Bucharest",
        ("Europe/Athens", "Asia/Nicosia", "Asia/Famagusta", "Europe/Nicosia"),
    ),
    "FLE Standard Time": (
        "Europe/Kyiv",
        (
            "Europe/Kiev",
            "Europe/Helsinki",
            "Europe/Mariehamn",
            "Europe/Riga",
            "Europe/Sofia",
            "Europe/Tallinn",
            "Europe/Vilnius",
        ),
    ),
    "E. Europe Standard Time": ("Europe/Chisinau", ()),
    "Kaliningrad Standard Time": ("Europe/Kaliningrad", ()),
    "Belarus Standard Time": ("Europe/Minsk", ()),
    "Russian Standard Time": ("Europe/Moscow", ("Europe/Kirov", "Europe/Simferopol")),
    "Turkey Standard Time": ("Europe/Istanbul", ()),
    "Azores Standard Time": ("Atlantic/Azores", ()),
    "Eastern Standard Time": (
        "America/New_York",
        (
            "America/Detroit",
            "America/Indiana/Petersburg",
            "America/Indiana/Vincennes",
            "America/Indiana/Winamac",
            "America/Kentucky/Louisville",
            "America/Kentucky/Monticello",
            "America/Louisville",
        ),
    ),
    "US Eastern Standard Time": (
        "America/Indiana/Indianapolis",
        ("America/Indianapolis", "America/Indiana/Marengo", "America/Indiana/Vevay"),
    ),
    "Central Standard Time": (
        "America/Chicago",
        (
            "America/Indiana/Knox",
            "America/Indiana/Tell_City",
            "America/Menominee",
            "America/North_Dakota/Beulah",
            "America/North_Dakota/Center",
            "America/North_Dakota/New_Salem",
        ),
    ),
    "Mountain Standard Time": ("America/Denver", ("America/Boise",)),
    "US Mountain Standard Time": ("America/Phoenix", ()),
    "Pacific Standard Time": ("America/Los_Angeles", ()),
    "Alaskan Standard Time": (
        "America/Anchorage",
        (
            "America/Juneau",
            "America/Metlakatla",
            "America/Nome",
            "America/Sitka",
            "America/Yakutat",
        ),
    ),
    "Aleutian Standard Time": ("America/Adak", ()),
    "Hawaiian Standard Time": ("Pacific/Honolulu", ()),
}

WINDOWS_TO_IANA: Mapping[str, str] = MappingProxyType(
    {windows_id: primary for windows_id, (primary, _) in _ZONES.items()}
)
IANA_TO_WINDOWS: Mapping[str, str] = MappingProxyType(
    {
        iana: windows_id
        for windows_id, (primary, others) in _ZONES.items()
        for iana in (primary, *others)
    }
)


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
            f"Exchange time zone {windows_id!r} has no IANA equivalent in our table",
            field="time_zone",
        ) from None
