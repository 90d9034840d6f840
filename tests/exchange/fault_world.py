"""A world for the fault tests: the engine between the real ERP adapter and a simulator that
can be made to fail, spoken to over EWS (exchangelib, Basic or OAuth2 through msal) or over
Graph (httpx and msal), and a workload of edits on both sides whose result is known.

The simulator can be stopped and started again on the same port from its `--data` directory
(`StoreFile`, the mechanism `einklang sim --data` uses); the "user in Outlook" then acts on the
store the new server loaded. `assert_converged` is what "converge with nothing lost or
duplicated" means here: every item on either side has exactly one counterpart, the two agree on
every synced field, and the ERP's info texts are the ones ERP users wrote (R6).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from exchangelib.protocol import close_connections
from pydantic import SecretStr

from adapters.exchange.ews.connection import EwsConnection
from adapters.exchange.ews.port import EwsExchange
from adapters.exchange.ews.settings import EwsSettings
from engine.model import Appointment, ItemKind, Side, Task, TaskStatus
from engine.options import SyncOptions
from engine.recurrence import Recurrence
from sim.graph.context import GraphSettings as SimGraphSettings
from sim.persistence import StoreFile
from sim.server import EwsServer, ServerConfig
from sim.store import MailboxStore
from sim.tls import TlsFiles, generate_self_signed
from tests.doubles.mailbox_store import MailboxStorePort
from tests.exchange.ews_outlook import ADMIN, EwsOutlook
from tests.exchange.graph_outlook import SCHEMA, GraphOutlook
from tests.graph_sim.support import SchemaCheck
from tests.harness import MAILBOXES, Clock, Harness, Outlook, StoreClock, at
from tests.sim.support import APP, FAST_STREAMS, MESSAGES_XSD, TENANT

Api = Literal["ews", "graph"]
WEEKLY = Recurrence(pattern="weekly", weekdays=("monday", "wednesday"), count=6)
MUELLER = "mueller@example.com"
# The subjects on each side once the workload's edits arrived, in order.
AFTER_EDITS = [
    "Buy stamps",
    "Call back",
    "Created in Outlook",
    "Created in the ERP",
    "Dentist (moved)",
    "Jour fixe",
    "Planning (moved)",
]


class Simulator:
    """One simulator process's worth of server over a store kept in `data` (`--data`)."""

    def __init__(self, clock: Clock, directory: Path, api: Api, *, oauth: bool) -> None:
        self.clock = clock
        self.data = StoreFile(directory / "data")
        self.tls: TlsFiles | None = None
        if api == "graph" or oauth:
            self.tls = generate_self_signed(directory / "tls")
        graph = SimGraphSettings() if api == "graph" else None
        self.config = ServerConfig(
            admins=(ADMIN,),
            apps=(APP,),
            tls=self.tls,
            schema=MESSAGES_XSD if api == "ews" else None,
            timing=FAST_STREAMS,
            graph=graph,
        )
        self.check = SchemaCheck(SCHEMA) if api == "graph" else None
        self.violations: list[str] = []
        store = self.data.load(clock=StoreClock(clock))
        for mailbox in MAILBOXES:
            store.add_mailbox(mailbox)
        self.server = self._serve(store)
        self.config = replace(self.config, port=int(self.server.base_url.rsplit(":", 1)[1]))

    def _serve(self, store: MailboxStore) -> EwsServer:
        server = EwsServer(store, self.config, store_file=self.data).start()
        if server.graph is not None and self.check is not None:
            server.graph.observe = self.check
        return server

    def stop(self) -> None:
        """The simulator goes down; its mailboxes are on disk."""
        self.server.stop()
        self.violations += [str(v) for v in self.server.violations]

    def start_again(self) -> MailboxStore:
        """A new simulator on the same port and data; its store, as loaded from disk."""
        store = self.data.load(clock=StoreClock(self.clock))
        self.server = self._serve(store)
        return store

    def schema_violations(self) -> list[str]:
        found = self.violations + [str(v) for v in self.server.violations]
        return found + (self.check.violations if self.check is not None else [])


def ews_settings(server: EwsServer, *, oauth: bool, ca: Path | None) -> EwsSettings:
    """Basic auth as the admin, or OAuth2 through msal; quick back-offs, one-"minute" streams."""
    quick: dict[str, Any] = {
        "url": server.url,
        "connection_timeout_min": 1,
        "retry_initial_s": 0.2,
        "retry_max_s": 2.0,
        "transient_initial_s": 0.05,
        "transient_max_s": 0.5,
    }
    if not oauth:
        return EwsSettings(
            auth="basic", username=ADMIN.username, password=SecretStr(ADMIN.password), **quick
        )
    return EwsSettings(
        auth="oauth2",
        tenant_id=TENANT,
        client_id=APP.client_id,
        client_secret=SecretStr(APP.client_secret),
        authority=server.base_url,
        ca_bundle=ca,
        **quick,
    )


@dataclass
class FaultWorld:
    """A harness whose Exchange side is a simulator that can fail, stop and start again."""

    harness: Harness
    api: Api
    simulator: Simulator
    connection: EwsConnection | None = None

    @property
    def server(self) -> EwsServer:
        return self.simulator.server

    @property
    def outlook(self) -> EwsOutlook | GraphOutlook:
        exchange = self.harness.exchange
        assert isinstance(exchange, EwsOutlook | GraphOutlook)
        return exchange

    def simulator_down(self) -> None:
        """The simulator stops; its mailboxes are on disk (`einklang sim --data`)."""
        self.simulator.stop()

    def simulator_up(self) -> None:
        """A simulator starts again from the data, on the same port; Outlook users act on it."""
        store = self.simulator.start_again()
        outlook = self.outlook
        outlook.server = self.simulator.server
        outlook.store = store
        outlook.store_port = MailboxStorePort(store, clock=self.harness.clock)

    def rounds(self, count: int, *, minutes: float = 2) -> None:
        """`count` engine rounds with time passing between them (retries fall due)."""
        assert self.harness.engine is not None
        for _ in range(count):
            self.harness.engine.tick()
            self.harness.clock.advance(minutes=minutes)

    def settle(self) -> None:
        """Let every retry fall due, then run until the engine has nothing left to do. (The
        harness retries after 30 s, doubling up to 10 minutes; an OAuth2 token lives an hour.)"""
        for _ in range(3):
            self.harness.clock.advance(minutes=11)
            self.harness.sync()


@contextmanager
def fault_world(
    tmp_path: Path,
    api: Api,
    *,
    oauth: bool = False,
    options: SyncOptions | None = None,
    set_up: bool = True,
) -> Iterator[FaultWorld]:
    """Both sides, a store and user mueller set up (what follows is "after setup", R5); with
    `set_up=False` nobody is set up yet."""
    built: dict[str, Any] = {}
    with ExitStack() as stack:

        def exchange(clock: Any) -> Outlook:
            simulator = Simulator(clock, tmp_path / "sim", api, oauth=oauth)
            built["simulator"] = simulator
            server = simulator.server
            if api == "graph":
                assert simulator.tls is not None
                graph = GraphOutlook(
                    server, server.store, clock, simulator.tls.certificate, transient_max_s=0.05
                )
                stack.callback(graph.client.close)
                return graph
            outlook = EwsOutlook(server, server.store, clock)
            ca = simulator.tls.certificate if simulator.tls else None
            connection = EwsConnection(ews_settings(server, oauth=oauth, ca=ca))
            built["connection"] = connection
            outlook.port = EwsExchange(
                connection.account, clock=clock, renew_token=connection.renew_token
            )
            return outlook

        harness = Harness(tmp_path, options=options, exchange=exchange)
        world = FaultWorld(harness, api, built["simulator"], built.get("connection"))
        try:
            if set_up:
                harness.user("mueller")
                harness.sync()
            yield world
        finally:
            harness.shutdown()
            world.server.stop()
            close_connections()
        violations = world.simulator.schema_violations()
        assert violations == [], "schema violations:\n" + "\n".join(violations)


# ---- the workload: edits on both sides whose outcome is known ------------------------------


def _moved(original_start: datetime, subject: str) -> dict[str, Any]:
    return {
        "original_start": original_start,
        "start": original_start + timedelta(hours=2),
        "end": original_start + timedelta(hours=3),
        "subject": subject,
        "location": "",
        "busy_status": "busy",
    }


@dataclass
class Workload:
    """Items linked before the fault, and the edits made on both sides around it."""

    world: FaultWorld
    erp_rows: dict[str, str] = field(default_factory=dict)  # name → ERP id
    outlook_items: dict[str, str] = field(default_factory=dict)  # name → Exchange id
    starts: list[datetime] = field(default_factory=list)
    erp_info: dict[str, str] = field(default_factory=dict)  # ERP id → text ERP users wrote

    @property
    def harness(self) -> Harness:
        return self.world.harness

    @property
    def percent(self) -> int:
        """A task's percent complete: To Do has none (Graph reads 0 until completed, GA2)."""
        return 40 if self.world.api == "ews" else 0

    def before(self) -> None:
        """Items on both sides, transferred and linked before anything goes wrong."""
        self.create()
        self.harness.sync()
        self.linked()

    def create(self) -> None:
        """Items on both sides, made after setup."""
        h = self.harness
        self.erp_rows["meeting"] = h.erp_appointment(
            subject="Planning", location="Room 1", info_text="Agenda from the ERP"
        )
        self.erp_info[self.erp_rows["meeting"]] = "Agenda from the ERP"
        self.erp_rows["series"] = h.erp_appointment(
            subject="Jour fixe", start=at(7, 9), end=at(7, 10), rrule=WEEKLY.to_rrule(at(7, 9))
        )
        self.erp_rows["task"] = h.erp_task(subject="Call back", due=at(9, 0).date())
        self.erp_rows["doomed"] = h.erp_appointment(
            subject="Cancelled visit", start=at(3, 11), end=at(3, 12)
        )
        self.outlook_items["dentist"] = h.outlook_appointment(subject="Dentist")
        self.outlook_items["stamps"] = h.outlook_task(subject="Buy stamps")
        self.outlook_items["lunch"] = h.outlook_appointment(
            subject="Lunch", start=at(4, 12), end=at(4, 13)
        )
        snapshot = h.erp.snapshot_of(self.erp_rows["series"])
        assert isinstance(snapshot, Appointment)
        self.starts = snapshot.occurrence_starts()

    def linked(self) -> None:
        """Each item made by `create` has exactly one counterpart (or this fails)."""
        h = self.harness
        for row in self.erp_rows.values():
            h.counterpart_in_exchange(row)  # exactly one, or this fails
        for item in self.outlook_items.values():
            self.erp_info[str(h.erp_row_for(item).id)] = ""

    def edit_erp(self) -> None:
        """An ERP user edits, deletes and creates, series occurrences and a task included."""
        h, rows = self.harness, self.erp_rows
        h.erp.edit(rows["meeting"], subject="Planning (moved)", location="Room 2")
        h.erp.edit(
            rows["series"],
            modified_occurrences=[_moved(self.starts[1], "Jour fixe (later)")],
            deleted_occurrences=[self.starts[2]],
        )
        h.erp.edit(
            rows["task"],
            status=TaskStatus.IN_PROGRESS,
            percent_complete=self.percent,
            due=at(11, 0).date(),
        )
        h.erp.delete(rows["doomed"])
        rows["new_erp"] = h.erp_appointment(
            subject="Created in the ERP", start=at(5, 8), end=at(5, 9)
        )
        self.erp_info[rows["new_erp"]] = ""

    def edit_outlook(self) -> None:
        """A user in Outlook edits (the body too), deletes and creates."""
        h, items = self.harness, self.outlook_items
        h.exchange.edit(items["dentist"], subject="Dentist (moved)", info_text="Typed in Outlook")
        h.exchange.edit(items["stamps"], status=TaskStatus.COMPLETED, percent_complete=100)
        h.exchange.delete(items["lunch"])
        items["new_outlook"] = h.outlook_appointment(
            subject="Created in Outlook", start=at(6, 15), end=at(6, 16)
        )

    def agree(self, subjects: list[str]) -> bool:
        """Both sides hold these subjects, once each, with equal synced content (reads the
        two sides only: safe while the engine runs)."""
        h = self.harness
        try:
            erp = sorted(
                (r.data["subject"], h.erp.snapshot_of(str(r.id)).sync_hash)
                for r in h.erp.rows.values()
            )
        except KeyError:  # the engine deleted a row between the two reads: look again
            return False
        outlook = sorted(
            (item.content.subject, item.content.sync_hash)
            for kind in ItemKind
            for item in h.exchange_items("mueller", kind)
        )
        return erp == outlook and [subject for subject, _ in erp] == subjects

    def check(self) -> None:
        """Every edit arrived, once, on the other side."""
        h, rows, items = self.harness, self.erp_rows, self.outlook_items
        h.projector.run()  # the read models catch up with what the engine last did
        meeting = h.counterpart_in_exchange(rows["meeting"]).content
        assert isinstance(meeting, Appointment)
        assert (meeting.subject, meeting.location) == ("Planning (moved)", "Room 2")
        series = h.counterpart_in_exchange(rows["series"]).content
        assert isinstance(series, Appointment)
        assert [o.subject for o in series.modified_occurrences] == ["Jour fixe (later)"]
        assert series.deleted_occurrences == (self.starts[2],)
        task = h.counterpart_in_exchange(rows["task"]).content
        assert isinstance(task, Task)
        assert (task.status, task.percent_complete, task.due) == (
            TaskStatus.IN_PROGRESS,
            self.percent,
            at(11, 0).date(),
        ), task
        assert h.counterpart_in_exchange(rows["new_erp"]).content.subject == "Created in the ERP"
        assert int(rows["doomed"]) not in h.erp.rows
        dentist = h.erp_row_for(items["dentist"])
        assert dentist.data["subject"] == "Dentist (moved)"
        assert h.erp.snapshot_of(str(dentist.id)).info_text == ""  # R6: the body stays
        stamps = h.erp.snapshot_of(str(h.erp_row_for(items["stamps"]).id))
        assert isinstance(stamps, Task)
        assert (stamps.status, stamps.percent_complete) == (TaskStatus.COMPLETED, 100)
        assert h.erp_row_for(items["new_outlook"]).data["subject"] == "Created in Outlook"
        subjects = sorted(r.data["subject"] for r in h.erp.rows.values())
        assert subjects == AFTER_EDITS, subjects
        assert_converged(self.world, self.erp_info)


def _comparable(snapshot: Appointment | Task) -> dict[str, Any]:
    fields = dict(snapshot.fields())
    fields.pop("info_text")
    return fields


def assert_converged(world: FaultWorld, erp_info: dict[str, str]) -> None:
    """Exactly one counterpart each, equal on the synced fields; ERP info text only from the
    ERP (R6); every recorded decision replays the same (R19)."""
    h = world.harness
    assert h.engine is not None
    h.projector.run()
    outlook: dict[uuid.UUID, list[Any]] = {}
    for (mailbox, _), folder in h.exchange.folders.items():
        for item_id, item in folder.items.items():
            login = mailbox.split("@")[0]
            stream = item.sync_id or h.projector.stream_of_native(Side.EXCHANGE, login, item_id)
            assert stream is not None, f"{item.content.subject!r} in Outlook has no stream"
            outlook.setdefault(stream, []).append(item)
    erp: dict[uuid.UUID, list[Any]] = {}
    for row in h.erp.rows.values():
        erp.setdefault(h.erp.stream_id_of(str(row.id)), []).append(row)
    duplicated = {s: len(v) for s, v in outlook.items() if len(v) > 1}
    assert duplicated == {}, "duplicated in Exchange"
    assert {s: len(v) for s, v in erp.items() if len(v) > 1} == {}, "duplicated in the ERP"
    assert set(outlook) == set(erp), "an item without its counterpart"
    for stream, (row,) in erp.items():
        snapshot = h.erp.snapshot_of(str(row.id))
        assert _comparable(snapshot) == _comparable(outlook[stream][0].content), h.state(
            stream
        ).sentence
        assert snapshot.info_text == erp_info.get(str(row.id), snapshot.info_text)
    h.verify()


def failures(world: FaultWorld) -> list[str]:
    """The errors of the transfer log's failed rows (the fault's reason, where it showed)."""
    return [str(r["error"]) for r in world.harness.log() if r["outcome"] == "failed"]


def kinds_of(world: FaultWorld) -> dict[ItemKind, int]:
    """How many items of each kind the user has in Exchange."""
    return {kind: len(world.harness.exchange_items("mueller", kind)) for kind in ItemKind}
