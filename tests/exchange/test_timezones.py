"""Our Windows ↔ IANA time zone table, checked against tzdata and against the simulator's own.

Zones sharing a Windows id must share their rules (offsets and DST changes), or a time written
in one would read back shifted in the other; and where the simulator (the Exchange we test
against) knows a Windows id, its rules must be ours.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from adapters.exchange.timezones import IANA_TO_WINDOWS, WINDOWS_TO_IANA, iana_zone, windows_zone
from engine.errors import UnknownTimeZone
from sim.timezones import known_windows_ids, zoneinfo_for

# Every hour of 2026: zones that change at a different hour differ at one of them at least.
INSTANTS = [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=n) for n in range(24 * 365)]


def offsets(zone: ZoneInfo) -> list[timedelta | None]:
    return [instant.astimezone(zone).utcoffset() for instant in INSTANTS]


@pytest.mark.parametrize("windows_id", sorted(WINDOWS_TO_IANA))
def test_every_zone_of_a_windows_id_has_the_same_rules(windows_id: str) -> None:
    primary = offsets(ZoneInfo(WINDOWS_TO_IANA[windows_id]))
    members = [iana for iana, windows in IANA_TO_WINDOWS.items() if windows == windows_id]
    assert all(offsets(ZoneInfo(iana)) == primary for iana in members)


@pytest.mark.parametrize("windows_id", sorted(set(WINDOWS_TO_IANA) & set(known_windows_ids())))
def test_our_rules_are_the_simulators_where_it_knows_the_zone(windows_id: str) -> None:
    assert offsets(ZoneInfo(WINDOWS_TO_IANA[windows_id])) == offsets(zoneinfo_for(windows_id))


def test_a_zone_reads_back_as_written_while_its_windows_id_is_unchanged() -> None:
    assert windows_zone("Europe/Vienna") == "W. Europe Standard Time"
    assert iana_zone("W. Europe Standard Time", written_as="Europe/Vienna") == "Europe/Vienna"
    assert iana_zone("W. Europe Standard Time") == "Europe/Berlin"
    assert iana_zone("Romance Standard Time", written_as="Europe/Vienna") == "Europe/Paris"


@pytest.mark.parametrize(
    ("look_up", "name"),
    [
        (windows_zone, "Asia/Tokyo"),
        (windows_zone, "Nowhere/City"),
        (iana_zone, "Tokyo Standard Time"),
    ],
)
def test_a_zone_outside_the_table_is_an_unknown_time_zone(look_up: object, name: str) -> None:
    with pytest.raises(UnknownTimeZone, match=name):
        look_up(name)  # type: ignore[operator]
