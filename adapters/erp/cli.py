"""`einklang erp`: set up an ERP store and change its data by hand, to watch it sync.

Every change made here is an ordinary ERP change (origin `erp`), exactly as if the ERP's own
screens had made it. Every user error — a bad argument, option or file, a value that does not fit
its column, a database that cannot be reached — ends the command with one line on stderr that
names the field and the fix, and exit status 2.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa

from adapters.erp.database import writing
from adapters.erp.editing import TABLES, EditError, ErpEditor, known_zone, parse_time, shown
from adapters.erp.fixtures import FixtureLoader
from adapters.erp.schema import appointments, tasks
from adapters.erp.snapshots import load_items
from adapters.erp.store import ErpStore
from engine.eligibility import MailboxIdentity
from engine.errors import SideError
from engine.model import Appointment, ItemKind, Task

_KINDS = click.Choice(sorted(TABLES))
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")  # how Python decodes argument bytes that are no UTF-8


class UserError(click.ClickException):
    """One line on stderr, exit status 2."""

    exit_code = 2

    def format_message(self) -> str:
        return " ".join(self.message.split())


class OneLineErrors(click.Group):
    """Usage errors (a missing argument, a bad option value) as one line too, not usage text."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        _refuse_undecodable(args)
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            raise UserError(exc.format_message()) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise UserError(exc.format_message()) from None


def _refuse_undecodable(args: Sequence[str]) -> None:
    """Arguments are UTF-8; other bytes would reach the database as garbage (or crash it)."""
    for index, arg in enumerate(args):
        bad = _ESCAPED_BYTE.search(arg)
        if bad is None:
            continue
        before = args[index - 1] if index else ""
        what = f"the value of {before}" if before.startswith("-") else f"argument {shown(arg)}"
        raise UserError(
            f"{what} is not UTF-8 text (byte 0x{ord(bad.group()) - 0xDC00:02X}): "
            "give it in UTF-8 (check the terminal's or script's encoding)"
        )


@dataclass(frozen=True)
class ErpTarget:
    url: str
    schema: str | None


@click.group(cls=OneLineErrors)
@click.option(
    "--url",
    envvar="EINKLANG_ERP_URL",
    default="sqlite:///erp.sqlite3",
    show_default=True,
    help="ERP database (SQLite file or postgresql://...). Env: EINKLANG_ERP_URL.",
)
@click.option(
    "--schema",
    envvar="EINKLANG_ERP_SCHEMA",
    default=None,
    help="PostgreSQL schema of the ERP tables. Env: EINKLANG_ERP_SCHEMA.",
)
@click.pass_context
def erp(ctx: click.Context, url: str, schema: str | None) -> None:
    """The ERP store: create it, look into it, change its data."""
    ctx.obj = ErpTarget(url, schema)


@contextmanager
def _store() -> Iterator[ErpStore]:
    """The store the options name; its database errors end the command with one line."""
    target = click.get_current_context().find_object(ErpTarget)
    assert target is not None, "ERP commands run inside the erp group"
    _refuse_undecodable([target.url, target.schema or ""])
    try:
        store = ErpStore(target.url, schema=target.schema)
    except (ValueError, NotImplementedError, sa.exc.ArgumentError) as exc:
        raise UserError(_redacted(str(exc), target.url)) from None
    try:
        yield store
    except EditError as exc:
        raise UserError(str(exc)) from None
    except SideError as exc:
        raise _database_error(str(exc), store, target.url) from None
    except sa.exc.DBAPIError as exc:
        what = "unavailable" if isinstance(exc, sa.exc.OperationalError) else "error"
        cause = str(exc.orig).strip() or type(exc.orig).__name__
        raise _database_error(f"ERP database {what}: {cause}", store, target.url) from None
    finally:
        store.close()


def _database_error(message: str, store: ErpStore, url: str) -> UserError:
    first_line = message.strip().splitlines()[0]  # drivers add hints on further lines
    return UserError(_redacted(f"{first_line} (at {store.display_url})", url))


def _redacted(text: str, url: str) -> str:
    """`text` without the URL's password, should a driver message have quoted it."""
    try:
        password = sa.engine.make_url(url).password
    except sa.exc.ArgumentError:
        return text  # not a URL, so no password that a message could quote
    return text.replace(str(password), "***") if password else text


def _editor(store: ErpStore) -> ErpEditor:
    """A checked editor: values the engine would park are refused here, at once."""
    return ErpEditor(store.engine, checked=True)


def _known_zone(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        known_zone(value)
    except EditError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None
    return value


def _fields(**options: Any) -> dict[str, Any]:
    return {name: value for name, value in options.items() if value is not None}


@erp.command()
def init() -> None:
    """Create the ERP tables, change feed and capture triggers (or upgrade them)."""
    with _store() as store:
        version = store.init()
        click.echo(f"ERP store at {store.display_url} is at schema version {version}")


@erp.command()
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), default=None, help="As of this day.")
@click.option(
    "--mail-domain",
    envvar="EINKLANG_MAIL_DOMAIN",
    help="R9: login-name mailboxes are LOGIN@DOMAIN. Env: EINKLANG_MAIL_DOMAIN.",
)
@click.option(
    "--use-exchange-mailboxes/--use-login-names",
    default=True,
    show_default=True,
    help="R9: act in the mailbox stored on the user, or in login name @ mail domain.",
)
def users(today: Any, mail_domain: str | None, use_exchange_mailboxes: bool) -> None:
    """List the ERP users, the mailbox each is synced with, and whether and why (R8, R9)."""
    day = today.date() if today is not None else date.today()
    identity = MailboxIdentity(use_exchange_mailboxes, mail_domain)
    with _store() as store:
        for user, scope in store.users_with_scope(day, identity):
            mailbox = scope.mailbox or user.mailbox or "-"
            verdict = "yes" if scope.eligible else "no "
            click.echo(f"{user.login:<20} {mailbox:<32} {verdict:<4}{scope.reason}")


@erp.command("add-user")
@click.argument("login")
@click.option("--short-name")
@click.option("--mailbox", help="The user's Exchange mailbox (SMTP address).")
@click.option("--shared-mailbox", is_flag=True, help="The mailbox is a shared (team) mailbox.")
@click.option("--outlook-account")
@click.option("--allow-sync/--no-allow-sync", default=True, show_default=True)
@click.option("--locked", is_flag=True)
@click.option("--valid-from", help="YYYY-MM-DD")
@click.option("--valid-until", help="YYYY-MM-DD")
def add_user(
    login: str,
    short_name: str | None,
    mailbox: str | None,
    shared_mailbox: bool,
    outlook_account: str | None,
    allow_sync: bool,
    locked: bool,
    valid_from: str | None,
    valid_until: str | None,
) -> None:
    """Add an ERP user."""
    with _store() as store:
        row_id = _editor(store).add(
            "user",
            _fields(
                login=login,
                short_name=short_name,
                exchange_mailbox=mailbox,
                exchange_mailbox_shared=shared_mailbox,
                outlook_account=outlook_account,
                allow_exchange_sync=allow_sync,
                locked=locked,
                valid_from=valid_from,
                valid_until=valid_until,
            ),
        )
        click.echo(f"user {row_id} {login}")


@erp.command("add-appointment")
@click.argument("user")
@click.argument("subject")
@click.option("--start", required=True, help="ISO time; without offset it is in --time-zone.")
@click.option("--end", help="ISO time; default one hour (all-day: one day) after the start.")
@click.option("--time-zone", default="Europe/Berlin", show_default=True, callback=_known_zone)
@click.option("--all-day", is_flag=True)
@click.option("--location")
@click.option("--info", "info_text", help="The info text (Kalenderinformation).")
@click.option("--rrule", help="RFC 5545 RRULE without DTSTART, e.g. FREQ=WEEKLY;BYDAY=MO.")
@click.option("--busy-status", type=click.Choice(["free", "tentative", "busy", "out_of_office"]))
@click.option("--private", is_flag=True)
@click.option("--reminder", "reminder_minutes", type=int, help="Minutes before the start.")
@click.option("--participant", "participants", multiple=True, help="E-mail address; repeatable.")
def add_appointment(
    user: str,
    subject: str,
    start: str,
    end: str | None,
    time_zone: str,
    all_day: bool,
    participants: tuple[str, ...],
    **options: Any,
) -> None:
    """Add an appointment (a series with --rrule) for USER."""
    try:
        starts_at = parse_time(start, time_zone)
    except EditError as exc:
        raise UserError(f"--start: {exc}") from None
    try:
        ends_at = (
            parse_time(end, time_zone)
            if end is not None
            else starts_at + (timedelta(days=1) if all_day else timedelta(hours=1))
        )
    except EditError as exc:
        raise UserError(f"--end: {exc}") from None
    except OverflowError:
        raise UserError("--start: too close to the year 9999 for an end after it") from None
    with _store() as store, writing(store.engine) as conn:
        editor = _editor(store)
        row_id = editor.add_in(
            conn,
            "appointment",
            _fields(
                user_login=user,
                subject=subject,
                starts_at=starts_at,
                ends_at=ends_at,
                time_zone=time_zone,
                all_day=all_day,
                **options,
            ),
        )
        for email in participants:  # in the same transaction: a bad one leaves no appointment
            editor.add_in(conn, "participant", {"appointment_id": row_id, "email": email})
        click.echo(f"appointment {row_id}")


@erp.command("add-task")
@click.argument("user")
@click.argument("subject")
@click.option("--start", "start_date", help="YYYY-MM-DD")
@click.option("--due", "due_date", help="YYYY-MM-DD")
@click.option(
    "--status",
    type=click.Choice(["not_started", "in_progress", "completed", "waiting_on_others", "deferred"]),
)
@click.option("--priority", type=click.Choice(["low", "normal", "high"]))
@click.option("--percent", "percent_complete", type=click.IntRange(0, 100))
@click.option("--info", "info_text")
def add_task(user: str, subject: str, **options: Any) -> None:
    """Add a task for USER."""
    with _store() as store:
        row_id = _editor(store).add("task", _fields(user_login=user, subject=subject, **options))
        click.echo(f"task {row_id}")


@erp.command()
@click.argument("appointment_id", type=int)
@click.argument("original_start")
@click.option("--deleted", is_flag=True, help="Delete this occurrence.")
@click.option("--start", "starts_at", help="New start (ISO; without offset: series time zone).")
@click.option("--end", "ends_at")
@click.option("--subject")
@click.option("--location")
def exception(appointment_id: int, original_start: str, deleted: bool, **options: Any) -> None:
    """Modify or delete the occurrence of a series that starts at ORIGINAL_START (R2)."""
    with _store() as store:
        row_id = _editor(store).set_exception(
            appointment_id, original_start, _fields(deleted=deleted, **options)
        )
        click.echo(f"exception {row_id} of appointment {appointment_id}")


@erp.command()
@click.argument("kind", type=_KINDS)
@click.argument("row_id", type=int)
@click.argument("assignments", nargs=-1, required=True)
def edit(kind: str, row_id: int, assignments: tuple[str, ...]) -> None:
    """Change columns of a row: einklang erp edit appointment 3 subject="New subject"."""
    fields: dict[str, str] = {}
    for assignment in assignments:
        name, equals, value = assignment.partition("=")
        if not equals:
            raise click.BadParameter(f"{assignment!r} is not COLUMN=VALUE")
        if name.strip() in fields:
            raise click.BadParameter(f"{name.strip()} is given twice")
        fields[name.strip()] = value
    with _store() as store:
        _editor(store).edit(kind, row_id, fields)
        click.echo(f"{kind} {row_id} changed")


@erp.command()
@click.argument("kind", type=_KINDS)
@click.argument("row_id", type=int)
def delete(kind: str, row_id: int) -> None:
    """Delete a row (an appointment with its exceptions and participants)."""
    with _store() as store:
        _editor(store).delete(kind, row_id)
        click.echo(f"{kind} {row_id} deleted")


@erp.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def load(path: Path) -> None:
    """Add the users, appointments, tasks and follow-ups of a TOML or JSON fixture file.

    All or nothing, and safe to run again: records already in the store (by natural key: a
    user's login; an appointment's user, start and subject; a task's or follow-up's user and
    subject) are left as they are."""
    with _store() as store:
        click.echo(str(FixtureLoader(_editor(store), store.engine).load(path)))


@erp.command("list")
@click.option("--user", help="Only this user's items.")
def list_items(user: str | None) -> None:
    """Show appointments and tasks as the engine reads them (or why it cannot)."""
    with _store() as store, store.engine.connect() as conn:
        for kind, table in ((ItemKind.APPOINTMENT, appointments), (ItemKind.TASK, tasks)):
            query = sa.select(table.c.id).order_by(table.c.id)
            if user is not None:
                query = query.where(table.c.user_login == user)
            ids = [int(r[0]) for r in conn.execute(query)]
            for row_id, item in load_items(conn, kind, ids).items():
                head = f"{kind.value:<11} {row_id:>5} {item.user_login:<12} v{item.row_version:<3}"
                if item.error is not None:
                    click.echo(f"{head} INVALID {item.error.code}: {item.error.message}")
                else:
                    assert item.snapshot is not None
                    click.echo(f"{head} {_summary(item.snapshot)}")


def _summary(snapshot: Appointment | Task) -> str:
    if isinstance(snapshot, Task):
        due = f" due {snapshot.due}" if snapshot.due else ""
        return f"{snapshot.subject!r} {snapshot.status.value} {snapshot.percent_complete}%{due}"
    start = snapshot.start.isoformat(timespec="minutes")
    series = f" {snapshot.recurrence.pattern}" if snapshot.recurrence else ""
    exceptions = len(snapshot.modified_occurrences) + len(snapshot.deleted_occurrences)
    extra = f", {exceptions} exception(s)" if exceptions else ""
    return f"{snapshot.subject!r} {start}{series}{extra}"


@erp.command()
@click.option(
    "--after",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Feed position to start after.",
)
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True)
@click.option("--follow", is_flag=True, help="Keep printing new entries as they are committed.")
def feed(after: int, limit: int, follow: bool) -> None:
    """Print the change feed: sequence, time, origin, operation, table, row, item."""
    with _store() as store:
        position = after
        while True:
            entries = store.read_feed(position, limit)
            for e in entries:
                click.echo(
                    f"{e.seq:>7} {e.changed_at.isoformat(timespec='milliseconds')} {e.origin:<4} "
                    f"{e.operation:<6} {e.table_name}#{e.row_id} -> {e.item_kind} {e.item_id} "
                    f"({e.user_login}) v{e.row_version}"
                )
                position = e.seq
            if not follow:
                return
            if not entries:
                store.wait_for_changes(position, 30.0)
