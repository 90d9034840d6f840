"""Validation of SOAP traffic against Microsoft's EWS schemas (messages.xsd / types.xsd).

The schemas do not cover the SOAP envelope, so each Header child and the Body's first child are
validated on their own, each copied into a document of its own. SOAP faults (the Body child
`s:Fault`) are checked against the SOAP 1.1 definition of Fault, which is not part of the EWS
schemas either.

One documented exception: inside GetStreamingEventsResponseMessage/m:Notifications, messages.xsd
wants `t:Notification` elements while real Exchange, Microsoft's own sample and the EWS Managed
API use `m:Notification`. The simulator sends `m:Notification` like Exchange; the validator
checks a copy in which those elements are renamed to `t:Notification`, so their content is still
validated.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

from lxml import etree

from sim.envelope import MESSAGES_NS, SOAP_NS, TYPES_NS, Element, local_name, qname

# SOAP 1.1 Fault (http://schemas.xmlsoap.org/soap/envelope/), as far as EWS faults use it.
_SOAP_FAULT_XSD = b"""<?xml version="1.0" encoding="utf-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"
           xmlns:tns="http://schemas.xmlsoap.org/soap/envelope/"
           targetNamespace="http://schemas.xmlsoap.org/soap/envelope/">
  <xs:element name="Fault" type="tns:Fault"/>
  <xs:complexType name="Fault">
    <xs:sequence>
      <xs:element name="faultcode" type="xs:QName"/>
      <xs:element name="faultstring">
        <xs:complexType>
          <xs:simpleContent>
            <xs:extension base="xs:string">
              <xs:anyAttribute namespace="##other" processContents="lax"/>
            </xs:extension>
          </xs:simpleContent>
        </xs:complexType>
      </xs:element>
      <xs:element name="faultactor" type="xs:anyURI" minOccurs="0"/>
      <xs:element name="detail" minOccurs="0">
        <xs:complexType>
          <xs:sequence>
            <xs:any namespace="##any" processContents="lax" minOccurs="0" maxOccurs="unbounded"/>
          </xs:sequence>
          <xs:anyAttribute namespace="##any" processContents="lax"/>
        </xs:complexType>
      </xs:element>
    </xs:sequence>
  </xs:complexType>
</xs:schema>
"""


@dataclass(frozen=True)
class SchemaViolation:
    """One element of one message that the schema rejects."""

    direction: str  # "request" or "response"
    operation: str
    element: str
    errors: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.direction} {self.operation} <{self.element}>: " + "; ".join(self.errors)


@lru_cache(maxsize=4)
def _load(path: str) -> etree.XMLSchema:
    # Loading messages.xsd takes about 0.1 s; once per process and path is enough.
    return etree.XMLSchema(etree.parse(path))


@lru_cache(maxsize=1)
def _fault_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.fromstring(_SOAP_FAULT_XSD))


class SchemaValidator:
    """Validates envelopes against messages.xsd; thread-safe."""

    def __init__(self, messages_xsd: Path) -> None:
        self._schema = _load(str(Path(messages_xsd).resolve()))
        # lxml keeps the error log on the schema object, so validations are serialised.
        self._lock = threading.Lock()

    def check_envelope(
        self, envelope: Element, direction: str, operation: str
    ) -> list[SchemaViolation]:
        """Violations of the Header children and the Body's first child of one envelope."""
        violations = []
        header = envelope.find(qname(SOAP_NS, "Header"))
        body = envelope.find(qname(SOAP_NS, "Body"))
        targets = [
            elem for elem in (header if header is not None else []) if isinstance(elem.tag, str)
        ]
        payloads = [] if body is None else [elem for elem in body if isinstance(elem.tag, str)]
        if payloads:
            targets.append(payloads[0])
        else:
            violations.append(SchemaViolation(direction, operation, "Body", ("empty SOAP Body",)))
        for elem in targets:
            errors = self.check_element(elem)
            if errors:
                violations.append(SchemaViolation(direction, operation, elem.tag, tuple(errors)))
        return violations

    def check_element(self, elem: Element) -> list[str]:
        """Schema errors of one element, validated as the root of its own document."""
        document = etree.fromstring(etree.tostring(elem))
        if document.tag == qname(SOAP_NS, "Fault"):
            schema = _fault_schema()
        else:
            schema = self._schema
            _rename_streaming_notifications(document)
        with self._lock:
            if schema.validate(document):
                return []
            # The error log is iterable; lxml-stubs do not say so.
            errors = cast(Iterable[Any], schema.error_log)
            return [f"line {error.line}: {error.message}" for error in errors]


def _rename_streaming_notifications(document: Element) -> None:
    """THE documented exception: m:Notification in GetStreamingEvents responses.

    Real Exchange sends m:Notification inside GetStreamingEventsResponseMessage/m:Notifications;
    messages.xsd declares t:Notification there. Only that placement is renamed, so an
    m:Notification anywhere else (or any other deviation) still fails validation.
    """
    if document.tag != qname(MESSAGES_NS, "GetStreamingEventsResponse"):
        return
    path = "m:ResponseMessages/m:GetStreamingEventsResponseMessage/m:Notifications/m:Notification"
    for notification in document.iterfind(path, namespaces={"m": MESSAGES_NS}):
        notification.tag = qname(TYPES_NS, local_name(notification))
