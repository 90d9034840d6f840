"""`engine.ports.ExchangePort` over EWS with exchangelib: the users' calendar and tasks folders.

    port = EwsExchange(account_for, mailbox_for=..., clock=..., delete_type="MoveToDeletedItems")

`account_for(mailbox)` gives the exchangelib `Account` acting in that mailbox (impersonation,
built by `connection.py` on one shared Configuration); `mailbox_for(user)` the mailbox the ERP
resolved for the user (R9; default `User.mailbox`). No domain is assumed anywhere.

Reads: ID-only SyncFolderItems from the stored checkpoint (`"<phase> <sync state>"`), then
GetItem in batches. From checkpoint None the items that exist come as `baseline` (R5), page after
page; an invalid sync state (ErrorInvalidSyncStateData) starts the folder's sync afresh, as
Microsoft documents, reads that pass to its end at once and reports every item as a change: the
engine sees unchanged content and skips them, pre-existing items stay pre-existing, and what is
missing from the batch's `listing` was deleted while the state was lost. A 401 (a token refused
before msal thinks it expired) renews the OAuth2 token for the next attempt. Writes: see `writing.py`; deletes move the item
to Deleted Items unless `delete_type` says otherwise (exchangelib's default is a hard delete).
Errors: the one table in `errors.py`.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from exchangelib.errors import ErrorInvalidSyncStateData
from exchangelib.items.base import DELETE_TYPE_CHOICES, MOVE_TO_DELETED_ITEMS
from exchangelib.properties import ItemId

from adapters.exchange.ews import batch, reading, writing
from adapters.exchange.ews.errors import as_side_errors, ews_code, is_mailbox_error, reason
from adapters.exchange.ews.items import appointment_of, plain_utc, sync_id_of, task_of
from adapters.exchange.ews.properties import register_properties
from engine.errors import InvalidItem, NotFound, PermanentError, SideError, VersionConflict
from engine.model import Appointment, ItemKind, Side, Task, User
from engine.observation import Change, ItemError, Observation
from engine.ports import ExchangeBatch, MailboxStatus, Write, WriteResult

_BASELINE, _CHANGES = "baseline", "changes"
_MAX_ERROR_MESSAGE: Final = 300


def default_mailbox(user: User) -> str | None:
    """The mailbox the ERP stores for the user (R9)."""
    return user.mailbox.lower() if user.mailbox else None


def _now() -> datetime:
    return datetime.now(UTC)


class EwsExchange:
    """The Exchange port over EWS."""

    def __init__(
        self,
        account_for: Callable[[str], Any],
        *,
        mailbox_for: Callable[[User], str | None] = default_mailbox,
        clock: Callable[[], datetime] = _now,
        max_changes: int = reading.MAX_CHANGES,
        delete_type: str = MOVE_TO_DELETED_ITEMS,
        renew_token: Callable[[], None] | None = None,
    ) -> None:
        if delete_type not in DELETE_TYPE_CHOICES:
            raise ValueError(f"delete_type must be one of {DELETE_TYPE_CHOICES}")
        register_properties()
        self.account_for = account_for
        self.mailbox_for = mailbox_for
        self.clock = clock
        self.max_changes = max_changes
        self.delete_type = delete_type
        self.renew_token = renew_token  # after a 401: a new OAuth2 token from the authority
        self._accounts: dict[str, Any] = {}
        self._lock = threading.Lock()

    # ---- mailboxes --------------------------------------------------------------------------

    def _account(self, user: User) -> Any:
        register_properties()  # idempotent; see its docstring
        mailbox = self.mailbox_for(user)
        if mailbox is None:
            raise PermanentError(f"{user.login} has no Exchange mailbox")
        with self._lock:
            account = self._accounts.get(mailbox)
        if account is None:
            account = self.account_for(mailbox)
            with self._lock:
                account = self._accounts.setdefault(mailbox, account)
        return account

    def account_of(self, user: User) -> Any:
        """The exchangelib Account acting in the user's mailbox (PermanentError: none)."""
        return self._account(user)

    def check_mailbox(self, user: User) -> MailboxStatus:
        if self.mailbox_for(user) is None:
            return MailboxStatus(reachable=False, reason="the user has no Exchange mailbox")
        try:
            account = self._account(user)
            account.calendar.refresh()  # GetFolder: the mailbox answers and lets us in
        except Exception as error:
            why = ews_code(error) if is_mailbox_error(error) else reason(error)
            return MailboxStatus(reachable=False, reason=why)
        return MailboxStatus(reachable=True)

    # ---- reading ----------------------------------------------------------------------------

    def read_changes(self, user: User, kind: ItemKind, checkpoint: str | None) -> ExchangeBatch:
        account = self._account(user)
        baseline, state = (True, None) if checkpoint is None else _resume(checkpoint)
        with as_side_errors(self.renew_token):
            try:
                changes = reading.sync_folder(account, kind, state, self.max_changes)
            except ErrorInvalidSyncStateData:
                return self._resync(user, kind, account)
            seen = Change.BASELINE if baseline else Change.CHANGED
            wanted = {item_id: seen for item_id in changes.created}
            wanted.update({item_id: Change.CHANGED for item_id in changes.updated})
            observations = [self._deleted(user, kind, i) for i in changes.deleted]
            observations += self._observe(user, kind, account, wanted)
        phase = _BASELINE if baseline and not changes.last else _CHANGES
        return ExchangeBatch(
            observations=tuple(observations),
            checkpoint=f"{phase} {changes.sync_state}",
            more=not changes.last,
        )

    def _resync(self, user: User, kind: ItemKind, account: Any) -> ExchangeBatch:
        """Microsoft: sync the folder again from the start. The whole ID-only pass at once, so
        that the batch lists every item there (what is missing was deleted meanwhile); items
        after setup stay changes."""
        listed: list[str] = []
        state: str | None = None
        while True:
            changes = reading.sync_folder(account, kind, state, self.max_changes)
            listed += changes.created
            state = changes.sync_state
            if changes.last:
                break
        wanted = dict.fromkeys(listed, Change.CHANGED)
        observations = self._observe(user, kind, account, wanted)
        return ExchangeBatch(
            observations=tuple(observations),
            checkpoint=f"{_CHANGES} {state}",
            listing=frozenset(listed),
        )

    def fetch(self, user: User, kind: ItemKind, native_id: str) -> Observation:
        account = self._account(user)
        with as_side_errors(self.renew_token):
            [observation] = self._observe(user, kind, account, {native_id: Change.CHANGED})
        return observation

    def find_by_stream_id(self, user: User, kind: ItemKind, stream_id: uuid.UUID) -> str | None:
        account = self._account(user)
        with as_side_errors(self.renew_token):
            return reading.find_by_sync_id(account, kind, stream_id)

    def _observe(
        self, user: User, kind: ItemKind, account: Any, wanted: dict[str, Change]
    ) -> list[Observation]:
        """GetItem of the wanted items (and their exceptions), as observations."""
        ids = list(wanted)
        items = reading.get_items(account, kind, ids)
        present = [
            item
            for item in items
            if not isinstance(item, Exception) and reading.in_folder(account, kind, item)
        ]
        exceptions = reading.get_exceptions(account, present) if present else {}
        observations = []
        for item_id, item in zip(ids, items, strict=True):
            if isinstance(item, reading.GONE) or (
                not isinstance(item, Exception) and not reading.in_folder(account, kind, item)
            ):
                observations.append(self._deleted(user, kind, item_id))
            elif isinstance(item, Exception):
                raise item
            else:
                observations.append(
                    self._observation(user, kind, item, wanted[item_id], exceptions)
                )
        return observations

    def _observation(
        self,
        user: User,
        kind: ItemKind,
        item: Any,
        change: Change,
        exceptions: dict[str, list[Any]],
    ) -> Observation:
        common: dict[str, Any] = {
            "side": Side.EXCHANGE,
            "kind": kind,
            "user": user.login,
            "native_id": str(item.id),
            "native_version": str(item.changekey),
            "observed_at": self.clock(),
            "modified_at": None
            if item.last_modified_time is None
            else plain_utc(item.last_modified_time),
        }
        try:
            common["sync_id"] = sync_id_of(item)
            snapshot: Appointment | Task = (
                task_of(item)
                if kind is ItemKind.TASK
                else appointment_of(item, exceptions.get(str(item.id), ()))
            )
        except InvalidItem as error:
            message = error.message
            if len(message) > _MAX_ERROR_MESSAGE:
                message = message[:_MAX_ERROR_MESSAGE] + "…"
            # Seen at setup, an unreadable item is still pre-existing: a baseline with its error.
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
        account = self._account(user)
        with as_side_errors(self.renew_token):
            if write.operation == "delete":
                return self._delete(account, write, stream_id)
            if write.operation == "update":
                item = self._current(account, write.kind, write.native_id or "")
                return self._update(account, item, stream_id, write, write.expected_version)
            found = reading.find_by_sync_id(account, write.kind, stream_id)
            if found is None:
                item_id, change_key = writing.create(account, stream_id, write)
                if isinstance(write.snapshot, Appointment) and write.occurrences:
                    item = self._current(account, write.kind, item_id)
                    return self._update(account, item, stream_id, write, None)
                return WriteResult(native_id=item_id, native_version=change_key)
            # An earlier attempt created it already: make that item exactly the target.
            item = self._current(account, write.kind, found)
            return self._update(account, item, stream_id, write, None)

    def apply_many(
        self, user: User, writes: Sequence[tuple[uuid.UUID, Write]]
    ) -> list[WriteResult | SideError]:
        """`engine.ports.BatchWrites`: creates and deletes in one request each (`batch.py`)."""
        return batch.apply_many(self, user, writes)

    def _current(self, account: Any, kind: ItemKind, item_id: str) -> Any:
        """The item as it is now; NotFound when it is gone or not in the user's folder."""
        [item] = reading.get_items(account, kind, [item_id])
        if isinstance(item, reading.GONE) or (
            not isinstance(item, Exception) and not reading.in_folder(account, kind, item)
        ):
            raise NotFound(f"item {item_id} is not in the {kind.value} folder")
        if isinstance(item, Exception):
            raise item
        return item

    def _content(self, account: Any, kind: ItemKind, item: Any) -> Appointment | Task | None:
        try:
            if kind is ItemKind.TASK:
                return task_of(item)
            exceptions = reading.get_exceptions(account, [item])
            return appointment_of(item, exceptions.get(str(item.id), ()))
        except InvalidItem:
            return None  # unreadable as it is: write every field

    def _update(
        self, account: Any, item: Any, stream_id: uuid.UUID, write: Write, expected: str | None
    ) -> WriteResult:
        target = write.snapshot
        assert target is not None
        item_id = str(item.id)
        if expected is not None and expected != item.changekey:
            raise VersionConflict(f"item {item_id} changed since it was read")
        change_key = expected or item.changekey
        current = self._content(account, write.kind, item)
        carries = sync_id_of_or_none(item) == stream_id
        if (
            isinstance(target, Appointment)
            and isinstance(current, Appointment)
            and write.pattern_changed
            and current.recurrence is not None
            and (current.modified_occurrences or current.deleted_occurrences)
        ):
            # A new pattern drops every exception; the same pattern written again would keep
            # them, so the series is made single first (the exceptions go with it).
            change_key = writing.drop_recurrence(account, item_id, change_key)
            current = current.replace(
                recurrence=None, modified_occurrences=(), deleted_occurrences=()
            )
            expected = change_key
        fields = writing.update_fields_for(current, write, stream_id, carries=carries)
        if fields:
            change_key = writing.update(
                account,
                write.kind,
                item_id,
                change_key,
                fields,
                check_version=expected is not None,
            )
        if isinstance(target, Appointment) and (target.recurrence or write.occurrences):
            if fields:  # the series as stored now (a time or pattern change drops exceptions)
                current = self._content(
                    account, write.kind, self._current(account, write.kind, item_id)
                )
            assert current is None or isinstance(current, Appointment)
            writing.apply_occurrences(account, item_id, target, current, write.occurrences)
            change_key = self._restore_strays(account, item_id, target)
        return WriteResult(native_id=item_id, native_version=change_key)

    def _restore_strays(self, account: Any, item_id: str, series: Appointment) -> str:
        """Give the series' values to exceptions the target does not have; the ChangeKey after.

        A restored occurrence stays an exception in Exchange, with the values it was restored
        to; once the series' subject or location changes, it would show as modified again.
        """
        item = self._current(account, ItemKind.APPOINTMENT, item_id)
        now = self._content(account, ItemKind.APPOINTMENT, item)
        if not isinstance(now, Appointment):
            return str(item.changekey)
        wanted = {o.original_start for o in series.modified_occurrences}
        strays = [o for o in now.modified_occurrences if o.original_start not in wanted]
        regulars = [writing.regular(series, o.original_start) for o in strays]
        writing.set_occurrences(account, item_id, series, regulars)
        if strays:
            return str(self._current(account, ItemKind.APPOINTMENT, item_id).changekey)
        return str(item.changekey)

    def _delete(self, account: Any, write: Write, stream_id: uuid.UUID) -> WriteResult:
        item_id = write.native_id or reading.find_by_sync_id(account, write.kind, stream_id)
        if item_id is None:
            raise NotFound(f"no {write.kind.value} carries stream {stream_id}")
        item = self._current(account, write.kind, item_id)
        if write.expected_version not in (None, item.changekey):
            raise VersionConflict(f"item {item_id} changed since it was read")
        [outcome] = account.bulk_delete(
            [ItemId(id=item_id, changekey=item.changekey)],
            delete_type=self.delete_type,
            send_meeting_cancellations="SendToNone",
            affected_task_occurrences="AllOccurrences",
        )
        if isinstance(outcome, Exception):
            raise outcome
        return WriteResult(native_id=item_id)


def sync_id_of_or_none(item: Any) -> uuid.UUID | None:
    try:
        return sync_id_of(item)
    except InvalidItem:
        return None


def _resume(checkpoint: str) -> tuple[bool, str]:
    """(still reading the baseline?, the sync state) from one of our checkpoints; anything else
    is answered by Exchange as an invalid sync state."""
    phase, _, state = checkpoint.partition(" ")
    if phase not in (_BASELINE, _CHANGES):
        return False, checkpoint
    return phase == _BASELINE, state
