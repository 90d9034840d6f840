"""Pure planning of decisions: what to write where, and why, from what the engine knows.

The lifecycle (engine/lifecycle.py) decides *which* rule applies; the functions here build the
resulting `Decision` — the writes, the new agreed content and the reason with its sentence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from engine import reasons
from engine.errors import InvalidItem
from engine.guard import NO_GUARD, DeletionGuard
from engine.merge import Merged, changed_fields, merge
from engine.model import Appointment, ItemSnapshot, Side, Task
from engine.observation import Change, Observation, Trigger
from engine.options import OptionsStamp, SyncOptions
from engine.ports import OccurrenceChange, Write
from engine.state import Decision, ItemRef, ItemState, SideView, Status, Verdict, comparable

SIDE_NAME = {Side.ERP: "the ERP", Side.EXCHANGE: "Outlook"}
SIDES = (Side.ERP, Side.EXCHANGE)
TRANSFER_STATUS = {
    Verdict.EXPORT: Status.EXPORTING,
    Verdict.IMPORT: Status.IMPORTING,
    Verdict.CONFLICT: Status.CONFLICT,
}


@dataclass(frozen=True)
class Context:
    """Everything one decision may look at: nothing else, so replay is exact."""

    trigger: str
    before: ItemState  # the item before the observation
    after: ItemState  # the item with the observation folded in
    input: Observation | Trigger
    options: SyncOptions
    stamp: OptionsStamp
    guard: DeletionGuard = NO_GUARD  # the user's deletion burst guard (R17)

    @property
    def observation(self) -> Observation | None:
        return self.input if isinstance(self.input, Observation) else None

    @property
    def at(self) -> datetime:
        """When it is decided: the time its observation or trigger carries (the injected clock)."""
        event = self.input
        return event.observed_at if isinstance(event, Observation) else event.at

    @property
    def side(self) -> Side | None:
        obs = self.observation
        return obs.side if obs is not None else None

    @cached_property
    def item(self) -> ItemRef:
        a = self.after
        snapshot = a.erp.current or a.exchange.current or a.base
        return ItemRef(
            user=a.user,
            kind=a.kind,
            erp_id=a.erp.native_id,
            exchange_id=a.exchange.native_id,
            subject=snapshot.subject if snapshot is not None else None,
        )

    @property
    def label(self) -> str:
        subject = f" {self.item.subject!r}" if self.item.subject else ""
        return f"{self.item.kind.value}{subject} of {self.item.user}"

    def decision(self, verdict: Verdict, reason: str, sentence: str, **fields: object) -> Decision:
        fields.setdefault("status", self.before.status)
        fields.setdefault("settled", fields["status"])
        fields["base_changed"] = "base" in fields
        fields["at"] = self.at
        return Decision(
            item=self.item,
            trigger=self.trigger,
            verdict=verdict,
            reason=reason,
            sentence=f"{sentence} ({self.label})",
            options=self.stamp,
            **fields,
        )

    def skip(self, reason: str, sentence: str, **fields: object) -> Decision:
        return self.decision(Verdict.SKIP, reason, f"skipped: {sentence}", **fields)

    def side_changed(self, side: Side) -> bool:
        """Whether a side's content differs from the last agreed content."""
        view = self.after.view(side)
        if not view.exists or view.current is None:
            return False
        return comparable(side, view.current) != comparable(side, self.after.base)

    def may_write(self, side: Side) -> bool:
        return self.options.import_enabled if side is Side.ERP else self.options.export_enabled


def plan_reconcile(ctx: Context) -> Decision:
    """Bring both sides to the merged content of what changed since the last transfer."""
    a = ctx.after
    for side in SIDES:
        error = a.view(side).invalid
        if error is not None:
            return ctx.decision(
                Verdict.FAIL,
                error.code,
                f"parked: {error.message}; it syncs again once corrected in {SIDE_NAME[side]}",
                status=Status.FAILED,
            )
    if a.erp.deleted or a.exchange.deleted:
        return plan_deletion(ctx, Side.ERP if a.erp.deleted else Side.EXCHANGE)
    erp_edited, exchange_edited = ctx.side_changed(Side.ERP), ctx.side_changed(Side.EXCHANGE)
    # A change counts as one to transfer only where its direction is on ...
    erp_changed = erp_edited and ctx.may_write(Side.EXCHANGE)
    exchange_changed = exchange_edited and ctx.may_write(Side.ERP)
    if not erp_changed and not exchange_changed:
        return ctx.skip(
            reasons.UNCHANGED, "nothing changed since the last transfer", status=_resting(a)
        )
    try:
        merged = merge(  # ... but every edit is merged: a side keeps its own (R10)
            a.base,
            a.erp.current if erp_edited else None,
            a.exchange.current if exchange_edited else None,
            policy=ctx.options.conflict_policy,
            erp_is_newer=_erp_is_newer(a),
        )
    except InvalidItem as error:
        return ctx.decision(
            Verdict.FAIL,
            reasons.MERGE_INVALID,
            f"parked: the merged {a.kind.value} is invalid: {error.message}",
            status=Status.FAILED,
        )
    agreed = _with_info_text(merged.snapshot, _erp_info_text(a))
    writes = _writes(ctx, merged, agreed)
    if erp_changed and exchange_changed:
        verdict = Verdict.CONFLICT
    else:
        verdict = Verdict.EXPORT if erp_changed else Verdict.IMPORT
    if not writes:
        return _nothing_to_write(ctx, agreed, erp_changed, exchange_changed)
    reason, sentence = _transfer_reason(ctx, verdict, merged, writes)
    return ctx.decision(
        verdict,
        reason,
        sentence,
        status=TRANSFER_STATUS[verdict],
        settled=Status.IN_SYNC,
        writes=tuple(writes),
        base=agreed,
        direction=_direction(writes),
        operation=writes[0].operation,
        changed_fields=tuple(sorted({f for w in writes for f in w.fields})),
        conflicts=merged.conflicts,
        dropped_occurrences=merged.dropped,
    )


def plan_deletion(ctx: Context, deleted: Side) -> Decision:
    """A side lost the item: delete the counterpart, unless a rule says otherwise (R16, R17)."""
    a = ctx.after
    other = deleted.other
    counterpart = a.view(other)
    where = SIDE_NAME[deleted]
    if not a.linked and any(w.side is other and w.operation == "create" for w in a.pending):
        # A creation over there was decided but never confirmed (a crash, a failure): a copy
        # may exist that only our stream id names. Delete whatever carries it.
        write = Write(side=other, operation="delete", kind=a.kind)
        verdict = Verdict.EXPORT if deleted is Side.ERP else Verdict.IMPORT
        return ctx.decision(
            verdict,
            reasons.DELETED_IN_ERP if deleted is Side.ERP else reasons.DELETED_IN_EXCHANGE,
            f"deleted in {where} before its transfer was confirmed: deleting any copy in {SIDE_NAME[other]}",
            status=TRANSFER_STATUS[verdict],
            settled=Status.DELETED,
            writes=(write,),
            direction="erp_to_exchange" if deleted is Side.ERP else "exchange_to_erp",
            operation="delete",
        )
    if not a.linked:
        status = Status.DELETED if not counterpart.exists else ctx.before.status
        return ctx.skip(
            reasons.NOT_LINKED,
            f"deleted in {where}; it was never transferred, so nothing to delete",
            status=status,
        )
    if not counterpart.exists:
        return ctx.skip(
            reasons.ALREADY_GONE,
            f"deleted in {where}; already gone in {SIDE_NAME[other]}",
            status=Status.DELETED,
        )
    if ctx.side_changed(other) and ctx.may_write(deleted):
        return _edit_beats_delete(ctx, deleted)
    # The deletion would propagate: a reported one counts against the user's burst guard,
    # which holds it once too many came in the window (R17). Released or retried deletions
    # were counted when they were reported.
    obs = ctx.observation
    counted = obs is not None and obs.change is Change.DELETED
    if counted and ctx.guard.count(ctx.at, ctx.options).paused:
        return ctx.decision(
            Verdict.HOLD,
            reasons.BURST_HELD,
            f"held: deleted in {where}, but deletions for {a.user} are paused after a burst; "
            "an administrator must release them",
            status=Status.HELD,
            deletion_counted=True,
        )
    write = Write(
        side=other,
        operation="delete",
        kind=a.kind,
        native_id=counterpart.native_id,
        expected_version=counterpart.version,
    )
    verdict = Verdict.EXPORT if deleted is Side.ERP else Verdict.IMPORT
    code = reasons.DELETED_IN_ERP if deleted is Side.ERP else reasons.DELETED_IN_EXCHANGE
    return ctx.decision(
        verdict,
        code,
        f"deleted in {where}: deleting it in {SIDE_NAME[other]}",
        status=TRANSFER_STATUS[verdict],
        settled=Status.DELETED,
        writes=(write,),
        direction="erp_to_exchange" if deleted is Side.ERP else "exchange_to_erp",
        operation="delete",
        deletion_counted=counted,
    )


def plan_preexisting(ctx: Context) -> Decision:
    obs = ctx.observation
    assert obs is not None
    on = obs.observed_at.date().isoformat()
    sentence = f"existed before sync was set up for {obs.user} on {on} and has not changed since"
    if obs.snapshot is None:  # unreadable, but pre-existing all the same: it stays put (R5)
        problem = f"; it cannot be read ({obs.error.message})" if obs.error else ""
        return ctx.skip(
            reasons.PREEXISTING, sentence + problem, status=Status.PREEXISTING, base=None
        )
    base = obs.snapshot if obs.side is Side.ERP else _with_info_text(obs.snapshot, "")
    return ctx.skip(reasons.PREEXISTING, sentence, status=Status.PREEXISTING, base=base)


def _edit_beats_delete(ctx: Context, deleted: Side) -> Decision:
    a = ctx.after
    source = a.view(deleted.other)
    assert source.current is not None
    agreed = _with_info_text(source.current, _erp_info_text(a))
    target = agreed if deleted is Side.ERP else _exchange_target(ctx, agreed, None)
    write = Write(
        side=deleted,
        operation="create",
        kind=a.kind,
        snapshot=target,
        fields=changed_fields(None, target, with_info_text=deleted is Side.ERP),
        occurrences=_occurrence_changes(None, target),
        write_info_text=deleted is Side.ERP or ctx.options.write_info_text,
        info_text_format=ctx.options.info_text_format,
    )
    verdict = Verdict.IMPORT if deleted is Side.ERP else Verdict.EXPORT
    return ctx.decision(
        verdict,
        reasons.EDIT_BEATS_DELETE,
        f"kept: deleted in {SIDE_NAME[deleted]} but changed in {SIDE_NAME[deleted.other]} since the "
        f"last transfer; created again in {SIDE_NAME[deleted]}",
        status=TRANSFER_STATUS[verdict],
        settled=Status.IN_SYNC,
        writes=(write,),
        base=agreed,
        direction="exchange_to_erp" if deleted is Side.ERP else "erp_to_exchange",
        operation="create",
        changed_fields=write.fields,
    )


def _writes(ctx: Context, merged: Merged, agreed: ItemSnapshot) -> list[Write]:
    a, options = ctx.after, ctx.options
    writes: list[Write] = []
    erp, exchange = a.erp, a.exchange
    if ctx.may_write(Side.ERP) and (
        erp.current is None or erp.current.content_hash != agreed.content_hash
    ):
        writes.append(_write(Side.ERP, erp, agreed, merged, ctx, body=True))
    body = options.write_info_text and (
        exchange.current is None or a.base is None or agreed.info_text != a.base.info_text
    )
    target = _exchange_target(ctx, agreed, exchange.current)
    if ctx.may_write(Side.EXCHANGE) and (
        exchange.current is None or exchange.current.sync_hash != target.sync_hash or body
    ):
        writes.append(_write(Side.EXCHANGE, exchange, target, merged, ctx, body=body))
    return writes


def _write(
    side: Side, view: SideView, target: ItemSnapshot, merged: Merged, ctx: Context, *, body: bool
) -> Write:
    creating = not view.exists
    occurrences = _occurrence_changes(None if creating else view.current, target)
    # Exchange cannot bring a deleted occurrence back (as itself or modified): only a series
    # written afresh can, with every exception applied again.
    pattern_changed = merged.pattern_changed or (
        side is Side.EXCHANGE
        and any(
            o.action != "delete" and _was_deleted(view.current, o.original_start)
            for o in occurrences
        )
    )
    if pattern_changed and not creating:
        occurrences = _occurrence_changes(
            None, target
        )  # Exchange drops them all: rewrite every one
    return Write(
        side=side,
        operation="create" if creating else "update",
        kind=ctx.after.kind,
        native_id=None if creating else view.native_id,
        expected_version=None if creating else view.version,
        snapshot=target,
        fields=changed_fields(None if creating else view.current, target, with_info_text=body),
        occurrences=occurrences,
        pattern_changed=pattern_changed and not creating,
        write_info_text=body,
        info_text_format=ctx.options.info_text_format,
    )


def _exchange_target(
    ctx: Context, agreed: ItemSnapshot, current: ItemSnapshot | None
) -> ItemSnapshot:
    """What Outlook should show: the agreed content; its body only when R7 allows writing it."""
    if ctx.options.write_info_text:
        return agreed
    return _with_info_text(agreed, current.info_text if current is not None else "")


def _occurrence_changes(
    current: ItemSnapshot | None, target: ItemSnapshot
) -> tuple[OccurrenceChange, ...]:
    if not isinstance(target, Appointment) or target.recurrence is None:
        return ()
    old_mod: dict[datetime, object] = {}
    old_del: set[datetime] = set()
    if isinstance(current, Appointment):
        old_mod = {o.original_start: o for o in current.modified_occurrences}
        old_del = set(current.deleted_occurrences)
    changes: list[OccurrenceChange] = []
    new_mod = {o.original_start: o for o in target.modified_occurrences}
    new_del = set(target.deleted_occurrences)
    for key in sorted(set(old_mod) | old_del | set(new_mod) | new_del):
        if key in new_del and key not in old_del:
            changes.append(OccurrenceChange(original_start=key, action="delete"))
        elif key in new_mod and old_mod.get(key) != new_mod[key]:
            changes.append(
                OccurrenceChange(original_start=key, action="modify", occurrence=new_mod[key])
            )
        elif key not in new_del and key not in new_mod:
            changes.append(OccurrenceChange(original_start=key, action="restore"))
    return tuple(changes)


def _was_deleted(current: ItemSnapshot | None, key: datetime) -> bool:
    return isinstance(current, Appointment) and key in current.deleted_occurrences


def _nothing_to_write(
    ctx: Context, agreed: ItemSnapshot, erp_changed: bool, exchange_changed: bool
) -> Decision:
    a = ctx.after
    status = _resting(a)
    if erp_changed and exchange_changed:
        return ctx.skip(
            reasons.SAME_CHANGE, "both sides made the same change", status=status, base=agreed
        )
    if erp_changed and a.base is not None and agreed.sync_hash == a.base.sync_hash:
        return ctx.skip(
            reasons.INFO_TEXT_NOT_WRITTEN,
            'only the info text changed in the ERP, and "do not write info text" is on',
            status=status,
            base=agreed,
        )
    return ctx.skip(
        reasons.UNCHANGED, "the other side already has this content", status=status, base=agreed
    )


def _transfer_reason(
    ctx: Context, verdict: Verdict, merged: Merged, writes: list[Write]
) -> tuple[str, str]:
    a = ctx.after
    fields = (
        ", ".join(sorted({f for w in writes for f in w.fields if f != "info_text"})) or "info text"
    )
    dropped = ""
    if merged.dropped:
        when = ", ".join(d.isoformat() for d in merged.dropped)
        dropped = f"; exceptions at {when} no longer fall on an occurrence of the new pattern and were dropped"
    if verdict is Verdict.CONFLICT:
        if merged.conflicts:
            names = ", ".join(sorted({c.field for c in merged.conflicts}))
            winner = SIDE_NAME[merged.conflicts[0].winner]
            return (
                reasons.CONFLICT_RESOLVED,
                f"conflict resolved by {ctx.options.conflict_policy}: {names} changed on both sides, "
                f"{winner}'s version kept; both sides updated{dropped}",
            )
        return reasons.MERGED, f"merged: both sides changed different fields ({fields}){dropped}"
    source = Side.ERP if verdict is Verdict.EXPORT else Side.EXCHANGE
    verb = "exported to Exchange" if verdict is Verdict.EXPORT else "imported into the ERP"
    creating = any(w.operation == "create" and w.side is source.other for w in writes)
    if creating and a.baseline_at is not None and not a.linked:
        on = a.baseline_at.date().isoformat()
        return (
            reasons.CHANGED_AFTER_SETUP,
            f"{verb}: existed before sync was set up for {a.user} on {on} and was changed in "
            f"{SIDE_NAME[source]} since, so it is transferred as a creation",
        )
    if creating:
        code = reasons.CREATED_IN_ERP if source is Side.ERP else reasons.CREATED_IN_EXCHANGE
        return code, f"{verb}: created in {SIDE_NAME[source]}"
    if merged.pattern_changed:
        return (
            reasons.PATTERN_CHANGED,
            f"{verb}: the series pattern changed in {SIDE_NAME[source]}{dropped}",
        )
    obs = ctx.observation
    if (
        obs is not None
        and obs.native_version is not None
        and obs.native_version == ctx.before.view(source).written_version
    ):
        return (
            reasons.ADJUSTED_ON_SAVE,
            f"{verb}: {SIDE_NAME[source]} saved our write with other values ({fields}); taken over",
        )
    code = reasons.CHANGED_IN_ERP if source is Side.ERP else reasons.CHANGED_IN_EXCHANGE
    return code, f"{verb}: {fields} changed in {SIDE_NAME[source]}{dropped}"


def _direction(writes: list[Write]) -> str:
    sides = {w.side for w in writes}
    if sides == {Side.EXCHANGE}:
        return "erp_to_exchange"
    if sides == {Side.ERP}:
        return "exchange_to_erp"
    return "both"


def _resting(a: ItemState) -> Status:
    """Where an item rests when nothing needs writing."""
    if a.erp.exists and a.exchange.exists:
        return Status.IN_SYNC
    if a.baseline_at is not None and not a.linked:
        return Status.PREEXISTING
    return Status.NEW


def _erp_is_newer(a: ItemState) -> bool:
    erp, exchange = a.erp.changed_at, a.exchange.changed_at
    return exchange is None or (erp is not None and erp >= exchange)


def _erp_info_text(a: ItemState) -> str:
    """The info text is the ERP's, always (R6); a recreated row gets back its last known text."""
    if a.erp.exists and a.erp.current is not None:
        return a.erp.current.info_text
    return a.base.info_text if a.base is not None else ""


def _with_info_text(snapshot: Appointment | Task, text: str) -> Appointment | Task:
    if snapshot.info_text == text:
        return snapshot
    return snapshot.replace(info_text=text)
