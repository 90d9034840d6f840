"""The per-item decision: which rule applies to an observation or trigger, in which order.

`decide` reads like vdirsyncer's `_get_actions`: one explicit table per kind of input, tried in
order, the first rule whose condition holds makes the decision. For observations the table is
the order of checks from DESIGN §4:

    type enabled (R1, R10) → moved away → user eligible (R8) → direction enabled (R10) →
    stale report → valid input → moved in → echo → unchanged → pre-existing (R5) → one side
    changed or both (R16) → deletion guards (R17) → info-text rules (R6, R7, by the planner)

A move (the ERP gives a row to another user, issue 10) is planned in `engine.moving`: the old
user's stream gets a move notice and deletes its copy — before the eligibility rule, because
it is that user's eligibility the notice carries and the plan asks —, the new user's stream
creates one.

Every sync rule is decided here, from the item's state, the input and the options — and from
the user's deletion burst guard (R17), which `decide` takes as an input and whose count its
decision reports (`Decision.deletion_counted`), so that replay folds the guard again and a
what-if shows the effect of its options. The retry limit (`SyncOptions.max_attempts`) is the
`retry` trigger's first rule.

The class-level `transitions.Machine` (DESIGN §4; the library's FAQ pattern: no model is ever
attached) is the table of the moves an item may make: which status each trigger may lead to
from which status. `decide` checks every decision against it; the write outcomes, which the
runtime records and `engine.state` folds without deciding, are rows of it too.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import Any, Final

from transitions import Machine

from engine import reasons
from engine.guard import NO_GUARD, DeletionGuard
from engine.model import Side
from engine.moving import plan_move_in, plan_move_out, retry_move_out
from engine.observation import Change, Observation, Origin, Trigger
from engine.options import OptionsStamp, SyncOptions
from engine.planning import SIDE_NAME, Context, plan_deletion, plan_preexisting, plan_reconcile
from engine.routing import is_move_notice
from engine.state import Decision, ItemState, Status, Verdict, comparable, observe

STATES = [s.value for s in Status]
OBSERVATION_TRIGGERS = (
    "erp_changed",
    "erp_deleted",
    "exchange_changed",
    "exchange_deleted",
    "baseline_seen",
)
IN_FLIGHT = [Status.EXPORTING.value, Status.IMPORTING.value, Status.CONFLICT.value]
# Where a planned decision can lead (a transfer, a merge, a delete, a hold, a skip, a park).
PLANNED = [
    Status.EXPORTING.value,
    Status.IMPORTING.value,
    Status.IN_SYNC.value,
    Status.CONFLICT.value,
    Status.DELETED.value,
    Status.FAILED.value,
    Status.HELD.value,
    Status.PREEXISTING.value,
    Status.NEW.value,
    Status.MOVED.value,
]
STAY = None  # the status stays as it is (an internal transition: no exit, no enter)
# Each row: trigger, the statuses it applies in ("*": every one), the statuses it may lead to.
MOVES: Final[tuple[tuple[str, str | list[str], Sequence[str | None]], ...]] = (
    # An observation may lead anywhere a plan leads, or leave the status as it is.
    # Seen while its user is not synchronised, it waits out of scope (R8).
    *((name, "*", [*PLANNED, Status.OUT_OF_SCOPE.value, STAY]) for name in OBSERVATION_TRIGGERS),
    # Leaving the scope is never a deletion (R17); coming back plans from what is there.
    ("scope_left", "*", [Status.OUT_OF_SCOPE.value]),
    ("scope_left", Status.MOVED.value, [STAY]),  # a moved item is another user's now
    ("scope_entered", Status.OUT_OF_SCOPE.value, [*PLANNED, STAY]),
    # A retry is due only for a failed write; an administrator releases held deletions.
    ("retry", Status.FAILED.value, PLANNED),
    ("deletions_released", Status.HELD.value, PLANNED),
    # Outcomes of writes (recorded by the runtime, folded by engine.state).
    ("export_done", IN_FLIGHT, [Status.IN_SYNC.value, Status.DELETED.value, Status.MOVED.value]),
    ("import_done", IN_FLIGHT, [Status.IN_SYNC.value, Status.DELETED.value]),
    ("action_failed", [*IN_FLIGHT, Status.FAILED.value], [Status.FAILED.value]),
)


def _rows() -> list[dict[str, Any]]:
    return [
        {"trigger": trigger, "source": source, "dest": dest}
        for trigger, source, dests in MOVES
        for dest in dests
    ]


def build_machine() -> Machine:
    """The machine over the table of `MOVES` (built once at import; tests build it anew)."""
    return Machine(
        model=None,
        states=STATES,
        transitions=_rows(),
        initial=None,
        auto_transitions=False,
    )


MACHINE = build_machine()
_MOVES_OF: weakref.WeakKeyDictionary[Machine, frozenset[tuple[str, str, str]]] = (
    weakref.WeakKeyDictionary()
)


def moves(machine: Machine = MACHINE) -> frozenset[tuple[str, str, str]]:
    """Every (trigger, from, to) the machine allows, read from its table once."""
    found = _MOVES_OF.get(machine)
    if found is None:
        found = frozenset(
            (name, source, transition.dest or source)
            for name, event in machine.events.items()
            for source, transitions in event.transitions.items()
            for transition in transitions
        )
        _MOVES_OF[machine] = found
    return found


# ---- conditions: pure functions of the context -------------------------------------------------

Condition = Callable[[Context], bool]
Action = Callable[[Context], Decision]


def _obs(ctx: Context) -> Observation:
    obs = ctx.observation
    assert obs is not None  # pragma: no mutate (only observations reach these rules)
    return obs


def sync_switched_off(ctx: Context) -> bool:
    return not ctx.options.automatic_sync


def kind_switched_off(ctx: Context) -> bool:
    return not ctx.options.kind_enabled(ctx.after.kind)


def moved_away(ctx: Context) -> bool:
    return is_move_notice(ctx.before, _obs(ctx))


def moved_in(ctx: Context) -> bool:
    """The ERP row arrived from another user's stream, or came back to this one (moved)."""
    obs = _obs(ctx)
    return (
        obs.side is Side.ERP
        and obs.change is not Change.DELETED
        and (obs.moved_from is not None or ctx.before.status is Status.MOVED)
    )


def copy_left_behind(ctx: Context) -> bool:
    """A report from the mailbox of an item the ERP gave to another user (or is giving: its
    copy's deletion is pending) — an edit there has nowhere to go."""
    return _obs(ctx).side is Side.EXCHANGE and Status.MOVED in (
        ctx.before.status,
        ctx.before.pending_settled,
    )


def is_moved(ctx: Context) -> bool:
    return ctx.before.status is Status.MOVED


def moving_away(ctx: Context) -> bool:
    """The writes pending are those of a move away (they settle in `moved`)."""
    return ctx.before.pending_settled is Status.MOVED


def user_not_eligible(ctx: Context) -> bool:
    return not ctx.input.user_eligible


def direction_switched_off(ctx: Context) -> bool:
    return not ctx.may_write(_obs(ctx).side.other)


def is_stale(ctx: Context) -> bool:
    obs = _obs(ctx)
    return ctx.before.view(obs.side).is_stale(obs.native_id)


def is_invalid(ctx: Context) -> bool:
    return _obs(ctx).change is Change.INVALID


def is_echo(ctx: Context) -> bool:
    """Our own write coming back, as we wrote it: by the version it produced, or (on a side that
    marks our writes, like the ERP feed) by its content. A version of ours whose content differs
    is no echo: that side changed values as it saved them (Exchange sets a task's completion
    time itself), and the change is taken over like any other."""
    obs = _obs(ctx)
    view = ctx.before.view(obs.side)
    if obs.change is Change.DELETED:
        return view.deleted  # deleted by us, or a repeated report of a known deletion
    as_written = comparable(obs.side, obs.snapshot) == view.written_hash
    if obs.native_version is not None and obs.native_version == view.written_version:
        return as_written
    return obs.origin is Origin.SYNC and as_written


def is_unchanged(ctx: Context) -> bool:
    obs = _obs(ctx)
    if obs.snapshot is None:
        return False
    view = ctx.before.view(obs.side)
    return (
        view.exists
        and view.invalid is None
        and comparable(obs.side, obs.snapshot) == comparable(obs.side, view.current)
        and ctx.before.status not in (Status.FAILED, Status.OUT_OF_SCOPE, Status.HELD)
    )


def is_first_baseline(ctx: Context) -> bool:
    """The setup pass sees it first (also when it was seen before, while the user was not yet
    synchronised: then it waited out of scope, never transferred)."""
    before = ctx.before
    never_transferred = before.status is Status.OUT_OF_SCOPE and before.base is None
    return _obs(ctx).change is Change.BASELINE and (
        before.status is Status.NEW or never_transferred
    )


def always(ctx: Context) -> bool:
    return True


def retries_exhausted(ctx: Context) -> bool:
    """The write failed `max_attempts` times in a row — unless it lost a race with an edit over
    there (a version conflict, a lock held): that is never a reason to give the item up."""
    before = ctx.before
    return before.attempts >= ctx.options.max_attempts and before.reason != reasons.RACE


# ---- actions: the decision each rule makes -----------------------------------------------------


def skip_sync_off(ctx: Context) -> Decision:
    return ctx.skip(reasons.SYNC_OFF, "automatic synchronisation is switched off")


def skip_kind_off(ctx: Context) -> Decision:
    return ctx.skip(reasons.KIND_OFF, f"synchronising {ctx.after.kind.value}s is switched off")


def skip_user_not_eligible(ctx: Context) -> Decision:
    why = ctx.input.user_reason or "not eligible"
    # Out of scope, not forgotten: when the user is synchronised again, what changed meanwhile
    # (an item created while the mailbox could not be reached, too) is transferred (R17).
    return ctx.skip(
        reasons.USER_NOT_ELIGIBLE,
        f"{ctx.after.user} is not synchronised: {why}",
        status=Status.OUT_OF_SCOPE,
    )


def skip_direction_off(ctx: Context) -> Decision:
    if _obs(ctx).side is Side.ERP:
        return ctx.skip(reasons.EXPORT_OFF, "export to Exchange is switched off")
    return ctx.skip(reasons.IMPORT_OFF, "import from Exchange is switched off")


def skip_stale(ctx: Context) -> Decision:
    obs = _obs(ctx)
    known = ctx.before.view(obs.side).native_id
    return ctx.skip(
        reasons.STALE,
        f"{SIDE_NAME[obs.side]} reported {obs.native_id} ({obs.change.value}), which is no longer "
        f"this item there: it lives on as {known}",
    )


def park_invalid(ctx: Context) -> Decision:
    obs = _obs(ctx)
    assert obs.error is not None  # pragma: no mutate (types only)
    return ctx.decision(
        Verdict.FAIL,
        obs.error.code,
        f"parked: {obs.error.message}; it syncs again once corrected in {SIDE_NAME[obs.side]}",
        status=Status.FAILED,
    )


def note_echo(ctx: Context) -> Decision:
    obs = _obs(ctx)
    version = f" (version {obs.native_version})" if obs.native_version else ""
    return ctx.decision(
        Verdict.ECHO,
        reasons.ECHO,
        f"echo of our own write to {SIDE_NAME[obs.side]}{version}: nothing to do",
    )


def skip_unchanged(ctx: Context) -> Decision:
    obs = _obs(ctx)
    assert obs.snapshot is not None  # pragma: no mutate (types only)
    current = ctx.before.view(obs.side).current
    if (
        obs.side is Side.EXCHANGE
        and current is not None
        and obs.snapshot.info_text != current.info_text
    ):
        return ctx.skip(
            reasons.BODY_NOT_IMPORTED,
            "only the body changed in Outlook; the info text flows from the ERP to Outlook only",
        )
    return ctx.skip(
        reasons.UNCHANGED, f"{SIDE_NAME[obs.side]} reported it again without a content change"
    )


def plan(ctx: Context) -> Decision:
    """Transfer, merge, delete or hold, from what changed since the last transfer."""
    obs = ctx.observation
    if obs is not None and obs.change is Change.DELETED:
        return plan_deletion(ctx, obs.side)
    return plan_reconcile(ctx)


def skip_moved_copy(ctx: Context) -> Decision:
    return ctx.skip(
        reasons.MOVED_AWAY,
        f"the ERP gave it to another user; this copy in {ctx.after.user}'s mailbox is no longer "
        "synchronised",
    )


def skip_scope_left(ctx: Context) -> Decision:
    trigger = ctx.input
    assert isinstance(trigger, Trigger)  # pragma: no mutate (only a trigger leads here)
    return ctx.skip(
        reasons.SCOPE_LEFT,
        f"left the sync scope ({trigger.reason or 'no longer synchronised'}); this is not a deletion",
        status=Status.OUT_OF_SCOPE,
    )


def park_exhausted(ctx: Context) -> Decision:
    return ctx.decision(
        Verdict.FAIL,
        reasons.RETRIES_EXHAUSTED,
        f"parked: the write failed {ctx.before.attempts} times ({ctx.before.sentence}); "
        "it syncs again with its next change on either side",
        status=Status.FAILED,
    )


# ---- the tables --------------------------------------------------------------------------------

# An observation: the first rule whose condition holds decides (DESIGN §4).
OBSERVATION_RULES: Final[tuple[tuple[Condition, Action], ...]] = (
    (sync_switched_off, skip_sync_off),  # R10: the master switch is off
    (kind_switched_off, skip_kind_off),  # R1, R10: appointments or tasks are off
    (moved_away, plan_move_out),  # the ERP gave the row to another user: delete our copy
    (user_not_eligible, skip_user_not_eligible),  # R8: the user is not synchronised
    (direction_switched_off, skip_direction_off),  # R10: export or import is off
    (is_stale, skip_stale),  # about a native item that is no longer this item's
    (is_invalid, park_invalid),  # cannot be synchronised: parked with its typed error
    (moved_in, plan_move_in),  # the ERP gave the row to this user: create the copy here
    (is_echo, note_echo),  # our own write coming back
    (copy_left_behind, skip_moved_copy),  # the old user's copy of a moved item
    (is_unchanged, skip_unchanged),  # reported again without a content change (R6: the body)
    (is_first_baseline, plan_preexisting),  # R5: there before setup, untouched since
    (always, plan),  # R16, R17: transfer, merge, delete or hold what changed
)
# A trigger: its name says what happened; the rules for each, in order.
TRIGGER_RULES: Final[dict[str, tuple[tuple[Condition, Action], ...]]] = {
    "scope_left": (
        (is_moved, skip_moved_copy),  # given to another user: nothing of it is this user's
        (always, skip_scope_left),  # R17: leaving the scope is not a deletion
    ),
    "scope_entered": ((always, plan),),  # back in scope: transfer what changed meanwhile
    "retry": (
        (retries_exhausted, park_exhausted),  # failed too often: parked until the next change
        (moving_away, retry_move_out),  # the old copy of a moved item is still to be deleted
        (always, plan),  # try the writes again, from what is known now
    ),
    "deletions_released": ((always, plan),),  # R17: an administrator lets them through
}


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
    *,
    guard: DeletionGuard = NO_GUARD,
) -> Decision:
    """The decision for one observation or trigger: pure, no I/O, no clock, no randomness.
    `guard` is the user's deletion burst guard (R17) as it stands before this decision."""
    return deliberate(item, event, options, stamp, machine, guard=guard)[1]


def deliberate(
    item: ItemState,
    event: Observation | Trigger,
    options: SyncOptions,
    stamp: OptionsStamp | None = None,
    machine: Machine = MACHINE,
    *,
    guard: DeletionGuard = NO_GUARD,
) -> tuple[ItemState, Decision]:
    """`decide`, also returning the item with the observation folded in (the runtime records
    both; computing that state once is cheaper)."""
    name = trigger_name(event)
    allowed = moves(machine)
    source = item.status.value
    if not any((name, source, dest) in allowed for dest in STATES):
        raise NoRuleApplies(f"no rule for {name} in state {source}")
    after = observe(item, event) if isinstance(event, Observation) else item
    ctx = Context(
        trigger=name,
        before=item,
        after=after,
        input=event,
        options=options,
        stamp=stamp or options.stamp(),
        guard=guard,
    )
    rules = OBSERVATION_RULES if isinstance(event, Observation) else TRIGGER_RULES[name]
    decision = next(action(ctx) for condition, action in rules if condition(ctx))
    if (name, source, decision.status.value) not in allowed:
        raise NoRuleApplies(f"{name} in {source}: the table has no move to {decision.status.value}")
    return after, decision
