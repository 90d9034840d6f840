"""Re-derive recorded decisions from recorded observations (R19): verify and what-if.

Replay folds a user's events — every item stream of the user and the user's ledger — in the
order they were made (event timestamps never repeat or go back within a process,
`engine.aggregates.EventClock`), through the same pure `engine.state` functions the aggregates
use. At every recorded decision it calls `decide` again on exactly the state and input it was
made on, with the user's deletion burst guard (R17) as re-derived so far: the guard is folded
from the decisions replay derives, under the options replayed, so that a what-if with other
burst options shows which deletions would (not) have been held. Every recorded observation is
checked to be in the stream `engine.routing.stream_for` gives (a copy carrying our sync id is
an item of its own), or to be a move notice in the stream that held the ERP row before the ERP
gave it to another user (issue 10).

Verify uses the options recorded with each decision; what-if substitutes others and reports
where the outcome would differ. Nothing is written anywhere.
"""

from __future__ import annotations

import heapq
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from eventsourcing.utils import get_topic

from engine import aggregates as ev
from engine import state as st
from engine.guard import NO_GUARD
from engine.lifecycle import decide
from engine.observation import Observation, Trigger
from engine.options import SyncOptions
from engine.routing import is_move_notice, stream_for
from engine.store import EventStore


@dataclass(frozen=True)
class Replayed:
    """One recorded decision next to the one the current code makes for the same input."""

    stream_id: uuid.UUID
    version: int  # the Decided event's position in the stream
    recorded: st.Decision
    derived: st.Decision | None
    error: str | None = None

    @property
    def same(self) -> bool:
        return (
            self.error is None
            and self.derived is not None
            and _essence(self.recorded) == _essence(self.derived)
        )


@dataclass(frozen=True)
class Misrouted:
    """An observation recorded in another stream than the routing rule gives for it."""

    stream_id: uuid.UUID
    version: int  # the Observed event's position in the stream
    expected: uuid.UUID


@dataclass
class ReplayReport:
    decisions: int = 0
    differences: list[Replayed] = field(default_factory=list)
    misrouted: list[Misrouted] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences and not self.misrouted


class UserReplay:
    """One user's items and deletion guard, folded event by event in the order they were made."""

    def __init__(self, options: SyncOptions | None = None) -> None:
        self.options = options  # None: as recorded
        self.states: dict[uuid.UUID, st.ItemState] = {}
        self.inputs: dict[uuid.UUID, tuple[st.ItemState, Observation | Trigger]] = {}
        self.guard = NO_GUARD

    def apply(self, event: Any) -> Replayed | Misrouted | None:
        """Fold one event; a decision comes back re-derived, a misrouted observation reported."""
        stream = event.originator_id
        if isinstance(event, ev.ItemStarted):
            self.states[stream] = st.new_state(stream, event.user, event.kind)
        elif isinstance(event, ev.DeletionsReleased):
            self.guard = self.guard.release()
        elif isinstance(event, ev.Observed):
            return self._observed(event)
        elif isinstance(event, ev.Triggered):
            self.inputs[stream] = (self.states[stream], event.trigger)
        elif isinstance(event, ev.Decided):
            return self._decided(event)
        elif isinstance(event, ev.Written):
            self.states[stream] = st.write_done(self.states[stream], event.outcome)
        elif isinstance(event, ev.WriteFailedEvent):
            self.states[stream] = st.write_failed(self.states[stream], event.outcome)
        return None  # the ledger's own facts: replay derives the guard from the decisions

    def _observed(self, event: ev.Observed) -> Misrouted | None:
        stream, obs = event.originator_id, event.observation
        before = self.states[stream]
        self.inputs[stream] = (before, obs)
        self.states[stream] = st.observe(before, obs)
        if obs.sync_id is None or (obs.sync_id not in self.states and obs.sync_id != stream):
            return None  # found by an index (a deleted Exchange item), or another user's stream
        if is_move_notice(before, obs):
            return None  # the row's new user's stream has it; this one held it (issue 10)
        expected = stream_for(
            obs, self.states.get(obs.sync_id) if obs.sync_id != stream else before
        )
        if expected != stream:
            return Misrouted(stream, event.originator_version, expected)
        return None

    def _decided(self, event: ev.Decided) -> Replayed:
        stream, recorded = event.originator_id, event.decision
        derived: st.Decision | None = None
        error = None
        made_on = self.inputs.pop(stream, None)
        if made_on is None:
            error = "decision without a preceding observation or trigger"
        else:
            use = self.options or recorded.options.options()
            stamp = None if self.options else recorded.options
            try:
                derived = decide(*made_on, use, stamp, guard=self.guard)
            except Exception as exc:  # a replay must report, not stop
                error = f"{type(exc).__name__}: {exc}"
            else:
                if derived.deletion_counted and derived.at is not None:
                    self.guard = self.guard.count(derived.at, use)
        self.states[stream] = st.decided(self.states[stream], recorded)
        return Replayed(stream, event.originator_version, recorded, derived, error)


def replay_user(events: Iterable[Any], options: SyncOptions | None = None) -> Iterator[Any]:
    """Every decision (and misrouted observation) of one user's events, in the order made."""
    user = UserReplay(options)
    for event in events:
        found = user.apply(event)
        if found is not None:
            yield found


def verify(
    store: EventStore,
    stream_ids: Iterable[uuid.UUID] | None = None,
    options: SyncOptions | None = None,
) -> ReplayReport:
    """Replay every user's log (or the users of `stream_ids`, reporting on those streams);
    `options` None verifies as recorded, other options are a what-if."""
    wanted = set(stream_ids) if stream_ids is not None else None
    report = ReplayReport()
    for user, streams in streams_by_user(store).items():
        if wanted is not None and not wanted.intersection(streams):
            continue
        logs = [store.events_of(s) for s in (*streams, ev.ledger_id(user))]
        made = heapq.merge(*logs, key=lambda event: event.timestamp)
        for found in replay_user(made, options):
            if wanted is not None and found.stream_id not in wanted:
                continue
            if isinstance(found, Misrouted):
                report.misrouted.append(found)
                continue
            report.decisions += 1
            if not found.same:
                report.differences.append(found)
    return report


def streams_by_user(store: EventStore) -> dict[str, list[uuid.UUID]]:
    """Every item stream in the store by user (lower case), in the order they started."""
    started = get_topic(ev.ItemStarted)
    users: dict[str, list[uuid.UUID]] = {}
    for notification in _started(store, started):
        event = cast(ev.ItemStarted, store.mapper.to_domain_event(notification))
        users.setdefault(event.user.lower(), []).append(event.originator_id)
    return users


def item_streams(store: EventStore) -> list[uuid.UUID]:
    """Every item stream in the store, in the order they started."""
    return [uuid.UUID(str(n.originator_id)) for n in _started(store, get_topic(ev.ItemStarted))]


def _started(store: EventStore, topic: str) -> Iterator[Any]:
    position = 1
    while True:
        page = store.notifications(position, 1000)
        if not page:
            return
        yield from (n for n in page if n.topic == topic)
        position = page[-1].id + 1


def _essence(decision: st.Decision) -> dict[str, Any]:
    """What must match: everything but the options stamp (which what-if changes on purpose)."""
    return decision.model_dump(mode="json", exclude={"options"})
