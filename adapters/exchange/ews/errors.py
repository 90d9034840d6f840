"""What an EWS failure means: one table for the watcher, the item port and the port's test double.

    failure       what                                       watcher                 item port
    busy          ErrorServerBusy; exchangelib's             wait the server's       TransientError(
                  RateLimitError                             back-off                retry_after_s)
    transient     timeouts, dropped connections, HTTP 5xx,   exponential back-off    TransientError
                  ErrorInternalServerTransientError, …       with jitter
    token         401 with OAuth2 (a refused token)          renew through msal      TransientError
    mailbox       impersonation or access denied, 401 with   the user's status,      TransientError
                  Basic/NTLM, mailbox moving or its store    retried after a         (check_mailbox
                  unavailable                                growing back-off (R12)  says why, R12)
    no_mailbox    ErrorNonExistentMailbox                    as mailbox: it may      PermanentError
                                                             be created later
    subscription  ErrorSubscriptionNotFound, …Expired…,      subscribe anew, catch   PermanentError
                  ErrorInvalidWatermark, …                   up (DESIGN §5)
    not_found     ErrorItemNotFound                          as mailbox              NotFound
    conflict      ErrorIrresolvableConflict, ErrorStaleObject  as mailbox            VersionConflict
    permanent     anything else                              as mailbox: reported,   PermanentError:
                                                             retried later           the item is parked
                                                                                     (R18)

Rights and credentials are fixed on the server, where no item changes, so an item refused for
them is retried (its mailbox's status says why) rather than parked. Retries of one watcher
request use tenacity (`Retrier`); a mailbox that keeps failing is rescheduled by the watcher
instead, so that one mailbox never blocks a worker for long.

Reasons name the EWS code and the first line of exchangelib's text, cut short, with anything
that looks like a credential removed: they end up in statuses, events and the transfer log.
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from enum import StrEnum
from typing import Final, TypeVar

import requests
from exchangelib.errors import (
    ErrorServerBusy,
    RateLimitError,
    ResponseMessageError,
    TransportError,
    UnauthorizedError,
)
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from adapters.exchange.ews.settings import EwsSettings
from engine.errors import (
    InvalidItem,
    NotFound,
    PermanentError,
    SideError,
    TransientError,
    VersionConflict,
)

T = TypeVar("T")


class Failure(StrEnum):
    BUSY = "busy"
    TRANSIENT = "transient"
    TOKEN = "token"
    MAILBOX = "mailbox"
    NO_MAILBOX = "no_mailbox"
    SUBSCRIPTION = "subscription"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    PERMANENT = "permanent"

    @property
    def retried_in_place(self) -> bool:
        """Worth the same request again after a wait (the watcher's retries of one call)."""
        return self in (Failure.BUSY, Failure.TRANSIENT)

    @property
    def mailbox_level(self) -> bool:
        """The mailbox cannot be reached as configured: its user's status says why (R12)."""
        return self in (Failure.MAILBOX, Failure.NO_MAILBOX)


def _codes(failure: Failure, *codes: str) -> dict[str, Failure]:
    return dict.fromkeys(codes, failure)


# EWS ResponseCodes (exchangelib's error classes carry their names).
CODES: Final[Mapping[str, Failure]] = {
    **_codes(Failure.BUSY, "ErrorServerBusy"),
    **_codes(
        Failure.TRANSIENT,
        "ErrorInternalServerTransientError",
        "ErrorInternalServerError",
        "ErrorTimeoutExpired",
        "ErrorConnectionFailed",
        "ErrorConnectionFailedTransientError",
        "ErrorTooManyObjectsOpened",
        "ErrorExceededConnectionCount",
        "ErrorBatchProcessingStopped",
    ),
    **_codes(
        Failure.MAILBOX,
        "ErrorImpersonateUserDenied",
        "ErrorImpersonationFailed",
        "ErrorAccessDenied",
        "ErrorMailboxConfiguration",
        "ErrorMailboxMoveInProgress",
        "ErrorMailboxStoreUnavailable",
    ),
    **_codes(Failure.NO_MAILBOX, "ErrorNonExistentMailbox"),
    **_codes(
        Failure.SUBSCRIPTION,
        "ErrorSubscriptionNotFound",
        "ErrorExpiredSubscription",
        "ErrorInvalidWatermark",
        "ErrorInvalidSubscription",
    ),
    **_codes(Failure.NOT_FOUND, "ErrorItemNotFound"),
    **_codes(Failure.CONFLICT, "ErrorIrresolvableConflict", "ErrorStaleObject"),
}
# No answer from the server: the connection, TLS, a timeout (ChunkedEncodingError included).
_NO_ANSWER = (requests.exceptions.RequestException, ConnectionError, TimeoutError)


def failure_of_code(code: str) -> Failure:
    """The failure an EWS ResponseCode means."""
    return CODES.get(code, Failure.PERMANENT)


def classify(error: BaseException, *, oauth2: bool = False) -> Failure:
    """The failure anything exchangelib (or requests under it) raised means."""
    for cls in type(error).__mro__:
        if cls.__name__ in CODES:
            return CODES[cls.__name__]
    if isinstance(error, RateLimitError):
        return Failure.BUSY
    if isinstance(error, UnauthorizedError):
        return Failure.TOKEN if oauth2 else Failure.MAILBOX  # msal's refusal is a TokenError
    if isinstance(error, _NO_ANSWER):
        return Failure.TRANSIENT
    if isinstance(error, TransportError) and not isinstance(error, ResponseMessageError):
        return Failure.TRANSIENT  # connection, TLS, redirect: exchangelib's own wrapping
    return Failure.PERMANENT


def retry_after(error: BaseException) -> float | None:
    """How long the server asked us to wait, if it did (BackOffMilliseconds)."""
    if isinstance(error, ErrorServerBusy) and error.back_off:
        return float(error.back_off)  # exchangelib: BackOffMilliseconds / 1000
    if isinstance(error, RateLimitError) and error.wait:
        return float(error.wait)
    return None


MAX_REASON: Final = 300
_SECRET = re.compile(  # a header's scheme stays, its credentials go; key=value, "key": "value"
    r"(?i)((?:authorization[:=]\s*)?(?:bearer|basic|ntlm|negotiate)\s+(?=[\w+/=.~-]{8})"
    r"|authorization[:=]\s*"
    r"|[\w-]*(?:password|secret|token)[\"']?\s*(?:=|:\s*[\"'])\s*)[^\s\"'&]+"
)


def ews_code(error: BaseException) -> str:
    """The EWS ResponseCode behind an exchangelib error (its class name), else the class name."""
    return type(error).__name__


def reason(error: BaseException) -> str:
    """`<code>: <first line of the text>`, short and without anything like a credential."""
    lines = str(error).splitlines()
    text = _SECRET.sub(lambda m: m.group(1) + "***", lines[0] if lines else "")
    if len(text) > MAX_REASON:
        text = text[:MAX_REASON] + "…"
    code = ews_code(error)
    return f"{code}: {text}" if text and text != code else code


def engine_error(failure: Failure, message: str, retry_after_s: float | None = None) -> SideError:
    """The engine's error (`engine.errors`) for a failure of the item port."""
    if failure is Failure.NOT_FOUND:
        return NotFound(message)
    if failure is Failure.CONFLICT:
        return VersionConflict(message)  # re-read, then decide again
    if failure.retried_in_place or failure in (Failure.TOKEN, Failure.MAILBOX):
        return TransientError(message, retry_after_s=retry_after_s)
    return PermanentError(message)  # no mailbox to wait for, or this item cannot be written


def side_error(error: BaseException) -> SideError:
    """The engine's error for anything exchangelib (or requests under it) raised."""
    if isinstance(error, SideError):
        return error
    return engine_error(classify(error), reason(error), retry_after(error))


@contextmanager
def as_side_errors(renew_token: Callable[[], None] | None = None) -> Iterator[None]:
    """Whatever a block of the item port raises, as the engine's error. After a 401 the server
    refused the token before msal thinks it expires (revoked, clocks apart): `renew_token` gets
    a new one for the next attempt (a retry, the next read)."""
    try:
        yield
    except SideError:
        raise
    except InvalidItem as error:  # e.g. a time zone Exchange has no id for
        raise PermanentError(f"{error.code}: {error.message}") from error
    except Exception as error:  # exchangelib and requests raise many kinds
        if isinstance(error, UnauthorizedError) and renew_token is not None:
            with suppress(Exception):  # no token now: the error below says why we failed
                renew_token()
        raise side_error(error) from error


def jittered(attempt: int, initial: float, cap: float) -> float:
    """Exponential back-off with jitter: about initial·2^attempt, capped, between ½ and 1×."""
    ceiling = min(cap, initial * 2.0 ** max(attempt, 0))
    return ceiling * random.uniform(0.5, 1.0)


def delay_for(error: BaseException | None, attempt: int, initial: float, cap: float) -> float:
    """How long to wait after `error`: the server's own back-off, else exponential."""
    asked = None if error is None else retry_after(error)
    return asked if asked is not None else jittered(attempt, initial, cap)


class Retrier:
    """Runs one EWS call with retries of its transient failures (tenacity).

    A refused OAuth2 token is renewed through msal once per call; busy and transient errors are
    retried after `delay_for`; anything else, or the last attempt's failure, is raised. Waits
    end early when `stopping` is set (the watcher is closing)."""

    def __init__(
        self,
        settings: EwsSettings,
        renew_token: Callable[[], None],
        stopping: threading.Event,
    ) -> None:
        self.settings = settings
        self.renew_token = renew_token
        self.stopping = stopping
        self.oauth2 = settings.auth == "oauth2"

    def _retryable(self, error: BaseException) -> bool:
        if self.stopping.is_set():
            return False
        failure = classify(error, oauth2=self.oauth2)
        if failure is Failure.TOKEN:
            self.renew_token()
            return True
        return failure.retried_in_place

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        if error is not None and classify(error, oauth2=self.oauth2) is Failure.TOKEN:
            return 0.0  # the token was renewed: try again at once
        settings = self.settings
        return delay_for(
            error, state.attempt_number - 1, settings.transient_initial_s, settings.transient_max_s
        )

    def _sleep(self, seconds: float) -> None:
        self.stopping.wait(seconds)

    def call(self, function: Callable[[], T]) -> T:
        retrying = Retrying(
            retry=retry_if_exception(self._retryable),
            wait=self._wait,
            stop=stop_after_attempt(self.settings.transient_attempts),
            sleep=self._sleep,
            reraise=True,
        )
        return retrying(function)


def is_mailbox_error(error: BaseException) -> bool:
    """Whether Exchange answered that the mailbox itself cannot be reached (not one item):
    then its ResponseCode alone is the user's reason (R12)."""
    return failure_of_code(ews_code(error)).mailbox_level
