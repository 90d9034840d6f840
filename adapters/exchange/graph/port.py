"""`engine.ports.ExchangePort` over Microsoft Graph: calendar events and To Do tasks.

    port = GraphExchange(GraphClient(settings), settings)

Reads: delta rounds (`reading.py`); the checkpoint is `"<phase> <nextLink or deltaLink>"`, for
events followed by the ids of the series masters read in the folder (comma-separated, GA3). From
None the items come as `baseline` (R5), page after page; an expired delta token (410
syncStateNotFound) starts a full pass, read to its end at once, whose items are reported as
changes (the engine sees unchanged content and skips them: nothing duplicated) and whose ids are
the batch's `listing` (what is missing from it was deleted while the token was lost). Writes: `writing.py`. Errors: the
client's typed side errors (`client.py`); an Application Access Policy denial makes
`check_mailbox` report the mailbox unreachable with Graph's code.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from adapters.exchange.graph import batch, reading, writing
from adapters.exchange.graph.client import DeltaExpired, GraphClient, MailboxDenied, user_path
from adapters.exchange.graph.items import UTC_PREFER, appointment_of, sync_id_of, task_of, utc
from adapters.exchange.graph.settings import GraphSettings
from engine.errors import InvalidItem, NotFound, PermanentError, SideError
from engine.model import Appointment, ItemKind, Side, Task, User
from engine.observation import Change, ItemError, Observation
from engine.ports import ExchangeBatch, MailboxStatus, Write, WriteResult

_BASELINE, _CHANGES = "baseline", "changes"
_MAX_ERROR_MESSAGE: Final = 300


def _now() -> datetime:
    return datetime.now(UTC)


class GraphExchange:
    """The Exchange port over Graph."""

    def __init__(
        self,
        client: GraphClient,
        settings: GraphSettings,
        *,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.client = client
        self.settings = settings
        self.clock = clock
        self.page_size = settings.page_size
        self._lock = threading.Lock()
        self._lists: dict[str, str] = {}
        self._masters: dict[str, str] = {}  # occurrence id -> master id (reading.py, GA3)

    # ---- mailboxes --------------------------------------------------------------------------

    def mailbox(self, user: User) -> str:
        mailbox = self.settings.mailbox_of(user)
        if mailbox is None:
            raise PermanentError(f"{user.login} has no Exchange mailbox")
        return mailbox

    def check_mailbox(self, user: User) -> MailboxStatus:
        mailbox = self.settings.mailbox_of(user)
        if mailbox is None:
            return MailboxStatus(reachable=False, reason="the user has no Exchange mailbox")
        try:
            self.client.call(
                mailbox,
                "GET",
                f"{user_path(mailbox)}/events",
                params={"$top": "1", "$select": "id"},
            )
        except MailboxDenied as error:
            return MailboxStatus(reachable=False, reason=error.code)
        except SideError as error:
            return MailboxStatus(reachable=False, reason=str(error))
        return MailboxStatus(reachable=True)

    def list_id(self, mailbox: str) -> str:
        with self._lock:
            found = self._lists.get(mailbox.lower())
        if found is None:
            found = reading.default_list(self.client, mailbox)
            with self._lock:
                self._lists[mailbox.lower()] = found
        return found

    # ---- reading ----------------------------------------------------------------------------

    def read_changes(self, user: User, kind: ItemKind, checkpoint: str | None) -> ExchangeBatch:
        mailbox = self.mailbox(user)
        masters: set[str] = set()  # series masters read in this folder (GA3)
        if checkpoint is None:
            baseline, url = True, self._first(mailbox, kind)
        else:
            phase, _, rest = checkpoint.partition(" ")
            url, _, kept = rest.partition(" ")
            masters = {m for m in kept.split(",") if m}
            baseline = phase == _BASELINE
            if phase not in (_BASELINE, _CHANGES) or not url:
                baseline, url, masters = False, self._first(mailbox, kind), set()
        try:
            page = reading.delta_page(self.client, mailbox, url, self.page_size)
        except DeltaExpired:
            return self._resync(user, kind, mailbox)
        seen = Change.BASELINE if baseline else Change.CHANGED
        observations = self._read(user, kind, mailbox, page.get("value", ()), seen, masters)
        kept = f" {','.join(sorted(masters))}" if masters else ""
        delta_link = page.get("@odata.deltaLink")
        if delta_link:
            return ExchangeBatch(
                observations=tuple(observations), checkpoint=f"{_CHANGES} {delta_link}{kept}"
            )
        next_link = str(page.get("@odata.nextLink") or "")
        phase = _BASELINE if baseline else _CHANGES
        return ExchangeBatch(
            observations=tuple(observations), checkpoint=f"{phase} {next_link}{kept}", more=True
        )

    def _resync(self, user: User, kind: ItemKind, mailbox: str) -> ExchangeBatch:
        """The delta token expired (410): a full pass, every page of it at once, so that the
        batch lists every item there (what is missing was deleted meanwhile); items after
        setup stay changes."""
        entries: list[Any] = []
        url = self._first(mailbox, kind)
        while True:
            page = reading.delta_page(self.client, mailbox, url, self.page_size)
            entries += page.get("value", ())
            delta_link = page.get("@odata.deltaLink")
            if delta_link:
                break
            url = str(page.get("@odata.nextLink") or "")
        masters: set[str] = set()
        listing: set[str] = set()
        observations = self._read(user, kind, mailbox, entries, Change.CHANGED, masters, listing)
        kept = f" {','.join(sorted(masters))}" if masters else ""
        return ExchangeBatch(
            observations=tuple(observations),
            checkpoint=f"{_CHANGES} {delta_link}{kept}",
            listing=frozenset(listing),
        )

    def _read(
        self,
        user: User,
        kind: ItemKind,
        mailbox: str,
        entries: Iterable[Any],
        seen: Change,
        masters: set[str],
        listing: set[str] | None = None,
    ) -> list[Observation]:
        """A delta round's entries: deletions observed, the items read (series by master).
        `masters` keeps the series masters read in the folder (GA3); `listing` gets the ids of
        every item there (a full pass)."""
        wanted: dict[str, Change] = {}
        observations: list[Observation] = []
        orphans = False  # an occurrence removed whose series this port has not seen (GA3)
        for entry in entries:
            entry_id = str(entry.get("id", ""))
            if kind is ItemKind.TASK:
                if "@removed" in entry:
                    observations.append(self._deleted(user, kind, entry_id))
                else:
                    wanted.setdefault(entry_id, seen)
                continue
            master = entry.get("seriesMasterId")
            if master:
                masters.add(str(master))
                with self._lock:
                    self._masters[entry_id] = str(master)
            with self._lock:
                known_master = self._masters.get(entry_id)
            if "@removed" in entry:
                if known_master is not None:
                    wanted.setdefault(known_master, Change.CHANGED)
                else:
                    observations.append(self._deleted(user, kind, entry_id))
                    orphans = orphans or bool(masters)
            elif master:
                wanted.setdefault(str(master), seen)
            else:
                wanted.setdefault(entry_id, seen)
        if listing is not None:
            listing.update(wanted)
        observed = self._observe(user, kind, mailbox, wanted)
        if orphans:
            observed += self._gone_masters(user, kind, mailbox, masters - set(wanted))
        for observation in observed:
            if observation.change is Change.DELETED:
                masters.discard(observation.native_id)
        return observations + observed

    def _gone_masters(
        self, user: User, kind: ItemKind, mailbox: str, candidates: set[str]
    ) -> list[Observation]:
        """GA3: the series masters among `candidates` that no longer exist, reported deleted.
        Asked when an occurrence is removed that this port has not seen (the engine restarted
        since): it may be the last trace of a series deleted meanwhile. Masters whose
        occurrences this port has seen since it started are accounted for and not asked."""
        with self._lock:
            accounted = set(self._masters.values())
        ids = sorted(candidates - accounted)
        if not ids:
            return []
        gone = []
        for item_id, item in zip(ids, self.read_items(mailbox, kind, ids), strict=True):
            if isinstance(item, NotFound):
                gone.append(self._deleted(user, kind, item_id))
            elif isinstance(item, Exception):
                raise item
        return gone

    def _first(self, mailbox: str, kind: ItemKind) -> str:
        list_id = self.list_id(mailbox) if kind is ItemKind.TASK else ""
        return reading.first_delta(
            mailbox,
            kind,
            list_id,
            self.clock(),
            self.settings.window_past_days,
            self.settings.window_future_days,
        )

    def fetch(self, user: User, kind: ItemKind, native_id: str) -> Observation:
        mailbox = self.mailbox(user)
        [observation] = self._observe(user, kind, mailbox, {native_id: Change.CHANGED})
        return observation

    def find_by_stream_id(self, user: User, kind: ItemKind, stream_id: uuid.UUID) -> str | None:
        mailbox = self.mailbox(user)
        if kind is ItemKind.TASK:
            return reading.find_task(self.client, mailbox, self.list_id(mailbox), str(stream_id))
        return reading.find_event(self.client, mailbox, str(stream_id))

    def item_url(self, mailbox: str, kind: ItemKind, item_id: str) -> str:
        if kind is ItemKind.TASK:
            path = reading.task_path(mailbox, self.list_id(mailbox), item_id)
            return f"{path}?$expand=linkedResources"
        return reading.event_url(mailbox, item_id)

    def read_items(self, mailbox: str, kind: ItemKind, ids: list[str]) -> list[Any]:
        urls = [self.item_url(mailbox, kind, i) for i in ids]
        return reading.get_many(self.client, mailbox, urls, dict(UTC_PREFER))

    def _observe(
        self, user: User, kind: ItemKind, mailbox: str, wanted: dict[str, Change]
    ) -> list[Observation]:
        ids = list(wanted)
        if not ids:
            return []
        observations = []
        for item_id, item in zip(ids, self.read_items(mailbox, kind, ids), strict=True):
            if isinstance(item, NotFound) or (
                isinstance(item, dict) and item.get("type") in ("occurrence", "exception")
            ):
                observations.append(self._deleted(user, kind, item_id))
            elif isinstance(item, Exception):
                raise item
            else:
                observations.append(self._observation(user, kind, item, wanted[item_id]))
        return observations

    def _observation(
        self, user: User, kind: ItemKind, item: dict[str, Any], change: Change
    ) -> Observation:
        modified = item.get("lastModifiedDateTime")
        common: dict[str, Any] = {
            "side": Side.EXCHANGE,
            "kind": kind,
            "user": user.login,
            "native_id": str(item.get("id")),
            "native_version": writing.change_key(item),
            "observed_at": self.clock(),
            "modified_at": utc(modified) if isinstance(modified, str) else None,
        }
        try:
            common["sync_id"] = sync_id_of(item)
            snapshot: Appointment | Task = (
                task_of(item) if kind is ItemKind.TASK else appointment_of(item)
            )
        except InvalidItem as error:
            message = error.message
            if len(message) > _MAX_ERROR_MESSAGE:
                message = message[:_MAX_ERROR_MESSAGE] + "…"
            return Observation(
                change=Change.BASELINE if change is Change.BASELINE else Change.INVALID,
                error=ItemError(code=error.code, message=message, field=error.field),
                **common,
            )
        return Observation(change=change, snapshot=snapshot, **common)

    def _deleted(self, user: User, kind: ItemKind, native_id: str) -> Observation:
        return Observation(
            side=Side.EXCHANGE,
            kind=kind,
            user=user.login,
            native_id=native_id,
            change=Change.DELETED,
            observed_at=self.clock(),
        )

    # ---- writing ----------------------------------------------------------------------------

    def apply(self, user: User, stream_id: uuid.UUID, write: Write) -> WriteResult:
        mailbox = self.mailbox(user)
        try:
            return writing.Writer(self, mailbox).apply(stream_id, write)
        except InvalidItem as error:  # e.g. a time zone Exchange has no id for
            raise PermanentError(f"{error.code}: {error.message}") from error

    def apply_many(
        self, user: User, writes: Sequence[tuple[uuid.UUID, Write]]
    ) -> list[WriteResult | SideError]:
        """`engine.ports.BatchWrites`: creates in `$batch` rounds (`batch.py`)."""
        return batch.apply_many(self, user, writes)

    def find_by_stream_id_in(
        self, mailbox: str, kind: ItemKind, stream_id: uuid.UUID
    ) -> str | None:
        if kind is ItemKind.TASK:
            return reading.find_task(self.client, mailbox, self.list_id(mailbox), str(stream_id))
        return reading.find_event(self.client, mailbox, str(stream_id))
