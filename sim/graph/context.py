"""What every Graph operation works with: the request, its caller and mailbox, and the answer.

Also the helpers shared by the operation modules: `Prefer` parsing (outlook.timezone,
odata.maxpagesize), `$top`/`$skip` paging with absolute `@odata.nextLink`s, and the mapping of
the store's EWS errors to Graph errors.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from sim.auth import Principal
from sim.errors import EwsError, ResponseCode
from sim.graph.errors import GraphError, bad_request, not_found
from sim.graph.values import UTC_ZONE, Zone, zone
from sim.store import MailboxStore

if TYPE_CHECKING:
    from sim.graph.state import GraphState

# Calendar and To Do app permissions (Application), as admin consent grants them.
CALENDARS_READ = "Calendars.Read"
CALENDARS_READWRITE = "Calendars.ReadWrite"
TASKS_READ = "Tasks.Read.All"
TASKS_READWRITE = "Tasks.ReadWrite.All"
ALL_PERMISSIONS = frozenset({CALENDARS_READWRITE, TASKS_READWRITE})
# Graph's default page size for event lists and calendarView ($top), and for delta rounds.
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 1000


@dataclass
class GraphSettings:
    """Simulator settings; mutable at run time (tests switch a denial on and off).

    `permissions`: client id -> granted application permissions (missing: ALL_PERMISSIONS).
    `denied_mailboxes`: mailboxes an Application Access Policy keeps every app out of (403).
    `delta_generations`: a state token is valid while it is among the newest N of its chain
    (reference §3.3, observed); `delta_chains_per_mailbox`: the token cache's capacity;
    `delta_max_age`: tokens older than this expire too (None: never, on the store's clock).
    `occurrence_stubs`: occurrences in delta rounds carry only id/type/start/end (observed).
    `report_outside_window`: changes to items outside a delta window come as @removed
    (event-delta.md). `mailbox_concurrency`: concurrent requests per app and mailbox (429 above
    it; None: unlimited). `max_batch`: requests per $batch.
    """

    permissions: dict[str, frozenset[str]] = field(default_factory=dict)
    denied_mailboxes: set[str] = field(default_factory=set)
    delta_generations: int = 3
    delta_chains_per_mailbox: int = 64
    delta_max_age: timedelta | None = None
    occurrence_stubs: bool = True
    report_outside_window: bool = True
    mailbox_concurrency: int | None = 4
    max_batch: int = 20
    page_size: int = DEFAULT_PAGE_SIZE

    def granted(self, client_id: str) -> frozenset[str]:
        return self.permissions.get(client_id, ALL_PERMISSIONS)

    def deny(self, mailbox: str) -> None:
        self.denied_mailboxes.add(mailbox.lower())

    def allow(self, mailbox: str) -> None:
        self.denied_mailboxes.discard(mailbox.lower())


@dataclass(frozen=True)
class GraphRequest:
    method: str
    path: str  # after /v1.0, percent-decoded
    query: Mapping[str, str]
    headers: Mapping[str, str]  # lower-case names
    body: Any  # parsed JSON or None
    base_url: str  # http(s)://host:port


@dataclass
class Answer:
    status: int
    body: Any = None
    schema: str | None = None  # the strict schema $def the body is an instance of
    headers: dict[str, str] = field(default_factory=dict)


Observer = Callable[[str, str, Any], None]  # (direction "request"/"response", schema, body)


def prefer(headers: Mapping[str, str]) -> dict[str, str]:
    """The `Prefer` preferences: name -> value (quotes removed)."""
    found: dict[str, str] = {}
    for part in re.split(r",(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)", headers.get("prefer", "")):
        name, _, value = part.strip().partition("=")
        if name:
            found[name.strip().lower()] = value.strip().strip('"')
    return found


@dataclass
class Call:
    """One operation call: the store, the caller, the mailbox acted on and the request."""

    store: MailboxStore
    request: GraphRequest
    principal: Principal
    mailbox: str
    settings: GraphSettings
    state: GraphState
    observe: Observer | None
    applied: list[str] = field(default_factory=list)

    def output_zone(self) -> Zone:
        wanted = prefer(self.request.headers).get("outlook.timezone")
        if not wanted:
            return UTC_ZONE
        try:
            found = zone(wanted)
        except GraphError:
            return UTC_ZONE  # an unknown zone is not applied (no Preference-Applied)
        self.applied.append(f'outlook.timezone="{wanted}"')
        return found

    def page_size(self) -> int:
        top = self.request.query.get("$top")
        if top is not None:
            if not top.isdigit() or not 1 <= int(top) <= MAX_PAGE_SIZE:
                raise bad_request(f"Invalid value '{top}' for $top.", "ErrorInvalidUrlQuery")
            return int(top)
        size = prefer(self.request.headers).get("odata.maxpagesize")
        if size and size.isdigit() and int(size) >= 1:
            self.applied.append(f"odata.maxpagesize={int(size)}")
            return min(int(size), MAX_PAGE_SIZE)
        return self.settings.page_size

    def url(self, path: str, query: Mapping[str, str]) -> str:
        return f"{self.request.base_url}/v1.0{path}" + (f"?{urlencode(query)}" if query else "")

    def context(self, suffix: str) -> str:
        return f"{self.request.base_url}/v1.0/$metadata#users('{self.mailbox}')/{suffix}"

    def accepted(self, schema: str, body: Any) -> None:
        if self.observe is not None:
            self.observe("request", schema, body)

    def answer(self, status: int, body: Any = None, schema: str | None = None) -> Answer:
        headers = {"Preference-Applied": ", ".join(self.applied)} if self.applied else {}
        return Answer(status, body, schema, headers)


def page(call: Call, items: list[Any]) -> tuple[list[Any], str | None]:
    """One `$skip`/`$top` page of `items` and the nextLink to the rest (None at the end)."""
    skip_text = call.request.query.get("$skip", "0")
    if not skip_text.isdigit():
        raise bad_request(f"Invalid value '{skip_text}' for $skip.", "ErrorInvalidUrlQuery")
    skip, size = int(skip_text), call.page_size()
    chunk = items[skip : skip + size]
    if skip + size >= len(items):
        return chunk, None
    query = {**call.request.query, "$skip": str(skip + size)}
    if "$top" not in call.request.query:
        query["$top"] = str(size)
    return chunk, call.url(call.request.path, query)


_NOT_FOUND = {
    str(ResponseCode.ITEM_NOT_FOUND),
    str(ResponseCode.CALENDAR_OCCURRENCE_DELETED),
}


@contextmanager
def store_errors() -> Iterator[None]:
    """The store's EwsErrors as Graph errors: not found 404, everything else 400 with its code."""
    try:
        yield
    except EwsError as error:
        if error.code in _NOT_FOUND:
            raise not_found() from None
        if error.code == str(ResponseCode.IRRESOLVABLE_CONFLICT):
            raise GraphError(412, "ErrorIrresolvableConflict", error.message) from None
        raise GraphError(400, error.code, error.message) from None
