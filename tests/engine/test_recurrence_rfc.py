"""RFC 5545 §3.8.5.3's own examples (DTSTART;TZID=America/New_York), a held-out check (R2).

Each example either converts and expands to the dates the RFC lists, or is refused with
`UnsupportedRecurrence` because no Exchange pattern gives its dates. The listed dates are copied
from the RFC (all at 09:00 local time); dateutil is checked against them too, so a slip in
copying them cannot make the test pass.
"""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr

from engine.recurrence import UnsupportedRecurrence, local_occurrence_starts, parse_rrule

NEW_YORK = ZoneInfo("America/New_York")


def days(year: int, month: int, *numbers: int) -> list[date]:
    return [date(year, month, n) for n in numbers]


def span(first: date, last: date, step: int = 1) -> list[date]:
    return [first + timedelta(days=k) for k in range(0, (last - first).days + 1, step)]


def dtstart(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 9, 0, tzinfo=NEW_YORK)


# (title, DTSTART, RRULE, the RFC's listed dates; for a rule without end: its first dates)
CONVERTED = [
    ("Daily for 10 occurrences", dtstart(1997, 9, 2), "FREQ=DAILY;COUNT=10",
     span(date(1997, 9, 2), date(1997, 9, 11))),
    ("Daily until December 24, 1997", dtstart(1997, 9, 2), "FREQ=DAILY;UNTIL=19971224T000000Z",
     span(date(1997, 9, 2), date(1997, 12, 23))),
    ("Every other day - forever", dtstart(1997, 9, 2), "FREQ=DAILY;INTERVAL=2",
     span(date(1997, 9, 2), date(1997, 9, 30), 2) + span(date(1997, 10, 2), date(1997, 10, 24), 2)
     + span(date(1997, 10, 26), date(1997, 10, 30), 2) + days(1997, 11, 1, 3, 5)),
    ("Every 10 days, 5 occurrences", dtstart(1997, 9, 2), "FREQ=DAILY;INTERVAL=10;COUNT=5",
     days(1997, 9, 2, 12, 22) + days(1997, 10, 2, 12)),
    ("Weekly for 10 occurrences", dtstart(1997, 9, 2), "FREQ=WEEKLY;COUNT=10",
     days(1997, 9, 2, 9, 16, 23, 30) + days(1997, 10, 7, 14, 21, 28) + days(1997, 11, 4)),
    ("Weekly until December 24, 1997", dtstart(1997, 9, 2), "FREQ=WEEKLY;UNTIL=19971224T000000Z",
     days(1997, 9, 2, 9, 16, 23, 30) + days(1997, 10, 7, 14, 21, 28)
     + days(1997, 11, 4, 11, 18, 25) + days(1997, 12, 2, 9, 16, 23)),
    ("Every other week - forever", dtstart(1997, 9, 2), "FREQ=WEEKLY;INTERVAL=2;WKST=SU",
     days(1997, 9, 2, 16, 30) + days(1997, 10, 14, 28) + days(1997, 11, 11, 25)
     + days(1997, 12, 9, 23) + days(1998, 1, 6, 20)),
    ("Weekly on Tuesday and Thursday for five weeks (UNTIL)", dtstart(1997, 9, 2),
     "FREQ=WEEKLY;UNTIL=19971007T000000Z;WKST=SU;BYDAY=TU,TH",
     days(1997, 9, 2, 4, 9, 11, 16, 18, 23, 25, 30) + days(1997, 10, 2)),
    ("Weekly on Tuesday and Thursday for five weeks (COUNT)", dtstart(1997, 9, 2),
     "FREQ=WEEKLY;COUNT=10;WKST=SU;BYDAY=TU,TH",
     days(1997, 9, 2, 4, 9, 11, 16, 18, 23, 25, 30) + days(1997, 10, 2)),
    ("Every other week on Monday, Wednesday, and Friday until December 24, 1997",
     dtstart(1997, 9, 1), "FREQ=WEEKLY;INTERVAL=2;UNTIL=19971224T000000Z;WKST=SU;BYDAY=MO,WE,FR",
     days(1997, 9, 1, 3, 5, 15, 17, 19, 29) + days(1997, 10, 1, 3, 13, 15, 17, 27, 29, 31)
     + days(1997, 11, 10, 12, 14, 24, 26, 28) + days(1997, 12, 8, 10, 12, 22)),
    ("Every other week on Tuesday and Thursday, for 8 occurrences", dtstart(1997, 9, 2),
     "FREQ=WEEKLY;INTERVAL=2;COUNT=8;WKST=SU;BYDAY=TU,TH",
     days(1997, 9, 2, 4, 16, 18, 30) + days(1997, 10, 2, 14, 16)),
    ("Monthly on the first Friday for 10 occurrences", dtstart(1997, 9, 5),
     "FREQ=MONTHLY;COUNT=10;BYDAY=1FR",
     days(1997, 9, 5) + days(1997, 10, 3) + days(1997, 11, 7) + days(1997, 12, 5)
     + days(1998, 1, 2) + days(1998, 2, 6) + days(1998, 3, 6) + days(1998, 4, 3)
     + days(1998, 5, 1) + days(1998, 6, 5)),
    ("Monthly on the first Friday until December 24, 1997", dtstart(1997, 9, 5),
     "FREQ=MONTHLY;UNTIL=19971224T000000Z;BYDAY=1FR",
     days(1997, 9, 5) + days(1997, 10, 3) + days(1997, 11, 7) + days(1997, 12, 5)),
    ("WKST: every other week on Tuesday and Sunday, weeks from Monday", dtstart(1997, 8, 5),
     "FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=MO", days(1997, 8, 5, 10, 19, 24)),
    ("WKST: every other week on Tuesday and Sunday, weeks from Sunday", dtstart(1997, 8, 5),
     "FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=SU", days(1997, 8, 5, 17, 19, 31)),
    # Its ten dates happen to be every 78 weeks on the weekdays of 10..15 September 1997.
    ("Every 18 months on the 10th thru 15th", dtstart(1997, 9, 10),
     "FREQ=MONTHLY;INTERVAL=18;COUNT=10;BYMONTHDAY=10,11,12,13,14,15",
     span(date(1997, 9, 10), date(1997, 9, 15)) + span(date(1999, 3, 10), date(1999, 3, 13))),
]  # fmt: skip

# (title, DTSTART, RRULE, why Exchange cannot: checked against dateutil where it is about dates)
REFUSED = [
    ("Every day in January, for 3 years (YEARLY)", dtstart(1998, 1, 1),
     "FREQ=YEARLY;UNTIL=20000131T140000Z;BYMONTH=1;BYDAY=SU,MO,TU,WE,TH,FR,SA"),
    ("Every day in January, for 3 years (DAILY)", dtstart(1998, 1, 1),
     "FREQ=DAILY;UNTIL=20000131T140000Z;BYMONTH=1"),
    ("Every other month on the first and last Sunday", dtstart(1997, 9, 7),
     "FREQ=MONTHLY;INTERVAL=2;COUNT=10;BYDAY=1SU,-1SU"),
    ("Monthly on the second-to-last Monday", dtstart(1997, 9, 22), "FREQ=MONTHLY;COUNT=6;BYDAY=-2MO"),
    ("Monthly on the third-to-the-last day", dtstart(1997, 9, 28), "FREQ=MONTHLY;BYMONTHDAY=-3"),
    ("Monthly on the 2nd and 15th", dtstart(1997, 9, 2), "FREQ=MONTHLY;COUNT=10;BYMONTHDAY=2,15"),
    ("Monthly on the first and last day", dtstart(1997, 9, 30),
     "FREQ=MONTHLY;COUNT=10;BYMONTHDAY=1,-1"),
    ("Every Tuesday, every other month", dtstart(1997, 9, 2), "FREQ=MONTHLY;INTERVAL=2;BYDAY=TU"),
    ("Yearly in June and July", dtstart(1997, 6, 10), "FREQ=YEARLY;COUNT=10;BYMONTH=6,7"),
    ("Every other year on January, February, and March", dtstart(1997, 3, 10),
     "FREQ=YEARLY;INTERVAL=2;COUNT=10;BYMONTH=1,2,3"),
    ("Every third year on the 1st, 100th, and 200th day", dtstart(1997, 1, 1),
     "FREQ=YEARLY;INTERVAL=3;COUNT=10;BYYEARDAY=1,100,200"),
    ("Every 20th Monday of the year", dtstart(1997, 5, 19), "FREQ=YEARLY;BYDAY=20MO"),
    ("Monday of week number 20", dtstart(1997, 5, 12), "FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO"),
    ("Every Thursday in March", dtstart(1997, 3, 13), "FREQ=YEARLY;BYMONTH=3;BYDAY=TH"),
    ("Every Thursday, but only during June, July, and August", dtstart(1997, 6, 5),
     "FREQ=YEARLY;BYDAY=TH;BYMONTH=6,7,8"),
    ("Every Friday the 13th", dtstart(1997, 9, 2), "FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13"),
    ("The first Saturday that follows the first Sunday of the month", dtstart(1997, 9, 13),
     "FREQ=MONTHLY;BYDAY=SA;BYMONTHDAY=7,8,9,10,11,12,13"),
    ("Every 4 years, U.S. Presidential Election day", dtstart(1996, 11, 5),
     "FREQ=YEARLY;INTERVAL=4;BYMONTH=11;BYDAY=TU;BYMONTHDAY=2,3,4,5,6,7,8"),
    ("The third instance into the month of one of Tuesday, Wednesday, or Thursday",
     dtstart(1997, 9, 4), "FREQ=MONTHLY;COUNT=3;BYDAY=TU,WE,TH;BYSETPOS=3"),
    ("The second-to-last weekday of the month", dtstart(1997, 9, 29),
     "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-2"),
    ("Every 3 hours from 9:00 AM to 5:00 PM on a specific day", dtstart(1997, 9, 2),
     "FREQ=HOURLY;INTERVAL=3;UNTIL=19970902T210000Z"),
    ("Every 15 minutes for 6 occurrences", dtstart(1997, 9, 2), "FREQ=MINUTELY;INTERVAL=15;COUNT=6"),
    ("Every hour and a half for 4 occurrences", dtstart(1997, 9, 2),
     "FREQ=MINUTELY;INTERVAL=90;COUNT=4"),
    ("Every 20 minutes from 9:00 AM to 4:40 PM every day (DAILY)", dtstart(1997, 9, 2),
     "FREQ=DAILY;BYHOUR=9,10,11,12,13,14,15,16;BYMINUTE=0,20,40"),
    ("Every 20 minutes from 9:00 AM to 4:40 PM every day (MINUTELY)", dtstart(1997, 9, 2),
     "FREQ=MINUTELY;INTERVAL=20;BYHOUR=9,10,11,12,13,14,15,16"),
    ("An invalid date (30 February) is ignored", datetime(2007, 1, 15, 9, tzinfo=NEW_YORK),
     "FREQ=MONTHLY;BYMONTHDAY=15,30;COUNT=5"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("title", "start", "rule", "listed"), CONVERTED, ids=[c[0] for c in CONVERTED]
)
def test_rfc_5545_examples_exchange_expresses_expand_to_the_rfcs_dates(
    title: str, start: datetime, rule: str, listed: list[date]
) -> None:
    recurrence = parse_rrule(rule, dtstart=start)
    first_local = start.replace(tzinfo=None)
    ours = list(itertools.islice(local_occurrence_starts(recurrence, first_local), len(listed) + 1))
    finite = "COUNT=" in rule or "UNTIL=" in rule
    expected = [datetime.combine(day, first_local.time()) for day in listed]
    assert ours == (expected if finite else [*expected, ours[-1]])  # 09:00, EDT and EST alike
    dateutil = [
        d.replace(tzinfo=None)
        for d in itertools.islice(rrulestr(rule, dtstart=start), len(listed) + 1)
    ]
    assert dateutil == ours  # the copied dates are the RFC's (dateutil agrees)


@pytest.mark.parametrize(("title", "start", "rule"), REFUSED, ids=[r[0] for r in REFUSED])
def test_rfc_5545_examples_exchange_cannot_express_are_refused(
    title: str, start: datetime, rule: str
) -> None:
    with pytest.raises(UnsupportedRecurrence):
        parse_rrule(rule, dtstart=start)
