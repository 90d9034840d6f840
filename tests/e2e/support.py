"""The engine process end to end: `einklang sim` and `einklang run` as subprocesses.

The ERP side is changed as the ERP's screens change it (`ErpEditor`, its own connection pool);
the Exchange side as a user's Outlook would, through the real exchangelib over HTTP, acting as
the admin impersonating the mailbox, with the engine's sync id registered exactly as the adapter
registers it. Nothing of the engine runs in the test process: what it did is read back from the
two sides and from `einklang status --json`.

With `api = "graph"` (R20) the simulator serves EWS and Graph on one TLS port over one mailbox
model: the engine runs over Graph while the users' Outlook goes on over EWS, and a To Do task's
sync id (a linkedResource over Graph, assumption GA5) is read back over Graph (`GraphView`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from exchangelib import (
    BASIC,
    IMPERSONATION,
    Account,
    Build,
    CalendarItem,
    Configuration,
    Credentials,
    EWSDateTime,
    EWSTimeZone,
    FailFast,
    Version,
)
from exchangelib import Task as EwsTask
from exchangelib.items import SEND_TO_NONE
from pydantic import SecretStr

from adapters.erp.editing import ErpEditor
from adapters.erp.schema import appointment_exceptions, appointments, tasks, users
from adapters.erp.store import ErpStore
from adapters.exchange.ews.properties import SYNC_ID, register_properties
from adapters.exchange.graph.client import GraphClient, user_path
from adapters.exchange.graph.items import sync_id_of
from adapters.exchange.graph.reading import default_list
from adapters.exchange.graph.settings import GraphSettings

BIN = Path(sys.executable).parent
ADMIN, PASSWORD = "e2e-admin", "e2e-pass-481"
PASSWORD_ENV = "EINKLANG_E2E_PASSWORD"
TENANT, CLIENT_ID, CLIENT_SECRET = "e2e-tenant", "e2e-client-0001", "e2e-app-secret-5520"
SECRET_ENV = "EINKLANG_E2E_CLIENT_SECRET"
UTC_ZONE = EWSTimeZone("UTC")
T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout_s: float = 30.0) -> T:
    """`probe()` once it returns something true, polled; AssertionError naming `what` after
    `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what} (last: {last!r})")


# ---- the simulator -----------------------------------------------------------------------------


@dataclass
class Simulator:
    """`einklang sim --data DIR` as a subprocess."""

    data: Path
    mailboxes: list[str]
    log: Path
    graph: bool = False  # both protocols over TLS with an OAuth2 app, else EWS over http
    process: subprocess.Popen[str] | None = None
    url: str = ""
    graph_url: str = ""
    authority: str = ""  # msal's authority host (the token endpoint less /{tenant}/…)
    ca: Path | None = None  # the simulator's self-signed certificate

    def start(self) -> Simulator:
        mailboxes = [arg for address in self.mailboxes for arg in ("--mailbox", address)]
        command = [str(BIN / "einklang"), "sim", "--port", "0"]
        if self.graph:
            command += ["--tls", "--tenant", TENANT, "--client-id", CLIENT_ID,
                        "--client-secret", CLIENT_SECRET]  # fmt: skip
        else:
            command.append("--ews")
        self.process = subprocess.Popen(
            [*command, "--admin", f"{ADMIN}:{PASSWORD}", "--data", str(self.data), *mailboxes],
            stdout=subprocess.PIPE,
            stderr=self.log.open("a"),
            text=True,
        )
        assert self.process.stdout is not None
        for line in self.process.stdout:
            name, _, value = line.partition(": ")
            value = value.strip()
            if name == "EWS endpoint":
                self.url = value
            elif name == "Graph endpoint":
                self.graph_url = value
            elif name == "Token endpoint":
                self.authority = value.removesuffix(f"/{TENANT}/oauth2/v2.0/token")
            elif name == "TLS certificate":
                self.ca = Path(value)
            elif name == "Mailboxes":
                return self
        raise AssertionError(f"the simulator did not start: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.communicate()


# ---- the engine ----------------------------------------------------------------------------


@dataclass
class EngineProcess:
    """`einklang --config FILE run` as a subprocess."""

    config: Path
    log: Path
    idle_s: float = 0.5
    process: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)

    def environment(self) -> dict[str, str]:
        return {**os.environ, PASSWORD_ENV: PASSWORD, SECRET_ENV: CLIENT_SECRET, **self.env}

    def start(self) -> EngineProcess:
        assert self.process is None or self.process.poll() is not None, "already running"
        command = [str(BIN / "einklang"), "--config", str(self.config), "run"]
        self.process = subprocess.Popen(
            [*command, "--idle-s", str(self.idle_s)],
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            env=self.environment(),
        )
        return self

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no round finishes, nothing is flushed."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=20)

    def terminate(self, timeout_s: float = 20.0) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout_s)

    def stop(self) -> None:
        if self.running():
            assert self.process is not None
            self.process.kill()
            self.process.wait(timeout=20)

    def status(self) -> list[dict[str, Any]]:
        """`einklang --config FILE status --json`."""
        done = subprocess.run(
            [str(BIN / "einklang"), "--config", str(self.config), "status", "--json"],
            capture_output=True,
            text=True,
            timeout=60,
            env=self.environment(),
        )
        if done.returncode != 0:
            return []  # no store yet
        rows: list[dict[str, Any]] = json.loads(done.stdout)
        return rows

    def user_status(self, login: str) -> dict[str, Any] | None:
        return next((row for row in self.status() if row["user"] == login), None)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def write_config(
    path: Path,
    *,
    erp_url: str,
    sim: Simulator,
    store_url: str,
    erp_schema: str | None = None,
    notifications: str = "streaming",
    poll_interval_s: float = 5.0,
) -> Path:
    """The engine's configuration: EWS with basic auth, or (`sim.graph`) Graph with the app."""
    schema = f'schema = "{erp_schema}"\n' if erp_schema else ""
    if sim.graph:
        exchange = (
            f'api = "graph"\ngraph_url = "{sim.graph_url}"\nauthority = "{sim.authority}"\n'
            f'tenant_id = "{TENANT}"\nclient_id = "{CLIENT_ID}"\n'
            f'client_secret_env = "{SECRET_ENV}"\nca_bundle = "{sim.ca}"\n'
        )
    else:
        exchange = (
            f'url = "{sim.url}"\nauth = "basic"\nusername = "{ADMIN}"\n'
            f'password_env = "{PASSWORD_ENV}"\nnotifications = "{notifications}"\n'
        )
    path.write_text(
        f'data_dir = "{path.parent}"\n\n'
        f'[erp]\nurl = "{erp_url}"\n{schema}\n'
        f'[store]\nurl = "{store_url}"\n\n'
        f"[exchange]\n{exchange}poll_interval_s = {poll_interval_s}\n\n"
        '[sync]\nautomatic_sync = true\n\n[http]\nport = 0\n\n[logging]\nformat = "text"\n',
        encoding="utf-8",
    )
    return path


class GraphView:
    """The mailboxes as the engine's Graph side sees them, for what EWS cannot show: the sync
    id of a To Do task (a linkedResource, assumption GA5)."""

    def __init__(self, sim: Simulator) -> None:
        self.client = GraphClient(
            GraphSettings(
                tenant_id=TENANT,
                client_id=CLIENT_ID,
                client_secret=SecretStr(CLIENT_SECRET),
                authority=sim.authority,
                graph_url=sim.graph_url,
                ca_bundle=sim.ca,
            )
        )

    def close(self) -> None:
        self.client.close()

    def task_sync_ids(self, mailbox: str) -> dict[str, str | None]:
        """Each To Do task's title → the sync id it carries over Graph."""
        url = f"{user_path(mailbox)}/todo/lists/{default_list(self.client, mailbox)}/tasks"
        params: dict[str, str] | None = {"$expand": "linkedResources", "$top": "100"}
        found: dict[str, str | None] = {}
        while url:
            page = self.client.call(mailbox, "GET", url, params=params) or {}
            for task in page.get("value", ()):
                stream = sync_id_of(task)
                found[str(task["title"])] = str(stream) if stream else None
            url, params = str(page.get("@odata.nextLink") or ""), None
        return found


# ---- the ERP, as its screens change it ---------------------------------------------------------


class Erp:
    """The ERP database with a connection pool of its own, changed through `ErpEditor`."""

    def __init__(self, url: str, schema: str | None = None) -> None:
        self.store = ErpStore(url, schema=schema)
        self.store.init()
        self.editor = ErpEditor(self.store.engine, checked=True)

    def close(self) -> None:
        self.store.close()

    def add_user(self, login: str, mailbox: str, *, allow_sync: bool = True) -> int:
        return self.editor.add(
            "user",
            {"login": login, "exchange_mailbox": mailbox, "allow_exchange_sync": allow_sync},
        )

    def user_id(self, login: str) -> int:
        with self.store.engine.connect() as conn:
            return int(
                conn.execute(sa.select(users.c.id).where(users.c.login == login)).scalar_one()
            )

    def appointment(self, login: str, subject: str, start: datetime, **more: Any) -> int:
        fields = {"user_login": login, "subject": subject, "starts_at": start}
        return self.editor.add(
            "appointment", {"ends_at": start + timedelta(hours=1)} | fields | more
        )

    def task(self, login: str, subject: str, **more: Any) -> int:
        return self.editor.add("task", {"user_login": login, "subject": subject} | more)

    def rows(self, table: sa.Table) -> list[sa.RowMapping]:
        with self.store.engine.connect() as conn:
            return list(conn.execute(sa.select(table).order_by(table.c.id)).mappings())

    def appointments(self) -> list[sa.RowMapping]:
        return self.rows(appointments)

    def tasks(self) -> list[sa.RowMapping]:
        return self.rows(tasks)

    def exceptions(self) -> list[sa.RowMapping]:
        return self.rows(appointment_exceptions)


# ---- Exchange, as a user's Outlook changes it ----------------------------------------------------


class Outlook:
    """The simulator's mailboxes through the real exchangelib, impersonated by the admin."""

    def __init__(self, url: str) -> None:
        register_properties()  # the sync id as the adapter reads and writes it
        self.config = Configuration(
            service_endpoint=url,
            credentials=Credentials(ADMIN, PASSWORD),
            auth_type=BASIC,
            version=Version(build=Build(15, 1, 2507, 6)),
            retry_policy=FailFast(),
            max_connections=4,
        )
        self._accounts: dict[str, Account] = {}

    def account(self, mailbox: str) -> Account:
        if mailbox not in self._accounts:
            self._accounts[mailbox] = Account(
                mailbox,
                config=self.config,
                autodiscover=False,
                access_type=IMPERSONATION,
                default_timezone=UTC_ZONE,
            )
        return self._accounts[mailbox]

    def appointments(self, mailbox: str) -> list[CalendarItem]:
        """Single items and series masters (not their occurrences)."""
        return list(self.account(mailbox).calendar.all())

    def tasks(self, mailbox: str) -> list[EwsTask]:
        return [t for t in self.account(mailbox).tasks.all() if isinstance(t, EwsTask)]

    def appointment(self, mailbox: str, subject: str) -> CalendarItem | None:
        found = [item for item in self.appointments(mailbox) if item.subject == subject]
        assert len(found) <= 1, f"{len(found)} items {subject!r} in {mailbox}"
        return found[0] if found else None

    def task(self, mailbox: str, subject: str) -> EwsTask | None:
        found = [item for item in self.tasks(mailbox) if item.subject == subject]
        assert len(found) <= 1, f"{len(found)} tasks {subject!r} in {mailbox}"
        return found[0] if found else None

    def create_appointment(
        self, mailbox: str, subject: str, start: datetime, body: str = ""
    ) -> CalendarItem:
        account = self.account(mailbox)
        item = CalendarItem(
            account=account,
            folder=account.calendar,
            subject=subject,
            body=body,
            start=ews_time(start),
            end=ews_time(start + timedelta(hours=1)),
        )
        item.save(send_meeting_invitations=SEND_TO_NONE)
        return item

    def create_task(self, mailbox: str, subject: str) -> EwsTask:
        account = self.account(mailbox)
        task = EwsTask(account=account, folder=account.tasks, subject=subject)
        task.save()
        return task

    def edit(self, item: CalendarItem | EwsTask, **changes: Any) -> None:
        for name, value in changes.items():
            setattr(item, name, ews_time(value) if isinstance(value, datetime) else value)
        kwargs = (
            {"send_meeting_invitations": SEND_TO_NONE} if isinstance(item, CalendarItem) else {}
        )
        item.save(update_fields=list(changes), **kwargs)

    def delete(self, item: CalendarItem | EwsTask) -> None:
        item.move_to_trash()


def ews_time(moment: datetime) -> EWSDateTime:
    return EWSDateTime.from_datetime(moment.astimezone(UTC)).astimezone(UTC_ZONE)


def sync_id(item: CalendarItem | EwsTask) -> str | None:
    value = getattr(item, SYNC_ID, None)
    return str(value) if value else None


def fresh_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def at(day: int, hour: int) -> datetime:
    """A time in the near future (so that nothing is in the past for the mailbox)."""
    base = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return base + timedelta(days=day, hours=hour)
