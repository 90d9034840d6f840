"""The HTTP client for Graph: httpx with HTTP/2 and one bounded pool, app-only Bearer tokens,
at most `per_mailbox_concurrency` (4) requests in flight per mailbox, 429/503 retried after
their Retry-After, and Graph's error envelope turned into the engine's typed side errors.

    client = GraphClient(settings)            # tokens from msal (auth.py)
    body = client.call(mailbox, "GET", f"/users/{mailbox}/events/{id}")
    answers = client.batch(mailbox, [Request("DELETE", "/users/…/events/…")])

A 401 drops the refused token from msal's cache and sends the request once more with a new one.
Errors (the engine's, `engine.errors`):
    404 ErrorItemNotFound / ErrorInvalidIdMalformed   NotFound
    412 ErrorIrresolvableConflict                     VersionConflict
    401, 403 (ErrorAccessDenied: Application Access Policy), 429, 5xx, network
                                                      TransientError (rights may be granted later)
    410 syncStateNotFound                             DeltaExpired (the port starts a full pass)
    other 4xx                                          PermanentError with Graph's code
Messages carry Graph's code and message, never the token.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote

import httpx
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from adapters.exchange.graph.auth import GraphTokens, TokenError
from adapters.exchange.graph.settings import GraphSettings
from engine.errors import NotFound, PermanentError, SideError, TransientError, VersionConflict

BATCH_LIMIT: Final = 20  # requests per $batch (Graph's limit)
_GONE: Final = frozenset({"ErrorItemNotFound", "ErrorInvalidIdMalformed", "itemNotFound"})
_MAX_MESSAGE: Final = 300


class DeltaExpired(TransientError):
    """410 syncStateNotFound: the delta token is no longer known; start a full pass."""


class MailboxDenied(TransientError):
    """403 ErrorAccessDenied / 404 ErrorInvalidUser for the mailbox itself (R9, R12)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class Throttled(TransientError):
    """429/503 with the server's Retry-After (after our own retries ran out)."""


@dataclass(frozen=True)
class Request:
    """One request of a $batch (a path below the Graph base URL)."""

    method: str
    url: str
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def user_path(mailbox: str) -> str:
    return f"/users/{quote(mailbox, safe='@.')}"


def error_of(status: int, body: Any, headers: Any = None) -> SideError:
    """The engine's error for a Graph error answer."""
    error = body.get("error", {}) if isinstance(body, dict) else {}
    code = str(error.get("code") or f"HTTP {status}")
    message = str(error.get("message") or "")[:_MAX_MESSAGE]
    text = f"{code}: {message}" if message else code
    retry_after = _retry_after(headers)
    if status == 410 or code == "syncStateNotFound":
        return DeltaExpired(text)
    if status == 412 or code == "ErrorIrresolvableConflict":
        return VersionConflict(text)
    if code in _GONE or (status == 404 and code != "ErrorInvalidUser"):
        return NotFound(text)
    if status == 403 or code in ("ErrorInvalidUser", "MailboxNotEnabledForRESTAPI"):
        return MailboxDenied(text, code)
    if status in (429, 503):
        return Throttled(text, retry_after_s=retry_after)
    if status == 401 or status >= 500:
        return TransientError(text, retry_after_s=retry_after)
    return PermanentError(text)


def _retry_after(headers: Any) -> float | None:
    if not headers:
        return None
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _transient(error: BaseException) -> bool:
    return isinstance(error, (Throttled, _Network)) or (
        isinstance(error, TransientError)
        and not isinstance(error, (MailboxDenied, DeltaExpired, VersionConflict))
        and "InvalidAuthenticationToken" not in str(error)
    )


class _Network(TransientError):
    """The connection failed or timed out."""


class GraphClient:
    """Graph over one httpx client (HTTP/2, bounded pool); thread-safe."""

    def __init__(
        self,
        settings: GraphSettings,
        tokens: GraphTokens | None = None,
        *,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.settings = settings
        self.tokens = tokens or GraphTokens(settings)
        self.base = settings.graph_url.rstrip("/")
        self.http = httpx.Client(
            http2=True,
            verify=_verify(settings.verify),
            trust_env=False,
            timeout=settings.request_timeout_s,
            limits=httpx.Limits(
                max_connections=settings.max_connections,
                max_keepalive_connections=settings.max_connections,
            ),
        )
        self._sleep = sleep
        self._lock = threading.Lock()
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self.retries = 0  # answers retried after 429/503/network errors

    def close(self) -> None:
        self.http.close()

    def _slot(self, mailbox: str) -> threading.BoundedSemaphore:
        with self._lock:
            slot = self._slots.get(mailbox.lower())
            if slot is None:
                slot = threading.BoundedSemaphore(self.settings.per_mailbox_concurrency)
                self._slots[mailbox.lower()] = slot
            return slot

    def _wait(self, state: Any) -> float:
        error = state.outcome.exception() if state.outcome else None
        after = getattr(error, "retry_after_s", None)
        backoff = wait_exponential(multiplier=0.5, max=self.settings.transient_max_s)(state)
        return float(min(after, self.settings.transient_max_s) if after is not None else backoff)

    def call(
        self,
        mailbox: str,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """The JSON answer (None for 204) of one request; a typed side error otherwise."""
        kwargs: dict[str, Any] = {}
        if self._sleep is not None:
            kwargs["sleep"] = self._sleep
        retrying = Retrying(
            retry=retry_if_exception(_transient),
            stop=stop_after_attempt(self.settings.transient_attempts),
            wait=self._wait,
            reraise=True,
            before_sleep=lambda _state: self._count_retry(),
            **kwargs,
        )
        target = url if url.startswith(("https://", "http://")) else self.base + url
        with self._slot(mailbox):
            return retrying(self._once, method, target, params, body, headers or {})

    def _count_retry(self) -> None:
        with self._lock:
            self.retries += 1

    def _once(self, method: str, url: str, params: Any, body: Any, headers: dict[str, str]) -> Any:
        for attempt in (1, 2):
            try:
                token = self.tokens.token()
            except TokenError as error:
                raise TransientError(str(error)) from None
            try:
                answer = self.http.request(
                    method,
                    url,
                    params=params,
                    json=body,
                    headers={**headers, "Authorization": f"Bearer {token}"},
                )
            except httpx.HTTPError as error:
                raise _Network(f"{type(error).__name__}: {error}") from None
            if answer.status_code == 401 and attempt == 1:
                self.tokens.forget(token)  # refused before it expired: ask msal again
                continue
            if answer.status_code >= 400:
                raise error_of(answer.status_code, _json(answer), answer.headers)
            return _json(answer) if answer.status_code != 204 and answer.content else None
        raise AssertionError("unreachable")

    def batch(self, mailbox: str, requests: Sequence[Request]) -> list[Any]:
        """Answers (JSON body, or the side error) in order, in $batch rounds of 20; requests
        answered 429/503 inside a batch are sent again after their Retry-After."""
        answers = self._batch(mailbox, requests)
        for _ in range(self.settings.transient_attempts - 1):
            again = [i for i, a in enumerate(answers) if isinstance(a, Throttled)]
            if not again:
                break
            wait = max((answers[i].retry_after_s or 1.0) for i in again)
            self._count_retry()
            (self._sleep or time.sleep)(min(wait, self.settings.transient_max_s))
            for index, answer in zip(
                again, self._batch(mailbox, [requests[i] for i in again]), strict=True
            ):
                answers[index] = answer
        return answers

    def _batch(self, mailbox: str, requests: Sequence[Request]) -> list[Any]:
        answers: list[Any] = []
        for first in range(0, len(requests), BATCH_LIMIT):
            chunk = requests[first : first + BATCH_LIMIT]
            payload = {
                "requests": [
                    {
                        "id": str(index),
                        "method": r.method,
                        "url": r.url,
                        **({"body": r.body} if r.body is not None else {}),
                        "headers": {
                            **r.headers,
                            **({"Content-Type": "application/json"} if r.body is not None else {}),
                        },
                    }
                    for index, r in enumerate(chunk)
                ]
            }
            result = self.call(mailbox, "POST", "/$batch", body=payload)
            by_id = {str(r.get("id")): r for r in (result or {}).get("responses", [])}
            for index in range(len(chunk)):
                one = by_id.get(str(index), {})
                status = int(one.get("status", 500))
                if status >= 400:
                    answers.append(error_of(status, one.get("body"), one.get("headers")))
                else:
                    answers.append(one.get("body"))
        return answers


def _json(answer: httpx.Response) -> Any:
    try:
        return answer.json()
    except ValueError:
        return None


def _verify(verify: bool | str) -> bool | ssl.SSLContext:
    """httpx's verify: an SSL context trusting the CA bundle, or whether to verify at all."""
    return ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
