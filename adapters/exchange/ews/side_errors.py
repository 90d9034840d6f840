"""exchangelib's errors as the engine's for the item port (`engine.errors`): retry, re-read,
gone, or park. (`errors.py` classifies them for the watcher.)

    ErrorServerBusy                       TransientError(retry_after_s=BackOffMilliseconds/1000)
    connection drops, timeouts, HTTP 5xx  TransientError (exchangelib reports 500/503 as
                                          ErrorInternalServerTransientError or ErrorServerBusy)
    ErrorItemNotFound                     NotFound
    ErrorIrresolvableConflict, stale key  VersionConflict (re-read, then decide again)
    impersonation/access denied, 401      TransientError: rights and credentials are fixed on
                                          the server, where no item changes, so retrying brings
                                          the items over (check_mailbox reports the reason, R12)
    ErrorNonExistentMailbox               PermanentError (as the store double says; the user's
                                          status shows the reason through check_mailbox)
    anything else                         PermanentError with its EWS code (the item is parked, R18)

Messages name the EWS code and exchangelib's text, cut short, with anything that looks like a
credential removed: they end up in events and the transfer log.
"""

from __future__ import annotations

import re
from typing import Final

import requests
from exchangelib.errors import (
    ErrorAccessDenied,
    ErrorImpersonateUserDenied,
    ErrorIrresolvableConflict,
    ErrorItemNotFound,
    ErrorNonExistentMailbox,
    ErrorServerBusy,
    RateLimitError,
    ResponseMessageError,
    TransportError,
    UnauthorizedError,
)

from engine.errors import NotFound, PermanentError, SideError, TransientError, VersionConflict

MAX_MESSAGE: Final = 300

# Codes worth retrying: the server or the mailbox is briefly unavailable.
TRANSIENT_CODES: Final = frozenset(
    {
        "ErrorServerBusy",
        "ErrorInternalServerTransientError",
        "ErrorInternalServerError",
        "ErrorMailboxStoreUnavailable",
        "ErrorMailboxMoveInProgress",
        "ErrorTimeoutExpired",
        "ErrorConnectionFailed",
        "ErrorTooManyObjectsOpened",
        "ErrorExceededConnectionCount",
        "ErrorBatchProcessingStopped",
    }
)
# The mailbox cannot be reached as configured: the user's status says why (R12).
MAILBOX_CODES: Final = frozenset(
    {
        "ErrorImpersonateUserDenied",
        "ErrorAccessDenied",
        "ErrorNonExistentMailbox",
        "ErrorMailboxConfiguration",
        "ErrorImpersonationFailed",
    }
)
CONFLICT_CODES: Final = frozenset({"ErrorIrresolvableConflict", "ErrorStaleObject"})

_SECRET = re.compile(
    r"(?i)(bearer\s+|authorization[:=]\s*|password[:=]\s*|secret[:=]\s*|token[:=]\s*)\S+"
)


def ews_code(error: BaseException) -> str:
    """The EWS ResponseCode behind an exchangelib error (its class name), else the class name."""
    return type(error).__name__


def clean_message(error: BaseException) -> str:
    """`<code>: <text>`, short and without anything that looks like a credential."""
    text = _SECRET.sub(lambda m: m.group(1) + "***", str(error))
    if len(text) > MAX_MESSAGE:
        text = text[:MAX_MESSAGE] + "…"
    return f"{ews_code(error)}: {text}" if text else ews_code(error)


def is_mailbox_error(error: BaseException) -> bool:
    """Whether the error says the mailbox itself cannot be reached (not one item)."""
    return (
        isinstance(error, ErrorImpersonateUserDenied | ErrorAccessDenied | ErrorNonExistentMailbox)
        or ews_code(error) in MAILBOX_CODES
    )


def side_error(error: BaseException) -> SideError:
    """The engine's error for anything exchangelib (or requests under it) raised."""
    message = clean_message(error)
    if isinstance(error, SideError):
        return error
    if isinstance(error, ErrorServerBusy):
        return TransientError(message, retry_after_s=error.back_off)
    if isinstance(error, RateLimitError):
        return TransientError(message, retry_after_s=error.wait)
    if isinstance(error, ErrorItemNotFound):
        return NotFound(message)
    code = ews_code(error)
    if isinstance(error, ErrorIrresolvableConflict) or code in CONFLICT_CODES:
        return VersionConflict(message)
    if isinstance(error, ErrorNonExistentMailbox):
        return PermanentError(message)  # no mailbox to wait for; check_mailbox says so (R12)
    if code in TRANSIENT_CODES or is_mailbox_error(error) or isinstance(error, UnauthorizedError):
        return TransientError(message)
    if isinstance(error, requests.exceptions.RequestException | ConnectionError | TimeoutError):
        return TransientError(message)
    if isinstance(error, TransportError) and not isinstance(error, ResponseMessageError):
        return TransientError(message)  # no answer from the server (connection, TLS, redirect)
    return PermanentError(message)
