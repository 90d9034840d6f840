"""One EWS request, from its authenticated caller and body to the SOAP answer.

The HTTP layer (`sim.asgi`) authenticates the caller from the headers first and only then reads
the body; `EwsHandler.handle` then, in a worker thread:

1. parses the envelope (a DOCTYPE or malformed XML is a schema fault) and, when a schema is
   configured, validates the request (a violation is recorded and answered with
   ErrorSchemaValidation, as Exchange does),
2. applies injected faults (`sim.faults`),
3. resolves the mailbox to act in (the ExchangeImpersonation target, else the caller's own
   mailbox; X-AnchorMailbox only routes) and checks the caller may act in it,
4. dispatches to the operation handler and validates the response; a streaming operation's
   envelopes are validated as they are produced.

Logs never contain credentials, tokens or request bodies.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass

from sim.auth import BASIC_CHALLENGE, AdminAccount, Principal, Unauthorized, basic_principal
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
from sim.ntlm import NTLM_CHALLENGE, NtlmAcceptor
from sim.oauth import TokenService
from sim.operations import OPERATIONS, RequestContext, StreamingResult, StreamTiming
from sim.schema import SchemaViolation
from sim.store import MailboxStore

log = logging.getLogger("sim.server")

XML_CONTENT = {"Content-Type": "text/xml; charset=utf-8"}
IIS_500 = (
    b"<html><head><title>Runtime Error</title></head><body>"
    b"<h1>Server Error in '/EWS' Application.</h1><h2><i>Runtime Error</i></h2></body></html>"
)
IIS_503 = b"<html><body><h1>Service Unavailable</h1><p>HTTP Error 503.</p></body></html>"


@dataclass(frozen=True)
class RequestRecord:
    """One EWS request as the server saw it (for tests; no bodies, no credentials)."""

    operation: str
    mailbox: str | None
    principal: str | None
    status: int
    response_code: str | None


@dataclass(frozen=True)
class EwsAnswer:
    """What to send: a whole body, or (GetStreamingEvents) a stream of envelopes."""

    status: int
    headers: dict[str, str]
    operation: str
    body: bytes = b""
    # Each item is one serialised envelope. The consumer asks for the next one only after the
    # previous one was written to a live client, and closes the iterator otherwise: notifications
    # count as delivered only then (see GetStreamingEvents).
    stream: Iterator[bytes] | None = None


class DropConnection(Exception):
    """Raised inside a stream to cut the connection without finishing the chunked body."""


Checker = Callable[[Element, str, str], list[SchemaViolation]]


class EwsHandler:
    """Authenticates callers and answers EWS requests against the store."""

    def __init__(
        self,
        store: MailboxStore,
        admins: tuple[AdminAccount, ...],
        tokens: TokenService,
        faults: FaultInjector,
        timing: StreamTiming,
        check: Checker,
        record: Callable[[RequestRecord], None],
        persist: Callable[[], None] = lambda: None,
        ntlm: NtlmAcceptor | None = None,
    ) -> None:
        self.store = store
        self.tokens = tokens
        self.faults = faults
        self.timing = timing
        self._admins = {admin.username.lower(): admin for admin in admins}
        self.ntlm = ntlm
        self._check = check
        self._record = record
        self._persist = persist

    # --- before the body is read --------------------------------------------------------------

    def authenticate(self, header: str | None, connection: Hashable = None) -> Principal:
        """The caller an Authorization header names (with NTLM: the caller the connection
        authenticated); Unauthorized (HTTP 401) otherwise."""
        scheme = (header or "").split(" ", 1)[0].lower()
        if scheme == "basic" and self._admins:
            return basic_principal(header or "", self._admins)
        if scheme == "bearer" and self.tokens.enabled:
            return self.tokens.principal(header or "")
        if scheme == "ntlm" and self.ntlm is not None:
            return self.ntlm.authenticate(header or "", connection)
        if not header and self.ntlm is not None:
            known = self.ntlm.authenticated(connection)
            if known is not None:
                return known  # NTLM authenticated the connection, not the request
        challenges = [BASIC_CHALLENGE] if self._admins else []
        if self.ntlm is not None:
            challenges.append(NTLM_CHALLENGE)
        if self.tokens.enabled:
            challenges.append('Bearer authorization_uri="", error="invalid_token"')
        raise Unauthorized(", ".join(challenges) or BASIC_CHALLENGE, "no credentials")

    def refused(self, refusal: Unauthorized, operation: str = "?") -> EwsAnswer:
        log.info("EWS %s refused: %s", operation, refusal.reason)
        self._record(RequestRecord(operation, None, None, 401, None))
        return EwsAnswer(401, {"WWW-Authenticate": refusal.challenge}, operation)

    # --- the request ----------------------------------------------------------------------------

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

    def handle(
        self, body: bytes, principal: Principal, anchor: str | None, closing: threading.Event
    ) -> EwsAnswer:
        """One authenticated EWS request. `closing` is set when the server stops or the client
        goes; a stream then ends and an injected delay is cut short. What the request changed
        is persisted (with --data) before the answer goes out."""
        answer = self._answer(body, principal, anchor, closing)
        self._persist()
        return answer

    def _answer(
        self, body: bytes, principal: Principal, anchor: str | None, closing: threading.Event
    ) -> EwsAnswer:
        operation_name = "?"
        mailbox: str | None = None
        fault: object = None
        try:
            request, refusal = self._checked_request(body)
            if request is not None:
                operation_name = request.operation
            if refusal is not None:
                raise refusal
            assert request is not None
            fault = self.faults.take(operation_name, request.impersonated_address or anchor)
            if isinstance(fault, HttpStatus):
                self._record(
                    RequestRecord(operation_name, None, principal.name, fault.status, None)
                )
                page = IIS_503 if fault.status == 503 else IIS_500
                return EwsAnswer(
                    fault.status, {"Content-Type": "text/html"}, operation_name, body=page
                )
            _raise_injected(fault, closing)
            operation = OPERATIONS.get(operation_name)
            if operation is None:
                raise SoapFault(
                    ResponseCode.INVALID_OPERATION,
                    f"The simulator does not implement the {operation_name} operation.",
                )
            # An operation that acts on no mailbox (ConvertId, a client's version probe) works
            # for an admin without one, unless the request impersonates somebody.
            mailbox = ""
            if operation.acts_on_mailbox or request.impersonated_address:
                mailbox = self._target_mailbox(principal, request)
            context = RequestContext(
                store=self.store,
                mailbox=mailbox,
                principal=principal.name,
                parse_context=ParseContext(request.time_zone_id),
                timing=self.timing,
                stopping=closing,
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
            return self.refused(refused, operation_name)
        except SoapFault as fault_error:
            return self._fault(fault_error, operation_name, mailbox, principal.name)
        except Exception:
            log.exception("EWS %s failed inside the simulator", operation_name)
            internal = SoapFault(
                ResponseCode.INTERNAL_SERVER_ERROR, "An internal server error occurred."
            )
            return self._fault(internal, operation_name, mailbox, principal.name)
        if isinstance(result, StreamingResult):
            drop = fault.after_envelopes if isinstance(fault, DropStream) else None
            self._record(RequestRecord(operation_name, mailbox, principal.name, 200, "NoError"))
            stream = self._stream(result, operation_name, drop)
            return EwsAnswer(200, dict(XML_CONTENT), operation_name, stream=stream)
        envelope = response_envelope(result)
        self._check(envelope, "response", operation_name)
        self._record(
            RequestRecord(operation_name, mailbox, principal.name, 200, _first_code(result))
        )
        return EwsAnswer(200, dict(XML_CONTENT), operation_name, body=serialize(envelope))

    def _fault(
        self, error: EwsError, operation: str, mailbox: str | None, principal: str | None
    ) -> EwsAnswer:
        envelope = fault_envelope(error)
        self._check(envelope, "response", operation)
        self._record(RequestRecord(operation, mailbox, principal, 500, error.code))
        return EwsAnswer(500, dict(XML_CONTENT), operation, body=serialize(envelope))

    def _stream(
        self, result: StreamingResult, operation: str, drop_after: int | None
    ) -> Iterator[bytes]:
        sent = 0
        try:
            for element in result.responses:
                if drop_after is not None and sent >= drop_after:
                    raise DropConnection()
                envelope = response_envelope(element)
                self._check(envelope, "response", operation)
                sent += 1
                yield serialize(envelope)
        finally:
            close = getattr(result.responses, "close", None)
            if close is not None:
                close()
            self._persist()  # the notifications this stream delivered


def _raise_injected(fault: object, closing: threading.Event) -> None:
    """Faults that fail a request before the operation runs (or, for Delay, slow it down)."""
    if isinstance(fault, Delay):
        closing.wait(fault.seconds)  # a stopping server does not keep a client waiting
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


def _first_code(response: Element) -> str | None:
    for elem in response.iter():
        if isinstance(elem.tag, str) and elem.tag.endswith("}ResponseCode"):
            return elem.text
    return None
