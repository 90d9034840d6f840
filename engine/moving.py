"""Planning a move: the ERP gives an appointment or task row to another user (issue 10).

In the ERP a row belongs to one user (its `user_login`); changing that user moves the item from
one calendar to another. A stream is one item of one user (DESIGN §3), so a move ends the old
user's stream and continues in the new user's (`engine.routing`): the old stream is told by a
*move notice* and the new one by the observation, which names the user it came from. What an
experienced user expects, and so what is decided here:

- The old user's copy in Exchange is deleted: the ERP says the item is no longer theirs, and a
  copy left behind would silently go stale. This is a move, not a deletion: R17's burst guard
  does not count it (an office reassigning a leaver's calendar is no accident), and nothing is
  deleted in the ERP. The old stream ends in `moved`.
- The same holds when the new user is not synchronised: the item leaves the old user's calendar
  all the same; the new user's stream skips it (R8) and, once that user is set up, it counts as
  pre-existing (R5). Where the engine may not act in the old mailbox — its user is not
  synchronised (R8, R17: leaving the scope touches nothing), export is off (R10) — the copy stays.
- The new user's copy is created in their mailbox with the ERP's content, exceptions of a series
  included (R2), carrying the new stream's id: a creation repeated after a crash finds it (no
  duplicate), and its echo is recognised by the version it produced.
- Moving the row back ends the other user's stream in turn and creates the copy again in the
  first user's mailbox, in that user's (then `moved`) stream.
- Edits made in the old copy meanwhile have nowhere to go (the row is another user's): the copy
  is deleted without expecting its version, reports of it are skipped, and a failed deletion is
  retried as the move it is.

Exchange has no moves: a mailbox item does not change owner. An item appearing in another
mailbox with our sync id is a copy (`engine.routing`), an item of its own.
"""

from __future__ import annotations

from engine import reasons
from engine.merge import changed_fields
from engine.model import Side
from engine.planning import (
    Context,
    _exchange_target,
    _occurrence_changes,
    plan_reconcile,
)
from engine.ports import Write
from engine.state import Decision, Status, Verdict


def plan_move_out(ctx: Context) -> Decision:
    """The stream that held the row hears it now belongs to another user: delete its copy."""
    a = ctx.after
    obs = ctx.observation
    assert obs is not None  # pragma: no mutate (a move notice is an observation)
    moved = f"moved to {obs.user} in the ERP"
    copy_pending = any(w.side is Side.EXCHANGE and w.operation == "create" for w in a.pending)
    if not a.exchange.exists and not copy_pending:
        return ctx.skip(
            reasons.MOVED_AWAY,
            f"{moved}; there is no copy in {a.user}'s mailbox to remove",
            status=Status.MOVED,
        )
    if not ctx.input.user_eligible:
        why = ctx.input.user_reason or "not eligible"
        return ctx.skip(
            reasons.MOVED_AWAY,
            f"{moved}; {a.user} is not synchronised ({why}), so the copy in that mailbox stays",
            status=Status.MOVED,
        )
    if not ctx.options.export_enabled:
        return ctx.skip(
            reasons.MOVED_AWAY,
            f"{moved}; export to Exchange is switched off, so the copy in {a.user}'s mailbox stays",
            status=Status.MOVED,
        )
    # Whatever was edited in that copy meanwhile has nowhere to go: no version is expected.
    write = Write(
        side=Side.EXCHANGE,
        operation="delete",
        kind=a.kind,
        native_id=a.exchange.native_id if a.exchange.exists else None,
    )
    return ctx.decision(
        Verdict.EXPORT,
        reasons.MOVED_AWAY,
        f"{moved}: deleting it from {a.user}'s mailbox (a move, not a deletion)",
        status=Status.EXPORTING,
        settled=Status.MOVED,
        writes=(write,),
        direction="erp_to_exchange",
        operation="delete",
    )


def plan_move_in(ctx: Context) -> Decision:
    """The row arrived from another user (or came back): create its copy in this mailbox."""
    a = ctx.after
    agreed = a.erp.current
    if a.exchange.exists or agreed is None or a.erp.invalid is not None:
        # The copy this stream left in the mailbox is still there (or the row is unreadable):
        # bring it up to date as any change.
        return plan_reconcile(ctx)
    obs = ctx.observation
    assert obs is not None  # pragma: no mutate (only observations move in)
    origin = obs.moved_from
    came = f"moved from {origin} to {a.user}" if origin else f"came back to {a.user}"
    body = ctx.options.write_info_text
    target = _exchange_target(ctx, agreed, None)
    write = Write(
        side=Side.EXCHANGE,
        operation="create",
        kind=a.kind,
        snapshot=target,
        fields=changed_fields(None, target, with_info_text=body),
        occurrences=_occurrence_changes(None, target),
        write_info_text=body,
        info_text_format=ctx.options.info_text_format,
    )
    return ctx.decision(
        Verdict.EXPORT,
        reasons.MOVED_IN,
        f"exported to Exchange: {came} in the ERP; created in {a.user}'s mailbox",
        status=Status.EXPORTING,
        settled=Status.IN_SYNC,
        writes=(write,),
        base=agreed,
        direction="erp_to_exchange",
        operation="create",
        changed_fields=write.fields,
    )


def retry_move_out(ctx: Context) -> Decision:
    """The deletion of the old copy failed and is due again: the item is still moving away (its
    pending writes settle in `moved`), whatever the ERP row looks like now."""
    a = ctx.after
    if not ctx.input.user_eligible:
        why = ctx.input.user_reason or "not eligible"
        return ctx.skip(
            reasons.MOVED_AWAY,
            f"moved to another user in the ERP; {a.user} is not synchronised ({why}), so the "
            "copy in that mailbox stays",
            status=Status.MOVED,
        )
    return ctx.decision(
        Verdict.EXPORT,
        reasons.MOVED_AWAY,
        f"moved to another user in the ERP: deleting it from {a.user}'s mailbox, attempt "
        f"{a.attempts + 1} (a move, not a deletion)",
        status=Status.EXPORTING,
        settled=Status.MOVED,
        writes=a.pending,
        direction="erp_to_exchange",
        operation="delete",
    )
