"""Every Windows time zone of CLDR's table works in the simulator, through the real exchangelib."""

from __future__ import annotations

from exchangelib import Account, CalendarItem, EWSDateTime, EWSTimeZone
from exchangelib.winzone import MS_TIMEZONE_TO_IANA_MAP

from sim.store import MailboxStore
from sim.timezones import known_windows_ids, windows_zone, zoneinfo_for

CLDR_WINDOWS_IDS = sorted(zone for zone in MS_TIMEZONE_TO_IANA_MAP if not zone.startswith("tzone:"))


def test_the_simulator_knows_every_windows_zone_of_cldr() -> None:
    assert len(CLDR_WINDOWS_IDS) > 130
    assert known_windows_ids() == CLDR_WINDOWS_IDS
    for zone in ("Kaliningrad Standard Time", "Belarus Standard Time", "Aleutian Standard Time"):
        assert zoneinfo_for(zone).key == MS_TIMEZONE_TO_IANA_MAP[zone]
    assert windows_zone("US Eastern Standard Time").iana == "America/Indianapolis"


def test_a_calendar_item_in_every_windows_zone_round_trips(
    alice: Account, store: MailboxStore
) -> None:
    zones = {windows_id: EWSTimeZone.from_ms_id(windows_id) for windows_id in CLDR_WINDOWS_IDS}
    items = [
        CalendarItem(
            account=alice,
            folder=alice.calendar,
            subject=windows_id,
            start=EWSDateTime(2026, 3, 30, 9, tzinfo=zone),
            end=EWSDateTime(2026, 3, 30, 10, 30, tzinfo=zone),
        )
        for windows_id, zone in zones.items()
    ]

    created = alice.bulk_create(folder=alice.calendar, items=items)
    fetched = list(alice.fetch(ids=created))

    assert len(fetched) == len(zones)
    for item in fetched:
        zone = zones[item.subject]
        assert item._start_timezone.ms_id == item.subject
        assert item.start.astimezone(zone) == EWSDateTime(2026, 3, 30, 9, tzinfo=zone)
        stored = store.get_calendar_item(item.id)
        assert (stored.fields.start_time_zone, stored.fields.end_time_zone) == (item.subject,) * 2
