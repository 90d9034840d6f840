"""The SOAP envelope: parsing EWS requests and serialising responses and SOAP faults.

This is the only module that knows the envelope's shape. A request becomes a `SoapRequest`: the
operation (the local name of the Body's first child), that payload element, and what the headers
say (RequestServerVersion, ExchangeImpersonation, TimeZoneContext). Responses are wrapped with a
ServerVersionInfo header, as Exchange 2016 sends it; request-level errors become SOAP faults in
the format exchangelib and the EWS Managed API parse (faultcode, faultstring, detail with
e:ResponseCode, e:Message and t:MessageXml).

Small element builders (`m`, `t`) keep the operation modules readable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from lxml import etree

from sim.errors import EwsError, ResponseCode, SoapFault

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
MESSAGES_NS = "http://schemas.microsoft.com/exchange/services/2006/messages"
TYPES_NS = "http://schemas.microsoft.com/exchange/services/2006/types"
ERRORS_NS = "http://schemas.microsoft.com/exchange/services/2006/errors"
XML_NS = "http://www.w3.org/XML/1998/namespace"
NSMAP = {"s": SOAP_NS, "m": MESSAGES_NS, "t": TYPES_NS}

# Exchange Server 2016 CU23; its Version attribute is the one real servers send.
SERVER_VERSION = {
    "MajorVersion": "15",
    "MinorVersion": "1",
    "MajorBuildNumber": "2507",
    "MinorBuildNumber": "6",
    "Version": "V2017_07_11",
}

Element = etree._Element

# No entity is ever expanded and nothing is fetched; a DOCTYPE is refused after parsing (below).
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False, dtd_validation=False
)
# What Exchange (.NET's XmlReader with DtdProcessing.Prohibit) says about any DOCTYPE.
DTD_PROHIBITED = (
    "The request failed schema validation: For security reasons DTD is prohibited in this XML "
    "document."
)


def m(tag: str, text: Any = None, /, **attrs: Any) -> Element:
    """A messages-namespace element with optional text and attributes."""
    return _element(MESSAGES_NS, tag, text, attrs)


def t(tag: str, text: Any = None, /, **attrs: Any) -> Element:
    """A types-namespace element with optional text and attributes."""
    return _element(TYPES_NS, tag, text, attrs)


def _element(namespace: str, tag: str, text: Any, attrs: dict[str, Any]) -> Element:
    elem = etree.Element(f"{{{namespace}}}{tag}", nsmap=NSMAP)
    for name, value in attrs.items():
        if value is not None:
            elem.set(name, xml_value(value))
    if text is not None:
        elem.text = xml_value(text)
    return elem


def build(parent: Element, *children: Element | None) -> Element:
    """Append the non-None children to `parent` and return it."""
    for child in children:
        if child is not None:
            parent.append(child)
    return parent


def xml_value(value: Any) -> str:
    """Render a Python value as EWS writes it (booleans lower-case, times in UTC with Z)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def format_datetime(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_duration(value: timedelta) -> str:
    """xs:duration as Exchange writes durations (e.g. PT1H30M)."""
    seconds = int(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    days, rest = divmod(abs(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{sign}P{days}D" if days else f"{sign}P"
    time_part = "".join(
        f"{amount}{unit}" for amount, unit in ((hours, "H"), (minutes, "M"), (secs, "S")) if amount
    )
    return text + ("T" + time_part if time_part or not days else "")


def qname(namespace: str, tag: str) -> str:
    return f"{{{namespace}}}{tag}"


def local_name(elem: Element) -> str:
    return etree.QName(elem).localname


def children(elem: Element | None, tag: str | None = None) -> list[Element]:
    """Element children (no comments), optionally only those with local name `tag`."""
    if elem is None:
        return []
    return [
        child
        for child in elem
        if isinstance(child.tag, str) and (tag is None or local_name(child) == tag)
    ]


def child(elem: Element | None, tag: str) -> Element | None:
    """The first element child with local name `tag` (namespace-agnostic, as EWS clients are)."""
    found = children(elem, tag)
    return found[0] if found else None


def child_text(elem: Element | None, tag: str) -> str | None:
    found = child(elem, tag)
    return None if found is None else (found.text or "")


@dataclass(frozen=True)
class SoapRequest:
    """An EWS request as the operations see it."""

    operation: str
    payload: Element
    envelope: Element
    headers: list[Element] = field(default_factory=list)
    request_server_version: str | None = None
    impersonated_address: str | None = None
    time_zone_id: str | None = None


def parse_request(data: bytes) -> SoapRequest:
    """Parse a SOAP request; malformed XML or envelopes fail as in Exchange (schema fault).

    A DOCTYPE (and so any entity declaration) is refused, as Exchange refuses it.
    """
    try:
        root = etree.fromstring(data, parser=_PARSER)
    except etree.XMLSyntaxError as error:
        raise SoapFault(
            ResponseCode.SCHEMA_VALIDATION,
            "The request failed schema validation: the request is not well-formed XML.",
            message_xml={"Violation": str(error)},
        ) from None
    docinfo = root.getroottree().docinfo
    if docinfo.internalDTD is not None:  # set for any DOCTYPE, with or without a subset
        # Entities declared there would silently truncate text (they are never expanded).
        raise SoapFault(ResponseCode.SCHEMA_VALIDATION, DTD_PROHIBITED)
    if root.tag != qname(SOAP_NS, "Envelope"):
        raise SoapFault(
            ResponseCode.SCHEMA_VALIDATION,
            "The request failed schema validation: the root element is not a SOAP 1.1 Envelope.",
        )
    header = root.find(qname(SOAP_NS, "Header"))
    body = root.find(qname(SOAP_NS, "Body"))
    payloads = children(body)
    if body is None or not payloads:
        raise SoapFault(
            ResponseCode.SCHEMA_VALIDATION,
            "The request failed schema validation: the SOAP Body is missing or empty.",
        )
    payload = payloads[0]
    if etree.QName(payload).namespace != MESSAGES_NS:
        raise SoapFault(
            ResponseCode.SCHEMA_VALIDATION,
            "The request failed schema validation: the operation element is not in the "
            "messages namespace.",
        )
    headers = children(header)
    version = None
    impersonated = None
    time_zone = None
    for elem in headers:
        name = local_name(elem)
        if name == "RequestServerVersion":
            version = elem.get("Version")
        elif name == "ExchangeImpersonation":
            sid = child(elem, "ConnectingSID")
            for kind in ("PrimarySmtpAddress", "SmtpAddress", "PrincipalName", "SID"):
                value = child_text(sid, kind)
                if value is not None:
                    impersonated = value.strip()
                    break
        elif name == "TimeZoneContext":
            definition = child(elem, "TimeZoneDefinition")
            time_zone = None if definition is None else definition.get("Id")
    return SoapRequest(
        operation=local_name(payload),
        payload=payload,
        envelope=root,
        headers=headers,
        request_server_version=version,
        impersonated_address=impersonated,
        time_zone_id=time_zone,
    )


def _envelope(with_header: bool) -> tuple[Element, Element]:
    envelope = etree.Element(qname(SOAP_NS, "Envelope"), nsmap={"s": SOAP_NS})
    if with_header:
        header = etree.SubElement(envelope, qname(SOAP_NS, "Header"))
        info = etree.SubElement(header, qname(TYPES_NS, "ServerVersionInfo"), nsmap={"h": TYPES_NS})
        for name, value in SERVER_VERSION.items():
            info.set(name, value)
    body = etree.SubElement(envelope, qname(SOAP_NS, "Body"))
    return envelope, body


def response_envelope(payload: Element) -> Element:
    """Wrap an operation's response element (e.g. m:GetItemResponse)."""
    envelope, body = _envelope(with_header=True)
    body.append(payload)
    return envelope


def fault_envelope(error: EwsError) -> Element:
    """A SOAP 1.1 fault carrying an EWS error, as Exchange answers request-level failures."""
    envelope, body = _envelope(with_header=False)
    fault = etree.SubElement(body, qname(SOAP_NS, "Fault"))
    code = etree.SubElement(fault, "faultcode", nsmap={"a": TYPES_NS})
    code.text = f"a:{error.code}"
    message = etree.SubElement(fault, "faultstring")
    message.set(qname(XML_NS, "lang"), "en-US")
    message.text = error.message
    detail = etree.SubElement(fault, "detail")
    etree.SubElement(
        detail, qname(ERRORS_NS, "ResponseCode"), nsmap={"e": ERRORS_NS}
    ).text = error.code
    etree.SubElement(
        detail, qname(ERRORS_NS, "Message"), nsmap={"e": ERRORS_NS}
    ).text = error.message
    if error.message_xml:
        message_xml = etree.SubElement(detail, qname(TYPES_NS, "MessageXml"), nsmap={"t": TYPES_NS})
        for name, value in error.message_xml.items():
            if name in {"LineNumber", "LinePosition", "Violation"}:
                etree.SubElement(message_xml, qname(TYPES_NS, name)).text = value
            else:
                etree.SubElement(message_xml, qname(TYPES_NS, "Value"), Name=name).text = value
    return envelope


def serialize(envelope: Element) -> bytes:
    """UTF-8 bytes with an XML declaration; namespace declarations hoisted to the envelope."""
    body = envelope.find(qname(SOAP_NS, "Body"))
    is_fault = body is not None and body.find(qname(SOAP_NS, "Fault")) is not None
    if not is_fault:
        # A fault's faultcode is a QName in text ("a:Error..."), whose prefix must stay.
        etree.cleanup_namespaces(envelope, top_nsmap={"m": MESSAGES_NS, "t": TYPES_NS})
    return etree.tostring(envelope, xml_declaration=True, encoding="utf-8")


def response_messages(operation: str, messages: list[Element]) -> Element:
    """m:{operation}Response/m:ResponseMessages around per-item response messages."""
    return build(m(f"{operation}Response"), build(m("ResponseMessages"), *messages))


def success_message(operation: str, *contents: Element | None) -> Element:
    return build(
        m(f"{operation}ResponseMessage", ResponseClass="Success"),
        m("ResponseCode", ResponseCode.NO_ERROR),
        *contents,
    )


def error_message(operation: str, error: EwsError, *contents: Element | None) -> Element:
    """An error ResponseMessage for one item of a request (the request itself succeeds)."""
    message = build(
        m(f"{operation}ResponseMessage", ResponseClass="Error"),
        m("MessageText", error.message),
        m("ResponseCode", error.code),
        m("DescriptiveLinkKey", 0),
    )
    if error.message_xml:
        xml = m("MessageXml")
        for name, value in error.message_xml.items():
            xml.append(t("Value", value, Name=name))
        message.append(xml)
    return build(message, *contents)
