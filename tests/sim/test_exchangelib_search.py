"""Searching a folder through exchangelib: AQS query strings and restrictions on categories."""

from __future__ import annotations

import datetime as dt

import pytest
from exchangelib import Account
from exchangelib.errors import ErrorUnsupportedQueryFilter

from sim.model import Body, CalendarFields
from sim.store import MailboxStore
from tests.sim.support import ALICE

START = dt.datetime(2026, 3, 10, 9, tzinfo=dt.UTC)


@pytest.fixture
def items(store: MailboxStore) -> None:
    for subject, categories, location, body in (
        ("Budget review", ("Finance",), "Room 1", "numbers for Q2"),
        ("Lunch with the budget team", (), "Canteen", ""),
        ("Planning", ("Finance", "ERP"), None, "budgeting next year"),
        ("Sprint review", (), "Room 2", ""),
    ):
        store.create_calendar_item(
            ALICE,
            CalendarFields(
                subject=subject,
                start=START,
                end=START + dt.timedelta(hours=1),
                categories=categories,
                location=location,
                body=Body(body) if body else None,
            ),
        )


@pytest.mark.parametrize(
    ("query", "subjects"),
    [
        ("subject:budget", {"Budget review", "Lunch with the budget team"}),
        ("budget", {"Budget review", "Lunch with the budget team", "Planning"}),  # any property
        ('subject:"budget team"', {"Lunch with the budget team"}),
        ("subject:budget -lunch", {"Budget review"}),
        ("subject:budget AND NOT subject:lunch", {"Budget review"}),
        ("subject:planning OR location:canteen", {"Planning", "Lunch with the budget team"}),
        ("category:finance", {"Budget review", "Planning"}),
        ("subject:REV", {"Budget review", "Sprint review"}),  # word prefixes, any case
        ("subject:view", set()),  # not inside a word
    ],
)
def test_a_query_string_finds_what_aqs_would(
    alice: Account, items: None, query: str, subjects: set[str]
) -> None:
    assert {item.subject for item in alice.calendar.filter(query)} == subjects


@pytest.mark.parametrize(
    "query", ["received>=2026-01-01", "from:bob", "(budget OR lunch) review", "subject:"]
)
def test_a_query_string_beyond_the_simulators_aqs_is_refused(
    alice: Account, items: None, query: str
) -> None:
    with pytest.raises(ErrorUnsupportedQueryFilter):
        list(alice.calendar.filter(query))


def test_categories_and_strings_compare_case_insensitively(alice: Account, items: None) -> None:
    assert {i.subject for i in alice.calendar.filter(categories__contains=["FINANCE"])} == {
        "Budget review",
        "Planning",
    }
    assert [i.subject for i in alice.calendar.filter(subject="sprint REVIEW")] == ["Sprint review"]
