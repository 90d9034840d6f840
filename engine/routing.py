"""Which item stream an observation is recorded in: a sync rule the runtime applies and replay
re-applies (R19).

An item's stream id is written onto its counterpart with the first transfer (DESIGN §3), so an
observation normally names its stream itself. A copy of an item (made in Outlook, say) carries
that id too, but it is an item of its own: the named stream already stands for another native
item on that side, which is still there. The copy gets the stream its own native id derives.

A stream is one item *of one user* (DESIGN §3). An observation of another user than the named
stream's is therefore never recorded there:

- ERP: the ERP moved the row to another user (issue 10). The row is that user's item from now
  on, in the stream its row id derives for that user — the same stream whether or not the row
  carries a sync id, and the user's own stream again when the row comes back. The stream that
  held the row before is told by a *move notice*: the same observation, recorded there too
  (`is_move_notice`), on which `decide` deletes that user's copy in Exchange.
- Exchange: a mailbox item never changes owner; an item in another mailbox carrying our sync id
  was copied there (by a person or a migration tool), and is an item of its own.

The routing stays out of `decide`, which sees one item's state at a time, and the runtime must
load the stream before it can record anything in it. It is a pure function of the observation
and the named stream's state, so that `replay.verify`, which folds every stream of a user in
the order its events were made, re-applies it to each recorded observation and reports an
observation recorded in another stream than this function gives.
"""

from __future__ import annotations

import uuid

from engine.model import Side
from engine.observation import Observation, derive_stream_id
from engine.state import ItemState, Status


def stream_for(obs: Observation, named: ItemState | None) -> uuid.UUID:
    """The stream of `obs`, given the state of the stream its sync id names (None: no such
    stream yet). Without a sync id, the stream its native id derives."""
    if obs.sync_id is not None and named is not None:
        if not _same_user(named, obs):  # moved to another user (ERP), copied (Exchange)
            return derive_stream_id(obs.side, obs.user, obs.kind, obs.native_id)
        if named.view(obs.side).is_stale(obs.native_id):
            return derive_stream_id(obs.side, obs.user, obs.kind, obs.native_id)  # a copy
    return obs.stream_id


def is_move_notice(state: ItemState, obs: Observation) -> bool:
    """Whether `obs`, recorded in the stream `state`, tells it that the ERP moved its row to
    another user (the only way an observation of another user reaches a stream)."""
    return obs.side is Side.ERP and not _same_user(state, obs)


def holds_moved_row(state: ItemState, obs: Observation) -> bool:
    """Whether the stream `state` still holds the ERP row that `obs` reports for another user:
    the stream the move notice goes to (or, when the row was moved and deleted before the
    engine saw it, the deletion). Not after it was told (moved, or moving)."""
    return (
        obs.side is Side.ERP
        and not _same_user(state, obs)
        and state.erp.native_id == obs.native_id
        and not state.erp.deleted
        and Status.MOVED not in (state.status, state.pending_settled)
    )


def _same_user(state: ItemState, obs: Observation) -> bool:
    return state.user.lower() == obs.user.lower()
