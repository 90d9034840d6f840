"""The HTTP front of the simulator: EWS at /EWS/Exchange.asmx, plus its OAuth2 authority.

A threaded HTTP/1.1 server (one thread per connection), so a long chunked GetStreamingEvents
response does not hold up other requests. Plain HTTP or TLS. Per request it:

1. parses the envelope and, when a schema is configured, validates the request (a violation is
   recorded and answered with ErrorSchemaValidation, as Exchange does),
2. authenticates the caller (Basic for admin accounts, Bearer tokens from its own authority);
   a refused caller gets 401 whatever the body, but the body has been checked all the same,
3. applies injected faults (`sim.faults`),
4. resolves the mailbox to act on (ExchangeImpersonation, else X-AnchorMailbox, else the
   caller's own mailbox) and checks the caller may act on it,
5. dispatches to the operation handler and validates and sends the response.

Requests, responses and schema violations are recorded for tests; logs never contain
credentials, tokens or request bodies.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from sim.auth import (
    BASIC_CHALLENGE,
    AdminAccount,
    OAuthApp,
    Principal,
    Unauthorized,
    basic_principal,
)
from sim.envelope import (
    Element,
    SoapRequest,
    fault_envelope,
    parse_request,
    response_envelope,
    serialize,
)
from sim.errors import EwsError, ResponseCode, SoapFault
from sim.faults import (
    Delay,
    DropStream,
    FaultInjector,
    HttpStatus,
    ResponseError,
    ServerBusy,
    TokenRejected,
)
from sim.itemparse import ParseContext
from sim.oauth import TokenService
from sim.operations import OPERATIONS, RequestContext, StreamingResult, StreamTiming
from sim.schema import SchemaValidator, SchemaViolation
from sim.store import MailboxStore
from sim.tls import TlsFiles

log = logging.getLogger("sim.server")

EWS_PATH = "/ews/exchange.asmx"
_IIS_500 = (
    b"<html><head><title>Runtime Error</title></head><body>"
    b"<h1>Server Error in '/EWS' Application.</h1><h2><i>Runtime Error</i></h2></body></html>"
)
_IIS_503 = b"<html><body><h1>Service Unavailable</h1><p>HTTP Error 503.</p></body></html>"


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 0
    tls: TlsFiles | None = None
    admins: tuple[AdminAccount, ...] = ()
    apps: tuple[OAuthApp, ...] = ()
    # messages.xsd to validate every request and response against (None: no validation).
    schema: Path | None = None
    timing: StreamTiming = field(default_factory=StreamTiming)
    token_lifetime: timedelta = timedelta(minutes=60)


@dataclass(frozen=True)
class RequestRecord:
    """One EWS request as the server saw it (for tests; no bodies, no credentials)."""

    operation: str
    mailbox: str | None
    principal: str | None
    status: int
    response_code: str | None


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    sim: EwsServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Failed TLS handshakes and dropped clients are normal for a test server.
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


class EwsServer:
    """A running EWS simulator over a `MailboxStore`."""

    def __init__(
        self, store: MailboxStore | None = None, config: ServerConfig | None = None
    ) -> None:
        self.store = store or MailboxStore()
        self.config = config or ServerConfig()
        self.faults = FaultInjector()
        self.tokens = TokenService(
            self.store.clock, list(self.config.apps), self.config.token_lifetime
        )
        self.validator = SchemaValidator(self.config.schema) if self.config.schema else None
        self._admins = {admin.username.lower(): admin for admin in self.config.admins}
        self._violations: list[SchemaViolation] = []
        self._records: list[RequestRecord] = []
        self._record_lock = threading.Lock()
        self._stopping = threading.Event()
        self._in_flight = 0
        self._in_flight_changed = threading.Condition()
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        self._ssl_context: ssl.SSLContext | None = None

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> EwsServer:
        httpd = _HttpServer((self.config.host, self.config.port), _Handler)
        httpd.sim = self
        if self.config.tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.config.tls.certificate, self.config.tls.private_key)
            self._ssl_context = context
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop accepting requests and wait (at most `timeout_s`) for those being answered.

        Open streams are woken and send their closing envelope; once `stop` returns, every
        envelope they sent has been checked. Idle keep-alive connections are not waited for.
        """
        with self._in_flight_changed:
            self._stopping.set()
        self.store.wake_streams()
        if self._httpd is not None:
            self._httpd.shutdown()
        with self._in_flight_changed:
            if not self._in_flight_changed.wait_for(lambda: self._in_flight == 0, timeout_s):
                log.warning("%d request(s) still running after %.0f s", self._in_flight, timeout_s)
        if self._httpd is not None:
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def in_flight(self) -> int:
        """Requests being answered right now (a streaming request until its body ends)."""
        with self._in_flight_changed:
            return self._in_flight

    @contextlib.contextmanager
    def _answering(self) -> Iterator[bool]:
        """Count a request in flight; yields False, counting nothing, once the server stops."""
        with self._in_flight_changed:
            if self._stopping.is_set():
                admitted = False
            else:
                admitted = True
                self._in_flight += 1
        try:
            yield admitted
        finally:
            if admitted:
                with self._in_flight_changed:
                    self._in_flight -= 1
                    self._in_flight_changed.notify_all()

    def __enter__(self) -> EwsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- addresses --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("server not started")
        host, port = self._httpd.server_address[:2]
        if isinstance(host, bytes):
            host = host.decode()
        scheme = "https" if self.config.tls else "http"
        return f"{scheme}://{host}:{port}"

    @property
    def url(self) -> str:
        """The EWS endpoint, e.g. http://127.0.0.1:PORT/EWS/Exchange.asmx."""
        return f"{self.base_url}/EWS/Exchange.asmx"

    def authority(self, tenant: str) -> str:
        """The OAuth2 authority for msal: https://127.0.0.1:PORT/{tenant}."""
        return f"{self.base_url}/{tenant}"

    def token_url(self, tenant: str) -> str:
        return f"{self.authority(tenant)}/oauth2/v2.0/token"

    # --- records ----------------------------------------------------------------------------

    @property
    def violations(self) -> list[SchemaViolation]:
        with self._record_lock:
            return list(self._violations)

    def take_violations(self) -> list[SchemaViolation]:
        """Return the violations seen so far and forget them (for tests that provoke one)."""
        with self._record_lock:
            taken, self._violations = self._violations, []
            return taken

    @property
    def requests(self) -> list[RequestRecord]:
        with self._record_lock:
            return list(self._records)

    def _record(self, record: RequestRecord) -> None:
        with self._record_lock:
            self._records.append(record)

    def _check(self, envelope: Element, direction: str, operation: str) -> list[SchemaViolation]:
        if self.validator is None:
            return []
        violations = self.validator.check_envelope(envelope, direction, operation)
        self._record_violations(violations)
        return violations

    def _record_violations(self, violations: list[SchemaViolation]) -> None:
        with self._record_lock:
            self._violations.extend(violations)
        for violation in violations:
            log.warning("schema violation: %s", violation)

    # --- request handling (called from handler threads) -------------------------------------

    def _checked_request(self, body: bytes) -> tuple[SoapRequest | None, SoapFault | None]:
        """The parsed request (None if it is no EWS request) and the fault it earns, if any."""
        try:
            request = parse_request(body)
        except SoapFault as malformed:
            return None, malformed  # not an EWS envelope: nothing the schemas could check
        violations = self._check(request.envelope, "request", request.operation)
        if not violations:
            return request, None
        return request, SoapFault(
            ResponseCode.SCHEMA_VALIDATION,
            "The request failed schema validation.",
            message_xml={"Violation": str(violations[0])},
        )

    def _authenticate(self, header: str | None) -> Principal:
        scheme = (header or "").split(" ", 1)[0].lower()
        if scheme == "basic" and self._admins:
            return basic_principal(header or "", self._admins)
        if scheme == "bearer" and self.tokens.enabled:
            return self.tokens.principal(header or "")
        challenges = [BASIC_CHALLENGE] if self._admins else []
        if self.tokens.enabled:
            challenges.append('Bearer authorization_uri="", error="invalid_token"')
        raise Unauthorized(", ".join(challenges) or BASIC_CHALLENGE, "no credentials")

    def _target_mailbox(self, principal: Principal, request: SoapRequest) -> str:
        """The mailbox the request acts in: the impersonated one, else the caller's own."""
        impersonated = request.impersonated_address
        if impersonated:
            if not self.store.has_mailbox(impersonated):
                raise SoapFault(
                    ResponseCode.NON_EXISTENT_MAILBOX,
                    "The SMTP address has no mailbox associated with it.",
                )
            if not principal.may_access(impersonated):
                raise SoapFault(
                    ResponseCode.IMPERSONATE_USER_DENIED,
                    "The account does not have permission to impersonate the requested user.",
                )
            return impersonated
        if principal.is_app:
            raise SoapFault(
                ResponseCode.INVALID_EXCHANGE_IMPERSONATION_HEADER,
                "ExchangeImpersonation SOAP header must be present for this type of OAuth token.",
            )
        # X-AnchorMailbox only routes the request; without impersonation a caller acts in its
        # own mailbox, whatever mailbox the anchor names.
        if not self.store.has_mailbox(principal.name):
            raise SoapFault(
                ResponseCode.NON_EXISTENT_MAILBOX,
                "The SMTP address has no mailbox associated with it.",
            )
        return principal.name

    def handle_ews(
        self, body: bytes, authorization: str | None, anchor: str | None
    ) -> tuple[int, dict[str, str], bytes | Iterator[bytes], str]:
        """One EWS request: (status, headers, body or chunk iterator, operation)."""
        operation_name = "?"
        mailbox: str | None = None
        principal_name: str | None = None
        try:
            # Checked before authentication, so that requests refused with 401 are checked too.
            request, refusal = self._checked_request(body)
            if request is not None:
                operation_name = request.operation
            principal = self._authenticate(authorization)
            principal_name = principal.name
            if refusal is not None:
                raise refusal
            assert request is not None
            fault = self.faults.take(operation_name, request.impersonated_address or anchor)
            if isinstance(fault, HttpStatus):
                self._record(
                    RequestRecord(operation_name, None, principal_name, fault.status, None)
                )
                page = _IIS_503 if fault.status == 503 else _IIS_500
                return fault.status, {"Content-Type": "text/html"}, page, operation_name
            _raise_injected(fault, self._stopping)
            mailbox = self._target_mailbox(principal, request)
            operation = OPERATIONS.get(operation_name)
            if operation is None:
                raise SoapFault(
                    ResponseCode.INVALID_OPERATION,
                    f"The simulator does not implement the {operation_name} operation.",
                )
            context = RequestContext(
                store=self.store,
                mailbox=mailbox,
                principal=principal.name,
                parse_context=ParseContext(request.time_zone_id),
                timing=self.config.timing,
                stopping=self._stopping,
            )
            try:
                parsed = operation.parse(request.payload)
                if isinstance(fault, ResponseError):
                    result: Element | StreamingResult = operation.error_response(
                        EwsError(fault.code, fault.message)
                    )
                else:
                    result = operation.execute(context, parsed)
            except SoapFault:
                raise
            except EwsError as error:
                result = operation.error_response(error)
        except Unauthorized as refused:
            log.info("EWS %s refused: %s", operation_name, refused.reason)
            self._record(RequestRecord(operation_name, None, principal_name, 401, None))
            return 401, {"WWW-Authenticate": refused.challenge}, b"", operation_name
        except SoapFault as fault_error:
            return self._fault(fault_error, operation_name, mailbox, principal_name)
        except Exception:
            log.exception("EWS %s failed inside the simulator", operation_name)
            internal = SoapFault(
                ResponseCode.INTERNAL_SERVER_ERROR, "An internal server error occurred."
            )
            return self._fault(internal, operation_name, mailbox, principal_name)
        headers = {"Content-Type": "text/xml; charset=utf-8"}
        if isinstance(result, StreamingResult):
            drop = fault.after_envelopes if isinstance(fault, DropStream) else None
            self._record(RequestRecord(operation_name, mailbox, principal_name, 200, "NoError"))
            return 200, headers, self._stream(result, operation_name, drop), operation_name
        envelope = response_envelope(result)
        self._check(envelope, "response", operation_name)
        self._record(
            RequestRecord(operation_name, mailbox, principal_name, 200, _first_code(result))
        )
        return 200, headers, serialize(envelope), operation_name

    def _fault(
        self, error: EwsError, operation: str, mailbox: str | None, principal: str | None
    ) -> tuple[int, dict[str, str], bytes, str]:
        envelope = fault_envelope(error)
        self._check(envelope, "response", operation)
        self._record(RequestRecord(operation, mailbox, principal, 500, error.code))
        return 500, {"Content-Type": "text/xml; charset=utf-8"}, serialize(envelope), operation

    def _stream(
        self, result: StreamingResult, operation: str, drop_after: int | None
    ) -> Iterator[bytes]:
        sent = 0
        try:
            for element in result.responses:
                if drop_after is not None and sent >= drop_after:
                    raise _DropConnection()
                envelope = response_envelope(element)
                self._check(envelope, "response", operation)
                sent += 1
                yield serialize(envelope)
        finally:
            close = getattr(result.responses, "close", None)
            if close is not None:
                close()


def _raise_injected(fault: object, stopping: threading.Event) -> None:
    """Faults that fail a request before the operation runs (or, for Delay, slow it down)."""
    if isinstance(fault, Delay):
        stopping.wait(fault.seconds)  # a stopping server does not keep a client waiting
    elif isinstance(fault, TokenRejected):
        description = f"The token is {fault.reason}"
        raise Unauthorized(
            f'Bearer error="invalid_token", error_description="{description}"',
            f"token {fault.reason}",
        )
    elif isinstance(fault, ServerBusy):
        raise SoapFault(
            ResponseCode.SERVER_BUSY,
            "The server cannot service this request right now. Try again later.",
            message_xml={"BackOffMilliseconds": str(fault.back_off_ms)},
        )


class _DropConnection(Exception):
    """Raised inside a stream to cut the connection without finishing the chunked body."""


def _first_code(response: Element) -> str | None:
    for elem in response.iter():
        if isinstance(elem.tag, str) and elem.tag.endswith("}ResponseCode"):
            return elem.text
    return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-IIS/10.0"
    sys_version = ""
    # Idle keep-alive connections are closed after this many seconds without a request.
    timeout = 300
    server: _HttpServer

    def setup(self) -> None:
        context = self.server.sim._ssl_context
        if context is not None:
            # The TLS handshake runs in this connection's thread, not in the accept loop.
            self.request = context.wrap_socket(self.request, server_side=True)
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        # The base class would print request lines to stderr; the server logs its own summary.
        pass

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        with self.server.sim._answering() as admitted:
            if admitted:
                self._get()
            else:
                self._refuse()

    def do_POST(self) -> None:
        with self.server.sim._answering() as admitted:
            if admitted:
                self._post()
            else:
                self._refuse()

    def _refuse(self) -> None:
        self.close_connection = True
        self._send(503, {"Content-Type": "text/html", "Connection": "close"}, _IIS_503)

    def _get(self) -> None:
        path = urlsplit(self.path).path
        parts = path.strip("/").split("/")
        sim = self.server.sim
        if len(parts) == 4 and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
            config = sim.tokens.openid_configuration(sim.base_url, parts[0])
            if config is not None:
                self._json(200, config)
                return
        self._send(404, {"Content-Type": "text/plain"}, b"Not Found")

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        self._send(
            status,
            {"Content-Type": "application/json; charset=utf-8"},
            json.dumps(payload).encode(),
        )

    def _post(self) -> None:
        path = urlsplit(self.path).path
        body = self._body()
        sim = self.server.sim
        parts = path.strip("/").split("/")
        if len(parts) == 4 and parts[1:] == ["oauth2", "v2.0", "token"]:
            form = dict(parse_qsl(body.decode("utf-8", "replace")))
            status, payload = sim.tokens.token_request(parts[0], form)
            log.info("token request for client %s: %s", form.get("client_id", "?"), status)
            self._json(status, payload)
            return
        if path.lower() != EWS_PATH:
            self._send(404, {"Content-Type": "text/plain"}, b"Not Found")
            return
        started = time.monotonic()
        anchor = self.headers.get("X-AnchorMailbox")
        status, headers, content, operation = sim.handle_ews(
            body, self.headers.get("Authorization"), anchor
        )
        if (self.headers.get("X-PreferServerAffinity") or "").lower() == "true" and anchor:
            # Exchange pins a group of subscriptions to one backend with this cookie.
            backend = hashlib.sha1(anchor.lower().encode()).hexdigest()[:8]
            headers["Set-Cookie"] = f"X-BackEndOverrideCookie=SIM01~{backend}; path=/; HttpOnly"
        if isinstance(content, bytes):
            self._send(status, headers, content)
        else:
            self._send_chunked(status, headers, content)
        log.info(
            "EWS %s %s %d in %.0f ms",
            operation,
            anchor or "-",
            status,
            (time.monotonic() - started) * 1000,
        )

    def _send_chunked(self, status: int, headers: dict[str, str], chunks: Iterator[bytes]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        try:
            for chunk in chunks:
                self.wfile.write(f"{len(chunk):X}\r\n".encode() + chunk + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except _DropConnection:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
