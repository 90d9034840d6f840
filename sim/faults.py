"""Fault injection: make the simulator fail the way Exchange fails, per test and on purpose.

    server.faults.add(ServerBusy(back_off_ms=500), operation="GetItem", times=1)

A rule matches by operation (None: any) and mailbox (None: any) and fires `times` times (None:
until cleared). Faults:

- ServerBusy: SOAP fault ErrorServerBusy with BackOffMilliseconds (HTTP 500), as throttling does.
- HttpStatus: a bare HTTP error (500 "Server Error in '/EWS' Application", 503 Service Unavailable).
- Delay: answer normally after `seconds` (slow server).
- DropStream: cut a GetStreamingEvents connection after `after_envelopes` envelopes, mid-body.
- ResponseError: the operation answers with this ResponseCode (e.g. ErrorExpiredSubscription,
  ErrorInvalidWatermark, ErrorInvalidSyncStateData).
- TokenRejected: HTTP 401 for the Bearer token, as for an expired or revoked token.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ServerBusy:
    back_off_ms: int = 500


@dataclass(frozen=True)
class HttpStatus:
    status: int = 503


@dataclass(frozen=True)
class Delay:
    seconds: float


@dataclass(frozen=True)
class DropStream:
    after_envelopes: int = 1


@dataclass(frozen=True)
class ResponseError:
    code: str
    message: str = "Injected by the simulator."


@dataclass(frozen=True)
class TokenRejected:
    reason: str = "expired"


Fault = ServerBusy | HttpStatus | Delay | DropStream | ResponseError | TokenRejected


@dataclass
class FaultRule:
    fault: Fault
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


class FaultInjector:
    """The fault rules of one server; thread-safe."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()

    def add(
        self,
        fault: Fault,
        *,
        operation: str | None = None,
        mailbox: str | None = None,
        times: int | None = 1,
    ) -> FaultRule:
        rule = FaultRule(fault, operation, mailbox, times)
        with self._lock:
            self._rules.append(rule)
        return rule

    def take(self, operation: str, mailbox: str | None) -> Fault | None:
        """The fault to apply to this request, if any (counts as fired)."""
        with self._lock:
            for rule in self._rules:
                if rule.matches(operation, mailbox):
                    rule.fired += 1
                    return rule.fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def pending(self) -> list[FaultRule]:
        """Rules that have not fired as often as asked."""
        with self._lock:
            return [
                rule for rule in self._rules if rule.times is not None and rule.fired < rule.times
            ]
