"""Reading: the users the ERP has (R8, R11, R12), its change feed, and each eligible user's
Exchange folders. Every change read goes to `decide` (engine/deciding.py); nothing is written.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from engine.aggregates import UserLedger
from engine.eligibility import sync_scope
from engine.errors import SideError
from engine.model import ItemKind, Side, User
from engine.observation import Change, Observation, Trigger, UserChange
from engine.state import Status
from engine.tick import ERP_FEED, EngineBase, UserScope, exchange_checkpoint

log = logging.getLogger("einklang.engine")


class Reading(EngineBase):
    # ---- users (R8, R11, R12) -------------------------------------------------------------

    def _user_seen(self, user: User, *, deleted: bool = False) -> None:
        now = self.clock()
        scope = sync_scope(user, now.date(), self.identity)
        # The ports act in the mailbox R9 names, never in one an adapter makes up.
        user = user.model_copy(update={"mailbox": scope.mailbox})
        eligible, reason = scope.eligible, scope.reason
        if deleted:
            eligible, reason = False, "the user was deleted in the ERP"
        reachable = True
        if eligible and self.options.automatic_sync:
            status = self.exchange.check_mailbox(user)
            reachable = status.reachable
            if not reachable:
                eligible, reason = False, f"the mailbox cannot be reached: {status.reason}"
        elif not self.options.automatic_sync:
            eligible, reason = False, "automatic synchronisation is switched off"
        key = user.login.lower()
        before = self.scopes.get(key)
        self.scopes[key] = UserScope(
            user=user, eligible=eligible, reason=reason, mailbox_reachable=reachable
        )
        ledger = self._ledger(user.login)
        if (
            ledger.eligible != eligible
            or ledger.reason != reason
            or ledger.mailbox != scope.mailbox
        ):
            ledger.scope_changed(eligible, reason, now, mailbox=scope.mailbox, reachable=reachable)
            self._touch(ledger)
        if eligible and ledger.set_up_at is None:
            self._set_up(user, ledger, now)
        elif ledger.set_up_at is not None and (before is None or before.eligible != eligible):
            self._scope_changed(user, eligible, reason, now)

    def _set_up(self, user: User, ledger: UserLedger, now: datetime) -> None:
        """First time eligible: everything that exists now is pre-existing (R5)."""
        log.info("setting up sync for %s", user.login)
        ledger.set_up(now, int(self.checkpoints.get(ERP_FEED, "0")))
        self._touch(ledger)
        kinds = self._kinds()
        for obs in self.erp.baseline(user.login, kinds):
            self._handle(obs)
        for kind in kinds:
            self._read_exchange(user, kind)

    def _scope_changed(self, user: User, eligible: bool, reason: str, now: datetime) -> None:
        name = "scope_entered" if eligible else "scope_left"
        self.save()
        self.index.run()
        for stream_id in self._scope_candidates(user.login, eligible):
            item = self._item(stream_id)
            if item is None:
                continue
            if not eligible and item.state.status in (
                Status.DELETED,
                Status.OUT_OF_SCOPE,
                Status.MOVED,
            ):
                continue
            if eligible and item.state.status is not Status.OUT_OF_SCOPE:
                continue
            self._decide(
                item,
                Trigger(
                    name=name, at=now, reason=reason, user_eligible=eligible, user_reason=reason
                ),
            )

    def _scope_candidates(self, login: str, eligible: bool) -> list[uuid.UUID]:
        """The user's items a scope change may move, by their recorded status (the index is
        current): entering, those out of scope; leaving, all but those out of scope or deleted.
        The others would be loaded only to be skipped — at start, every item of every user."""
        if eligible:
            return self.index.streams_of_user(login, status=Status.OUT_OF_SCOPE)
        settled = {
            *self.index.streams_of_user(login, status=Status.OUT_OF_SCOPE),
            *self.index.streams_of_user(login, status=Status.DELETED),
        }
        return [s for s in self.index.streams_of_user(login) if s not in settled]

    # ---- the two sides ------------------------------------------------------------------------

    def _read_erp(self) -> None:
        position = int(self.checkpoints.get(ERP_FEED, "0"))
        try:
            batch = self.erp.read_changes(position, self.erp_batch)
        except SideError as error:  # the ERP database is away: read again next round
            log.warning("reading the ERP change feed failed: %s", error)
            self._tick.report.unread_sources += 1
            return
        except Exception:  # an adapter bug: the feed stays where it is, the mailboxes go on
            log.exception("reading the ERP change feed failed unexpectedly")
            self._tick.report.unread_sources += 1
            return
        for change in batch.changes:
            if isinstance(change, UserChange):
                self._tick.report.users_changed += 1
                self._user_seen(change.user, deleted=change.deleted)
            else:
                self._handle(change)
        if batch.position != position:
            self.checkpoints[ERP_FEED] = str(batch.position)
            self._tick.checkpoints[ERP_FEED] = str(batch.position)

    def _read_exchange(self, user: User, kind: ItemKind) -> None:
        key = exchange_checkpoint(user.login, kind)
        for _ in range(self.exchange_rounds):
            try:
                batch = self.exchange.read_changes(user, kind, self.checkpoints.get(key))
            except SideError as error:
                log.warning("reading %s of %s failed: %s", kind.value, user.login, error)
                self._tick.report.unread_sources += 1
                return
            except Exception:  # an adapter bug in one mailbox must not stop the others
                log.exception("reading %s of %s failed unexpectedly", kind.value, user.login)
                self._tick.report.unread_sources += 1
                return
            for obs in batch.observations:
                self._handle(obs)
            if batch.listing is not None:
                self._deleted_meanwhile(user, kind, batch.listing)
            self.checkpoints[key] = batch.checkpoint
            self._tick.checkpoints[key] = batch.checkpoint
            if not batch.more:
                return

    def _deleted_meanwhile(self, user: User, kind: ItemKind, listing: frozenset[str]) -> None:
        """A full pass after a lost sync state lists what the folder holds: the items known
        there and missing from it were deleted in Outlook while the state was lost."""
        login = user.login.lower()
        now = self.clock()
        known = [(n, s) for (u, n), s in self._exchange_ids.items() if u == login]
        for native_id, stream_id in known:
            if native_id in listing:
                continue
            item = self._item(stream_id)
            if item is None or item.state.kind is not kind:
                continue
            view = item.state.exchange
            if view.native_id != native_id or view.deleted:
                continue  # an id the item no longer has, or a deletion already seen
            self._handle(
                Observation(
                    side=Side.EXCHANGE,
                    kind=kind,
                    user=user.login,
                    native_id=native_id,
                    change=Change.DELETED,
                    observed_at=now,
                )
            )
