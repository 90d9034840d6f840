"""The Exchange port over real Graph: `GraphExchange` with httpx (HTTP/2) and the real msal,
over TLS, against an in-process simulator serving Graph (and EWS) on the same store; every body
it sends and accepts is checked against graph_schemas.strict.json.

The "user in Outlook" helpers act on the simulator's store directly, as in `ews_outlook.py`; ids
cross as Graph ids (`sim.graph.ids`: the EWS id in the URL-safe alphabet). An unreachable mailbox
is an Application Access Policy denying it (403 ErrorAccessDenied); expired sync states are the
simulator expiring every delta token (410 syncStateNotFound).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from adapters.exchange.graph.client import GraphClient
from adapters.exchange.graph.port import GraphExchange
from adapters.exchange.graph.settings import GraphSettings
from engine.errors import SideError
from engine.model import Appointment, ItemKind, Task, User
from engine.observation import Observation
from engine.ports import ExchangeBatch, MailboxStatus, Write, WriteResult
from sim.graph.context import GraphSettings as SimGraphSettings
from sim.graph.ids import ews_id, rest_id
from sim.graph.todo import LINKS
from sim.server import EwsServer, ServerConfig
from sim.store import MailboxStore
from sim.tls import generate_self_signed
from tests.doubles.mailbox_store import MailboxItem, MailboxStorePort
from tests.exchange.ews_outlook import ADMIN
from tests.graph_sim.support import GraphSchema, SchemaCheck
from tests.harness import MAILBOXES, Clock, StoreClock
from tests.sim.support import APP, TENANT

SCHEMA = GraphSchema()


@dataclass(frozen=True)
class GraphItem:
    """A store item as the Graph side names it. A To Do task's sync id is the linkedResource
    the Graph adapter wrote (tasks take no extended properties over Graph)."""

    item: MailboxItem
    linked: uuid.UUID | None = None

    @property
    def id(self) -> str:
        return rest_id(self.item.id)

    @property
    def change_key(self) -> str:
        return self.item.change_key

    @property
    def kind(self) -> ItemKind:
        return self.item.kind

    @property
    def content(self) -> Appointment | Task:
        return self.item.content

    @property
    def sync_id(self) -> uuid.UUID | None:
        return self.item.sync_id or self.linked


@dataclass(frozen=True)
class GraphFolder:
    items: dict[str, GraphItem]


class _Denied(dict[str, str]):
    def __init__(self, server: EwsServer) -> None:
        super().__init__()
        self._server = server

    def __setitem__(self, mailbox: str, code: str) -> None:
        super().__setitem__(mailbox, code)
        assert self._server.graph is not None
        self._server.graph.settings.deny(mailbox)


def graph_settings(server: EwsServer, ca: Path, **changes: Any) -> GraphSettings:
    authority = server.authority(TENANT).removesuffix(f"/{TENANT}")
    return GraphSettings(
        tenant_id=TENANT,
        client_id=APP.client_id,
        client_secret=SecretStr(APP.client_secret),
        authority=authority,
        graph_url=server.graph_url,
        ca_bundle=ca,
        **changes,
    )


class GraphOutlook:
    """`tests.harness.Outlook` with the engine's side over Graph."""

    denial_code = "ErrorAccessDenied"

    def __init__(
        self, server: EwsServer, store: MailboxStore, clock: Clock, ca: Path, **settings: Any
    ):
        self.server = server
        self.store = store
        self.clock = clock
        self.settings = graph_settings(server, ca, **settings)
        self.client = GraphClient(self.settings)
        self.port = GraphExchange(self.client, self.settings, clock=clock)
        self.store_port = MailboxStorePort(store, clock=clock)
        self.unreachable: dict[str, str] = _Denied(server)
        self.fail_next_writes: list[Exception] = []

    @property
    def max_changes(self) -> int:
        return self.port.page_size

    @max_changes.setter
    def max_changes(self, value: int) -> None:
        self.port.page_size = value

    def check_mailbox(self, user: User) -> MailboxStatus:
        return self.port.check_mailbox(user)

    def read_changes(self, user: User, kind: ItemKind, checkpoint: str | None) -> ExchangeBatch:
        return self.port.read_changes(user, kind, checkpoint)

    def fetch(self, user: User, kind: ItemKind, native_id: str) -> Observation:
        return self.port.fetch(user, kind, native_id)

    def apply(self, user: User, stream_id: uuid.UUID, write: Write) -> WriteResult:
        if self.fail_next_writes:
            raise self.fail_next_writes.pop(0)
        return self.port.apply(user, stream_id, write)

    def apply_many(
        self, user: User, writes: Sequence[tuple[uuid.UUID, Write]]
    ) -> list[WriteResult | SideError]:
        return self.port.apply_many(user, writes)

    def find_by_stream_id(self, user: User, kind: ItemKind, stream_id: uuid.UUID) -> str | None:
        return self.port.find_by_stream_id(user, kind, stream_id)

    # ---- a user in Outlook, on the simulator's store ------------------------------------------

    def create(self, mailbox: str, content: Appointment | Task) -> str:
        return rest_id(self.store_port.create(mailbox, content))

    def edit(self, item_id: str, **changes: Any) -> None:
        self.store_port.edit(ews_id(item_id), **changes)

    def touch(self, item_id: str) -> None:
        self.store_port.touch(ews_id(item_id))

    def modify_occurrence(self, item_id: str, original_start: datetime, **changes: Any) -> None:
        self.store_port.modify_occurrence(ews_id(item_id), original_start, **changes)

    def delete_occurrence(self, item_id: str, original_start: datetime) -> None:
        self.store_port.delete_occurrence(ews_id(item_id), original_start)

    def delete(self, item_id: str) -> None:
        self.store_port.delete(ews_id(item_id))

    def invalidate_sync_states(self) -> None:
        assert self.server.graph is not None
        self.server.graph.expire_delta_tokens()

    def _graph_item(self, item: MailboxItem) -> GraphItem:
        linked = None
        if item.kind is ItemKind.TASK:
            raw = self.store.get_item(item.id).extended_properties.get(LINKS)
            ids = [
                link.get("externalId")
                for link in (json.loads(raw) if isinstance(raw, str) else [])
                if link.get("applicationName") == "einklang"
            ]
            linked = uuid.UUID(ids[0]) if ids else None
        return GraphItem(item, linked)

    def items(self, mailbox: str, kind: ItemKind) -> Sequence[GraphItem]:
        return [self._graph_item(item) for item in self.store_port.items(mailbox, kind)]

    def get(self, item_id: str) -> GraphItem:
        return self._graph_item(self.store_port.get(ews_id(item_id)))

    @property
    def folders(self) -> Mapping[tuple[str, ItemKind], GraphFolder]:
        return {
            key: GraphFolder({rest_id(i): self._graph_item(item) for i, item in f.items.items()})
            for key, f in self.store_port.folders.items()
        }


@contextmanager
def graph_outlook(
    clock: Clock, tmp_path: Path, mailboxes: Sequence[str] = MAILBOXES, *, ews: bool = False
) -> Iterator[GraphOutlook]:
    """A simulator serving Graph over TLS on a fresh store, and the Graph port on it; fails at
    the end if any Graph body violated the strict schema."""
    store = MailboxStore(clock=StoreClock(clock))
    for mailbox in mailboxes:
        store.add_mailbox(mailbox)
    tls = generate_self_signed(tmp_path / "graph-tls")
    check = SchemaCheck(SCHEMA)
    admins = (ADMIN,) if ews else ()  # EWS too, for tests across both protocols
    config = ServerConfig(admins=admins, apps=(APP,), tls=tls, graph=SimGraphSettings())
    server = EwsServer(store, config).start()
    assert server.graph is not None
    server.graph.observe = check
    outlook = GraphOutlook(server, store, clock, tls.certificate)
    try:
        yield outlook
    finally:
        outlook.client.close()
        server.stop()
    assert check.violations == [], "Graph schema violations:\n" + "\n".join(check.violations)
