"""Three-way, field-level merge of the two sides against the last agreed content (R2, R6, R16).

Fields are merged in groups that must stay consistent (start, end, all-day, time zone and
pattern move together). A group changed on one side takes that side's value; changed on both
sides to different values it is a conflict, resolved by the configured policy and recorded with
both versions. Series exceptions merge one occurrence at a time, keyed by original start. The
info text never conflicts: it is always the ERP's (R6).

When the pattern of a series changes, exceptions that still fall on an occurrence of the new
pattern are kept and the others dropped (and reported). Exchange itself drops every exception
when a pattern changes, so its missing exceptions are then no opinion.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.model import Appointment, ItemKind, Side, Task, typed_error, zone
from engine.options import ConflictPolicy
from engine.state import FieldConflict

TIMING = ("start", "end", "all_day", "time_zone", "recurrence")
APPOINTMENT_GROUPS: tuple[tuple[str, ...], ...] = (
    TIMING,
    ("subject",),
    ("location",),
    ("busy_status",),
    ("private",),
    ("reminder_minutes",),
    ("participants",),
)
TASK_GROUPS: tuple[tuple[str, ...], ...] = (
    ("start", "due"),
    ("subject",),
    ("status", "percent_complete", "completed_at"),
    ("priority",),
    ("reminder_at",),
)

Snapshot = Appointment | Task
_DELETED = "deleted"


@dataclass(frozen=True)
class Merged:
    snapshot: Snapshot  # the agreed content, ERP view (the ERP's info text)
    conflicts: tuple[FieldConflict, ...]
    dropped: tuple[datetime, ...]  # exceptions dropped because the pattern changed
    pattern_changed: bool


def groups(kind: ItemKind) -> tuple[tuple[str, ...], ...]:
    return APPOINTMENT_GROUPS if kind is ItemKind.APPOINTMENT else TASK_GROUPS


def merge(
    base: Snapshot | None,
    erp: Snapshot | None,
    exchange: Snapshot | None,
    *,
    policy: ConflictPolicy,
    erp_is_newer: bool,
) -> Merged:
    """Merge the two sides; a side given as None (or equal to base) has no changes to offer."""
    template = erp or exchange or base
    assert template is not None, "nothing to merge"
    one_side = _one_side(base, erp, exchange)
    if one_side is not None:
        return one_side
    kind = ItemKind(template.kind)
    b = base.fields() if base is not None else None
    e = (erp or base or exchange).fields()  # type: ignore[union-attr]
    x = (exchange or base or erp).fields()  # type: ignore[union-attr]
    winner = _winner(policy, erp_is_newer)
    merged: dict[str, Any] = dict(e)
    conflicts: list[FieldConflict] = []
    for group in groups(kind):
        value, conflict = _merge_group(group, b, e, x, winner)
        merged.update(value)
        conflicts.extend(conflict)
    info_source = erp or base
    merged["info_text"] = info_source.info_text if info_source is not None else ""
    dropped: tuple[datetime, ...] = ()
    pattern_changed = False
    if kind is ItemKind.APPOINTMENT:
        timing_before = _project(b, TIMING) if b is not None else None
        pattern_changed = (
            merged.get("recurrence") is not None
            and timing_before is not None
            and (_project(merged, TIMING) != timing_before)
        )
        exchange_dropped_all = (
            exchange is not None and b is not None and _project(x, TIMING) != timing_before
        )
        occurrences, occ_conflicts = _merge_occurrences(b, e, x, winner, exchange_dropped_all)
        conflicts.extend(occ_conflicts)
        merged["modified_occurrences"] = [v for v in occurrences.values() if v != _DELETED]
        merged["deleted_occurrences"] = [k for k, v in occurrences.items() if v == _DELETED]
        if merged.get("recurrence") is None:
            merged["modified_occurrences"], merged["deleted_occurrences"] = [], []
    snapshot = _validate(type(template), merged)
    if isinstance(snapshot, Appointment):
        snapshot, dropped = drop_stray_occurrences(snapshot)
    return Merged(snapshot, tuple(conflicts), dropped, pattern_changed)


def _one_side(
    base: Snapshot | None, erp: Snapshot | None, exchange: Snapshot | None
) -> Merged | None:
    """The common case, without merging: only one side has changes to offer."""
    changed = erp if exchange is None else exchange if erp is None else None
    if changed is None:
        return None
    if isinstance(changed, Appointment) and changed.recurrence is not None:
        timing_changed = base is None or _project(base.fields(), TIMING) != _project(
            changed.fields(), TIMING
        )
        base_has_exceptions = isinstance(base, Appointment) and bool(
            base.modified_occurrences or base.deleted_occurrences
        )
        if changed is exchange and timing_changed and base_has_exceptions:
            return None  # Exchange dropped the exceptions itself: merge them back (slow path)
        cleaned, dropped = drop_stray_occurrences(changed)
        return Merged(cleaned, (), dropped, base is not None and timing_changed)
    return Merged(changed, (), (), False)


def drop_stray_occurrences(appointment: Appointment) -> tuple[Appointment, tuple[datetime, ...]]:
    """Remove exceptions whose original start is not an occurrence of the series."""
    keys = [o.original_start for o in appointment.modified_occurrences] + list(
        appointment.deleted_occurrences
    )
    if not keys or appointment.recurrence is None:
        return appointment, ()
    last = max(keys).astimezone(zone(appointment.time_zone)).date()
    valid = set(appointment.occurrence_starts(until=last))
    strays = tuple(sorted(k for k in keys if k not in valid))
    if not strays:
        return appointment, ()
    cleaned = appointment.replace(
        modified_occurrences=tuple(
            o for o in appointment.modified_occurrences if o.original_start in valid
        ),
        deleted_occurrences=tuple(d for d in appointment.deleted_occurrences if d in valid),
    )
    return cleaned, strays


def changed_fields(
    before: Snapshot | None, after: Snapshot, *, with_info_text: bool
) -> tuple[str, ...]:
    """Names of the fields that differ (all of them for a creation)."""
    names = [n for n in after.fields() if with_info_text or n != "info_text"]
    if before is None:
        return tuple(names)
    old, new = before.fields(), after.fields()
    return tuple(n for n in names if old.get(n) != new.get(n))


def _winner(policy: ConflictPolicy, erp_is_newer: bool) -> Side:
    if policy == "erp_wins":
        return Side.ERP
    if policy == "exchange_wins":
        return Side.EXCHANGE
    return Side.ERP if erp_is_newer else Side.EXCHANGE


def _project(fields: dict[str, Any], group: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(fields.get(name) for name in group)


def _merge_group(
    group: tuple[str, ...],
    b: dict[str, Any] | None,
    e: dict[str, Any],
    x: dict[str, Any],
    winner: Side,
) -> tuple[dict[str, Any], list[FieldConflict]]:
    ev, xv = _project(e, group), _project(x, group)
    bv = _project(b, group) if b is not None else None
    if ev == xv or xv == bv:
        return _values(group, ev), []
    if ev == bv:
        return _values(group, xv), []
    conflicts = [
        FieldConflict(field=name, erp_value=e.get(name), exchange_value=x.get(name), winner=winner)
        for name in group
        if e.get(name) != x.get(name)
    ]
    chosen = ev if winner is Side.ERP else xv
    return _values(group, chosen), conflicts


def _values(group: tuple[str, ...], values: tuple[Any, ...]) -> dict[str, Any]:
    # `values` is `_project(…, group)`: always as long as `group` (strict cannot fail).
    return dict(zip(group, values, strict=True))  # pragma: no mutate


def _occurrence_map(fields: dict[str, Any] | None) -> dict[str, Any]:
    if fields is None:
        return {}
    result: dict[str, Any] = {o["original_start"]: o for o in fields["modified_occurrences"]}
    for start in fields["deleted_occurrences"]:
        result[start] = _DELETED
    return result


def _merge_occurrences(
    b: dict[str, Any] | None,
    e: dict[str, Any],
    x: dict[str, Any],
    winner: Side,
    exchange_dropped_all: bool,
) -> tuple[dict[str, Any], list[FieldConflict]]:
    base_map, erp_map, ex_map = _occurrence_map(b), _occurrence_map(e), _occurrence_map(x)
    if exchange_dropped_all:
        # Exchange cleared the exceptions itself when the pattern changed: not the user's choice.
        ex_map = {**base_map, **ex_map}
    merged: dict[str, Any] = {}
    conflicts: list[FieldConflict] = []
    for key in sorted(set(base_map) | set(erp_map) | set(ex_map)):
        bv, ev, xv = base_map.get(key), erp_map.get(key), ex_map.get(key)
        if ev == xv or xv == bv:
            value = ev
        elif ev == bv:
            value = xv
        else:
            value = ev if winner is Side.ERP else xv
            conflicts.append(
                FieldConflict(
                    field=f"occurrence {key}", erp_value=ev, exchange_value=xv, winner=winner
                )
            )
        if value is not None:
            merged[key] = value
    return merged, conflicts


def _validate(cls: type[Appointment] | type[Task], merged: dict[str, Any]) -> Snapshot:
    """The merged snapshot. Every rule that ties fields together holds inside one group, so
    a mix of valid groups is valid; should a rule ever span groups, the merge is refused with
    the typed error (the planner parks the item, MERGE_INVALID) rather than half-applied."""
    from pydantic import ValidationError

    try:
        return cls.model_validate(merged)
    except ValidationError as exc:
        raise typed_error(exc) from None
