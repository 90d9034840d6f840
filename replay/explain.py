"""`replay explain`: one item's whole history, read from its events (R18, R19).

Every observation on each side with what changed since that side was last seen (field by field),
every trigger, every decision with its rule and sentence, every outcome of a write — in the
order they happened. It reads the event log alone, so it works on a support bundle as on the live
store.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine import aggregates as ev
from engine.model import Side
from engine.store import EventStore

_SIDE = {Side.ERP: "ERP", Side.EXCHANGE: "Exchange"}
_TEXT_LIMIT = 60
_EMPTY: tuple[Any, ...] = (None, "", [], False)


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: Any
    after: Any


@dataclass(frozen=True)
class Step:
    """One thing that happened to the item."""

    at: datetime
    what: str  # observed | triggered | decided | written | failed | started
    summary: str
    side: str | None = None
    reason: str | None = None
    changes: tuple[FieldChange, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "what": self.what,
            "side": self.side,
            "reason": self.reason,
            "summary": self.summary,
            "changes": [
                {"field": c.field, "before": c.before, "after": c.after} for c in self.changes
            ],
            **({"details": self.details} if self.details else {}),
        }


def explain(store: EventStore, stream_id: uuid.UUID) -> list[Step]:
    """The item's history, step by step (empty for an unknown stream)."""
    return list(steps(store.events_of(stream_id)))


def steps(events: Iterable[Any]) -> Iterable[Step]:
    last_seen: dict[Side, dict[str, Any]] = {}
    owner = ""
    for event in events:
        at = event.timestamp
        if isinstance(event, ev.ItemStarted):
            owner = event.user.lower()
            continue  # the first observation says when and where it was first seen
        if isinstance(event, ev.Observed):
            obs = event.observation
            side = _SIDE[obs.side]
            snapshot = obs.snapshot.model_dump(mode="json") if obs.snapshot is not None else {}
            # A side's first sighting is compared with what the other side had (an item we
            # created shows no change); the very first, with nothing (its filled fields).
            before = last_seen.get(obs.side, last_seen.get(obs.side.other, {}))
            changes = diff(before, snapshot)
            if snapshot:
                last_seen[obs.side] = snapshot
            what = obs.change.value
            origin = f", written by {obs.origin.value}" if obs.origin.value != "unknown" else ""
            summary = f"{side} item {obs.native_id} {what}{origin}"
            if owner and obs.user.lower() != owner:  # issue 10: the ERP gave the row away
                summary += f", now {obs.user}'s"
            if obs.moved_from is not None:
                summary += f", moved from {obs.moved_from}"
            if obs.error is not None:
                summary += f": {obs.error.code} ({obs.error.message})"
            yield Step(
                obs.observed_at, "observed", summary, side=side, changes=tuple(changes),
                details={"native_version": obs.native_version} if obs.native_version else {},
            )  # fmt: skip
        elif isinstance(event, ev.Triggered):
            trigger = event.trigger
            text = f"{trigger.name}" + (f": {trigger.reason}" if trigger.reason else "")
            yield Step(trigger.at, "triggered", text)
        elif isinstance(event, ev.Decided):
            d = event.decision
            writes = ", ".join(f"{w.operation} in {_SIDE[w.side]}" for w in d.writes)
            details: dict[str, Any] = {"verdict": d.verdict.value, "status": d.status.value}
            if writes:
                details["writes"] = writes
            if d.conflicts:
                details["conflicts"] = [c.model_dump(mode="json") for c in d.conflicts]
            if d.changed_fields:
                details["changed_fields"] = list(d.changed_fields)
            yield Step(d.at or at, "decided", d.sentence, reason=d.reason, details=details)
        elif isinstance(event, ev.Written):
            o = event.outcome
            yield Step(
                o.at, "written", f"{o.operation} done in {_SIDE[o.side]} (id {o.native_id})",
                side=_SIDE[o.side],
            )  # fmt: skip
        elif isinstance(event, ev.WriteFailedEvent):
            f = event.outcome
            retry = f", retry at {f.next_retry_at.isoformat()}" if f.next_retry_at else ""
            kind = "transient" if f.transient else "permanent"
            yield Step(
                f.at, "failed",
                f"{f.operation} in {_SIDE[f.side]} failed ({kind}, attempt {f.attempt}): "
                f"{f.error_class}: {f.message}{retry}",
                side=_SIDE[f.side], reason=f.error_class,
            )  # fmt: skip


def diff(before: dict[str, Any], after: dict[str, Any]) -> list[FieldChange]:
    """Fields whose values differ; against nothing, the fields that have a value."""
    return [
        FieldChange(name, before.get(name), after.get(name))
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
        and (before or after.get(name) not in _EMPTY)
        and name != "kind"
    ]


def render(history: Sequence[Step]) -> str:
    """The history for a terminal: one line per step, field changes indented beneath."""
    lines: list[str] = []
    for step in history:
        reason = f" [{step.reason}]" if step.reason else ""
        lines.append(
            f"{step.at.isoformat(timespec='seconds')}  {step.what:<9} {step.summary}{reason}"
        )
        for change in step.changes:
            lines.append(
                f"{'':>30}{change.field}: {_short(change.before)} → {_short(change.after)}"
            )
        if step.what == "decided" and "writes" in step.details:
            lines.append(f"{'':>30}writes: {step.details['writes']}")
    return "\n".join(lines)


def _short(value: Any) -> str:
    text = "—" if value in (None, "", [], ()) else str(value)
    return text if len(text) <= _TEXT_LIMIT else text[: _TEXT_LIMIT - 1] + "…"
