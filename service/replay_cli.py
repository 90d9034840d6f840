"""`einklang replay`: explain an item, verify decisions, what-if, rebuild, support bundles (R19).

Every command works on the store the configuration names, or — with `--bundle FILE` — on a
support bundle alone (loaded into a temporary store), without access to the customer's systems.
"""

from __future__ import annotations

import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import orjson
from eventsourcing.utils import get_topic
from pydantic import ValidationError
from rich.progress import Progress

from adapters.erp.cli import OneLineErrors, UserError
from engine import aggregates as ev
from engine.options import SyncOptions
from engine.store import EventStore
from projections.queries import AuditLog
from replay.bundle import (
    BundleError,
    Selection,
    export_bundle,
    open_bundle,
    read_manifest,
    selected_streams,
)
from replay.explain import explain as explain_item
from replay.explain import render
from replay.verify import ReplayReport, item_streams, verify
from service.audit_cli import console as wide_console
from service.cli_support import configured_store, moment, settings_from
from service.config import describe
from service.stores import open_views


@click.group(cls=OneLineErrors)
@click.option(
    "--bundle",
    type=click.Path(path_type=Path, dir_okay=False),
    help="work on this support bundle instead of the configured store",
)
@click.pass_context
def replay(ctx: click.Context, bundle: Path | None) -> None:
    """Explain, verify and what-if over the recorded events; rebuild; support bundles."""
    ctx.obj = bundle


@contextmanager
def _store(ctx: click.Context) -> Iterator[tuple[EventStore, dict[str, Any]]]:
    """The store to replay (and the configuration it was recorded under, without secrets)."""
    bundle: Path | None = ctx.find_object(Path)
    if bundle is None:
        settings = settings_from(ctx)
        with configured_store(ctx) as store:
            yield store, {"sync": settings.sync.model_dump()}
        return
    try:
        manifest = read_manifest(bundle)
    except (OSError, BundleError) as exc:
        raise UserError(str(exc) if isinstance(exc, BundleError) else f"{bundle}: {exc}") from None
    with tempfile.TemporaryDirectory(prefix="einklang-bundle-") as directory:
        try:
            store = open_bundle(bundle, Path(directory) / "bundle.db")
        except BundleError as exc:
            raise UserError(str(exc)) from None
        try:
            open_views(store).run()  # the bundle's own read models, for lookups by id
            yield store, dict(manifest.get("config") or {})
        finally:
            store.close()


def _streams(store: EventStore, item: str) -> list[uuid.UUID]:
    try:
        return [uuid.UUID(item)] if store.events_of(uuid.UUID(item)) else []
    except ValueError:
        pass
    return [uuid.UUID(s) for s in AuditLog(open_views(store)).streams_of(item)]


@replay.command()
@click.argument("item")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per step")
@click.pass_context
def explain(ctx: click.Context, /, item: str, as_json: bool) -> None:
    """The whole history of ITEM (an ERP id, an Exchange id or a sync id)."""
    with _store(ctx) as (store, _):
        streams = _streams(store, item)
        if not streams:
            raise UserError(f"no item {item!r} in the log: give an ERP id, Exchange id or sync id")
        for stream in streams:
            history = explain_item(store, stream)
            if as_json:
                for step in history:
                    click.echo(orjson.dumps({"stream": str(stream), **step.as_json()}).decode())
            else:
                click.echo(f"item {stream}")
                click.echo(render(history))


@replay.command(name="verify")
@click.option("--user", help="only this user's items")
@click.option("--since", help="only items with events since this date/time")
@click.pass_context
def verify_cmd(ctx: click.Context, /, user: str | None, since: str | None) -> None:
    """Re-derive every recorded decision with this version's code; exit 1 on a difference."""
    with _store(ctx) as (store, _):
        report = verify(store, _selected(store, user, since))
    _report(report, "recorded", "now")
    if not report.ok:
        ctx.exit(1)


@replay.command(name="what-if")
@click.option("--set", "changes", multiple=True, required=True, metavar="OPTION=VALUE")
@click.option("--user", help="only this user's items")
@click.option("--since", help="only items with events since this date/time")
@click.pass_context
def what_if(
    ctx: click.Context, /, changes: tuple[str, ...], user: str | None, since: str | None
) -> None:
    """Which decisions would have differed under other options (e.g. conflict_policy=exchange_wins)."""
    with _store(ctx) as (store, _):
        base = _latest_options(store)
        for change in changes:
            name, sep, value = change.partition("=")
            if not sep or name not in SyncOptions.model_fields:
                known = ", ".join(sorted(SyncOptions.model_fields))
                raise UserError(f"--set {change!r}: give OPTION=VALUE with OPTION one of {known}")
            base[name] = value
        try:
            options = SyncOptions.model_validate(
                {k: v for k, v in base.items() if k in SyncOptions.model_fields}
            )
        except ValidationError as exc:
            raise UserError(f"--set: {describe(exc)}") from None
        report = verify(store, _selected(store, user, since), options=options)
    _report(report, "recorded", "what-if")


@replay.command()
@click.pass_context
def rebuild(ctx: click.Context) -> None:
    """Drop the read models (mapping, transfer log, status) and rebuild them from the log."""
    with configured_store(ctx) as store:
        views = open_views(store)
        total = store.max_notification_id()
        done = threading.Event()
        counted: list[int] = []
        with Progress(transient=True) as progress:
            task = progress.add_task("rebuilding", total=total or 1)

            def build() -> None:
                counted.append(views.rebuild())
                done.set()

            worker = threading.Thread(target=build, daemon=True)
            worker.start()
            while not done.wait(0.2):
                progress.update(task, completed=views.position())
            worker.join()
        click.echo(f"rebuilt the read models from {total} events")


@replay.group()
def bundle() -> None:
    """Support bundles: export some users' events (redacted), look into one."""


@bundle.command(name="export")
@click.option("--user", "users", multiple=True, help="only this user (repeatable)")
@click.option("--since", help="only items with events since this date/time")
@click.option(
    "--keep-personal-data", is_flag=True, help="keep subjects, locations, texts and addresses"
)
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), required=True)
@click.pass_context
def bundle_export(
    ctx: click.Context, /, users: tuple[str, ...], since: str | None, keep_personal_data: bool,
    output: Path,
) -> None:  # fmt: skip
    """Write the events that explain those users' items to a file for support."""
    settings = settings_from(ctx)
    selection = Selection(
        users=frozenset(u.lower() for u in users) or None, since=moment(since, "--since")
    )
    config = {"sync": settings.sync.model_dump(), "exchange": {"api": settings.exchange.api}}
    with configured_store(ctx) as store:
        try:
            with output.open("xb") as out:
                count = export_bundle(
                    store, out, selection=selection, redact=not keep_personal_data, config=config
                )
        except FileExistsError:
            raise UserError(f"{output} exists: choose another file name") from None
    redacted = "with personal data" if keep_personal_data else "personal data redacted"
    click.echo(f"wrote {count} events to {output} ({redacted})")


@bundle.command(name="open")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
def bundle_open(file: Path) -> None:
    """What a bundle holds, and how to look into it."""
    try:
        manifest = read_manifest(file)
    except (OSError, BundleError) as exc:
        raise UserError(str(exc) if isinstance(exc, BundleError) else f"{file}: {exc}") from None
    users = ", ".join(manifest.get("users") or ["all users"])
    state = "redacted" if manifest.get("redacted") else "NOT redacted"
    click.echo(f"{file}: {manifest['events']} events of {users}, personal data {state}")
    click.echo(f"created {manifest.get('created_at')}; look into it with:")
    click.echo(f"  einklang replay --bundle {file} verify")
    click.echo(f"  einklang replay --bundle {file} explain ITEM")
    click.echo(f"  einklang replay --bundle {file} what-if --set conflict_policy=exchange_wins")


def _selected(store: EventStore, user: str | None, since: str | None) -> list[uuid.UUID] | None:
    if user is None and since is None:
        return None
    selection = Selection(
        users=frozenset({user.lower()}) if user else None, since=moment(since, "--since")
    )
    wanted = selected_streams(store, selection)
    return [s for s in item_streams(store) if str(s) in wanted]


def _latest_options(store: EventStore) -> dict[str, Any]:
    """The options the newest recorded decision was made under (what the engine runs with)."""
    decided = get_topic(ev.Decided)
    end = store.max_notification_id()
    while end > 0:
        start = max(1, end - 999)
        for _, _, topic, state in reversed(store.log_page(start, end - start + 1, (decided,))):
            if topic == decided and state:
                switches: dict[str, Any] = orjson.loads(state)["decision"]["options"]["switches"]
                return dict(switches)
        end = start - 1
    return SyncOptions().model_dump()


def _report(report: ReplayReport, left: str, right: str) -> None:
    console = wide_console()
    if report.ok:
        console.print(f"{report.decisions} decisions re-derived: all the same")
        return
    console.print(f"{report.decisions} decisions re-derived, {len(report.differences)} differ:")
    for d in report.differences:
        now = d.error or (f"{d.derived.reason}: {d.derived.sentence}" if d.derived else "none")
        console.print(f"  item {d.stream_id} (event {d.version})")
        console.print(f"    {left}: {d.recorded.reason}: {d.recorded.sentence}")
        console.print(f"    {right}: {now}")
