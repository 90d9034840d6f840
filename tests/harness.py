"""A running engine between the ERP and Exchange, on a real SQLite event store.

The two sides are the project's one model of each (DESIGN §8): the real ERP adapter on a
temporary SQLite database (acted in through `tests/erp_person.py`), and the simulator's mailbox
store behind its port (`tests/doubles/mailbox_store.py`). Tests drive it the way the product
runs: they act as a person on one side, let the engine tick until it is quiet, and look at both
sides and the transfer log.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from engine.model import Appointment, ItemKind, Side, Task, User
from engine.options import SyncOptions
from engine.ports import BatchWrites, ExchangePort, Write, WriteResult
from engine.runtime import Engine, RetryPolicy
from engine.state import ItemState
from engine.store import EventStore, StoreLocation
from projections.projector import Projector
from replay.verify import verify
from sim.store import MailboxStore, StoreSettings
from tests.doubles.mailbox_store import MailboxStorePort
from tests.erp_person import ErpFactory, SqlErp

BERLIN = ZoneInfo("Europe/Berlin")


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class OutlookItem(Protocol):
    """An Exchange item as tests look at it: ids and its content in our model."""

    @property
    def id(self) -> str: ...
    @property
    def change_key(self) -> str: ...
    @property
    def kind(self) -> ItemKind: ...
    @property
    def content(self) -> Appointment | Task: ...
    @property
    def sync_id(self) -> uuid.UUID | None: ...


class OutlookFolder(Protocol):
    @property
    def items(self) -> Mapping[str, OutlookItem]: ...


class Outlook(ExchangePort, BatchWrites, Protocol):
    """An Exchange the engine syncs with and tests act in "as a user in Outlook"."""

    unreachable: dict[str, str]
    fail_next_writes: list[Exception]
    max_changes: int

    @property
    def folders(self) -> Mapping[tuple[str, ItemKind], OutlookFolder]: ...
    def create(self, mailbox: str, content: Appointment | Task) -> str: ...
    def edit(self, item_id: str, **changes: Any) -> None: ...
    def touch(self, item_id: str) -> None: ...
    def modify_occurrence(self, item_id: str, original_start: datetime, **changes: Any) -> None: ...
    def delete_occurrence(self, item_id: str, original_start: datetime) -> None: ...
    def delete(self, item_id: str) -> None: ...
    def invalidate_sync_states(self) -> None: ...
    def items(self, mailbox: str, kind: ItemKind) -> Sequence[OutlookItem]: ...
    def get(self, item_id: str) -> OutlookItem: ...


# Builds the Exchange side of a harness from the harness's clock.
ExchangeFactory = Callable[[Callable[[], datetime]], Outlook]


MAILBOXES = ("mueller@example.com", "schmidt@example.com", "weber@example.com")


class StoreClock:
    """The store's clock (`now()`) over the harness's callable clock: one time for all."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now()


def mailbox_store_exchange(
    mailboxes: Iterable[str] = MAILBOXES, settings: StoreSettings | None = None
) -> ExchangeFactory:
    """A harness factory: a fresh simulator store with these mailboxes, and the port over it."""

    def build(clock: Callable[[], datetime]) -> Outlook:
        store = MailboxStore(clock=StoreClock(clock), settings=settings)
        for mailbox in mailboxes:
            store.add_mailbox(mailbox)
        return MailboxStorePort(store, clock=clock)

    return build


def at(day: int, hour: int, minute: int = 0, month: int = 12, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


class Harness:
    def __init__(
        self,
        directory: Path,
        options: SyncOptions | None = None,
        store_url: str | None = None,
        exchange: ExchangeFactory | None = None,
        erp: ErpFactory = SqlErp,
    ) -> None:
        self.clock = Clock(datetime(2026, 11, 2, 8, 0, tzinfo=UTC))
        self.erp = erp(self.clock)
        self.exchange = (exchange or mailbox_store_exchange())(self.clock)
        self.options = options or SyncOptions()
        self.location = StoreLocation(store_url or str(directory / "einklang.db"))
        self.store: EventStore | None = None
        self.engine: Engine | None = None
        self.retry = RetryPolicy(first_s=30, max_s=600)
        self.open()

    # ---- the process ----------------------------------------------------------------------

    def open(self, options: SyncOptions | None = None) -> Engine:
        if options is not None:
            self.options = options
        self.store = EventStore(self.location)
        self.projector = Projector(self.store)
        self.engine = Engine(
            self.store,
            self.erp,
            self.exchange,
            self.options,
            clock=self.clock,
            retry=self.retry,
            index=self.projector,
        )
        return self.engine

    def restart(self, options: SyncOptions | None = None) -> Engine:
        """Stop the process (memory gone) and start it again on the same store."""
        self.close()
        engine = self.open(options)
        engine.start()
        return engine

    def close(self) -> None:
        """Stop the engine's process; the two sides live on."""
        if self.engine is not None:
            self.projector.close()
        if self.store is not None:
            self.store.close()
        self.engine = self.store = None

    def shutdown(self) -> None:
        """Stop the engine and put the two sides away (the ERP's database, for one)."""
        self.close()
        close = getattr(self.erp, "close", None)
        if close is not None:
            close()

    def exports(self) -> threading.Event:
        """An event set whenever the engine has written to Exchange."""
        written = threading.Event()
        apply = self.exchange.apply

        def apply_and_tell(user: User, stream_id: uuid.UUID, write: Write) -> WriteResult:
            result = apply(user, stream_id, write)
            written.set()
            return result

        # This instance only is wrapped (mypy refuses any assignment to a method).
        self.exchange.apply = apply_and_tell  # type: ignore[method-assign]
        return written

    @contextmanager
    def running(self, poll_s: float) -> Iterator[None]:
        """The engine's own loop (`Engine.run`) in a thread, as the service runs it."""
        assert self.engine is not None
        stop = threading.Event()
        loop = threading.Thread(target=self.engine.run, args=(stop,), kwargs={"poll_s": poll_s})
        loop.start()
        try:
            yield
        finally:
            stop.set()
            loop.join(timeout=10.0)
        assert not loop.is_alive(), "the engine's loop did not stop"

    def sync(self) -> int:
        assert self.engine is not None
        return self.engine.run_until_quiet()

    # ---- people on both sides -------------------------------------------------------------

    def user(self, login: str = "mueller", **fields: Any) -> User:
        """An ERP user allowed to sync, with a mailbox of the same name in Exchange."""
        user = User(login=login, mailbox=self.mailbox(login), allow_sync=True, **fields)
        if isinstance(self.exchange, MailboxStorePort) and not self.exchange.store.has_mailbox(
            user.mailbox or ""
        ):
            self.exchange.store.add_mailbox(user.mailbox or "")
        self.erp.save_user(user)
        return user

    def mailbox(self, login: str = "mueller") -> str:
        return f"{login}@example.com"

    def erp_appointment(self, user: str = "mueller", **fields: Any) -> str:
        data: dict[str, Any] = {"subject": "Kickoff", "start": at(1, 9), "end": at(1, 10)}
        data.update(fields)
        return self.erp.create(user, ItemKind.APPOINTMENT, **data)

    def erp_task(self, user: str = "mueller", **fields: Any) -> str:
        data: dict[str, Any] = {"subject": "Call back"}
        data.update(fields)
        return self.erp.create(user, ItemKind.TASK, **data)

    def outlook_appointment(self, user: str = "mueller", **fields: Any) -> str:
        data: dict[str, Any] = {"subject": "Dentist", "start": at(2, 14), "end": at(2, 15)}
        data.update(fields)
        return self.exchange.create(self.mailbox(user), Appointment(**data))

    def outlook_task(self, user: str = "mueller", **fields: Any) -> str:
        data: dict[str, Any] = {"subject": "Buy stamps"}
        data.update(fields)
        return self.exchange.create(self.mailbox(user), Task(**data))

    # ---- looking ---------------------------------------------------------------------------

    def exchange_items(
        self, user: str = "mueller", kind: ItemKind = ItemKind.APPOINTMENT
    ) -> list[OutlookItem]:
        return list(self.exchange.items(self.mailbox(user), kind))

    def counterpart_in_exchange(self, erp_id: str) -> OutlookItem:
        stream = self.erp.stream_id_of(erp_id)
        found: list[OutlookItem] = [
            i
            for (_, _), f in self.exchange.folders.items()
            for i in f.items.values()
            if i.sync_id == stream
        ]
        assert len(found) == 1, (
            f"expected one Exchange item for ERP row {erp_id}, found {len(found)}"
        )
        return found[0]

    def erp_row_for(self, exchange_id: str) -> Any:
        item = self.exchange.get(exchange_id)
        stream = item.sync_id or self.stream_of_exchange(exchange_id)
        rows = [r for r in self.erp.rows.values() if self.erp.stream_id_of(str(r.id)) == stream]
        assert len(rows) == 1, (
            f"expected one ERP row for Exchange item {exchange_id}, found {len(rows)}"
        )
        return rows[0]

    def stream_of_exchange(self, exchange_id: str) -> uuid.UUID:
        assert self.engine is not None
        found = self.projector.stream_of_native(Side.EXCHANGE, "mueller", exchange_id)
        assert found is not None
        return found

    def state(self, stream_id: uuid.UUID) -> ItemState:
        assert self.store is not None
        item = self.store.item(stream_id)
        assert item is not None
        return item.state

    def log(self, **where: Any) -> list[dict[str, Any]]:
        assert self.engine is not None
        table = self.projector.log
        query = sa.select(table).order_by(table.c.id)
        for name, value in where.items():
            query = query.where(table.c[name] == value)
        with self.projector.db.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def reasons(self, **where: Any) -> list[str]:
        return [r["reason"] for r in self.log(**where)]

    def verify(self, *, expect_decisions: bool = True) -> int:
        """Replay every stream through `decide`; every recorded decision must come out the same."""
        assert self.store is not None
        report = verify(self.store)
        assert report.ok, [
            (d.recorded.reason, d.derived and d.derived.reason, d.error) for d in report.differences
        ]
        assert report.decisions > 0 or not expect_decisions
        return report.decisions
