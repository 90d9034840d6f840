"""The engine process in one Python process (issues 10-12, 14): `EngineLoop` over the EWS adapter
or the Graph adapter (`exchange.api`, R20) and the simulator, a SQLite ERP — R12's status tells
per user whether the mailbox is reached and its subscription alive, and why not (EWS: the
service account may not impersonate the mailbox; Graph: an Application Access Policy denies
it); an Outlook edit reaches the ERP through a notification (EWS) or a delta poll (Graph)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from adapters.erp.database import create_erp_engine
from adapters.erp.editing import ErpEditor
from adapters.erp.schema import appointments
from adapters.erp.store import ErpStore
from projections.status import UserStatus, user_statuses
from service.config import Settings
from service.health import Metrics
from service.process import EngineLoop
from service.wiring import Process, assemble
from sim.auth import AdminAccount
from sim.graph.context import GraphSettings as SimGraphSettings
from sim.server import EwsServer, ServerConfig
from sim.store import MailboxStore
from sim.tls import generate_self_signed
from tests.sim.support import APP, TENANT

MUELLER, WEBER = "mueller@example.com", "weber@example.com"
ADMIN = AdminAccount("svc", "pw-Secret-1", mailboxes=frozenset({MUELLER}))  # not weber's
DENIED = {"ews": "ErrorImpersonateUserDenied", "graph": "ErrorAccessDenied"}


def until(condition: Callable[[], bool], within: float = 20) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def _exchange(api: str, server: EwsServer, ca: Path) -> dict[str, object]:
    if api == "graph":
        return {
            "api": "graph",
            "graph_url": server.graph_url,
            "authority": server.authority(TENANT).removesuffix(f"/{TENANT}"),
            "tenant_id": TENANT,
            "client_id": APP.client_id,
            "client_secret_env": "TEST_GRAPH_SECRET",
            "ca_bundle": ca,
            "poll_interval_s": 0.2,
        }
    return {
        "url": server.url,
        "auth": "basic",
        "username": ADMIN.username,
        "password_env": "TEST_EWS_PASSWORD",
    }


@pytest.fixture(params=["ews", "graph"])
def running(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Process, MailboxStore, ErpEditor]]:
    api = request.param
    mailboxes = MailboxStore()
    for address in (MUELLER, WEBER):
        mailboxes.add_mailbox(address)
    tls = generate_self_signed(tmp_path / "tls")
    if api == "graph":
        config = ServerConfig(apps=(APP,), tls=tls, graph=SimGraphSettings(), ews=False)
    else:
        config = ServerConfig(admins=(ADMIN,))
    server = EwsServer(mailboxes, config).start()
    if server.graph is not None:
        server.graph.settings.deny(WEBER)  # an Application Access Policy leaves weber out (R9)
    erp_url = f"sqlite:///{tmp_path / 'erp.sqlite3'}"
    with ErpStore(erp_url) as store:
        store.init()
    editor = ErpEditor(create_erp_engine(erp_url))
    for login, address in (("mueller", MUELLER), ("weber", WEBER)):
        editor.add(
            "user", {"login": login, "exchange_mailbox": address, "allow_exchange_sync": True}
        )
    monkeypatch.setenv("TEST_EWS_PASSWORD", ADMIN.password)
    monkeypatch.setenv("TEST_GRAPH_SECRET", APP.client_secret)
    settings = Settings(
        erp={"url": erp_url},
        store={"url": f"sqlite:///{tmp_path / 'events.sqlite3'}"},
        exchange=_exchange(api, server, tls.certificate),
        sync={"automatic_sync": True},
        data_dir=tmp_path,
    )
    process = assemble(settings)
    stop = threading.Event()
    loop = threading.Thread(
        target=EngineLoop(process, Metrics(), idle_s=0.1).run, args=(stop,), daemon=True
    )
    loop.start()
    try:
        yield process, mailboxes, editor
    finally:
        stop.set()
        loop.join(timeout=30)
        assert not loop.is_alive(), "the engine loop did not stop"
        process.close()
        server.stop()
        editor.engine.dispose()


def statuses(process: Process) -> dict[str, UserStatus]:
    process.views.run()
    return {s.user: s for s in user_statuses(process.views)}


def test_r12_r20_status_tells_whether_the_mailbox_is_reached_and_the_subscription_alive(
    running: tuple[Process, MailboxStore, ErpEditor],
) -> None:
    process, _, _ = running
    assert until(
        lambda: (
            statuses(process).get("mueller", None) is not None
            and statuses(process)["mueller"].subscribed is True
        )
    )
    assert until(lambda: "weber" in statuses(process) and not statuses(process)["weber"].eligible)
    mueller, weber = statuses(process)["mueller"], statuses(process)["weber"]
    assert (mueller.eligible, mueller.mailbox, mueller.reachable) == (True, MUELLER, True)
    assert weber.reachable is False
    assert DENIED[process.settings.exchange.api] in weber.reason


def test_r3_r20_an_outlook_edit_reaches_the_erp_through_a_notification(
    running: tuple[Process, MailboxStore, ErpEditor],
) -> None:
    process, mailboxes, editor = running
    assert until(
        lambda: (
            statuses(process).get("mueller") is not None
            and statuses(process)["mueller"].subscribed is True
        )
    )
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    row = editor.add(
        "appointment",
        {
            "user_login": "mueller",
            "subject": "Kickoff",
            "starts_at": start,
            "ends_at": start + timedelta(hours=1),
        },
    )
    assert until(lambda: any(i.subject == "Kickoff" for i in mailboxes.list_items(MUELLER)))
    item = next(i for i in mailboxes.list_items(MUELLER) if i.subject == "Kickoff")
    mailboxes.update_item(item.item_id, subject="Kickoff (moved in Outlook)")

    def erp_subject() -> str:
        with editor.engine.connect() as conn:
            return str(
                conn.execute(
                    sa.select(appointments.c.subject).where(appointments.c.id == row)
                ).scalar_one()
            )

    assert until(lambda: erp_subject() == "Kickoff (moved in Outlook)", within=10)
