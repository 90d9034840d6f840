"""`einklang demo`: the simulator, a sample ERP and the engine, and a short story on both sides.

Everything lives in one directory (default `./einklang-demo`): the configuration
(`einklang.toml`), the ERP database, the event store and the simulator's mailboxes. They stay
there, so that `einklang --config DIR/einklang.toml status` (and `audit`, `replay`) can be tried
next. The simulator runs in this process on a free local port; the engine talks to it over EWS
exactly as it would to Exchange — or, with `--api graph`, over Microsoft Graph (TLS with a
certificate made for the demo, an OAuth2 app of the simulator's, delta polling every second).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from adapters.erp.database import create_erp_engine
from adapters.erp.editing import ErpEditor
from adapters.erp.store import ErpStore
from projections.queries import AuditLog, Filters, Transfer
from projections.status import user_statuses
from service.config import load
from service.config_file import Answers, render
from service.demo_story import MUELLER, STORY, World, before_setup
from service.health import Metrics
from service.process import EngineLoop
from service.wiring import Process, assemble
from sim.auth import AdminAccount, OAuthApp
from sim.graph.context import GraphSettings as SimGraphSettings
from sim.persistence import StoreFile
from sim.server import EwsServer, ServerConfig
from sim.store import MailboxStore
from sim.tls import generate_self_signed

MARKER = ".einklang-demo"
PASSWORD_ENV = "EINKLANG_DEMO_PASSWORD"
ADMIN = AdminAccount("demo-admin", "demo-password")  # the simulator's, nothing real
APP = OAuthApp("demo-tenant", "demo-client", "demo-app-secret")  # the simulator's too
SECRET_ENV = "EINKLANG_DEMO_CLIENT_SECRET"
MAILBOXES = (MUELLER, "schmidt@example.com", "weber@example.com")
STEP_TIMEOUT_S = 20.0


class DemoError(Exception):
    """The demo cannot run here; the message says why in one line."""


@dataclass
class Outcome:
    step: str
    expect: str
    ok: bool
    seconds: float


def prepare(directory: Path) -> None:
    """An empty demo directory (a previous demo's files are replaced; nothing else is)."""
    if directory.exists() and any(directory.iterdir()):
        if not (directory / MARKER).exists():
            raise DemoError(
                f"{directory} is not empty and holds no earlier demo: choose another --dir"
            )
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MARKER).write_text("made by einklang demo; the whole directory may go\n")


def sample_erp(url: str) -> ErpEditor:
    """The ERP: mueller syncs; schmidt is not allowed to; weber's login is locked."""
    with ErpStore(url) as store:
        store.init()
    editor = ErpEditor(create_erp_engine(url))
    editor.add("user", {"login": "mueller", "short_name": "MUE", "exchange_mailbox": MUELLER,
                        "allow_exchange_sync": True})  # fmt: skip
    editor.add("user", {"login": "schmidt", "short_name": "SCH",
                        "exchange_mailbox": "schmidt@example.com"})  # fmt: skip
    editor.add("user", {"login": "weber", "short_name": "WEB",
                        "exchange_mailbox": "weber@example.com", "allow_exchange_sync": True,
                        "locked": True})  # fmt: skip
    return editor


def run_demo(directory: Path, console: Console, api: str = "ews") -> bool:
    """The whole demo; True when every step showed what it should."""
    directory = directory.resolve()
    prepare(directory)
    console.print(f"[bold]einklang demo[/bold] in {directory}\n")
    mailboxes = MailboxStore()
    for address in MAILBOXES:
        mailboxes.add_mailbox(address)
    graph = api == "graph"
    tls = generate_self_signed(_made(directory / "tls")) if graph else None
    served = ServerConfig(
        port=0,
        admins=(ADMIN,),
        apps=(APP,) if graph else (),
        tls=tls,
        graph=SimGraphSettings() if graph else None,
        ews=not graph,
    )
    server = EwsServer(mailboxes, served, store_file=StoreFile(_made(directory / "mailboxes")))
    server.start()
    endpoint = f"{server.graph_url} (Microsoft Graph)" if graph else server.url
    console.print(f"Exchange simulator: {endpoint} (mailboxes {', '.join(MAILBOXES)})")
    erp_url = f"sqlite:///{directory / 'erp.sqlite3'}"
    editor = sample_erp(erp_url)
    console.print("ERP: mueller syncs; schmidt is not allowed to; weber's login is locked")
    config = directory / "einklang.toml"
    if tls is not None:
        answers = Answers(
            erp_url="sqlite:///erp.sqlite3", api="graph", graph_url=server.graph_url,
            authority=server.authority(APP.tenant).removesuffix(f"/{APP.tenant}"),
            ca_bundle=tls.certificate, tenant_id=APP.tenant, client_id=APP.client_id,
            client_secret_env=SECRET_ENV, automatic_sync=True,
        )  # fmt: skip
    else:
        answers = Answers(
            erp_url="sqlite:///erp.sqlite3", ews_url=server.url, auth="basic",
            username=ADMIN.username, password_env=PASSWORD_ENV, automatic_sync=True,
        )  # fmt: skip
    text = render(answers).replace("port = 9464", "port = 0")
    config.write_text(text.replace("poll_interval_s = 5.0", "poll_interval_s = 1.0"), "utf-8")
    os.environ.setdefault(SECRET_ENV, APP.client_secret)
    os.environ.setdefault(PASSWORD_ENV, ADMIN.password)
    world = World(editor, mailboxes)
    before_setup(world)
    console.print("Outlook: mueller has a dentist appointment from before the setup\n")
    process = assemble(load(config))
    stop = threading.Event()
    loop = EngineLoop(process, Metrics(), idle_s=0.2)
    engine = threading.Thread(target=loop.run, args=(stop,), name="engine", daemon=True)
    outcomes: list[Outcome] = []
    try:
        engine.start()
        tail = TransferTail(process)
        console.print("[bold]The engine starts[/bold] and sets up sync for mueller:")
        tail.wait_for("R5_PREEXISTING", "Zahnarzt", console)
        for number, step in enumerate(STORY, start=1):
            console.print(f"\n[bold]{number}. {step.title}[/bold] — expected: {step.expect}")
            started = time.monotonic()
            step.act(world)
            ok = tail.wait_for(step.reason, step.subject, console)
            outcomes.append(Outcome(step.title, step.expect, ok, time.monotonic() - started))
    finally:
        stop.set()
        engine.join(timeout=30)
        process.close()
        server.stop()
        editor.engine.dispose()
    summary(process, outcomes, config, console)
    return all(o.ok for o in outcomes)


class TransferTail:
    """Prints the transfer log as it grows; waits for one entry."""

    def __init__(self, process: Process) -> None:
        self.audit = AuditLog(process.views)
        self.seen = 0

    def wait_for(self, reason: str, subject: str, console: Console) -> bool:
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while time.monotonic() < deadline:
            for entry in self.audit.search(Filters(), limit=1000, offset=self.seen):
                self.seen += 1
                show(entry, console)
                if entry.reason == reason and (entry.subject or "") == subject:
                    return True
            time.sleep(0.1)
        console.print(f"   [red]not seen within {STEP_TIMEOUT_S:.0f} s: {reason} for {subject!r}")
        return False


def show(entry: Transfer, console: Console) -> None:
    if entry.reason in ("ECHO", "UNCHANGED"):
        return  # our own writes coming back: true, but not news
    arrow = {"erp_to_exchange": "ERP → Outlook", "exchange_to_erp": "Outlook → ERP"}.get(
        entry.direction, "no transfer"
    )
    console.print(f"   {arrow:<14} [cyan]{entry.reason}[/cyan]  {entry.sentence}")


def summary(process: Process, outcomes: list[Outcome], config: Path, console: Console) -> None:
    table = Table("step", "expected", "result", "seconds", title="What happened")
    for o in outcomes:
        table.add_row(o.step, o.expect, "[green]as expected" if o.ok else "[red]NOT SEEN",
                      f"{o.seconds:.1f}")  # fmt: skip
    console.print()
    console.print(table)
    users = Table("user", "synchronised", "subscription", title="Users (einklang status)")
    for status in user_statuses(process.views):
        sub = "—" if status.subscribed is None else "alive" if status.subscribed else "down"
        users.add_row(status.user, "yes" if status.eligible else f"no: {status.reason}", sub)
    console.print(users)
    console.print(
        "\nEverything stays in the demo directory. Try next:\n"
        f"  einklang --config {config} status\n"
        f"  einklang --config {config} audit --user mueller\n"
        f"  einklang --config {config} replay explain <ERP id, Exchange id or sync id>\n"
        f"  einklang --config {config} replay verify"
    )


def _made(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
