"""The editing API refuses what no ERP screen would save: items of a user the ERP does not have,
and a changed or deleted occurrence that is not an occurrence of its series (R2) — each with a
typed error, and nothing written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

import pytest
from dateutil.rrule import rrulestr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.erp.editing import ErpEditor, NotAnOccurrence, UnknownUser
from adapters.erp.store import ErpStore
from tests.erp.samples import BERLIN, appointment_fields, berlin, weekly_series


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        ("appointment", appointment_fields(user="nobody")),
        ("task", {"user_login": "nobody", "subject": "Call back"}),
        ("follow-up", {"user_login": "nobody", "subject": "Ask again"}),
    ],
)
def test_an_item_of_a_user_the_erp_does_not_have_is_refused(
    store: ErpStore, erp: ErpEditor, kind: str, fields: dict[str, Any]
) -> None:
    before = store.feed_position()

    with pytest.raises(UnknownUser, match="there is no ERP user 'nobody': add the user first"):
        erp.add(kind, fields)

    assert store.feed_position() == before


def test_an_item_cannot_be_given_to_a_user_the_erp_does_not_have(
    store: ErpStore, erp: ErpEditor
) -> None:
    task = erp.add("task", {"user_login": "mueller", "subject": "Call back"})
    before = store.feed_position()

    with pytest.raises(UnknownUser):
        erp.edit("task", task, {"user_login": "nobody"})

    assert store.feed_position() == before


def test_a_login_is_found_whatever_its_case(erp: ErpEditor) -> None:
    assert erp.add("task", {"user_login": "MUELLER", "subject": "Call back"}) > 0


@pytest.mark.parametrize(
    ("original_start", "why"),
    [
        (berlin(2026, 11, 10, 9), "2026-11-10T09:00+01:00 is not an occurrence"),  # a Tuesday
        (berlin(2026, 11, 9, 10), "the nearest are 2026-11-09T09:00+01:00 and 2026-11-16"),
        (berlin(2026, 10, 26, 9), "the nearest are 2026-11-02T09:00+01:00"),  # before the first
        (berlin(2026, 11, 30, 9), "the nearest are 2026-11-23T09:00+01:00"),  # after COUNT=4
    ],
    ids=["other day", "other time", "before the series", "after its end"],
)
def test_an_occurrence_off_the_pattern_is_refused(
    store: ErpStore, erp: ErpEditor, original_start: datetime, why: str
) -> None:
    series = erp.add("appointment", weekly_series(rrule="FREQ=WEEKLY;BYDAY=MO;COUNT=4"))
    before = store.feed_position()

    with pytest.raises(NotAnOccurrence, match=why.replace("+", r"\+")):
        erp.set_exception(series, original_start, {"subject": "Moved"})
    with pytest.raises(NotAnOccurrence):
        erp.add("exception", {"appointment_id": series, "original_start": original_start})

    assert store.feed_position() == before


def test_an_exception_cannot_be_moved_off_the_pattern(store: ErpStore, erp: ErpEditor) -> None:
    series = erp.add("appointment", weekly_series())
    exception = erp.set_exception(series, berlin(2026, 11, 9, 9), {"deleted": True})

    with pytest.raises(NotAnOccurrence):
        erp.edit("exception", exception, {"original_start": "2026-11-10T09:00"})
    erp.edit("exception", exception, {"original_start": "2026-11-16T09:00"})


def test_a_single_appointment_has_no_occurrences_to_change(erp: ErpEditor) -> None:
    single = erp.add("appointment", appointment_fields())

    with pytest.raises(NotAnOccurrence, match="it is not a series"):
        erp.set_exception(single, berlin(2026, 11, 2, 9), {"deleted": True})


RULES = st.one_of(
    st.builds(
        lambda days, interval: f"FREQ=WEEKLY;INTERVAL={interval};BYDAY={','.join(days)}",
        st.lists(
            st.sampled_from(["MO", "TU", "WE", "TH", "FR", "SA", "SU"]),
            min_size=1,
            max_size=3,
            unique=True,
        ),
        st.integers(1, 3),
    ),
    st.builds(lambda interval: f"FREQ=DAILY;INTERVAL={interval}", st.integers(1, 10)),
    st.builds(lambda day: f"FREQ=MONTHLY;BYMONTHDAY={day}", st.integers(1, 28)),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rule=RULES,
    count=st.none() | st.integers(1, 12),
    start_day=st.integers(0, 365),
    pick=st.integers(0, 40),
    shift=st.sampled_from(
        [timedelta(0), timedelta(hours=1), timedelta(days=1), -timedelta(minutes=30)]
    ),
)
def test_an_occurrence_is_accepted_exactly_when_dateutil_expands_the_rule_to_it(
    erp: ErpEditor, rule: str, count: int | None, start_day: int, pick: int, shift: timedelta
) -> None:
    """python-dateutil is the oracle (DTSTART local, across the DST changes of Berlin)."""
    full_rule = rule if count is None else f"{rule};COUNT={count}"
    start = datetime(2026, 1, 5, 9, 0) + timedelta(days=start_day)  # local wall clock
    expanded = rrulestr(full_rule, dtstart=start)
    occurrences = [
        local.replace(tzinfo=BERLIN).astimezone(UTC) for local in islice(expanded, pick + 1)
    ]
    candidate = occurrences[min(pick, len(occurrences) - 1)] + shift
    on_pattern = {
        local.replace(tzinfo=BERLIN).astimezone(UTC)
        for local in expanded.between(
            candidate.astimezone(BERLIN).replace(tzinfo=None) - timedelta(days=2),
            candidate.astimezone(BERLIN).replace(tzinfo=None) + timedelta(days=2),
            inc=True,
        )
    }
    series = erp.add(
        "appointment",
        appointment_fields(
            subject="Series",
            starts_at=start.replace(tzinfo=BERLIN),
            ends_at=start.replace(tzinfo=BERLIN) + timedelta(hours=1),
            rrule=full_rule,
        ),
    )

    if candidate in on_pattern:
        erp.set_exception(series, candidate, {"subject": "Moved"})
    else:
        with pytest.raises(NotAnOccurrence):
            erp.set_exception(series, candidate, {"subject": "Moved"})
