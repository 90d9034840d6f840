"""The decision table itself: one class-level Machine of the allowed moves, pure decisions,
rules run only when deciding (never when an item is rebuilt from its events)."""

from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path
from typing import Any

import pytest

from engine import aggregates as ev
from engine.errors import TransientError
from engine.lifecycle import MACHINE, OBSERVATION_RULES, decide
from engine.model import ItemKind, Side
from engine.observation import Change, Observation
from engine.options import SyncOptions
from engine.planning import Context
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


def test_rebuilding_an_item_from_its_recorded_events_decides_nothing(
    world: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    row = world.erp_appointment()
    world.sync()
    world.erp.edit(row, subject="Renamed")
    world.sync()
    calls: list[str] = []
    original = Context.decision

    def counted(self: Context, *args: Any, **kwargs: Any) -> Any:
        calls.append(self.trigger)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Context, "decision", counted)  # every rule's decision is made here
    world.restart()  # a new process: every aggregate is rebuilt from its stored events
    assert world.store is not None
    rebuilt = world.store.item(world.erp.stream_id_of(row))
    assert rebuilt is not None and rebuilt.state.status is Status.IN_SYNC
    assert calls == []
    world.erp.edit(row, subject="Renamed again")
    world.sync()
    assert "erp_changed" in calls  # (deciding does come through here)


IMPURE_MODULES = {
    "random",
    "secrets",
    "time",
    "os",
    "io",
    "sqlite3",
    "socket",
    "threading",
    "logging",
    "uuid_utils",
    "eventsourcing",
    "sqlalchemy",
    "psycopg",
    "exchangelib",
    "adapters",
    "projections",
    "replay",
    "sim",
}
IMPURE_CALLS = ("datetime.now(", ".now(", ".today(", "time.time(", "uuid1(", "uuid4(", "open(")
# Where decisions are made and replayed: `decide`, the state fold and the deletion guard's value.
DECISION_ROOTS = ("engine.lifecycle", "engine.state", "engine.guard")


def _imported_modules(module: str) -> set[str]:
    """Every module `module` imports (absolute names; `from a import b` counts `a` and `a.b`)."""
    tree = ast.parse(_source(module))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def decision_path() -> set[str]:
    """The engine modules `decide` and replay reach, found by following imports from the roots."""
    found: set[str] = set()
    todo = list(DECISION_ROOTS)
    while todo:
        module = todo.pop()
        if module in found:
            continue
        found.add(module)
        for name in _imported_modules(module):
            if name.split(".")[0] == "engine" and _is_module(name):
                todo.append(name)
    return found


def _source(module: str) -> str:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None, module
    return Path(spec.origin).read_text(encoding="utf-8")


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # `engine.model.Frozen`: a name in a module, not a module
        return False


def test_the_decision_path_is_found_by_following_imports() -> None:
    path = decision_path()
    # The modules named in DESIGN §2 and the ones they bring in (found, not listed by hand) ...
    assert {
        "engine.lifecycle",
        "engine.planning",
        "engine.merge",
        "engine.state",
        "engine.guard",
        "engine.observation",
        "engine.model",
        "engine.recurrence",
        "engine.options",
    } <= path
    # ... and none of the imperative shell.
    assert not path & {"engine.runtime", "engine.store", "engine.aggregates"}


@pytest.mark.parametrize("module", sorted(decision_path()))
def test_decide_is_pure(module: str) -> None:
    """No I/O, clock or randomness anywhere on the decision path: checked on the source."""
    source = _source(module)
    impure = {name.split(".")[0] for name in _imported_modules(module)} & IMPURE_MODULES
    assert not impure, (module, impure)
    for call in IMPURE_CALLS:
        assert call not in source, (module, call)


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
            rebuilt: Any = world.store.repository.get(stream, version=event.originator_version)
            after = rebuilt.state.status.value
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
    assert [condition.__name__ for condition, _ in OBSERVATION_RULES] == [
        "sync_switched_off",  # R10
        "kind_switched_off",  # R1, R10
        "moved_away",  # issue 10: the ERP gave the row to another user
        "user_not_eligible",  # R8
        "direction_switched_off",  # R10
        "is_stale",
        "is_invalid",
        "moved_in",  # issue 10: ... and this user's stream takes it
        "is_echo",
        "copy_left_behind",  # issue 10: the old user's copy
        "is_unchanged",
        "is_first_baseline",  # R5
        "always",  # R16, R17: plan
    ]
