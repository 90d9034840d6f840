"""What an EWS failure means for the watcher, and how long to wait before trying again.

- busy: `ErrorServerBusy` — wait as long as its BackOffMilliseconds says;
- transient: timeouts, dropped connections, HTTP 5xx — exponential back-off with jitter;
- token: the server refused the OAuth2 token — get a new one from msal, then retry;
- subscription: the subscription is gone or its watermark invalid — subscribe anew without the
  old watermark and catch up with SyncFolderItems (DESIGN §5);
- mailbox: this mailbox cannot be reached or may not be impersonated — that user's status
  with the reason, retried after a growing, capped back-off (R12);
- anything else is treated like a mailbox failure: reported, retried later, never a crash.

Retries of one request use tenacity; a mailbox that keeps failing is rescheduled by the
watcher instead, so that one mailbox never blocks a worker for long.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from enum import StrEnum
from typing import TypeVar

import requests
from exchangelib.errors import (
    ErrorAccessDenied,
    ErrorConnectionFailed,
    ErrorExpiredSubscription,
    ErrorImpersonateUserDenied,
    ErrorInternalServerError,
    ErrorInternalServerTransientError,
    ErrorInvalidSubscription,
    ErrorInvalidWatermark,
    ErrorMailboxMoveInProgress,
    ErrorMailboxStoreUnavailable,
    ErrorNonExistentMailbox,
    ErrorServerBusy,
    ErrorSubscriptionNotFound,
    ErrorTimeoutExpired,
    RateLimitError,
    TransportError,
    UnauthorizedError,
)
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from adapters.exchange.ews.settings import EwsSettings

T = TypeVar("T")


class Failure(StrEnum):
    BUSY = "busy"
    TRANSIENT = "transient"
    TOKEN = "token"
    SUBSCRIPTION = "subscription"
    MAILBOX = "mailbox"


SUBSCRIPTION_LOST = (
    ErrorSubscriptionNotFound,
    ErrorExpiredSubscription,
    ErrorInvalidWatermark,
    ErrorInvalidSubscription,
)
_MAILBOX = (
    ErrorImpersonateUserDenied,
    ErrorNonExistentMailbox,
    ErrorAccessDenied,
    ErrorMailboxMoveInProgress,
    ErrorMailboxStoreUnavailable,
)
_TRANSIENT = (
    ErrorTimeoutExpired,
    ErrorInternalServerTransientError,
    ErrorInternalServerError,
    ErrorConnectionFailed,
    RateLimitError,
    TransportError,
    requests.exceptions.ConnectionError,  # ChunkedEncodingError is not one of them
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.Timeout,
)


def classify(error: BaseException, *, oauth2: bool = False) -> Failure:
    if isinstance(error, ErrorServerBusy):
        return Failure.BUSY
    if isinstance(error, SUBSCRIPTION_LOST):
        return Failure.SUBSCRIPTION
    if isinstance(error, UnauthorizedError) and oauth2:
        return Failure.TOKEN  # a refused token; msal's refusal is a TokenError (mailbox-wide)
    if isinstance(error, _MAILBOX):
        return Failure.MAILBOX
    if isinstance(error, _TRANSIENT):
        return Failure.TRANSIENT
    return Failure.MAILBOX


def reason(error: BaseException) -> str:
    """A one-line reason for a user's status: the EWS response code and its message."""
    text = str(error).splitlines()[0] if str(error) else ""
    name = type(error).__name__
    return f"{name}: {text}" if text and text != name else name


def jittered(attempt: int, initial: float, cap: float) -> float:
    """Exponential back-off with jitter: about initial·2^attempt, capped, between ½ and 1×."""
    ceiling = min(cap, initial * 2.0 ** max(attempt, 0))
    return ceiling * random.uniform(0.5, 1.0)


def delay_for(error: BaseException | None, attempt: int, initial: float, cap: float) -> float:
    """How long to wait after `error`: ErrorServerBusy's own back-off, else exponential."""
    if isinstance(error, ErrorServerBusy) and error.back_off:
        return float(error.back_off)  # exchangelib: BackOffMilliseconds / 1000
    return jittered(attempt, initial, cap)


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
        return failure in (Failure.BUSY, Failure.TRANSIENT)

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
