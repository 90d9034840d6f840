"""R8, R9: who is synchronised, through which mailbox — in the rules and in what the engine does.

The ERP's part: the login (allowed, not locked, valid today) and the mailbox (stored on the user,
or login name @ configured mail domain; never a made-up one; not malformed; not a shared
mailbox). The engine acts only in the mailbox these rules name, and a user it does not sync
carries the reason in its status.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from adapters.erp import migrations
from adapters.erp.store import ErpStore
from engine import reasons
from engine.eligibility import MailboxIdentity, eligibility, mailbox_address, sync_scope
from engine.model import ItemKind, User
from service.cli import main
from tests.erp.conftest import ErpDatabase
from tests.harness import Harness, mailbox_store_exchange

TODAY = date(2026, 11, 26)
STORED = MailboxIdentity(use_exchange_mailboxes=True)


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
            User(login="mueller", allow_sync=True, valid_from=TODAY, valid_until=TODAY),
            (True, "eligible"),
        ),
    ],
    ids=["allowed", "not allowed", "locked", "not yet valid", "expired", "valid only today"],
)
def test_r8_a_login_is_eligible_only_if_allowed_unlocked_and_valid_today(
    user: User, expected: tuple[bool, str]
) -> None:
    assert eligibility(user, TODAY) == expected


def test_r8_not_allowed_is_the_reason_before_locked() -> None:
    user = User(login="mueller", allow_sync=False, locked=True)
    assert eligibility(user, TODAY) == (
        False,
        'the user\'s "allow automatic Exchange sync" flag is not set',
    )


@pytest.mark.parametrize(
    ("fields", "identity", "why"),
    [
        ({}, STORED, "has no Exchange mailbox, and no mail domain is configured"),
        ({"mailbox": "  "}, STORED, "has no Exchange mailbox"),
        (
            {"mailbox": "m.mueller@firma.de"},
            MailboxIdentity(use_exchange_mailboxes=False),
            '"use Exchange mailboxes" is off and no mail domain is configured',
        ),
        ({"mailbox": "mueller"}, STORED, "'mueller' is not a valid address"),
        ({"mailbox": "mueller@@firma.de"}, STORED, "is not a valid address"),
        ({"mailbox": "müller firma.de"}, STORED, "is not a valid address"),
        (
            {"mailbox": "team@firma.de", "mailbox_shared": True},
            STORED,
            "team@firma.de is a shared mailbox, not the user's own",
        ),
    ],
    ids=["none", "blank", "login names, no domain", "no @", "two @", "space", "shared"],
)
def test_r8_a_user_without_a_mailbox_of_its_own_is_not_eligible(
    fields: dict[str, Any], identity: MailboxIdentity, why: str
) -> None:
    scope = sync_scope(User(login="mueller", allow_sync=True, **fields), TODAY, identity)

    assert (scope.eligible, scope.mailbox) == (False, None)
    assert why in scope.reason


def test_r8_a_shared_stored_mailbox_does_not_matter_when_login_names_are_used() -> None:
    user = User(login="mueller", mailbox="team@firma.de", mailbox_shared=True, allow_sync=True)

    scope = sync_scope(user, TODAY, MailboxIdentity(False, "firma.de"))

    assert (scope.eligible, scope.mailbox, scope.reason) == (True, "mueller@firma.de", "eligible")


def test_r8_the_reason_says_which_mailbox_is_malformed() -> None:
    user = User(login="mueller", mailbox="mueller", allow_sync=True)

    scope = sync_scope(user, TODAY, MailboxIdentity(True, "firma.de"))

    assert scope.reason.startswith("the Exchange mailbox 'mueller' is not a valid address: ")


def test_r8_a_malformed_login_name_mailbox_is_not_eligible() -> None:
    user = User(login="Hans Müller", allow_sync=True)

    scope = sync_scope(user, TODAY, MailboxIdentity(False, "firma.de"))

    assert not scope.eligible and "login-name mailbox 'hans müller@firma.de'" in scope.reason


@pytest.mark.parametrize(
    ("identity", "mailbox"),
    [
        (MailboxIdentity(True, "firma.de"), "m.mueller@firma.de"),
        (MailboxIdentity(False, "firma.de"), "mueller@firma.de"),
        (MailboxIdentity(False, "@firma.intern"), "mueller@firma.intern"),
    ],
    ids=["stored", "login name", "internal domain"],
)
def test_r9_the_mailbox_is_the_stored_one_or_login_at_the_mail_domain(
    identity: MailboxIdentity, mailbox: str
) -> None:
    user = User(login="Mueller", mailbox="M.Mueller@firma.de", allow_sync=True)

    assert sync_scope(user, TODAY, identity) == sync_scope(user, TODAY, identity)
    assert sync_scope(user, TODAY, identity).mailbox == mailbox
    assert mailbox_address(
        user,
        use_exchange_mailboxes=identity.use_exchange_mailboxes,
        mail_domain=identity.mail_domain,
    ) == (mailbox)


def test_r9_without_a_stored_mailbox_the_default_is_the_login_at_the_configured_domain() -> None:
    user = User(login="mueller", allow_sync=True)

    assert sync_scope(user, TODAY, MailboxIdentity(True, "firma.de")).mailbox == "mueller@firma.de"
    assert sync_scope(user, TODAY, MailboxIdentity(True, None)).mailbox is None


# ---- what the engine does with it ---------------------------------------------------------


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    # Mailboxes a made-up default could hit: the simulator has them, the ERP names none of them.
    exchange = mailbox_store_exchange(
        ("mueller@example.com", "mueller@firma.de", "m.mueller@firma.de", "team@firma.de")
    )
    world = Harness(tmp_path, exchange=exchange)
    yield world
    world.shutdown()


def user_status(world: Harness, login: str) -> tuple[bool, str]:
    assert world.engine is not None
    table = world.projector.users
    with world.projector.db.connect() as conn:
        row = conn.execute(sa.select(table).where(table.c.user == login)).mappings().one()
    return bool(row["eligible"]), str(row["reason"])


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({}, "the user has no Exchange mailbox"),
        ({"mailbox": "mueller(at)firma.de"}, "is not a valid address"),
        ({"mailbox": "team@firma.de", "mailbox_shared": True}, "is a shared mailbox"),
    ],
    ids=["no mailbox", "malformed", "shared"],
)
def test_r8_the_engine_syncs_no_user_without_a_mailbox_of_its_own_and_says_why(
    harness: Harness, fields: dict[str, Any], why: str
) -> None:
    harness.erp.save_user(User(login="mueller", allow_sync=True, **fields))
    harness.sync()
    harness.erp_appointment(subject="Kickoff")
    harness.sync()

    for mailbox in ("mueller@example.com", "mueller@firma.de", "team@firma.de"):
        assert list(harness.exchange.items(mailbox, ItemKind.APPOINTMENT)) == []
    eligible, reason = user_status(harness, "mueller")
    assert not eligible and why in reason
    entry = harness.log()[-1]
    assert entry["reason"] == reasons.USER_NOT_ELIGIBLE and why in entry["sentence"]


@pytest.mark.parametrize(
    ("identity", "mailbox"),
    [
        (MailboxIdentity(use_exchange_mailboxes=True), "m.mueller@firma.de"),
        (MailboxIdentity(use_exchange_mailboxes=False, mail_domain="firma.de"), "mueller@firma.de"),
    ],
    ids=["use Exchange mailboxes", "login name at the mail domain"],
)
def test_r9_the_engine_acts_in_the_mailbox_the_option_names(
    harness: Harness, identity: MailboxIdentity, mailbox: str
) -> None:
    assert harness.engine is not None
    harness.engine.identity = identity
    harness.erp.save_user(User(login="mueller", mailbox="m.mueller@firma.de", allow_sync=True))
    harness.sync()
    harness.erp_appointment(subject="Kickoff")
    harness.sync()

    written = {
        box: [i.content.subject for i in harness.exchange.items(box, ItemKind.APPOINTMENT)]
        for box in ("mueller@example.com", "mueller@firma.de", "m.mueller@firma.de")
    }
    assert written == {box: ["Kickoff"] if box == mailbox else [] for box in written}
    assert user_status(harness, "mueller") == (True, "eligible")


# ---- the ERP store and its command line ---------------------------------------------------


def test_r8_einklang_erp_users_shows_each_users_mailbox_and_reason(erp_db: ErpDatabase) -> None:
    base = ["erp", "--url", erp_db.url, *(["--schema", erp_db.schema] if erp_db.schema else [])]

    def run(*args: str) -> str:
        result = CliRunner().invoke(main, [*base, *args])
        assert result.exit_code == 0, result.output
        return result.output

    run("init")
    run("add-user", "mueller", "--mailbox", "m.mueller@firma.de")
    run("add-user", "schmidt")
    run("add-user", "team", "--mailbox", "team@firma.de", "--shared-mailbox")
    run("add-user", "weber", "--mailbox", "weber@firma.de", "--locked")

    listed = {line.split()[0]: line for line in run("users", "--today", "2026-11-26").splitlines()}
    assert "m.mueller@firma.de" in listed["mueller"] and " yes " in listed["mueller"]
    assert " no " in listed["schmidt"] and "has no Exchange mailbox" in listed["schmidt"]
    assert "is a shared mailbox" in listed["team"]
    assert "the login is locked" in listed["weber"]

    by_login = run("users", "--today", "2026-11-26", "--use-login-names", "--mail-domain", "f.de")
    assert "schmidt@f.de" in by_login and "m.mueller" not in by_login


def test_r8_an_erp_store_of_schema_version_2_gains_the_shared_mailbox_mark(
    erp_db: ErpDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ErpStore(erp_db.url, schema=erp_db.schema) as store:
        monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:2])
        assert store.init() == 2
        with store.engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE users DROP COLUMN exchange_mailbox_shared")
            conn.exec_driver_sql("INSERT INTO users (login) VALUES ('mueller')")
        monkeypatch.undo()

        assert store.init() == migrations.MIGRATIONS[-1].version
        assert [(u.login, u.mailbox_shared) for u in store.users()] == [("mueller", False)]
        before = store.feed_position()
        with store.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE users SET exchange_mailbox_shared = TRUE")
        [entry] = store.read_feed(before)
        assert entry.item_kind == "user"
        assert [u.mailbox_shared for u in store.users()] == [True]


def test_r8_a_user_row_another_program_stored_past_the_limits_says_so_in_its_reason(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'erp.sqlite3'}"
    with ErpStore(url) as store:
        store.init()
        with store.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA ignore_check_constraints = ON")
            conn.exec_driver_sql(
                "INSERT INTO users (login, exchange_mailbox, allow_exchange_sync) "
                f"VALUES ('mueller', '{'m' * 400}@firma.de', 1)"
            )
            conn.commit()
        [(user, scope)] = store.users_with_scope(TODAY, STORED)
    assert user.login == "mueller"

    assert not scope.eligible
    assert scope.reason.startswith(
        "the ERP's row of this user cannot be read: exchange_mailbox is 409 characters long"
    )
