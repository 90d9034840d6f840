"""Constants and helpers shared by the simulator tests (fixtures live in conftest.py)."""

from __future__ import annotations

import email
import email.message
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

import icalendar
import requests
import requests.adapters
from exchangelib import (
    BASIC,
    IMPERSONATION,
    Account,
    Build,
    Configuration,
    Credentials,
    EWSTimeZone,
    ExtendedProperty,
    FailFast,
    Version,
)
from exchangelib.credentials import BaseCredentials
from exchangelib.protocol import RetryPolicy
from lxml import etree

from sim.auth import AdminAccount, OAuthApp
from sim.envelope import MESSAGES_NS, SOAP_NS, TYPES_NS
from sim.model import CalendarItem
from sim.operations import StreamTiming
from sim.server import EwsServer

PROJECT_ROOT = Path(__file__).resolve().parents[2]
EWS_REFERENCE = PROJECT_ROOT / ".." / "shared" / "ews-reference"
MESSAGES_XSD = EWS_REFERENCE / "xsd" / "messages.xsd"
SAMPLES = EWS_REFERENCE / "samples"

ALICE = "alice@example.com"
BOB = "bob@example.com"
CAROL = "carol@example.com"  # exists, but the admin may not impersonate her
ADMIN = AdminAccount("ews-admin", "admin-pass-123", frozenset({ALICE, BOB}))
TENANT = "contoso-tenant"
APP = OAuthApp(TENANT, "11111111-2222-3333-4444-555555555555", "app-secret-XYZ-987", None)
EXCHANGE_2016 = Version(build=Build(15, 1, 2507, 6))
BERLIN = EWSTimeZone("Europe/Berlin")
# One "minute" of ConnectionTimeout lasts 0.6 s here, so streaming tests take about a second.
FAST_STREAMS = StreamTiming(minute_seconds=0.6, heartbeat_seconds=0.2)

ENVELOPE = """<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="{s}" xmlns:m="{m}" xmlns:t="{t}">
  <s:Header>{header}</s:Header>
  <s:Body>{body}</s:Body>
</s:Envelope>"""
VERSION = '<t:RequestServerVersion Version="Exchange2016"/>'


def impersonating(address: str) -> str:
    """SOAP headers acting in `address`'s mailbox through ExchangeImpersonation."""
    return (
        f"{VERSION}<t:ExchangeImpersonation><t:ConnectingSID>"
        f"<t:PrimarySmtpAddress>{address}</t:PrimarySmtpAddress>"
        "</t:ConnectingSID></t:ExchangeImpersonation>"
    )


def envelope(body: str, header: str = VERSION) -> bytes:
    """A raw SOAP request around `body` (operation XML with the m: and t: prefixes)."""
    return ENVELOPE.format(s=SOAP_NS, m=MESSAGES_NS, t=TYPES_NS, header=header, body=body).encode()


class SyncId(ExtendedProperty):  # type: ignore[misc]  # exchangelib has no type information
    """The engine's sync id: a string extended property with a fixed property set GUID."""

    property_set_id = "c11ff724-aa03-4555-9952-8fa248a11c3e"
    property_name = "EinklangSyncId"
    property_type = "String"


AccountFactory = Callable[..., Account]


def make_account(
    server: EwsServer,
    mailbox: str,
    credentials: BaseCredentials | None = None,
    *,
    retry_policy: RetryPolicy | None = None,
    access_type: str = IMPERSONATION,
) -> Account:
    """An exchangelib account on `server`, impersonated by the admin unless told otherwise."""
    return make_account_at(
        server.url, mailbox, credentials, retry_policy=retry_policy, access_type=access_type
    )


def make_account_at(
    endpoint: str,
    mailbox: str,
    credentials: BaseCredentials | None = None,
    *,
    retry_policy: RetryPolicy | None = None,
    access_type: str = IMPERSONATION,
) -> Account:
    config = Configuration(
        service_endpoint=endpoint,
        credentials=credentials or Credentials(ADMIN.username, ADMIN.password),
        # Exchange2016 as the schema is; with a version given exchangelib sends no probes.
        auth_type=BASIC if credentials is None or isinstance(credentials, Credentials) else None,
        version=EXCHANGE_2016,
        retry_policy=retry_policy or FailFast(),
        # A streaming connection holds one pooled session; other requests need more.
        max_connections=4,
    )
    return Account(
        mailbox,
        config=config,
        autodiscover=False,
        access_type=access_type,
        default_timezone=BERLIN,
    )


# lxml types an XPath result as any XPath value; these say which kind a test expects, and check it.
def xpath_elements(
    node: etree._Element | etree._ElementTree,
    path: str,
    namespaces: Mapping[str, str] | None = None,
) -> list[etree._Element]:
    """The elements `path` selects."""
    found = node.xpath(path, namespaces=namespaces)
    assert isinstance(found, list), path
    elements = [item for item in found if isinstance(item, etree._Element)]
    assert len(elements) == len(found), f"{path} selects more than elements"
    return elements


def xpath_strings(
    node: etree._Element | etree._ElementTree,
    path: str,
    namespaces: Mapping[str, str] | None = None,
) -> list[str]:
    """The texts or attribute values `path` selects."""
    found = node.xpath(path, namespaces=namespaces)
    assert isinstance(found, list), path
    strings = [str(item) for item in found if isinstance(item, str)]
    assert len(strings) == len(found), f"{path} selects more than strings"
    return strings


def attribute(element: etree._Element, name: str) -> str:
    """An attribute the element must have."""
    value = element.get(name)
    assert value is not None, f"<{element.tag}> has no {name}"
    return value


def original_start(occurrence: CalendarItem) -> datetime:
    """The original start of an occurrence or exception (None only on singles and masters)."""
    assert occurrence.original_start is not None, f"{occurrence.item_id} is no occurrence"
    return occurrence.original_start


def mime_calendar(mime: bytes) -> tuple[email.message.Message, icalendar.Calendar]:
    """A MimeContent message and the iCalendar object of its text/calendar part."""
    message = email.message_from_bytes(mime)
    [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    calendar = icalendar.Calendar.from_ical(payload)
    assert isinstance(calendar, icalendar.Calendar)
    return message, calendar


def ical_rule(component: icalendar.Component) -> str:
    """The component's RRULE as RFC 5545 text."""
    rule = component["RRULE"]
    assert isinstance(rule, icalendar.vRecur)
    # icalendar annotates most of its API, but not vRecur.to_ical.
    text: bytes = rule.to_ical()  # type: ignore[no-untyped-call]
    return text.decode()


def trusting(certificate: str) -> type[requests.adapters.HTTPAdapter]:
    """An HTTP adapter class for exchangelib (`BaseProtocol.HTTP_ADAPTER_CLS`) that verifies
    TLS against `certificate`: the simulator's own, self-signed."""

    class TrustSimulator(requests.adapters.HTTPAdapter):
        def send(
            self,
            request: requests.PreparedRequest,
            stream: bool = False,
            timeout: float | tuple[float | None, float | None] | None = None,
            verify: bool | str = True,
            cert: str | tuple[str, str] | None = None,
            proxies: dict[str, str] | None = None,
        ) -> requests.Response:
            return super().send(request, stream, timeout, certificate, cert, proxies)

    return TrustSimulator
