"""One item's two sides in memory (`Pair`), driven through `deliberate` the way the runtime
drives it: the ground the decision tests (test_decide*.py, test_decide_table.py,
test_decide_moves.py, test_merge.py) stand on."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from engine import reasons
from engine.guard import NO_GUARD, DeletionGuard
from engine.lifecycle import build_machine, deliberate
from engine.model import Appointment, ItemKind, ModifiedOccurrence, Side, Task
from engine.observation import Change, ItemError, Observation, Origin, Trigger
from engine.options import SyncOptions
from engine.recurrence import Recurrence
from engine.state import (
    Decision,
    ItemState,
    Status,
    WriteDone,
    WriteFailed,
    decided,
    new_state,
    write_done,
    write_failed,
)
from tests.harness import at

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
NATIVE = {Side.ERP: "17", Side.EXCHANGE: "AAMkAGI17"}
MEETING = Appointment(subject="Kickoff", start=at(1, 9), end=at(1, 10), info_text="Agenda")
CALL = Task(subject="Call back", due=date(2026, 12, 3), info_text="Number in the CRM")
WEEKLY = Recurrence(pattern="weekly", weekdays=("monday",), count=6)
SERIES = Appointment(subject="Jour fixe", start=at(7, 9), end=at(7, 10), recurrence=WEEKLY)
MONDAYS = SERIES.occurrence_starts()


class Pair:
    """One item's two sides in memory, and what the engine knows of them."""

    def __init__(
        self, options: SyncOptions | None = None, kind: ItemKind = ItemKind.APPOINTMENT
    ) -> None:
        self.options = options or SyncOptions()
        self.machine = build_machine()  # the table built anew, in the test
        self.guard = NO_GUARD  # the user's deletion burst guard (R17)
        self.state: ItemState = new_state(uuid.UUID(int=17), "mueller", kind)
        self.now = T0
        self.versions = {Side.ERP: 0, Side.EXCHANGE: 0}

    def decide(self, event: Observation | Trigger) -> Decision:
        after, decision = deliberate(
            self.state, event, self.options, machine=self.machine, guard=self.guard
        )
        assert decision.at == (event.observed_at if isinstance(event, Observation) else event.at)
        self.state = decided(after, decision)
        if decision.deletion_counted:  # as the runtime records it on the user's ledger
            self.guard = self.guard.count(decision.at, self.options)
        return decision

    def observation(
        self,
        side: Side,
        snapshot: Appointment | Task | None = None,
        *,
        change: Change = Change.CHANGED,
        modified_at: datetime | None = None,
        origin: Origin = Origin.UNKNOWN,
        version: str | None = None,
        paused: bool = False,
        eligible: bool = True,
        why: str = "the login is locked",
        native_id: str | None = None,
        error: ItemError | None = None,
    ) -> Observation:
        """That side's report of the item (a person changed it, unless told otherwise)."""
        self.now += timedelta(minutes=1)
        if paused:  # the user's deletions are paused after a burst
            self.guard = DeletionGuard(paused=True, paused_at=self.now, paused_count=26)
        if version is None and change is not Change.DELETED:
            self.versions[side] += 1
            version = str(self.versions[side])
        return Observation(
            side=side,
            kind=self.state.kind,
            user="mueller",
            native_id=native_id or NATIVE[side],
            change=change,
            observed_at=self.now,
            modified_at=modified_at,
            native_version=version,
            snapshot=snapshot,
            error=error,
            origin=origin,
            user_eligible=eligible,
            user_reason="" if eligible else why,
        )

    def see(self, side: Side, snapshot: Appointment | Task | None = None, **kw: Any) -> Decision:
        """That side reports the item, and `decide` decides."""
        return self.decide(self.observation(side, snapshot, **kw))

    def deletion(self, side: Side, **kw: Any) -> Observation:
        return self.observation(side, change=Change.DELETED, **kw)

    def delete(self, side: Side, **kw: Any) -> Decision:
        return self.see(side, change=Change.DELETED, **kw)

    def trigger(self, name: str, **kw: Any) -> Decision:
        self.now += timedelta(minutes=1)
        return self.decide(Trigger(name=name, at=self.now, **kw))

    def written(self) -> None:
        """Every pending write succeeds, each with a new version on its side."""
        for write in self.state.pending:
            self.versions[write.side] += 1
            self.state = write_done(
                self.state,
                WriteDone(
                    side=write.side,
                    operation=write.operation,
                    native_id=write.native_id or NATIVE[write.side],
                    native_version=str(self.versions[write.side]),
                    at=self.now,
                ),
            )

    def failed(self, *, transient: bool = True) -> None:
        write = self.state.pending[0]
        self.state = write_failed(
            self.state,
            WriteFailed(
                side=write.side,
                operation=write.operation,
                error_class="ErrorServerBusy",
                message="busy",
                attempt=self.state.attempts + 1,
                transient=transient,
                next_retry_at=self.now + timedelta(minutes=1),
                at=self.now,
            ),
        )

    def current(self, side: Side) -> Any:
        return self.state.view(side).current

    def echo(self, side: Side) -> Decision:
        """Our last write to `side` read back, as that side reports it."""
        view = self.state.view(side)
        return self.see(
            side,
            view.current,
            version=view.written_version,
            origin=Origin.SYNC if side is Side.ERP else Origin.UNKNOWN,
        )


def linked(
    snapshot: Appointment | Task = MEETING, options: SyncOptions | None = None, **kw: Any
) -> Pair:
    """An item created in the ERP and exported: in sync on both sides."""
    kind = ItemKind.TASK if isinstance(snapshot, Task) else ItemKind.APPOINTMENT
    pair = Pair(options, kind, **kw)
    assert pair.see(Side.ERP, snapshot).reason == reasons.CREATED_IN_ERP
    pair.written()
    assert pair.state.status is Status.IN_SYNC and pair.state.linked
    return pair


def summary(decision: Decision) -> tuple[Any, ...]:
    return (
        decision.verdict,
        decision.reason,
        decision.status,
        decision.settled,
        decision.direction,
        decision.operation,
        tuple((w.side, w.operation) for w in decision.writes),
    )


def target(decision: Decision, side: Side) -> Any:
    (write,) = [w for w in decision.writes if w.side is side]
    return write.snapshot


def moved(key: datetime, subject: str, hours: int = 2) -> ModifiedOccurrence:
    return ModifiedOccurrence(
        original_start=key,
        start=key + timedelta(hours=hours),
        end=key + timedelta(hours=hours + 1),
        subject=subject,
    )
