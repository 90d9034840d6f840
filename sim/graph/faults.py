"""Faults of the Graph simulator, injected per test like the EWS ones (`sim.faults`):

    server.graph.faults.add(Throttled(retry_after=2), operation="calendarView.delta", times=1)

A rule matches an operation name (see `sim.graph.handler.ROUTES`; None: any) and a mailbox
(None: any) and fires `times` times (None: until cleared).

- Throttled: 429 TooManyRequests with an integer `Retry-After` (kiota's RetryHandler does not
  parse decimals, reference §3.7) and the innerError of throttling.md's sample.
- Unavailable: 503 serviceNotAvailable with `Retry-After`.
- TokenRejected: 401 InvalidAuthenticationToken, as for an expired or revoked token.
- Failure: any status and Graph error code (e.g. 500 generalException).
- Delay: answer normally after `seconds`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Throttled:
    retry_after: int = 1


@dataclass(frozen=True)
class Unavailable:
    retry_after: int = 1


@dataclass(frozen=True)
class TokenRejected:
    reason: str = "expired"


@dataclass(frozen=True)
class Failure:
    status: int
    code: str
    message: str = "Injected by the simulator."


@dataclass(frozen=True)
class Delay:
    seconds: float


GraphFault = Throttled | Unavailable | TokenRejected | Failure | Delay


@dataclass
class GraphFaultRule:
    fault: GraphFault
    operation: str | None = None
    mailbox: str | None = None
    times: int | None = 1
    fired: int = field(default=0)

    def matches(self, operation: str, mailbox: str | None) -> bool:
        if self.times is not None and self.fired >= self.times:
            return False
        if self.operation is not None and self.operation != operation:
            return False
        return self.mailbox is None or (mailbox or "").lower() == self.mailbox.lower()


class GraphFaults:
    """The fault rules of one Graph simulator; thread-safe."""

    def __init__(self) -> None:
        self._rules: list[GraphFaultRule] = []
        self._lock = threading.Lock()

    def add(
        self,
        fault: GraphFault,
        *,
        operation: str | None = None,
        mailbox: str | None = None,
        times: int | None = 1,
    ) -> GraphFaultRule:
        rule = GraphFaultRule(fault, operation, mailbox, times)
        with self._lock:
            self._rules.append(rule)
        return rule

    def take(self, operation: str, mailbox: str | None) -> GraphFault | None:
        with self._lock:
            for rule in self._rules:
                if rule.matches(operation, mailbox):
                    rule.fired += 1
                    return rule.fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def pending(self) -> list[GraphFaultRule]:
        with self._lock:
            return [r for r in self._rules if r.times is not None and r.fired < r.times]
