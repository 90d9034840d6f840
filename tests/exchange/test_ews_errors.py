"""One table of EWS failures (adapters/exchange/ews/errors.py) for the watcher, the item port and
the port's test double: the same error means the same thing to each of them (R12, R18)."""

from __future__ import annotations

import exchangelib.errors
import pytest
import requests
from exchangelib.errors import (
    ErrorAccessDenied,
    ErrorExpiredSubscription,
    ErrorImpersonateUserDenied,
    ErrorItemNotFound,
    ErrorMailboxStoreUnavailable,
    ErrorNonExistentMailbox,
    ErrorQuotaExceeded,
    ErrorServerBusy,
    ErrorStaleObject,
    ErrorSubscriptionNotFound,
    ErrorTimeoutExpired,
    RateLimitError,
    UnauthorizedError,
)

from adapters.exchange.ews.errors import (
    CODES,
    Failure,
    classify,
    delay_for,
    is_mailbox_error,
    reason,
    side_error,
)
from engine.errors import NotFound, PermanentError, SideError, TransientError, VersionConflict
from sim.errors import EwsError
from tests.doubles.series_writes import side_error as double_side_error

ROWS: list[tuple[BaseException, Failure, type[SideError]]] = [
    (ErrorServerBusy("busy", back_off=0.5), Failure.BUSY, TransientError),
    (RateLimitError("Max timeout reached", wait=3), Failure.BUSY, TransientError),
    (ErrorTimeoutExpired("slow"), Failure.TRANSIENT, TransientError),
    (requests.exceptions.ConnectionError("reset"), Failure.TRANSIENT, TransientError),
    (requests.exceptions.ChunkedEncodingError("cut"), Failure.TRANSIENT, TransientError),
    (ErrorImpersonateUserDenied("no"), Failure.MAILBOX, TransientError),
    (ErrorAccessDenied("no"), Failure.MAILBOX, TransientError),
    (ErrorMailboxStoreUnavailable("moving"), Failure.MAILBOX, TransientError),
    (UnauthorizedError("401"), Failure.MAILBOX, TransientError),  # Basic/NTLM credentials
    (ErrorNonExistentMailbox("who?"), Failure.NO_MAILBOX, PermanentError),
    (ErrorSubscriptionNotFound("gone"), Failure.SUBSCRIPTION, PermanentError),
    (ErrorExpiredSubscription("gone"), Failure.SUBSCRIPTION, PermanentError),
    (ErrorItemNotFound("gone"), Failure.NOT_FOUND, NotFound),
    (ErrorStaleObject("changed"), Failure.CONFLICT, VersionConflict),
    (ErrorQuotaExceeded("full"), Failure.PERMANENT, PermanentError),
    (ValueError("anything else"), Failure.PERMANENT, PermanentError),
]


@pytest.mark.parametrize(("error", "failure", "engine_error"), ROWS)
def test_one_row_per_error_for_the_watcher_and_the_item_port(
    error: BaseException, failure: Failure, engine_error: type[SideError]
) -> None:
    assert classify(error) is failure
    assert type(side_error(error)) is engine_error
    # The watcher retries in place only what the item port also retries (busy, transient).
    if failure.retried_in_place:
        assert side_error(error).transient


def test_a_refused_token_is_renewed_with_oauth2_and_a_mailbox_denial_without() -> None:
    assert classify(UnauthorizedError("401"), oauth2=True) is Failure.TOKEN
    assert classify(UnauthorizedError("401"), oauth2=False) is Failure.MAILBOX
    assert type(side_error(UnauthorizedError("401"))) is TransientError


def test_the_server_asked_back_off_is_waited_by_both() -> None:
    busy = ErrorServerBusy("busy", back_off=2.5)
    assert side_error(busy).retry_after_s == 2.5
    assert delay_for(busy, attempt=7, initial=0.01, cap=0.02) == 2.5
    limited = RateLimitError("Max timeout reached", wait=4)
    assert side_error(limited).retry_after_s == 4.0
    assert delay_for(limited, attempt=0, initial=0.01, cap=0.02) == 4.0
    assert 0.005 <= delay_for(ErrorTimeoutExpired("x"), 0, 0.01, 0.02) <= 0.01


@pytest.mark.parametrize("code", sorted(CODES))
def test_every_code_of_the_table_is_exchangelibs_and_the_double_agrees(code: str) -> None:
    """The table's codes are real ResponseCodes (exchangelib has a class for each), and the
    test double of the port maps the simulator's errors by the same table."""
    cls = getattr(exchangelib.errors, code)
    error = cls("as Exchange says")
    assert classify(error) is CODES[code]
    ours, doubles = side_error(error), double_side_error(EwsError(code, "as Exchange says"))
    assert type(doubles) is type(ours) and code in str(doubles) and code in str(ours)


def test_r12_only_a_mailbox_answer_is_a_mailbox_reason_by_its_code() -> None:
    assert is_mailbox_error(ErrorImpersonateUserDenied("no"))
    assert is_mailbox_error(ErrorNonExistentMailbox("who?"))
    assert not is_mailbox_error(UnauthorizedError("Invalid credentials for https://x"))
    assert not is_mailbox_error(ErrorServerBusy("busy"))


def test_reasons_are_one_short_line_without_credentials() -> None:
    error = UnauthorizedError(
        "refused: password=hunter2 Authorization: Bearer eyJ0eXAi.eyJhdWQi\nline 2"
    )
    text = reason(error)
    assert "hunter2" not in text and "eyJ0eXAi" not in text and "\n" not in text
    assert text.startswith("UnauthorizedError: refused")
    assert len(reason(ErrorQuotaExceeded("x" * 5000))) < 400
    assert "s3cr3t" not in reason(ValueError('{"client_secret": "s3cr3t"} ?access_token=s3cr3t'))
    assert "invalid_client" in reason(ValueError("no OAuth2 token: invalid_client: AADSTS7000215"))
    assert "TlRMTVNTUAAD" not in reason(UnauthorizedError("sent NTLM TlRMTVNTUAADAAAAGAAY"))
    assert (
        reason(UnauthorizedError("basic auth refused")) == "UnauthorizedError: basic auth refused"
    )
