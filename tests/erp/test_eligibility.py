"""R8: the ERP's part of a user's eligibility — allowed, not locked, inside the validity period."""

from __future__ import annotations

from datetime import date

import pytest

from engine.eligibility import eligibility
from engine.model import User

TODAY = date(2026, 11, 26)


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        (User(login="mueller", allow_sync=True), (True, "eligible")),
        (
            User(login="mueller", allow_sync=False),
            (False, 'the user\'s "allow automatic Exchange sync" flag is not set'),
        ),
        (User(login="mueller", allow_sync=True, locked=True), (False, "the login is locked")),
        (
            User(login="mueller", allow_sync=True, valid_from=date(2026, 12, 1)),
            (False, "the login is valid only from 2026-12-01"),
        ),
        (
            User(login="mueller", allow_sync=True, valid_until=date(2026, 11, 25)),
            (False, "the login expired on 2026-11-25"),
        ),
        (
            User(
                login="mueller",
                allow_sync=True,
                valid_from=TODAY,
                valid_until=TODAY,
            ),
            (True, "eligible"),
        ),
    ],
    ids=["allowed", "not allowed", "locked", "not yet valid", "expired", "valid only today"],
)
def test_r8_a_user_is_eligible_only_if_allowed_unlocked_and_valid_today(
    user: User, expected: tuple[bool, str]
) -> None:
    assert eligibility(user, TODAY) == expected


def test_r8_not_allowed_is_the_reason_before_locked() -> None:
    user = User(login="mueller", allow_sync=False, locked=True)
    assert eligibility(user, TODAY) == (
        False,
        'the user\'s "allow automatic Exchange sync" flag is not set',
    )
