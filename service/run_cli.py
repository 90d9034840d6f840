"""`einklang run` (the engine) and `einklang status` (R12)."""

from __future__ import annotations

import logging
import sys
import threading

import click
import orjson
from rich.table import Table

from adapters.erp.cli import UserError
from projections.status import UserStatus, user_statuses
from service.audit_cli import console
from service.cli_support import configured_store, settings_from
from service.config import ConfigError, secrets_present
from service.health import HealthServer, Metrics
from service.logs import configure
from service.process import EngineLoop, stop_on_signals
from service.stores import open_views
from service.wiring import assemble, claim_api

log = logging.getLogger("einklang.process")


@click.command()
@click.option("--idle-s", type=click.FloatRange(0.05, 3600), default=5.0, show_default=True,
              help="how long a quiet engine waits for news before it looks again")  # fmt: skip
@click.pass_context
def run(ctx: click.Context, /, idle_s: float) -> None:
    """Run the engine until SIGTERM or SIGINT (the configuration is read at start, R11)."""
    settings = settings_from(ctx)
    if not settings.sync.automatic_sync:
        raise UserError(
            "automatic synchronisation is off: set [sync] automatic_sync = true "
            "(or EINKLANG_SYNC__AUTOMATIC_SYNC=true) to run the engine (R10)"
        )
    try:
        secrets_present(settings)
        process = assemble(settings)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    try:
        claim_api(process.store, settings.exchange.api)
    except ConfigError as exc:
        process.close()
        raise UserError(str(exc)) from None
    configure(settings.logging, secrets=process.secrets())
    metrics = Metrics()
    health = None
    if settings.http.port:
        try:
            health = HealthServer(metrics, host=settings.http.host, port=settings.http.port)
            health.start()
        except OSError as exc:
            process.close()
            raise UserError(
                f"http: cannot listen on {settings.http.host}:{settings.http.port}: "
                f"{exc.strerror} (change [http] port, or 0 to switch it off)"
            ) from None
    stop = threading.Event()
    stop_on_signals(stop)
    exchange = settings.exchange
    watching = (
        f"Graph, delta polling every {exchange.poll_interval_s:g} s"
        if exchange.api == "graph"
        else f"EWS, {exchange.notifications}"
    )
    log.info(
        "einklang runs: ERP %s, Exchange %s (%s), store %s",
        process.erp.display_url, exchange.endpoint, watching,
        process.store.location.url if process.store.location.is_postgres else "sqlite",
    )  # fmt: skip
    try:
        EngineLoop(process, metrics, idle_s=idle_s).run(stop)
    finally:
        if health is not None:
            health.stop()
        process.close()
        log.info("einklang stopped")


@click.command()
@click.option("--user", help="only this ERP login")
@click.option("--json", "as_json", is_flag=True, help="a JSON array of objects")
@click.pass_context
def status(ctx: click.Context, /, user: str | None, as_json: bool) -> None:
    """Per user: synchronised or why not, mailbox, reachable, subscription, failures (R12)."""
    with configured_store(ctx) as store:
        views = open_views(store)
        try:
            rows = user_statuses(views, user)
        finally:
            views.close()
    if as_json:
        sys.stdout.buffer.write(orjson.dumps([r.as_json() for r in rows]) + b"\n")
        return
    if not rows:
        click.echo("no users recorded yet: has `einklang run` run with this configuration?")
        return
    table = Table("user", "mailbox", "synchronised", "subscription", "failed", "last out",
                  "last in")  # fmt: skip
    for r in rows:
        table.add_row(
            r.user, r.mailbox or "—", "yes" if r.eligible else f"no: {r.reason}",
            _subscription(r), str(r.failed_items), _time(r.last_export), _time(r.last_import),
        )  # fmt: skip
    console().print(table)


def _subscription(r: UserStatus) -> str:
    if r.subscribed is None:
        return "—"
    return "alive" if r.subscribed else f"down: {r.subscription_reason}"


def _time(at: str | None) -> str:
    return at[:19].replace("T", " ") if at else "—"
