"""The Graph simulator's request handler: authentication, routing, permissions, faults, errors.

Per request, in this order: the Bearer token (401 InvalidAuthenticationToken; Basic is not
accepted; `/me` is 400, there is no signed-in user in app-only calls); the route (400 for an
unknown segment); the mailbox named by address or user id (404 ErrorInvalidUser); the app's
permissions (Calendars.ReadWrite / Calendars.Read for the calendar, Tasks.ReadWrite.All /
Tasks.Read.All for To Do; 403 ErrorAccessDenied); the Application Access Policy (the app's
mailboxes in its `OAuthApp` registration, and `GraphSettings.denied_mailboxes`: 403
ErrorAccessDenied); injected faults (`sim.graph.faults`); the limit of concurrent requests per
app and mailbox (429); then the operation. Handlers are synchronous and run in worker threads.

Operation names (for faults and `requests`): events.list, events.create, events.get,
events.update, events.delete, events.instances, calendarView, calendarView.delta, todo.lists,
todo.list, todo.tasks.list, todo.tasks.create, todo.tasks.get, todo.tasks.update,
todo.tasks.delete, todo.tasks.delta, batch.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sim.auth import Principal, Unauthorized
from sim.graph import events, todo
from sim.graph.context import (
    CALENDARS_READ,
    CALENDARS_READWRITE,
    TASKS_READ,
    TASKS_READWRITE,
    Answer,
    Call,
    GraphRequest,
    GraphSettings,
    Observer,
)
from sim.graph.delta import calendar_view_delta
from sim.graph.errors import GraphError, access_denied, bad_request, envelope
from sim.graph.faults import (
    Delay,
    Failure,
    GraphFault,
    GraphFaults,
    Throttled,
    TokenRejected,
    Unavailable,
)
from sim.graph.ids import user_id
from sim.graph.state import GraphState
from sim.oauth import TokenService
from sim.store import MailboxStore

log = logging.getLogger("sim.graph")

ERROR = "microsoft.graph.ODataErrors.ODataError"
_USER = r"^/users/(?P<user>[^/]+)"
_DELTA = r"(?:delta|delta\(\)|microsoft\.graph\.delta\(\))"
Operation = Callable[..., Answer]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    name: str
    family: str  # "calendar" or "tasks"
    operation: Operation


def _route(method: str, pattern: str, name: str, family: str, operation: Operation) -> Route:
    return Route(method, re.compile(_USER + pattern + "$", re.IGNORECASE), name, family, operation)


ROUTES = (
    _route("GET", r"/(?:calendar/)?events", "events.list", "calendar", events.list_events),
    _route("POST", r"/(?:calendar/)?events", "events.create", "calendar", events.create_event),
    _route(
        "GET", r"/events/(?P<id>[^/]+)/instances", "events.instances", "calendar", events.instances
    ),
    _route(
        "GET", r"/(?:calendar/)?events/(?P<id>[^/]+)", "events.get", "calendar", events.get_event
    ),
    _route(
        "PATCH",
        r"/(?:calendar/)?events/(?P<id>[^/]+)",
        "events.update",
        "calendar",
        events.update_event,
    ),
    _route(
        "DELETE",
        r"/(?:calendar/)?events/(?P<id>[^/]+)",
        "events.delete",
        "calendar",
        events.delete_event,
    ),
    _route(
        "GET",
        r"/(?:calendar/)?calendarView/" + _DELTA,
        "calendarView.delta",
        "calendar",
        calendar_view_delta,
    ),
    _route("GET", r"/(?:calendar/)?calendarView", "calendarView", "calendar", events.calendar_view),
    _route("GET", r"/todo/lists", "todo.lists", "tasks", todo.list_lists),
    _route("GET", r"/todo/lists/(?P<list>[^/]+)", "todo.list", "tasks", todo.get_list),
    _route(
        "GET",
        r"/todo/lists/(?P<list>[^/]+)/tasks/" + _DELTA,
        "todo.tasks.delta",
        "tasks",
        todo.delta,
    ),
    _route(
        "GET", r"/todo/lists/(?P<list>[^/]+)/tasks", "todo.tasks.list", "tasks", todo.list_tasks
    ),
    _route(
        "POST", r"/todo/lists/(?P<list>[^/]+)/tasks", "todo.tasks.create", "tasks", todo.create_task
    ),
    _route(
        "GET",
        r"/todo/lists/(?P<list>[^/]+)/tasks/(?P<task>[^/]+)",
        "todo.tasks.get",
        "tasks",
        todo.get_task,
    ),
    _route(
        "PATCH",
        r"/todo/lists/(?P<list>[^/]+)/tasks/(?P<task>[^/]+)",
        "todo.tasks.update",
        "tasks",
        todo.update_task,
    ),
    _route(
        "DELETE",
        r"/todo/lists/(?P<list>[^/]+)/tasks/(?P<task>[^/]+)",
        "todo.tasks.delete",
        "tasks",
        todo.delete_task,
    ),
)
_NEEDS = {
    ("calendar", False): {CALENDARS_READ, CALENDARS_READWRITE},
    ("calendar", True): {CALENDARS_READWRITE},
    ("tasks", False): {TASKS_READ, TASKS_READWRITE},
    ("tasks", True): {TASKS_READWRITE},
}
POLICY_DENIAL = (
    "Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy "
    "settings."
)


@dataclass(frozen=True)
class GraphRecord:
    """One answered Graph request (no bodies): for tests."""

    method: str
    operation: str
    mailbox: str | None
    principal: str | None
    status: int
    code: str | None
    in_batch: bool = False


class GraphHandler:
    """Answers Graph requests over a `MailboxStore`; thread-safe."""

    def __init__(
        self,
        store: MailboxStore,
        tokens: TokenService,
        settings: GraphSettings | None = None,
        persist: Callable[[], None] = lambda: None,
    ) -> None:
        """`persist` writes the store through (with --data) after a request that may have
        changed it, before its answer goes out (as the EWS handler does)."""
        self.store = store
        self._persist = persist
        self.tokens = tokens
        self.settings = settings or GraphSettings()
        self.faults = GraphFaults()
        self.state = GraphState(store.clock, self.settings)
        self.observe: Observer | None = None
        self._records: list[GraphRecord] = []
        self._lock = threading.Lock()

    @property
    def requests(self) -> list[GraphRecord]:
        with self._lock:
            return list(self._records)

    def expire_delta_tokens(self, mailbox: str | None = None) -> None:
        """Drop the delta token cache (of one mailbox): its tokens get 410 syncStateNotFound."""
        with self.state.lock:
            self.state.delta.expire(mailbox)

    # --- entry points -------------------------------------------------------------------------

    def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise GraphError(
                401,
                "InvalidAuthenticationToken",
                "Access token is empty.",
                {"WWW-Authenticate": 'Bearer realm=""'},
            )
        if not authorization.lower().startswith("bearer "):
            raise GraphError(
                401,
                "InvalidAuthenticationToken",
                "Access token validation failure.",
                {"WWW-Authenticate": 'Bearer realm=""'},
            )
        try:
            return self.tokens.principal(authorization)
        except Unauthorized as refused:
            message = (
                "Lifetime validation failed, the token is expired."
                if refused.reason == "expired token"
                else "Access token validation failure. Invalid audience or signature."
            )
            raise GraphError(
                401, "InvalidAuthenticationToken", message, {"WWW-Authenticate": refused.challenge}
            ) from None

    def handle(self, request: GraphRequest, *, in_batch: bool = False) -> Answer:
        """Answer one request (a `$batch` answers each of its requests through here)."""
        operation, mailbox, principal = "?", None, None
        try:
            principal = self.authenticate(request.headers.get("authorization"))
            if request.path.rstrip("/").lower() == "/$batch" and not in_batch:
                operation = "batch"
                from sim.graph.batch import run_batch  # a batch comes back through handle

                answer = run_batch(self, request)
            else:
                route, params = self._match(request)
                operation = route.name
                mailbox = self._mailbox(params.pop("user"))
                self._authorise(principal, route, request.method, mailbox)
                answer = self._call(route, params, request, principal, mailbox)
        except GraphError as error:
            answer = self.error_answer(error, request)
        except Exception:  # a simulator bug must still answer like Graph
            log.exception("Graph %s %s failed", request.method, request.path)
            answer = self.error_answer(
                GraphError(500, "generalException", "An internal server error occurred."), request
            )
        if request.method != "GET" and not in_batch:
            self._persist()
        code = answer.body["error"]["code"] if answer.status >= 400 and answer.body else None
        with self._lock:
            self._records.append(
                GraphRecord(
                    request.method,
                    operation,
                    mailbox,
                    principal.name if principal else None,
                    answer.status,
                    code,
                    in_batch,
                )
            )
        if self.observe is not None and answer.schema is not None and answer.body is not None:
            self.observe("response", answer.schema, answer.body)
        return answer

    def error_answer(self, error: GraphError, request: GraphRequest) -> Answer:
        body = envelope(error, self.store.clock.now(), request.headers.get("client-request-id"))
        return Answer(error.status, body, ERROR, dict(error.headers))

    # --- steps --------------------------------------------------------------------------------

    def _match(self, request: GraphRequest) -> tuple[Route, dict[str, str]]:
        path = request.path.rstrip("/") or "/"
        if re.match(r"^/me(/|$)", path, re.IGNORECASE):
            raise bad_request(
                "/me request is only valid with delegated authentication flow.", "BadRequest"
            )
        allowed = False
        for route in ROUTES:
            match = route.pattern.match(path)
            if match is None:
                continue
            if route.method == request.method:
                return route, {k: v for k, v in match.groupdict().items() if v is not None}
            allowed = True
        if allowed:
            raise GraphError(
                405,
                "Request_BadRequest",
                f"The HTTP method '{request.method}' is not allowed here.",
            )
        segment = path.rsplit("/", 1)[-1]
        raise bad_request(f"Resource not found for the segment '{segment}'.", "BadRequest")

    def _mailbox(self, user: str) -> str:
        for address in self.store.mailbox_addresses():
            if user.lower() in (address.lower(), user_id(address)):
                return address
        raise GraphError(404, "ErrorInvalidUser", f"The requested user '{user}' is invalid.")

    def _authorise(self, principal: Principal, route: Route, method: str, mailbox: str) -> None:
        granted = self.settings.granted(principal.name)
        if not granted & _NEEDS[(route.family, method != "GET")]:
            raise access_denied()
        if not principal.may_access(mailbox) or mailbox.lower() in self.settings.denied_mailboxes:
            raise access_denied(POLICY_DENIAL)

    def _call(
        self,
        route: Route,
        params: dict[str, str],
        request: GraphRequest,
        principal: Principal,
        mailbox: str,
    ) -> Answer:
        if not self.state.enter(principal.name, mailbox):
            raise _throttled(1, "Application is over its MailboxConcurrency limit.")
        try:
            self._inject(self.faults.take(route.name, mailbox))
            call = Call(
                self.store, request, principal, mailbox, self.settings, self.state, self.observe
            )
            return route.operation(call, *params.values())
        finally:
            self.state.leave(principal.name, mailbox)

    def _inject(self, fault: GraphFault | None) -> None:
        """Apply an injected fault (a Delay holds its place among the concurrent requests)."""
        if isinstance(fault, Throttled):
            raise _throttled(fault.retry_after, "Please retry again later.")
        if isinstance(fault, Unavailable):
            raise GraphError(
                503,
                "serviceNotAvailable",
                "The service is temporarily unavailable.",
                {"Retry-After": str(fault.retry_after)},
            )
        if isinstance(fault, TokenRejected):
            raise GraphError(
                401,
                "InvalidAuthenticationToken",
                "Lifetime validation failed, the token is expired.",
                {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        if isinstance(fault, Failure):
            raise GraphError(fault.status, fault.code, fault.message)
        if isinstance(fault, Delay):
            time.sleep(fault.seconds)


def _throttled(retry_after: int, message: str) -> GraphError:
    return GraphError(
        429,
        "TooManyRequests",
        message,
        {"Retry-After": str(retry_after)},
        inner={"code": "429", "message": "Please retry after", "status": "429"},
    )
