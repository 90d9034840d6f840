"""R2: our recurrence as exchangelib's and back (`adapters.exchange.ews.recurrence`).

For generated recurrences of all six patterns, every range and interval up to exchangelib's
limits: the round trip through exchangelib's objects gives the same recurrence; the XML
exchangelib writes for it (a CreateItem of a series) is valid against Microsoft's EWS schemas;
and the round-tripped series expands exactly as dateutil expands its RRULE.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from exchangelib import (
    BASIC,
    IMPERSONATION,
    Account,
    CalendarItem,
    Configuration,
    Credentials,
    EWSDateTime,
    EWSTimeZone,
)
from exchangelib.recurrence import DailyRegeneration, TaskRecurrence, WeeklyPattern
from exchangelib.recurrence import Recurrence as EwsRecurrence
from exchangelib.services import CreateItem
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.exchange.ews.recurrence import MAX_WEEKLY_INTERVAL, from_exchangelib, to_exchangelib
from engine.errors import InvalidRecurrence, UnsupportedRecurrence
from engine.recurrence import Recurrence
from engine.recurrence_pattern import MAX_INTERVAL, pattern_family
from sim.schema import SchemaValidator
from tests.engine.test_recurrence import SIX_PATTERNS, _existing, oracle, ours, recurrences
from tests.exchange.ews_outlook import EXCHANGE_2016
from tests.sim.support import MESSAGES_XSD

BERLIN = EWSTimeZone("Europe/Berlin")
VALIDATOR = SchemaValidator(MESSAGES_XSD)


def _offline_account() -> Any:
    """An account that never connects: exchangelib only builds requests with it here."""
    config = Configuration(
        service_endpoint="http://127.0.0.1:9/EWS/Exchange.asmx",
        credentials=Credentials("nobody", "unused"),
        auth_type=BASIC,
        version=EXCHANGE_2016,
    )
    return Account(
        "alice@example.com",
        config=config,
        autodiscover=False,
        access_type=IMPERSONATION,
        default_timezone=BERLIN,
    )


ACCOUNT = _offline_account()


@st.composite
def any_recurrence(draw: st.DrawFn) -> Recurrence:
    """The engine's recurrences, with intervals anywhere up to what exchangelib can write."""
    recurrence = draw(recurrences())
    family = pattern_family(recurrence.pattern)
    most = MAX_WEEKLY_INTERVAL if family == "weekly" else MAX_INTERVAL[family]
    if most > 1 and draw(st.booleans()):
        data = {**recurrence.model_dump(), "interval": draw(st.integers(1, most))}
        return Recurrence.model_validate(data)
    return recurrence


first_days = st.dates(date(2025, 1, 1), date(2027, 12, 31))


@settings(max_examples=300, deadline=None)
@given(recurrence=any_recurrence(), start=first_days)
def test_r2_every_pattern_round_trips_through_exchangelib(
    recurrence: Recurrence, start: date
) -> None:
    ews = to_exchangelib(recurrence, start)
    assert ews.boundary.start == start
    assert from_exchangelib(ews) == recurrence


@settings(max_examples=120, deadline=None)
@given(recurrence=any_recurrence(), start=first_days)
def test_r2_the_xml_exchangelib_writes_for_a_series_is_valid_ews(
    recurrence: Recurrence, start: date
) -> None:
    begin = EWSDateTime(start.year, start.month, start.day, 9, tzinfo=BERLIN)
    item = CalendarItem(
        account=ACCOUNT,
        subject="Series",
        start=begin,
        end=begin + timedelta(hours=1),
        recurrence=to_exchangelib(recurrence, start),
    )
    payload = CreateItem(account=ACCOUNT).get_payload(
        items=[item],
        folder=None,
        message_disposition="SaveOnly",
        send_meeting_invitations="SendToNone",
    )
    assert VALIDATOR.check_element(payload) == []


@settings(max_examples=150, deadline=None)
@given(
    recurrence=any_recurrence(),
    first=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31))
    .map(lambda d: d.replace(second=0, microsecond=0, fold=0))
    .filter(lambda d: _existing(d) == d),
)
def test_r2_a_round_tripped_series_expands_like_dateutil(
    recurrence: Recurrence, first: datetime
) -> None:
    back = from_exchangelib(to_exchangelib(recurrence, first.date()))
    expected = oracle(recurrence, first, 25)
    if not expected:  # e.g. an end date before the first occurrence
        with pytest.raises(ValueError, match="no occurrence"):
            ours(back, first, 25)
        return
    got = ours(back, first, 25)  # `ours` looks 30 years ahead; long intervals reach further
    assert got and got == expected[: len(got)]


@pytest.mark.parametrize("name", list(SIX_PATTERNS))
def test_r2_the_six_patterns_are_exchanges_six_pattern_elements(name: str) -> None:
    ews = to_exchangelib(SIX_PATTERNS[name], date(2026, 12, 7))
    expected = {
        "daily": "DailyRecurrence",
        "weekly": "WeeklyRecurrence",
        "absolute_monthly": "AbsoluteMonthlyRecurrence",
        "relative_monthly": "RelativeMonthlyRecurrence",
        "absolute_yearly": "AbsoluteYearlyRecurrence",
        "relative_yearly": "RelativeYearlyRecurrence",
    }
    assert expected[SIX_PATTERNS[name].pattern] == type(ews.pattern).ELEMENT_NAME


def test_r2_a_weekly_interval_over_exchangelibs_limit_is_unsupported_not_a_crash() -> None:
    too_long = Recurrence(pattern="weekly", weekdays=("monday",), interval=MAX_WEEKLY_INTERVAL + 1)
    with pytest.raises(UnsupportedRecurrence, match="weekly interval"):
        to_exchangelib(too_long, date(2026, 12, 7))


@pytest.mark.parametrize(
    "ews",
    [
        # Outlook's "every weekday" is weekly; a weekly pattern naming Weekday is not ours.
        EwsRecurrence(pattern=WeeklyPattern(interval=1, weekdays=[9]), start=date(2026, 1, 5)),
        # A task that regenerates after completion has no equivalent in the ERP.
        TaskRecurrence(
            pattern=DailyRegeneration(interval=2),
            start=date(2026, 1, 5),
        ),
    ],
    ids=["weekly on Weekday", "task regeneration"],
)
def test_r2_exchange_patterns_without_an_erp_equivalent_are_invalid(ews: Any) -> None:
    with pytest.raises(InvalidRecurrence):
        from_exchangelib(ews)
