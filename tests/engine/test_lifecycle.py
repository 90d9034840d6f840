"""The state machine itself: one class-level Machine, pure decisions, callbacks only when deciding."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from engine import aggregates as ev
from engine import lifecycle, merge, planning, state
from engine.errors import TransientError
from engine.lifecycle import MACHINE, Deliberation, decide
from engine.model import ItemKind, Side
from engine.observation import Change, Observation
from engine.options import SyncOptions
from engine.state import Status, new_state
from replay.verify import item_streams
from tests.harness import Harness, at

ROOT = Path(__file__).resolve().parents[2]


def test_many_items_share_one_machine_and_none_is_attached(world: Harness) -> None:
    for n in range(200):
        world.erp_appointment(subject=f"Item {n}")
    world.sync()
    assert MACHINE.models == []  # the FAQ pattern: models are never added
    assert len(world.exchange_items()) == 200


def test_replaying_recorded_events_runs_no_transition_callback(
    world: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    row = world.erp_appointment()
    world.sync()
    world.erp.edit(row, subject="Renamed")
    world.sync()
    calls: list[str] = []
    for name in ("adopt_plan", "note_echo", "skip_unchanged", "park_invalid", "skip_preexisting"):
        original = getattr(Deliberation, name)
        monkeypatch.setattr(
            Deliberation, name, lambda self, _o=original, _n=name: (calls.append(_n), _o(self))[1]
        )
    world.restart()  # a new process: every aggregate is rebuilt from its stored events
    assert world.store is not None
    rebuilt = world.store.item(world.erp.stream_id_of(row))
    assert rebuilt is not None and rebuilt.state.status is Status.IN_SYNC
    assert calls == []


def _imports(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_decide_is_pure() -> None:
    """No I/O, clock or randomness in the decision core: checked on the source, not on trust."""
    for module in (lifecycle, planning, merge, state):
        source = inspect.getsource(module)
        impure = _imports(source) & {
            "random",
            "time",
            "os",
            "sqlite3",
            "socket",
            "logging",
            "uuid_utils",
            "eventsourcing",
            "adapters",
            "projections",
            "replay",
            "sim",
        }
        assert not impure, (module.__name__, impure)
        for call in ("datetime.now(", ".now(", "time.time(", "uuid4(", "open("):
            assert call not in source, (module.__name__, call)


def test_the_same_input_always_gives_the_same_decision() -> None:
    from engine.model import Appointment

    item = new_state(__import__("uuid").uuid4(), "mueller", ItemKind.APPOINTMENT)
    obs = Observation(
        side=Side.ERP,
        kind=ItemKind.APPOINTMENT,
        user="mueller",
        native_id="1",
        change=Change.CHANGED,
        observed_at=at(1, 8),
        native_version="1",
        snapshot=Appointment(subject="A", start=at(1, 9), end=at(1, 10)),
    )
    decisions = {decide(item, obs, SyncOptions()).model_dump_json() for _ in range(20)}
    assert len(decisions) == 1


def test_every_recorded_status_change_is_a_transition_of_the_machine(world: Harness) -> None:
    """Decisions and write outcomes move an item only along the machine's table."""
    row = world.erp_appointment()
    outlook = world.outlook_appointment()
    world.sync()
    world.exchange.fail_next_writes.append(TransientError("busy"))
    world.erp.edit(row, subject="Retried")
    world.sync()
    world.clock.advance(minutes=5)
    world.sync()
    world.erp.edit(row, start=at(1, 10), end=at(1, 9))  # parked
    world.exchange.delete(outlook)
    world.sync()
    world.erp.edit(row, end=at(1, 12))
    world.sync()
    assert world.store is not None
    allowed: dict[str, set[tuple[str, str]]] = {}
    for trigger, event in MACHINE.events.items():
        for source, transitions in event.transitions.items():
            for transition in transitions:
                allowed.setdefault(trigger, set()).add((source, transition.dest or source))
    seen: set[str] = set()
    for stream in item_streams(world.store):
        status = Status.NEW.value
        for event in world.store.events_of(stream):
            after = world.store.repository.get(
                stream, version=event.originator_version
            ).state.status.value  # type: ignore[attr-defined]
            if isinstance(event, ev.Decided):
                trigger = event.decision.trigger
            elif isinstance(event, ev.Written) and after != status:
                direction = event.outcome.side is Side.EXCHANGE
                trigger = "export_done" if direction else "import_done"
            elif isinstance(event, ev.WriteFailedEvent):
                trigger = "action_failed"
            else:
                status = after
                continue
            assert (status, after) in allowed[trigger], (trigger, status, after)
            seen.add(trigger)
            status = after
    assert {
        "erp_changed",
        "exchange_changed",
        "exchange_deleted",
        "export_done",
        "import_done",
        "action_failed",
        "retry",
    } <= seen


def test_the_decision_table_lists_rules_in_the_documented_order() -> None:
    rows = lifecycle._rows()
    order = [r["conditions"] for r in rows if r["trigger"] == "erp_changed" and "conditions" in r]
    assert order[:5] == ["out_of_scope", "is_stale", "is_invalid", "is_echo", "is_unchanged"]
    assert [condition for condition, _ in lifecycle.SCOPE_RULES] == [
        "sync_switched_off",  # R10
        "kind_switched_off",  # R1, R10
        "user_not_eligible",  # R8
        "direction_switched_off",  # R10
    ]
