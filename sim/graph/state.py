"""State the Graph simulator keeps beside the mailbox store (in memory, not in `--data`).

- Delta state tokens (`DeltaCache`): server-side rounds behind opaque `$skiptoken`/`$deltatoken`
  values. A chain is one sync state; every page served makes a new generation; a token is valid
  while its generation is among the newest `delta_generations` of its chain and its chain is among
  the newest `delta_chains_per_mailbox` of its mailbox (the "internal delta token cache" of
  delta-query-overview.md), and younger than `delta_max_age` when that is set. Otherwise (and
  after a restart: the cache is not kept) the answer is 410 Gone `syncStateNotFound` (assumption
  G8) with a `Location` to a fresh initial round.
- transactionId of created events (assumption G13).
- In-flight requests per app and mailbox, for the concurrency limit of 4.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sim.clock import Clock
from sim.graph.context import GraphSettings
from sim.graph.errors import GraphError


@dataclass
class Chain:
    """One sync state: what the client knows, per mailbox and query."""

    number: int
    mailbox: str
    kind: str  # "calendarView" or "todoTasks"
    params: dict[str, Any]  # window bounds (ISO text) or list id; fixed for the chain
    highest: int = 0


@dataclass
class Position:
    """Where a token resumes: the entries still to send, and the knowledge after the round."""

    chain: Chain
    generation: int
    created: datetime
    pending: list[tuple[str, bool]]  # (rest id, removed) still to send in this round
    known: dict[str, str] | None  # entries known once the round is complete (None: initial)
    known_items: dict[str, str] | None
    final: bool  # a deltaLink (start a new round) rather than a nextLink


@dataclass
class DeltaCache:
    clock: Clock
    settings: GraphSettings
    _tokens: dict[str, Position] = field(default_factory=dict)
    _chains: dict[str, OrderedDict[int, Chain]] = field(default_factory=dict)
    _numbers: int = 0

    def new_chain(self, mailbox: str, kind: str, params: dict[str, Any]) -> Chain:
        self._numbers += 1
        chain = Chain(self._numbers, mailbox.lower(), kind, params)
        chains = self._chains.setdefault(mailbox.lower(), OrderedDict())
        chains[chain.number] = chain
        while len(chains) > self.settings.delta_chains_per_mailbox:
            _, evicted = chains.popitem(last=False)
            self._tokens = {t: p for t, p in self._tokens.items() if p.chain is not evicted}
        return chain

    def issue(
        self,
        chain: Chain,
        pending: list[tuple[str, bool]],
        known: dict[str, str] | None,
        known_items: dict[str, str] | None,
        final: bool,
    ) -> str:
        chain.highest += 1
        token = secrets.token_urlsafe(24)
        self._tokens[token] = Position(
            chain, chain.highest, self.clock.now(), pending, known, known_items, final
        )
        return token

    def peek(self, token: str) -> Position | None:
        return self._tokens.get(token)

    def resume(self, token: str, mailbox: str, kind: str, fresh_url: str) -> Position:
        position = self._tokens.get(token)
        if position is None or not self._valid(position, mailbox, kind):
            raise GraphError(
                410,
                "syncStateNotFound",
                "The sync state generation is not found. The delta token is expired and data "
                "must be synchronized again.",
                headers={"Location": fresh_url},
            )
        # Each chain moves on touch to the newest end of its mailbox's cache.
        chains = self._chains[position.chain.mailbox]
        chains.move_to_end(position.chain.number)
        return position

    def _valid(self, position: Position, mailbox: str, kind: str) -> bool:
        chain = position.chain
        if chain.mailbox != mailbox.lower() or chain.kind != kind:
            return False
        if chain.number not in self._chains.get(chain.mailbox, {}):
            return False
        if chain.highest - position.generation >= self.settings.delta_generations:
            return False
        age = self.settings.delta_max_age
        return age is None or self.clock.now() - position.created < age

    def expire(self, mailbox: str | None = None) -> None:
        """Forget every delta chain (of one mailbox): their tokens get 410 (a test hook)."""
        if mailbox is None:
            self._chains.clear()
        else:
            self._chains.pop(mailbox.lower(), None)


class GraphState:
    def __init__(self, clock: Clock, settings: GraphSettings) -> None:
        self.lock = threading.RLock()
        self.delta = DeltaCache(clock, settings)
        self.transactions: dict[tuple[str, str], str] = {}  # (mailbox, transactionId) -> ews id
        self.transaction_of: dict[str, str] = {}  # ews id -> transactionId
        self._in_flight: dict[tuple[str, str], int] = {}
        self._settings = settings

    def enter(self, client: str, mailbox: str) -> bool:
        """Count a request in; False when the app is over its MailboxConcurrency limit."""
        limit = self._settings.mailbox_concurrency
        key = (client, mailbox.lower())
        with self.lock:
            if limit is not None and self._in_flight.get(key, 0) >= limit:
                return False
            self._in_flight[key] = self._in_flight.get(key, 0) + 1
            return True

    def leave(self, client: str, mailbox: str) -> None:
        key = (client, mailbox.lower())
        with self.lock:
            self._in_flight[key] -= 1
