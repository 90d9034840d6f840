"""The Exchange port over real EWS: `EwsExchange` with the real exchangelib, over HTTP, against
an in-process simulator (`sim.server.EwsServer`) that checks every request and response against
Microsoft's schemas.

The "user in Outlook" helpers act on the simulator's mailbox store directly (through the store
port of `tests/doubles`), as a user's Outlook would change the mailbox behind the engine's back;
the engine's side goes over the wire only. Test knobs become what Exchange would do: an
unreachable mailbox is the simulator answering that mailbox's requests with the EWS error, an
expired sync state is the simulator answering ErrorInvalidSyncStateData.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from exchangelib import (
    BASIC,
    IMPERSONATION,
    Account,
    Build,
    Configuration,
    Credentials,
    EWSTimeZone,
    FailFast,
    Version,
)
from exchangelib.protocol import close_connections

from adapters.exchange.ews.port import EwsExchange
from engine.errors import SideError
from engine.model import Appointment, ItemKind, Task, User
from engine.observation import Observation
from engine.ports import ExchangeBatch, MailboxStatus, Write, WriteResult
from sim.auth import AdminAccount
from sim.faults import ResponseError
from sim.server import EwsServer, ServerConfig
from sim.store import MailboxStore
from tests.doubles.mailbox_store import FolderView, MailboxItem, MailboxStorePort
from tests.harness import MAILBOXES, Clock, StoreClock
from tests.sim.support import MESSAGES_XSD

ADMIN = AdminAccount("ews-admin", "admin-pass-123", None)
EXCHANGE_2016 = Version(build=Build(15, 1, 2507, 6))


def ews_accounts(server: EwsServer) -> Callable[[str], Any]:
    """exchangelib accounts on the simulator, impersonated by the admin, one Configuration."""
    config = Configuration(
        service_endpoint=server.url,
        credentials=Credentials(ADMIN.username, ADMIN.password),
        auth_type=BASIC,
        version=EXCHANGE_2016,
        retry_policy=FailFast(),
        max_connections=4,
    )

    def account_for(mailbox: str) -> Any:
        return Account(
            mailbox,
            config=config,
            autodiscover=False,
            access_type=IMPERSONATION,
            default_timezone=EWSTimeZone("UTC"),
        )

    return account_for


class _Unreachable(dict[str, str]):
    """mailbox -> EWS code; setting one makes the simulator answer that mailbox with it."""

    def __init__(self, server: EwsServer) -> None:
        super().__init__()
        self._server = server

    def __setitem__(self, mailbox: str, code: str) -> None:
        super().__setitem__(mailbox, code)
        self._server.faults.add(ResponseError(code), mailbox=mailbox, times=None)


class EwsOutlook:
    """`tests.harness.Outlook` with the engine's side over EWS."""

    def __init__(self, server: EwsServer, store: MailboxStore, clock: Clock):
        self.server = server
        self.store = store
        self.clock = clock
        self.port = EwsExchange(ews_accounts(server), clock=clock)
        self.store_port = MailboxStorePort(store, clock=clock)
        self.unreachable: dict[str, str] = _Unreachable(server)
        self.fail_next_writes: list[Exception] = []

    @property
    def max_changes(self) -> int:
        return self.port.max_changes

    @max_changes.setter
    def max_changes(self, value: int) -> None:
        self.port.max_changes = value

    # ---- ExchangePort, over EWS -------------------------------------------------------------

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
        return self.store_port.create(mailbox, content)

    def edit(self, item_id: str, **changes: Any) -> None:
        self.store_port.edit(item_id, **changes)

    def touch(self, item_id: str) -> None:
        self.store_port.touch(item_id)

    def modify_occurrence(self, item_id: str, original_start: datetime, **changes: Any) -> None:
        self.store_port.modify_occurrence(item_id, original_start, **changes)

    def delete_occurrence(self, item_id: str, original_start: datetime) -> None:
        self.store_port.delete_occurrence(item_id, original_start)

    def delete(self, item_id: str) -> None:
        self.store_port.delete(item_id)

    def invalidate_sync_states(self) -> None:
        """Every sync state handed out so far goes stale (the simulator's way: an age limit and
        a second later), so Exchange answers them with ErrorInvalidSyncStateData."""
        self.store.settings = replace(self.store.settings, sync_state_max_age=timedelta(0))
        self.clock.advance(seconds=1)

    def items(self, mailbox: str, kind: ItemKind) -> Sequence[MailboxItem]:
        return self.store_port.items(mailbox, kind)

    def get(self, item_id: str) -> MailboxItem:
        return self.store_port.get(item_id)

    @property
    def folders(self) -> Mapping[tuple[str, ItemKind], FolderView]:
        return self.store_port.folders


@contextmanager
def ews_outlook(clock: Clock, mailboxes: Sequence[str] = MAILBOXES) -> Iterator[EwsOutlook]:
    """A simulator on a fresh store with these mailboxes, and the EWS port on it; fails at the
    end if any traffic violated the EWS schemas."""
    store = MailboxStore(clock=StoreClock(clock))
    for mailbox in mailboxes:
        store.add_mailbox(mailbox)
    server = EwsServer(store, ServerConfig(admins=(ADMIN,), schema=MESSAGES_XSD)).start()
    try:
        yield EwsOutlook(server, store, clock)
    finally:
        server.stop()
        close_connections()
    assert server.violations == [], "schema violations:\n" + "\n".join(map(str, server.violations))
