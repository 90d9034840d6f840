"""Asking `decide`: every observation and trigger goes to the pure decision with everything it
needs — the item's state, the user's eligibility, the user's deletion burst guard (R17) — and
the runtime records what it was asked and what it was told, nothing more.

The decision says whether a deletion counted against the guard; the count is recorded on the
user's ledger, whose events fold the guard the next decision is asked with. Which stream an
observation belongs to is `engine.routing.stream_for` (a copy carrying our sync id is an item
of its own), applied here and re-applied by replay.

An ERP row the ERP moved to another user (issue 10) is reported for its new user; the stream
that held it (found by the row id, `_erp_rows`) gets the same observation first as a move
notice, decided with its own user's eligibility, and the new user's stream then gets it naming
the user it came from (`Observation.moved_from`). Both decisions are saved before either
write is made, so a restart between them redoes both, idempotently.
"""

from __future__ import annotations

import logging

from engine.aggregates import SyncItem
from engine.guard import NO_GUARD, DeletionGuard
from engine.lifecycle import deliberate
from engine.model import Side
from engine.observation import Change, Observation, Trigger
from engine.routing import holds_moved_row, stream_for
from engine.state import Decision, Status, Verdict
from engine.tick import EngineBase

log = logging.getLogger("einklang.engine")
# Every decision with its reason, at DEBUG: the extended diagnostics level (R13).
decisions_log = logging.getLogger("einklang.decisions")


class Deciding(EngineBase):
    def _handle(self, obs: Observation) -> None:
        self._tick.report.observations += 1
        item = self._item_for(obs)
        if obs.side is Side.ERP:
            holder = self._erp_holder(obs, item)
            if holder is not None and obs.change is Change.DELETED:
                # Moved and deleted before the engine saw either: for the user who had it, the
                # row is gone — a deletion like any other (R17).
                item, obs = holder, obs.model_copy(update={"user": holder.state.user})
            elif holder is not None:  # moved to another user: the old stream hears it first
                self._decide(holder, self._scoped(obs, holder.state.user))
                obs = obs.model_copy(update={"moved_from": holder.state.user})
            self._erp_rows[(obs.kind, obs.native_id)] = item.id
        self._decide(item, self._scoped(obs, obs.user))

    def _scoped(self, obs: Observation, login: str) -> Observation:
        """The observation with the eligibility of `login`, whose stream records it."""
        scope = self.scopes.get(login.lower())
        eligible, reason = (
            (scope.eligible, scope.reason) if scope else (False, "the user is unknown to the ERP")
        )
        return obs.model_copy(update={"user_eligible": eligible, "user_reason": reason})

    def _erp_holder(self, obs: Observation, item: SyncItem) -> SyncItem | None:
        """The stream of another user that still holds the row `obs` reports: the one the ERP
        moved it away from (found by the row id, or by the sync id the row carries)."""
        for stream_id in (self._erp_rows.get((obs.kind, obs.native_id)), obs.sync_id):
            if stream_id is None or stream_id == item.id:
                continue
            holder = self._item(stream_id)
            if holder is not None and holds_moved_row(holder.state, obs):
                return holder
        return None

    def _item_for(self, obs: Observation) -> SyncItem:
        """The item's stream: named on the item itself, else derived from its native id."""
        if obs.sync_id is not None:
            named = self._item(obs.sync_id)
            stream_id = stream_for(obs, named.state if named is not None else None)
            if named is not None and named.id == stream_id:
                return named
        elif obs.side is Side.EXCHANGE and obs.change is Change.DELETED:
            # A deleted Exchange item no longer shows the stream id we wrote on it.
            stream_id = self._exchange_ids.get((obs.user.lower(), obs.native_id), obs.stream_id)
        else:
            stream_id = obs.stream_id
        return self._item(stream_id) or SyncItem.start(stream_id, obs.user, obs.kind)

    def _guard(self, event: Observation | Trigger) -> DeletionGuard:
        """The user's burst guard, for the decisions that may count a deletion: those on a
        reported deletion (planning.plan_deletion); others are decided without it."""
        if isinstance(event, Observation) and event.change is Change.DELETED:
            return self._ledger(event.user).guard
        return NO_GUARD

    def _decide(self, item: SyncItem, event: Observation | Trigger) -> Decision:
        after, decision = deliberate(
            item.state, event, self.options, self.stamp, guard=self._guard(event)
        )
        if isinstance(event, Observation):
            item.observed(event, after)
            if event.side is Side.EXCHANGE:
                self._exchange_ids[(event.user.lower(), event.native_id)] = item.id
        else:
            item.triggered(event)
        item.decided(decision)
        if decision.deletion_counted:
            self._count_deletion(decision)
        if decisions_log.isEnabledFor(logging.DEBUG):
            decisions_log.debug(
                "%s %s %s: %s", item.id, decision.verdict.value, decision.reason, decision.sentence
            )
        self._touch(item)
        report = self._tick.report
        report.decisions += 1
        if decision.writes:
            self._tick.to_act[item.id] = item
            report.transfers[(decision.direction, decision.reason)] += 1
        if decision.verdict is Verdict.FAIL:
            report.failed[decision.reason] += 1
        return decision

    def _count_deletion(self, decision: Decision) -> None:
        """Record on the user's ledger the deletion `decide` counted (R17)."""
        assert decision.at is not None  # pragma: no mutate (every new decision has its time)
        ledger = self._ledger(decision.item.user)
        was_paused = ledger.guard.paused
        ledger.count_deletion(decision.at, self.options)
        self._touch(ledger)
        if ledger.guard.paused and not was_paused:
            log.warning(
                "deletion burst for %s: %d deletions within %d s; deletions paused until released",
                decision.item.user,
                ledger.guard.paused_count,
                self.options.deletion_burst_window_s,
            )

    def release_deletions(self, login: str, by: str) -> int:
        """An administrator releases a user's held deletions (R17); returns how many proceed."""
        now = self.clock()
        ledger = self._ledger(login)
        ledger.release_deletions(now, by)
        self._touch(ledger)
        count = 0
        scope = self.scopes.get(login.lower())
        self.save()
        self.index.run()
        for stream_id in self.index.streams_of_user(login, status=Status.HELD):
            item = self._item(stream_id)
            if item is not None and item.state.status is Status.HELD:
                eligible = scope.eligible if scope else True
                self._decide(
                    item,
                    Trigger(
                        name="deletions_released",
                        at=now,
                        reason=f"released by {by}",
                        user_eligible=eligible,
                    ),
                )
                count += 1
        self._settle()
        return count
