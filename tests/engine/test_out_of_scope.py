"""Items seen while their user is not synchronised wait out of scope (R8, R17): once the user is
synchronised again they are transferred — also those created meanwhile — and for a user never
set up, the setup pass finds them pre-existing (R5)."""

from __future__ import annotations

from engine import reasons
from engine.model import User
from engine.state import Status
from tests.harness import Harness

MAILBOX = "mueller@example.com"


def test_r17_an_item_created_while_the_mailbox_could_not_be_reached_arrives_once_it_can(
    fresh: Harness,
) -> None:
    fresh.user("mueller")
    fresh.sync()
    fresh.exchange.unreachable[MAILBOX] = "ErrorImpersonateUserDenied"
    fresh.restart()  # the engine finds the mailbox denied: the user is out of scope
    row = fresh.erp_appointment(subject="Made while denied")
    fresh.sync()
    assert fresh.exchange_items() == []
    assert fresh.state(fresh.erp.stream_id_of(row)).status is Status.OUT_OF_SCOPE

    del fresh.exchange.unreachable[MAILBOX]  # the administrator grants the rights
    fresh.user("mueller")  # and saves the user, changing nothing: re-checked at once (R11)
    fresh.sync()

    assert fresh.counterpart_in_exchange(row).content.subject == "Made while denied"
    assert reasons.CREATED_IN_ERP in fresh.reasons()
    fresh.verify()


def test_r17_an_item_created_while_the_user_was_switched_off_arrives_when_switched_on(
    fresh: Harness,
) -> None:
    fresh.user("mueller")
    fresh.sync()
    fresh.erp.save_user(User(login="mueller", mailbox=MAILBOX, allow_sync=False))
    fresh.sync()
    row = fresh.erp_appointment(subject="Made while switched off")
    fresh.sync()
    assert fresh.exchange_items() == []
    fresh.erp.save_user(User(login="mueller", mailbox=MAILBOX, allow_sync=True))
    fresh.sync()
    assert fresh.counterpart_in_exchange(row).content.subject == "Made while switched off"


def test_r5_an_item_seen_before_the_user_was_ever_set_up_stays_preexisting(
    fresh: Harness,
) -> None:
    fresh.erp.save_user(User(login="mueller", mailbox=MAILBOX, allow_sync=False))
    fresh.sync()
    row = fresh.erp_appointment(subject="Before setup")
    fresh.sync()
    assert fresh.state(fresh.erp.stream_id_of(row)).status is Status.OUT_OF_SCOPE
    fresh.erp.save_user(User(login="mueller", mailbox=MAILBOX, allow_sync=True))
    fresh.sync()
    assert fresh.exchange_items() == []
    assert fresh.state(fresh.erp.stream_id_of(row)).status is Status.PREEXISTING
    assert fresh.reasons()[-1] == reasons.PREEXISTING
