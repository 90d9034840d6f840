"""Which item stream an observation is recorded in: a sync rule the runtime applies and replay
re-applies (R19).

An item's stream id is written onto its counterpart with the first transfer (DESIGN §3), so an
observation normally names its stream itself. A copy of an item (made in Outlook, say) carries
that id too, but it is an item of its own: the named stream already stands for another native
item on that side, which is still there. The copy gets the stream its own native id derives.

The routing stays out of `decide`, which sees one item's state at a time, and the runtime must
load the stream before it can record anything in it. It is a pure function of the observation
and the named stream's state, so that `replay.verify`, which folds every stream of a user in
the order its events were made, re-applies it to each recorded observation and reports an
observation recorded in another stream than this function gives.
"""

from __future__ import annotations

import uuid

from engine.observation import Observation, derive_stream_id
from engine.state import ItemState


def stream_for(obs: Observation, named: ItemState | None) -> uuid.UUID:
    """The stream of `obs`, given the state of the stream its sync id names (None: no such
    stream yet). Without a sync id, the stream its native id derives."""
    if (
        obs.sync_id is not None
        and named is not None
        and named.view(obs.side).is_stale(obs.native_id)
    ):
        return derive_stream_id(obs.side, obs.user, obs.kind, obs.native_id)  # a copy
    return obs.stream_id
