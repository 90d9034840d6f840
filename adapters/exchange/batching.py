"""What the EWS and Graph adapters' `apply_many` share: the writes a batch did not take go one by
one through the port's own `apply`, and the outcomes come back in the order of the writes."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Protocol

from engine.errors import SideError
from engine.model import User
from engine.ports import Write, WriteResult


class _Applies(Protocol):
    def apply(self, user: User, stream_id: uuid.UUID, write: Write) -> WriteResult: ...


def in_order(
    port: _Applies,
    user: User,
    writes: Sequence[tuple[uuid.UUID, Write]],
    outcomes: Mapping[int, WriteResult | SideError | None],
) -> list[WriteResult | SideError]:
    """Each write's outcome: the batch's where it has one (None: it did not take it), else
    `port.apply`'s."""
    results: list[WriteResult | SideError] = []
    for index, (stream_id, write) in enumerate(writes):
        outcome = outcomes.get(index)
        if outcome is None:
            try:
                outcome = port.apply(user, stream_id, write)
            except SideError as error:
                outcome = error
        results.append(outcome)
    return results
