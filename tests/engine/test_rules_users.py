"""The rules about users, switches and what the engine tells (R8–R13, R18), through the runtime,
as test_rules.py: one test (or a few) per rule, acting as a person on one side."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from engine import reasons
from engine.eligibility import eligibility, mailbox_address
from engine.model import (
    ItemKind,
    User,
)
from engine.options import SyncOptions
from projections.queries import AuditLog
from tests.harness import Harness

# ---- R8, R9: who is synchronised, through which mailbox ---------------------------------------


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"allow_sync": False}, "allow automatic Exchange sync"),
        ({"locked": True}, "locked"),
        ({"valid_from": date(2027, 1, 1)}, "valid only from 2027-01-01"),
        ({"valid_until": date(2026, 10, 31)}, "expired on 2026-10-31"),
    ],
)
def test_r8_only_eligible_users_are_synchronised(
    fresh: Harness, fields: dict[str, object], why: str
) -> None:
    fresh.erp.save_user(
        User(login="mueller", mailbox="mueller@example.com", **{"allow_sync": True, **fields})
    )
    fresh.sync()
    fresh.erp_appointment()
    fresh.sync()
    assert fresh.exchange_items() == []
    entry = fresh.log()[-1]
    assert entry["reason"] == reasons.USER_NOT_ELIGIBLE and why in entry["sentence"]


def test_r8_a_login_that_becomes_valid_is_synchronised_from_that_day(fresh: Harness) -> None:
    fresh.user("mueller", valid_from=date(2026, 11, 3))  # the clock stands at 2 November
    fresh.sync()
    fresh.erp_appointment(subject="Before the login is valid")
    fresh.sync()
    assert fresh.exchange_items() == []
    fresh.clock.advance(days=1)
    fresh.sync()  # no user row was saved: the date alone makes the login valid
    row = fresh.erp_appointment(subject="From the first valid day")
    fresh.sync()
    assert [i.content.subject for i in fresh.exchange_items()] == ["From the first valid day"]
    assert fresh.counterpart_in_exchange(row)


def test_r8_a_user_whose_mailbox_cannot_be_reached_is_not_synchronised(fresh: Harness) -> None:
    fresh.exchange.unreachable["mueller@example.com"] = "ErrorNonExistentMailbox"
    fresh.user("mueller")
    fresh.sync()
    fresh.erp_appointment()
    fresh.sync()
    assert fresh.reasons() == [reasons.USER_NOT_ELIGIBLE]
    assert "the mailbox cannot be reached: ErrorNonExistentMailbox" in fresh.log()[0]["sentence"]


def test_r8_a_mailbox_that_becomes_reachable_is_synchronised_without_any_erp_change(
    fresh: Harness,
) -> None:
    fresh.exchange.unreachable["mueller@example.com"] = "ErrorImpersonateUserDenied"
    fresh.user("mueller")
    fresh.sync()
    fresh.erp_appointment(subject="Waiting for rights")
    fresh.sync()
    assert fresh.exchange_items() == []
    del fresh.exchange.unreachable["mueller@example.com"]  # the admin grants impersonation
    fresh.clock.advance(minutes=16)
    fresh.sync()
    row = fresh.erp_appointment(subject="After the rights")
    fresh.sync()
    assert [i.content.subject for i in fresh.exchange_items()] == ["After the rights"]
    assert fresh.counterpart_in_exchange(row)


def test_r8_eligibility_rules() -> None:
    user = User(
        login="mueller",
        allow_sync=True,
        valid_from=date(2026, 1, 1),
        valid_until=date(2026, 12, 31),
    )
    assert eligibility(user, date(2026, 6, 1)) == (True, "eligible")
    assert eligibility(user, date(2027, 1, 1))[0] is False


def test_r9_mailbox_is_the_stored_one_or_login_at_the_mail_domain() -> None:
    user = User(login="Mueller", mailbox="m.mueller@firma.de")
    assert (
        mailbox_address(user, use_exchange_mailboxes=True, mail_domain="firma.de")
        == "m.mueller@firma.de"
    )
    assert (
        mailbox_address(user, use_exchange_mailboxes=False, mail_domain="firma.de")
        == "mueller@firma.de"
    )


# ---- R10: switches ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        (SyncOptions(export_enabled=False), reasons.EXPORT_OFF),
        (SyncOptions(sync_appointments=False), reasons.KIND_OFF),
    ],
)
def test_r10_switches_stop_the_export(fresh: Harness, options: SyncOptions, reason: str) -> None:
    fresh.restart(options)
    fresh.user("mueller")
    fresh.sync()
    fresh.erp_appointment()
    fresh.sync()
    assert fresh.exchange_items() == []
    assert fresh.reasons() == [reason]


def test_r10_import_switch_stops_the_import_but_not_the_export(fresh: Harness) -> None:
    fresh.restart(SyncOptions(import_enabled=False))
    fresh.user("mueller")
    fresh.sync()
    fresh.outlook_appointment()
    row = fresh.erp_appointment()
    fresh.sync()
    assert [r.id for r in fresh.erp.rows.values()] == [int(row)]
    assert reasons.IMPORT_OFF in fresh.reasons() and reasons.CREATED_IN_ERP in fresh.reasons()


def test_r10_tasks_switch_keeps_appointments_syncing(fresh: Harness) -> None:
    fresh.restart(SyncOptions(sync_tasks=False))
    fresh.user("mueller")
    fresh.sync()
    fresh.erp_task()
    fresh.erp_appointment()
    fresh.sync()
    assert len(fresh.exchange_items()) == 1 and fresh.exchange_items(kind=ItemKind.TASK) == []


def test_r10_master_switch_off_syncs_nothing(fresh: Harness) -> None:
    fresh.restart(SyncOptions(automatic_sync=False))
    fresh.user("mueller")
    fresh.sync()
    fresh.erp_appointment()
    fresh.sync()
    assert fresh.exchange_items() == []
    assert fresh.reasons() == [reasons.SYNC_OFF]
    assert "automatic synchronisation is switched off" in fresh.log()[0]["sentence"]


# ---- R11, R12: users live, status ---------------------------------------------------------------


def test_r11_saving_a_user_takes_effect_without_a_restart(fresh: Harness) -> None:
    fresh.erp.save_user(User(login="mueller", mailbox="mueller@example.com", allow_sync=False))
    fresh.sync()
    fresh.erp.save_user(User(login="mueller", mailbox="mueller@example.com", allow_sync=True))
    fresh.sync()
    row = fresh.erp_appointment()
    fresh.sync()
    assert fresh.counterpart_in_exchange(row).content.subject == "Kickoff"
    fresh.erp.save_user(User(login="mueller", mailbox="mueller@example.com", allow_sync=False))
    fresh.sync()
    fresh.erp.edit(row, subject="Kickoff (moved)")
    fresh.sync()
    assert fresh.counterpart_in_exchange(row).content.subject == "Kickoff"
    assert fresh.reasons()[-1] == reasons.USER_NOT_ELIGIBLE


def test_r11_saving_a_user_unchanged_rechecks_a_mailbox_that_could_not_be_reached(
    fresh: Harness,
) -> None:
    fresh.exchange.unreachable["mueller@example.com"] = "ErrorImpersonateUserDenied"
    fresh.user("mueller")
    fresh.sync()
    del fresh.exchange.unreachable["mueller@example.com"]  # the administrator grants the rights
    fresh.user("mueller")  # and saves the user in the ERP, changing nothing
    fresh.sync()
    row = fresh.erp_appointment()
    fresh.sync()
    assert fresh.counterpart_in_exchange(row).content.subject == "Kickoff"


def test_r12_status_tells_per_user_whether_and_why_not(fresh: Harness) -> None:
    fresh.user("mueller")
    fresh.user("schmidt", locked=True)
    fresh.exchange.unreachable["weber@example.com"] = "ErrorImpersonateUserDenied"
    fresh.user("weber")
    fresh.sync()
    assert fresh.engine is not None
    status = {
        s.user.login: (s.eligible, s.reason, s.mailbox_reachable)
        for s in fresh.engine.user_scopes()
    }
    assert status == {
        "mueller": (True, "eligible", True),
        "schmidt": (False, "the login is locked", True),
        "weber": (False, "the mailbox cannot be reached: ErrorImpersonateUserDenied", False),
    }
    # What a status query reads: the user_status projection, kept from the log.
    projector = fresh.projector
    with projector.db.connect() as conn:
        rows = {
            r["user"]: (r["eligible"], r["reason"])
            for r in conn.execute(sa.select(projector.users)).mappings()
        }
    assert rows == {login: (eligible, reason) for login, (eligible, reason, _) in status.items()}


# ---- R13, R18: every decision logged with a code and a sentence --------------------------------


def test_r13_r18_every_decision_has_a_reason_code_and_a_sentence(world: Harness) -> None:
    row = world.erp_appointment()
    world.sync()
    world.erp.edit(row, subject="Kickoff 2")
    world.sync()
    entries = world.log()
    assert [e["reason"] for e in entries] == [
        reasons.CREATED_IN_ERP,
        reasons.ECHO,
        reasons.CHANGED_IN_ERP,
        reasons.ECHO,
    ]
    assert all(e["sentence"] and e["options_hash"] for e in entries)
    assert (
        entries[2]["sentence"]
        == "exported to Exchange: subject changed in the ERP (appointment 'Kickoff 2' of mueller)"
    )
    assert entries[2]["outcome"] == "done" and entries[2]["changed_fields"] == "subject"


def test_r18_the_audit_log_answers_for_an_item_a_user_a_time_range_and_a_reason(
    world: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    assert world.engine is not None
    world.clock.advance(minutes=1)
    started = world.clock.now  # the engine's clock, which the transfer log goes by
    world.user("schmidt")
    world.sync()
    row = world.erp_appointment(subject="Budget")
    world.outlook_appointment("schmidt", subject="Visit")
    with caplog.at_level("DEBUG", logger="einklang.decisions"):  # extended diagnostics (R13)
        world.sync()
    world.erp.edit(row, subject="Budget 2027")
    world.sync()
    audit = AuditLog(world.projector)
    exchange_id = world.counterpart_in_exchange(row).id
    by_erp_id = audit.history(item=row)
    assert [t.reason for t in by_erp_id] == [
        reasons.CREATED_IN_ERP,
        reasons.ECHO,
        reasons.CHANGED_IN_ERP,
        reasons.ECHO,
    ]
    assert (
        audit.history(item=exchange_id) == by_erp_id == audit.history(item=by_erp_id[0].stream_id)
    )
    assert {t.user for t in audit.history(user="schmidt")} == {"schmidt"}
    assert [
        t.subject for t in audit.history(user="schmidt", reason=reasons.CREATED_IN_EXCHANGE)
    ] == ["Visit"]
    assert len(audit.history(since=started)) == len(audit.history()) > 0
    assert audit.history(until=started) == []
    assert "exported to Exchange: subject changed in the ERP" in audit.why(row)
    assert any("CREATED_IN_ERP" in r.getMessage() for r in caplog.records)
