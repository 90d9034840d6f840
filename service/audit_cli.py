"""`einklang audit`: the transfer log, filtered, as a table, JSON lines or CSV (R13, R18)."""

from __future__ import annotations

import csv
import dataclasses
import sys
from typing import Any

import click
import orjson
from rich.console import Console
from rich.table import Table

from adapters.erp.cli import OneLineErrors, UserError
from projections.queries import AuditLog, Filters, Transfer
from service.cli_support import configured_store, moment
from service.stores import open_views

COLUMNS = ("at", "user", "kind", "direction", "operation", "reason", "outcome", "subject")


def _filters(fn: Any) -> Any:
    options = [
        click.option("--user", help="the ERP login"),
        click.option("--item", help="an ERP id, an Exchange id or a sync id"),
        click.option("--kind", type=click.Choice(["appointment", "task"])),
        click.option(
            "--direction",
            type=click.Choice(["erp_to_exchange", "exchange_to_erp", "both", "none"]),
        ),
        click.option("--operation", type=click.Choice(["create", "update", "delete", "none"])),
        click.option("--outcome", type=click.Choice(["done", "failed", "pending", "none"])),
        click.option("--reason", help="a reason code, e.g. R5_PREEXISTING"),
        click.option("--since", help="from this date/time (ISO; local time without a zone)"),
        click.option("--until", help="before this date/time"),
        click.option("--text", help="text in the subject (case-insensitive)"),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _where(kw: dict[str, Any]) -> Filters:
    kw = dict(kw)
    since, until = moment(kw.pop("since"), "--since"), moment(kw.pop("until"), "--until")
    return Filters(since=since, until=until, **kw)


@click.group(cls=OneLineErrors, invoke_without_command=True)
@_filters
@click.option("--json", "as_json", is_flag=True, help="JSON lines, one object per entry")
@click.option("--csv", "as_csv", is_flag=True, help="CSV with a header row")
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True)
@click.option("--page", type=click.IntRange(1), default=1, show_default=True)
@click.pass_context
def audit(
    ctx: click.Context, /, as_json: bool, as_csv: bool, limit: int, page: int, **kw: Any
) -> None:
    """What was transferred, skipped or failed, and why — oldest first."""
    if ctx.invoked_subcommand is not None:
        return
    if as_json and as_csv:
        raise UserError("--json and --csv: choose one")
    where = _where(kw)
    with configured_store(ctx) as store:
        entries = AuditLog(open_views(store)).search(where, limit=limit, offset=(page - 1) * limit)
    if as_json:
        for entry in entries:
            sys.stdout.buffer.write(orjson.dumps(dataclasses.asdict(entry)) + b"\n")
    elif as_csv:
        _write_csv(entries)
    else:
        _table(entries, page, limit)


@audit.command()
@_filters
@click.option(
    "--by", type=click.Choice(["user", "reason", "day", "direction", "kind"]), default="user"
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def stats(ctx: click.Context, /, by: str, as_json: bool, **kw: Any) -> None:
    """Transfers and failures per user, reason or day."""
    with configured_store(ctx) as store:
        rows = AuditLog(open_views(store)).stats(_where(kw), by)
    if as_json:
        for group, transfers, failures in rows:
            line = {by: group, "transfers": transfers, "failures": failures}
            sys.stdout.buffer.write(orjson.dumps(line) + b"\n")
        return
    table = Table(by, "transfers", "failures")
    for group, transfers, failures in rows:
        table.add_row(group, str(transfers), str(failures))
    console().print(table)


def _write_csv(entries: list[Transfer]) -> None:
    names = [f.name for f in dataclasses.fields(Transfer)]
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(names)
    for entry in entries:
        row = dataclasses.asdict(entry)
        row["changed_fields"] = ",".join(entry.changed_fields)
        row["details"] = orjson.dumps(entry.details).decode() if entry.details else ""
        writer.writerow([row[name] for name in names])


def console() -> Console:
    """A terminal's width; piped into a file or a pager, wide enough not to cut words."""
    shown = Console()
    return shown if shown.is_terminal else Console(width=240)


def _table(entries: list[Transfer], page: int, limit: int) -> None:
    console_ = console()
    if not entries:
        console_.print("no entries match" + (f" on page {page}" if page > 1 else ""))
        return
    table = Table(*COLUMNS, "sentence")
    for e in entries:
        table.add_row(
            e.at[:19].replace("T", " "), e.user, e.kind, e.direction, e.operation, e.reason,
            e.outcome, e.subject or "", e.sentence,
        )  # fmt: skip
    console_.print(table)
    if len(entries) == limit:
        console_.print(f"page {page}; more with --page {page + 1}")
