"""Re-derive recorded decisions from recorded observations (R19): verify and what-if.

Replay folds each item's events as the store does (each event's `mutate`, which applies the
pure `engine.state` functions), and at every recorded decision calls `decide` again on exactly
the state and input it was made on. Verify uses the options recorded with each decision;
what-if substitutes others and reports where the outcome would differ. Nothing is written
anywhere.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.utils import get_topic

from engine import aggregates as ev
from engine import state as st
from engine.lifecycle import decide
from engine.observation import Observation, Trigger
from engine.options import SyncOptions
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


@dataclass
class ReplayReport:
    decisions: int = 0
    differences: list[Replayed] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences


def replay_stream(events: Iterable[Any], options: SyncOptions | None = None) -> Iterator[Replayed]:
    """Every decision of one item's stream, re-derived; `options` None means as recorded.

    The item is folded by its events themselves (`mutate`, as the store rebuilds it); only a
    decision is also made again, on the state and the input it was recorded with."""
    item: ev.SyncItem | None = None
    before: st.ItemState | None = None
    pending: Observation | Trigger | None = None
    for event in events:
        if isinstance(event, ev.Decided):
            recorded = event.decision
            derived: st.Decision | None = None
            error = None
            if before is None or pending is None:
                error = "decision without a preceding observation or trigger"
            else:
                use = options or recorded.options.options()
                try:
                    derived = decide(before, pending, use, None if options else recorded.options)
                except Exception as exc:  # a replay must report, not stop
                    error = f"{type(exc).__name__}: {exc}"
            yield Replayed(event.originator_id, event.originator_version, recorded, derived, error)
            before = pending = None
        elif isinstance(event, ev.Observed | ev.Triggered):
            assert item is not None, "stream without a start"
            before = item.state
            pending = event.observation if isinstance(event, ev.Observed) else event.trigger
        item = event.mutate(item)


def verify(
    store: EventStore,
    stream_ids: Iterable[uuid.UUID] | None = None,
    options: SyncOptions | None = None,
) -> ReplayReport:
    report = ReplayReport()
    for stream_id in stream_ids if stream_ids is not None else item_streams(store):
        for replayed in replay_stream(store.events_of(stream_id), options):
            report.decisions += 1
            if not replayed.same:
                report.differences.append(replayed)
    return report


def item_streams(store: EventStore) -> list[uuid.UUID]:
    """Every item stream in the store, in the order they started."""
    started = get_topic(ev.ItemStarted)
    streams: list[uuid.UUID] = []
    position = 1
    while True:
        page = store.notifications(position, 1000)
        if not page:
            return streams
        streams.extend(uuid.UUID(str(n.originator_id)) for n in page if n.topic == started)
        position = page[-1].id + 1


def _essence(decision: st.Decision) -> dict[str, Any]:
    """What must match: everything but the options stamp (which what-if changes on purpose)."""
    return decision.model_dump(mode="json", exclude={"options"})
