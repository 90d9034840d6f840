"""The simulator's HTTP front: a Starlette application that uvicorn serves (see `sim.server`).

Routes (EWS and Graph share the port; either can be switched off):
- `POST /EWS/Exchange.asmx` (any case): EWS;
- `/v1.0/...` (GET, POST, PATCH, DELETE): Microsoft Graph (`sim.graph`);
- `GET /{tenant}/v2.0/.well-known/openid-configuration`, `POST /{tenant}/oauth2/v2.0/token`:
  the OAuth2 authority msal talks to.

An EWS request is authenticated from its headers before a byte of its body is read: a refused
caller gets 401 and the connection is closed with the body unread. The body is then read with a
size cap (413) and a time limit (408); a malformed Content-Length (not a number, negative, or
beyond 64 bits) is refused with 400 before anything else. The store's work runs in worker threads (it is synchronous and has its own lock); a
GetStreamingEvents answer is a chunked body, one envelope per chunk, and an envelope counts as
delivered only once written to a client that is still there.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from sim.auth import Unauthorized
from sim.ews import IIS_503, EwsAnswer, EwsHandler
from sim.graph.handler import GraphHandler
from sim.graph.http import graph_endpoint
from sim.oauth import TokenService

log = logging.getLogger("sim.server")

EWS_PATH = "/EWS/Exchange.asmx"
# Worker threads for ordinary requests, and for open streams (each waits in one between events).
REQUEST_THREADS = 64
STREAM_THREADS = 512
# A refused request's body up to this size is discarded by the HTTP layer (keeping the
# connection); a larger or unsized one is never read: the connection is closed instead.
DISCARDED_BODY_BYTES = 64 * 1024
_ROUNDS_TO_NOTICE_EOF = 4
# Larger Content-Length values do not fit a signed 64-bit integer: malformed (400), as IIS and
# nginx answer them; values up to it but above the body cap get 413.
MAX_CONTENT_LENGTH = 2**63 - 1


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int
    body_timeout_s: float


class Gate:
    """Admits requests until the server stops, and counts those in flight."""

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self._changed = threading.Condition()
        self._in_flight = 0
        self._closing: set[threading.Event] = set()

    def admit(self) -> threading.Event | None:
        """A request's own `closing` event (set when the server stops); None once stopping."""
        with self._changed:
            if self.stopping.is_set():
                return None
            self._in_flight += 1
            closing = threading.Event()
            self._closing.add(closing)
            return closing

    def release(self, closing: threading.Event) -> None:
        with self._changed:
            self._in_flight -= 1
            self._closing.discard(closing)
            self._changed.notify_all()

    def stop(self) -> None:
        with self._changed:
            self.stopping.set()
            for closing in self._closing:
                closing.set()

    @property
    def in_flight(self) -> int:
        with self._changed:
            return self._in_flight

    def wait_idle(self, timeout_s: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._in_flight == 0, timeout_s)


class _TooLarge(Exception):
    pass


async def read_body(request: Request, limits: Limits) -> bytes:
    """The whole body; _TooLarge past the cap, TimeoutError when it arrives too slowly."""
    declared = request.headers.get("content-length")
    if declared is not None and int(declared) > limits.max_body_bytes:
        raise _TooLarge()  # (h11 has already refused a Content-Length that is not a number)
    body = bytearray()
    async with asyncio.timeout(limits.body_timeout_s):
        async for chunk in request.stream():
            body += chunk
            if len(body) > limits.max_body_bytes:
                raise _TooLarge()
    return bytes(body)


def _absurd_length(declared: str | None) -> bool:
    """A Content-Length no HTTP server can honour (h11 refuses the malformed ones itself)."""
    return declared is not None and int(declared) > MAX_CONTENT_LENGTH


def _small_declared_body(request: Request) -> bool:
    declared = request.headers.get("content-length")
    return declared is not None and int(declared) <= DISCARDED_BODY_BYTES


def _closing_response(status: int, text: str, headers: dict[str, str] | None = None) -> Response:
    """An answer after which the connection closes (its request body may be unread)."""
    return PlainTextResponse(text, status, headers={**(headers or {}), "Connection": "close"})


class EnvelopeStream(Response):
    """A chunked body of SOAP envelopes produced by a synchronous iterator in a worker thread.

    The iterator is asked for the next envelope only after the previous one was written while
    the client was still connected; when the client has gone, it is closed instead, so that
    what it had produced is not taken as delivered. A client that goes also sets `closing`.
    """

    def __init__(
        self,
        answer: EwsAnswer,
        limiter: anyio.CapacityLimiter,
        closing: threading.Event,
        wake: Callable[[], None],
    ) -> None:
        assert answer.stream is not None
        self.status_code = answer.status
        self.background = None
        # No Content-Length: h11 sends the body chunked.
        self.raw_headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in answer.headers.items()
        ]
        self._envelopes = answer.stream
        self._limiter = limiter
        self._closing = closing
        self._wake = wake

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gone = asyncio.Event()

        async def watch_client() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()
            self._closing.set()
            # The stream waiting for events ends now (the store's lock is taken off the loop).
            await anyio.to_thread.run_sync(self._wake, limiter=self._limiter)

        watcher = asyncio.create_task(watch_client())
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            while True:
                envelope = await self._next()
                if envelope is None:
                    break
                # A client that has gone shows as readable EOF; it takes the loop three rounds
                # (EOF read, connection_lost, the watcher's wake-up) to say so.
                for _ in range(_ROUNDS_TO_NOTICE_EOF):
                    await asyncio.sleep(0)
                if gone.is_set():
                    return
                await send({"type": "http.response.body", "body": envelope, "more_body": True})
            if not gone.is_set():
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            watcher.cancel()
            await anyio.to_thread.run_sync(_close, self._envelopes, limiter=self._limiter)

    async def _next(self) -> bytes | None:
        return await anyio.to_thread.run_sync(next, self._envelopes, None, limiter=self._limiter)


def _close(iterator: Iterator[bytes]) -> None:
    close = getattr(iterator, "close", None)
    if close is not None:
        close()


class HttpFront:
    """The Starlette application over an EWS handler and a token service."""

    def __init__(
        self,
        handler: EwsHandler,
        tokens: TokenService,
        gate: Gate,
        limits: Limits,
        base_url: Callable[[], str],
        graph: GraphHandler | None = None,
        ews: bool = True,
    ) -> None:
        self.handler = handler
        self.graph = graph
        self.tokens = tokens
        self.gate = gate
        self.limits = limits
        self._base_url = base_url
        self._requests: anyio.CapacityLimiter | None = None
        self._streams: anyio.CapacityLimiter | None = None
        routes = [Route(EWS_PATH, self._gated(self.ews), methods=["POST"])] if ews else []
        if graph is not None:
            routes.append(
                Route(
                    "/v1.0/{path:path}",
                    self._gated(self.graph_request),
                    methods=["GET", "POST", "PATCH", "DELETE", "PUT"],
                )
            )
        self.app = Starlette(
            routes=[
                *routes,
                Route("/{tenant}/oauth2/v2.0/token", self._gated(self.token), methods=["POST"]),
                Route(
                    "/{tenant}/v2.0/.well-known/openid-configuration",
                    self._gated(self.openid_configuration),
                    methods=["GET"],
                ),
            ],
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if _absurd_length(Headers(scope=scope).get("content-length")):
                response = _closing_response(400, "Bad Request: invalid Content-Length")
                await response(scope, receive, send)
                return
            if scope["path"].lower() == EWS_PATH.lower():
                scope = {**scope, "path": EWS_PATH}  # IIS paths are case-insensitive
        await self.app(scope, receive, send)

    def _limiters(self) -> tuple[anyio.CapacityLimiter, anyio.CapacityLimiter]:
        """(requests, streams), made on first use inside the server's event loop."""
        if self._requests is None or self._streams is None:
            self._requests = anyio.CapacityLimiter(REQUEST_THREADS)
            self._streams = anyio.CapacityLimiter(STREAM_THREADS)
        return self._requests, self._streams

    def _gated(
        self, endpoint: Callable[[Request, threading.Event], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        """Counts the request in flight until its answer is sent; 503 once the server stops."""

        async def gated(request: Request) -> Response:
            closing = self.gate.admit()
            if closing is None:
                return _closing_response(503, IIS_503.decode(), {"Content-Type": "text/html"})
            try:
                response = await endpoint(request, closing)
            except BaseException:
                self.gate.release(closing)
                raise
            return _Released(response, lambda: self.gate.release(closing))

        return gated

    async def _run(self, function: Callable[..., Any], *args: Any) -> Any:
        return await anyio.to_thread.run_sync(function, *args, limiter=self._limiters()[0])

    # --- EWS --------------------------------------------------------------------------------

    async def ews(self, request: Request, closing: threading.Event) -> Response:
        started = time.monotonic()
        anchor = request.headers.get("x-anchormailbox")
        try:
            principal = self.handler.authenticate(
                request.headers.get("authorization"), request.scope.get("client")
            )
        except Unauthorized as refused:
            challenge = self.handler.refused(refused).headers
            if refused.handshake:
                # The handshake goes on on this connection (NTLM): read the body, keep it open.
                try:
                    await read_body(request, self.limits)
                except (_TooLarge, TimeoutError, ClientDisconnect):
                    return _closing_response(401, "", challenge)
                return Response(b"", 401, headers=challenge)
            if _small_declared_body(request):
                # The HTTP layer discards the little body unread and keeps the connection, as
                # IIS does (exchangelib takes a closed connection for a busy server).
                return Response(b"", 401, headers=challenge)
            return _closing_response(401, "", challenge)
        try:
            body = await read_body(request, self.limits)
        except _TooLarge:
            return _closing_response(413, "Request body too large")
        except TimeoutError:
            return _closing_response(408, "Request body timed out")
        except ClientDisconnect:
            return _closing_response(400, "Client disconnected")
        answer: EwsAnswer = await self._run(self.handler.handle, body, principal, anchor, closing)
        headers = dict(answer.headers)
        if (request.headers.get("x-preferserveraffinity") or "").lower() == "true" and anchor:
            # Exchange pins a group of subscriptions to one backend with this cookie.
            backend = hashlib.sha1(anchor.lower().encode()).hexdigest()[:8]
            headers["Set-Cookie"] = f"X-BackEndOverrideCookie=SIM01~{backend}; path=/; HttpOnly"
        log.info(
            "EWS %s %s %d in %.0f ms",
            answer.operation,
            anchor or "-",
            answer.status,
            (time.monotonic() - started) * 1000,
        )
        if answer.stream is None:
            return Response(answer.body, answer.status, headers=headers)
        streamed = EwsAnswer(answer.status, headers, answer.operation, stream=answer.stream)
        return EnvelopeStream(
            streamed, self._limiters()[1], closing, self.handler.store.wake_streams
        )

    # --- Graph ------------------------------------------------------------------------------

    async def graph_request(self, request: Request, closing: threading.Event) -> Response:
        assert self.graph is not None
        try:
            return await graph_endpoint(
                request,
                self.graph,
                lambda r: read_body(r, self.limits),
                self._run,
                self._base_url(),
            )
        except _TooLarge:
            return _closing_response(413, "Request body too large")
        except TimeoutError:
            return _closing_response(408, "Request body timed out")

    # --- OAuth2 authority --------------------------------------------------------------------

    async def token(self, request: Request, closing: threading.Event) -> Response:
        try:
            body = await read_body(request, self.limits)
        except _TooLarge:
            return _closing_response(413, "Request body too large")
        except TimeoutError:
            return _closing_response(408, "Request body timed out")
        form = dict(parse_qsl(body.decode("utf-8", "replace")))
        tenant = request.path_params["tenant"]
        status, payload = await self._run(self.tokens.token_request, tenant, form)
        log.info("token request for client %s: %s", form.get("client_id", "?"), status)
        return _json(status, payload)

    async def openid_configuration(self, request: Request, closing: threading.Event) -> Response:
        tenant = request.path_params["tenant"]
        config = self.tokens.openid_configuration(self._base_url(), tenant)
        if config is None:
            return PlainTextResponse("Not Found", 404)
        return _json(200, config)


def _json(status: int, payload: dict[str, Any]) -> Response:
    return JSONResponse(payload, status, media_type="application/json; charset=utf-8")


class _Released(Response):
    """Sends a response, then releases its request from the gate (streams: once they end)."""

    def __init__(self, response: Response, release: Callable[[], None]) -> None:
        self._response = response
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._response(scope, receive, send)
        finally:
            self._release()
