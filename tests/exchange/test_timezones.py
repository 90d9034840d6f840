"""Our Windows ↔ IANA time zone table, checked against tzdata and against the simulator's own.

Zones sharing a Windows id must share their rules (offsets and DST changes), or a time written
in one would read back shifted in the other; every Windows id of CLDR's table round-trips; and
the simulator (the Exchange we test against) knows every Windows id we write, with our rules.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

import pytest
from exchangelib.winzone import IANA_TO_MS_TIMEZONE_MAP, MS_TIMEZONE_TO_IANA_MAP

from adapters.exchange.timezones import IANA_TO_WINDOWS, WINDOWS_TO_IANA, iana_zone, windows_zone
from engine.errors import UnknownTimeZone
from sim.timezones import known_windows_ids, zoneinfo_for

# 2026 every six hours, and every hour in the seasons where zones change their clocks (March to
# mid-April, September to mid-November, both hemispheres): zones that change at a different
# hour differ at one of them at least.
_YEAR = datetime(2026, 1, 1, tzinfo=UTC)
INSTANTS = [
    instant
    for instant in (_YEAR + timedelta(hours=n) for n in range(24 * 365))
    if instant.hour % 6 == 0
    or datetime(2026, 3, 1, tzinfo=UTC) <= instant < datetime(2026, 4, 15, tzinfo=UTC)
    or datetime(2026, 9, 1, tzinfo=UTC) <= instant < datetime(2026, 11, 15, tzinfo=UTC)
]


@functools.cache
def offsets(zone: ZoneInfo) -> tuple[timedelta | None, ...]:
    return tuple(instant.astimezone(zone).utcoffset() for instant in INSTANTS)


@pytest.mark.parametrize("windows_id", sorted(WINDOWS_TO_IANA))
def test_every_zone_of_a_windows_id_has_the_same_rules(windows_id: str) -> None:
    primary = offsets(ZoneInfo(WINDOWS_TO_IANA[windows_id]))
    members = [iana for iana, windows in IANA_TO_WINDOWS.items() if windows == windows_id]
    assert all(offsets(ZoneInfo(iana)) == primary for iana in members)


def test_every_windows_id_of_cldr_is_ours_and_the_simulators() -> None:
    python_zones = available_timezones()
    cldr_ids = {
        windows_id
        for windows_id, _ in IANA_TO_MS_TIMEZONE_MAP.values()
        if MS_TIMEZONE_TO_IANA_MAP.get(windows_id) in python_zones
    }
    assert len(cldr_ids) > 130
    assert set(WINDOWS_TO_IANA) == cldr_ids == set(known_windows_ids())
    # Those Outlook offers that a hand-written table once missed.
    for windows_id in (
        "Kaliningrad Standard Time",
        "Belarus Standard Time",
        "Aleutian Standard Time",
        "US Eastern Standard Time",
        "Tokyo Standard Time",
        "Sri Lanka Standard Time",
    ):
        assert windows_id in cldr_ids


@pytest.mark.parametrize("windows_id", sorted(WINDOWS_TO_IANA))
def test_every_windows_id_round_trips_with_the_simulators_rules(windows_id: str) -> None:
    iana = iana_zone(windows_id)
    assert windows_zone(iana) == windows_id
    assert iana_zone(windows_id, written_as=iana) == iana
    assert offsets(ZoneInfo(iana)) == offsets(zoneinfo_for(windows_id))


def test_a_zone_whose_rules_parted_from_its_windows_id_is_refused() -> None:
    # CLDR puts Antarctica/Troll (UTC+0/+2) under W. Europe Standard Time (UTC+1/+2).
    assert IANA_TO_MS_TIMEZONE_MAP["Antarctica/Troll"][0] == "W. Europe Standard Time"
    with pytest.raises(UnknownTimeZone, match="Antarctica/Troll"):
        windows_zone("Antarctica/Troll")


def test_a_zone_reads_back_as_written_while_its_windows_id_is_unchanged() -> None:
    assert windows_zone("Europe/Vienna") == "W. Europe Standard Time"
    assert iana_zone("W. Europe Standard Time", written_as="Europe/Vienna") == "Europe/Vienna"
    assert iana_zone("W. Europe Standard Time") == "Europe/Berlin"
    assert iana_zone("Romance Standard Time", written_as="Europe/Vienna") == "Europe/Paris"


@pytest.mark.parametrize(
    ("look_up", "name"),
    [
        (windows_zone, "Nowhere/City"),
        (iana_zone, "Mars Standard Time"),
    ],
)
def test_a_zone_outside_the_table_is_an_unknown_time_zone(
    look_up: Callable[[str], str], name: str
) -> None:
    with pytest.raises(UnknownTimeZone, match=name):
        look_up(name)
