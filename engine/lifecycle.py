"""The per-item state machine: which rule applies to an observation, in which order.

One class-level `transitions.Machine` serves every item (the library's FAQ pattern for many
models: no model is ever attached; `MACHINE.events[name].trigger(model)` runs against a small,
short-lived `Deliberation`). For each trigger the transitions are tried in table order and the
first whose conditions hold is taken — the table *is* the order of checks from DESIGN §4:

    type enabled (R1, R10) → user eligible (R8) → direction enabled (R10) → valid input →
    echo → pre-existing (R5) → one side changed or both (R16) → deletion guards (R17) →
    info-text rules (R6, R7, applied by the planner)

Transition callbacks compute the `Decision`; they run only while deciding. Replay applies the
recorded decisions through `engine.state` and never runs a callback.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from transitions import Machine

from engine import reasons
from engine.model import Side
from engine.observation import Change, Observation, Origin, Trigger
from engine.options import OptionsStamp, SyncOptions
from engine.planning import SIDE_NAME, Context, plan_deletion, plan_preexisting, plan_reconcile
from engine.state import Decision, ItemState, Status, Verdict, comparable, observe

STATES = [s.value for s in Status]
OBSERVATION_TRIGGERS = (
    "erp_changed",
    "erp_deleted",
    "exchange_changed",
    "exchange_deleted",
    "baseline_seen",
)
CHANGE_TRIGGERS = ("erp_changed", "exchange_changed", "baseline_seen")
IN_FLIGHT = [Status.EXPORTING.value, Status.IMPORTING.value, Status.CONFLICT.value]
# Where a planned decision can lead; each is one row so the table shows every destination.
PLANNED = [  # the most frequent first: each row is one step for the machine
    Status.EXPORTING,
    Status.IMPORTING,
    Status.IN_SYNC,
    Status.CONFLICT,
    Status.DELETED,
    Status.FAILED,
    Status.HELD,
    Status.PREEXISTING,
    Status.NEW,
]
STAY = None  # an internal transition: the state stays, no exit/enter (cheaper than "=")
# Scope and switches, in the order DESIGN §4 checks them: (condition, the skip it leads to).
SCOPE_RULES = (
    ("sync_switched_off", "skip_sync_off"),  # R10
    ("kind_switched_off", "skip_kind_off"),  # R1, R10
    ("user_not_eligible", "skip_user_not_eligible"),  # R8
    ("direction_switched_off", "skip_direction_off"),  # R10
)


def _rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def row(
        trigger: str | tuple[str, ...], dest: str | None, *, source: Any = "*", **kw: Any
    ) -> None:
        for name in (trigger,) if isinstance(trigger, str) else trigger:
            rows.append({"trigger": name, "source": source, "dest": dest, **kw})

    def planned(trigger: str | tuple[str, ...], source: Any = "*") -> None:
        for status in PLANNED:
            row(
                trigger,
                status.value,
                source=source,
                conditions=f"plans_{status.value}",
                after="adopt_plan",
            )
        row(trigger, STAY, source=source, after="adopt_plan")

    # Scope and switches first: a skipped observation still updates what we know (R1, R8, R10).
    # (One row: `SCOPE_RULES` below checks them in order — one step for the machine.)
    row(OBSERVATION_TRIGGERS, STAY, conditions="out_of_scope", after="skip_out_of_scope")
    # A report about a native item that is no longer this item's (a row we replaced).
    row(OBSERVATION_TRIGGERS, STAY, conditions="is_stale", after="skip_stale")
    # Input that cannot be synchronised is parked with its typed error.
    row(CHANGE_TRIGGERS, Status.FAILED.value, conditions="is_invalid", after="park_invalid")
    # Our own writes coming back (by native version, or by content), and repeats.
    row(OBSERVATION_TRIGGERS, STAY, conditions="is_echo", after="note_echo")
    row(CHANGE_TRIGGERS, STAY, conditions="is_unchanged", after="skip_unchanged")
    # R5: seen at setup and never touched since.
    row(
        "baseline_seen", Status.PREEXISTING.value, source=Status.NEW.value, after="skip_preexisting"
    )
    # Everything else: plan from what changed (transfer, merge, delete, hold).
    planned(OBSERVATION_TRIGGERS)
    # Non-observation triggers.
    row("scope_left", Status.OUT_OF_SCOPE.value, after="skip_scope_left")
    planned("retry", source=Status.FAILED.value)
    planned("scope_entered", source=Status.OUT_OF_SCOPE.value)
    planned("deletions_released", source=Status.HELD.value)
    # Outcomes of writes (no callbacks; the runtime records them, replay re-applies them).
    row("export_done", Status.IN_SYNC.value, source=IN_FLIGHT, unless="settles_deleted")
    row("export_done", Status.DELETED.value, source=IN_FLIGHT)
    row("import_done", Status.IN_SYNC.value, source=IN_FLIGHT, unless="settles_deleted")
    row("import_done", Status.DELETED.value, source=IN_FLIGHT)
    row("action_failed", Status.FAILED.value, source=[*IN_FLIGHT, Status.FAILED.value])
    return rows


def build_machine() -> Machine:
    """The machine over the table of `_rows` (built once at import; tests build it anew)."""
    return Machine(
        model=None,
        states=STATES,
        transitions=_rows(),
        initial=None,
        auto_transitions=False,
        ignore_invalid_triggers=False,
    )


MACHINE = build_machine()


class Deliberation:
    """The short-lived model the machine runs against while deciding one item."""

    def __init__(self, ctx: Context) -> None:
        self.state = ctx.before.status.value  # plain text: transitions treats enums by name
        self.ctx = ctx
        self.decision: Decision | None = None

    # ---- conditions (pure functions of the context) ---------------------------------------

    def sync_switched_off(self) -> bool:
        return not self.ctx.options.automatic_sync

    def kind_switched_off(self) -> bool:
        return not self.ctx.options.kind_enabled(self.ctx.after.kind)

    def user_not_eligible(self) -> bool:
        return not self.ctx.input.user_eligible

    def direction_switched_off(self) -> bool:
        side = self.ctx.side
        return side is not None and not self.ctx.may_write(side.other)

    def is_invalid(self) -> bool:
        obs = self.ctx.observation
        return obs is not None and obs.change is Change.INVALID

    def is_stale(self) -> bool:
        obs = self.ctx.observation
        if obs is None:
            return False
        known = self.ctx.before.view(obs.side)
        return known.native_id not in (None, obs.native_id) and not known.deleted

    def is_echo(self) -> bool:
        """Our own write coming back, as we wrote it: by the version it produced, or (on a side
        that marks our writes, like the ERP feed) by its content. A version of ours whose
        content differs is no echo: that side changed values as it saved them (Exchange sets a
        task's completion time itself), and the change is taken over like any other."""
        obs = self.ctx.observation
        if obs is None:
            return False
        view = self.ctx.before.view(obs.side)
        if obs.change is Change.DELETED:
            return view.deleted  # deleted by us, or a repeated report of a known deletion
        as_written = comparable(obs.side, obs.snapshot) == view.written_hash
        if obs.native_version is not None and obs.native_version == view.written_version:
            return as_written
        return obs.origin is Origin.SYNC and as_written

    def is_unchanged(self) -> bool:
        obs = self.ctx.observation
        if obs is None or obs.snapshot is None:
            return False
        view = self.ctx.before.view(obs.side)
        return (
            view.exists
            and view.invalid is None
            and comparable(obs.side, obs.snapshot) == comparable(obs.side, view.current)
            and self.ctx.before.status not in (Status.FAILED, Status.OUT_OF_SCOPE, Status.HELD)
        )

    def settles_deleted(self) -> bool:
        return self.ctx.before.pending_settled is Status.DELETED

    @cached_property
    def plan(self) -> Decision:
        ctx = self.ctx
        obs = ctx.observation
        if obs is not None and obs.change is Change.DELETED:
            return plan_deletion(ctx, obs.side)
        return plan_reconcile(ctx)

    def __getattr__(self, name: str) -> Any:
        # plans_<status>: whether the planned decision leads to that status.
        if name.startswith("plans_"):
            wanted = Status(name.removeprefix("plans_"))
            return lambda: self.plan.status is wanted and self.plan.status != self.state
        raise AttributeError(name)

    # ---- callbacks (compute the decision; never run during replay) ------------------------

    def adopt_plan(self) -> None:
        self.decision = self.plan

    def out_of_scope(self) -> bool:
        return (  # the conditions of SCOPE_RULES, spelled out: this runs for every observation
            self.sync_switched_off()
            or self.kind_switched_off()
            or self.user_not_eligible()
            or self.direction_switched_off()
        )

    def skip_out_of_scope(self) -> None:
        skip = next(skip for condition, skip in SCOPE_RULES if getattr(self, condition)())
        getattr(self, skip)()

    def skip_sync_off(self) -> None:
        self.decision = self.ctx.skip(reasons.SYNC_OFF, "automatic synchronisation is switched off")

    def skip_kind_off(self) -> None:
        kind = self.ctx.after.kind.value
        self.decision = self.ctx.skip(reasons.KIND_OFF, f"synchronising {kind}s is switched off")

    def skip_user_not_eligible(self) -> None:
        why = self.ctx.input.user_reason or "not eligible"
        self.decision = self.ctx.skip(
            reasons.USER_NOT_ELIGIBLE, f"{self.ctx.after.user} is not synchronised: {why}"
        )

    def skip_direction_off(self) -> None:
        side = self.ctx.side
        if side is Side.ERP:
            self.decision = self.ctx.skip(reasons.EXPORT_OFF, "export to Exchange is switched off")
        else:
            self.decision = self.ctx.skip(
                reasons.IMPORT_OFF, "import from Exchange is switched off"
            )

    def park_invalid(self) -> None:
        obs = self.ctx.observation
        assert obs is not None and obs.error is not None  # pragma: no mutate (types only)
        self.decision = self.ctx.decision(
            Verdict.FAIL,
            obs.error.code,
            f"parked: {obs.error.message}; it syncs again once corrected in {SIDE_NAME[obs.side]}",
            status=Status.FAILED,
        )

    def skip_stale(self) -> None:
        obs = self.ctx.observation
        assert obs is not None
        known = self.ctx.before.view(obs.side).native_id
        self.decision = self.ctx.skip(
            reasons.STALE,
            f"{SIDE_NAME[obs.side]} reported {obs.native_id} ({obs.change.value}), which is no longer "
            f"this item there: it lives on as {known}",
        )

    def note_echo(self) -> None:
        obs = self.ctx.observation
        assert obs is not None
        version = f" (version {obs.native_version})" if obs.native_version else ""
        self.decision = self.ctx.decision(
            Verdict.ECHO,
            reasons.ECHO,
            f"echo of our own write to {SIDE_NAME[obs.side]}{version}: nothing to do",
        )

    def skip_unchanged(self) -> None:
        obs = self.ctx.observation
        assert obs is not None and obs.snapshot is not None  # pragma: no mutate (types only)
        view = self.ctx.before.view(obs.side)
        if (
            obs.side is Side.EXCHANGE
            and view.current is not None
            and obs.snapshot.info_text != view.current.info_text
        ):
            self.decision = self.ctx.skip(
                reasons.BODY_NOT_IMPORTED,
                "only the body changed in Outlook; the info text flows from the ERP to Outlook only",
            )
        else:
            self.decision = self.ctx.skip(
                reasons.UNCHANGED,
                f"{SIDE_NAME[obs.side]} reported it again without a content change",
            )

    def skip_preexisting(self) -> None:
        self.decision = plan_preexisting(self.ctx)

    def skip_scope_left(self) -> None:
        trigger = self.ctx.input
        assert isinstance(trigger, Trigger)  # only a trigger leads here (the table's row)
        reason = trigger.reason
        self.decision = self.ctx.skip(
            reasons.SCOPE_LEFT,
            f"left the sync scope ({reason or 'no longer synchronised'}); this is not a deletion",
            status=Status.OUT_OF_SCOPE,
        )


_CHANGED_TRIGGER = {Side.ERP: "erp_changed", Side.EXCHANGE: "exchange_changed"}
_DELETED_TRIGGER = {Side.ERP: "erp_deleted", Side.EXCHANGE: "exchange_deleted"}


def trigger_name(event: Observation | Trigger) -> str:
    if isinstance(event, Trigger):
        return event.name
    if event.change is Change.BASELINE:
        return "baseline_seen"
    if event.change is Change.DELETED:
        return _DELETED_TRIGGER[event.side]
    return _CHANGED_TRIGGER[event.side]


class NoRuleApplies(RuntimeError):
    """The table has no row for this trigger in this state: a bug, never bad input."""


def decide(
    item: ItemState,
    event: Observation | Trigger,
    options: SyncOptions,
    stamp: OptionsStamp | None = None,
    machine: Machine = MACHINE,
) -> Decision:
    """The decision for one observation or trigger: pure, no I/O, no clock, no randomness."""
    return deliberate(item, event, options, stamp, machine)[1]


def deliberate(
    item: ItemState,
    event: Observation | Trigger,
    options: SyncOptions,
    stamp: OptionsStamp | None = None,
    machine: Machine = MACHINE,
) -> tuple[ItemState, Decision]:
    """`decide`, also returning the item with the observation folded in (the runtime records
    both; computing that state once is cheaper)."""
    name = trigger_name(event)
    after = observe(item, event) if isinstance(event, Observation) else item
    ctx = Context(
        trigger=name,
        before=item,
        after=after,
        input=event,
        options=options,
        stamp=stamp or options.stamp(),
    )
    model = Deliberation(ctx)
    if (
        name not in machine.events
        or not machine.events[name].trigger(model)
        or model.decision is None
    ):
        raise NoRuleApplies(f"no rule for {name} in state {item.status.value}")
    decision = model.decision
    if decision.status != model.state:
        raise NoRuleApplies(
            f"{name} in {item.status.value}: the table led to {model.state}, the plan to {decision.status.value}"
        )
    return after, decision
