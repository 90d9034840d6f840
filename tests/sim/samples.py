"""Microsoft's documented EWS envelopes (../shared/ews-reference/samples), ready for tests.

Loading applies the documented repairs: the how-to pages' `https://schemas...` namespaces become
`http://`, HTTP preambles of the affinity conversation are cut off, and the two broken samples
are read from their hand-repaired `*_fixed.xml` copies.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from lxml import etree

from sim.envelope import MESSAGES_NS, SOAP_NS, TYPES_NS, Element
from tests.sim.support import SAMPLES

# Broken in the documentation; the reference directory carries repaired copies.
FIXED = {
    "getstreamingevents-operation__02.xml": "getstreamingevents_error_fixed.xml",
    "how-to-stream-notifications-about-mailbox-events-by-using-ews-in-exchange__04.xml": (
        "stream_response_fixed.xml"
    ),
}
# Broken in the documentation without a repaired copy: namespace URIs with a space in them.
UNUSABLE = {
    "how-to-delete-appointments-and-cancel-meetings-by-using-ews-in-exchange__03.xml": (
        "xmlns:m ends with a space, which is not a valid URI"
    ),
    "how-to-update-appointments-and-meetings-by-using-ews-in-exchange__02.xml": (
        "xmlns:t reads 'exc hange', which is not a valid URI"
    ),
}
PREFIXES = {MESSAGES_NS: "m", TYPES_NS: "t", SOAP_NS: "s"}


@dataclass(frozen=True)
class Sample:
    name: str
    envelope: Element
    http_headers: dict[str, str]

    @property
    def payload(self) -> Element:
        body = self.envelope.find(f"{{{SOAP_NS}}}Body")
        assert body is not None
        return next(child for child in body if isinstance(child.tag, str))

    @property
    def operation(self) -> str:
        return etree.QName(self.payload).localname.removesuffix("Response")

    @property
    def is_response(self) -> bool:
        return etree.QName(self.payload).localname.endswith("Response")

    @property
    def page(self) -> str:
        return self.name.split("__")[0]

    def xml(self) -> bytes:
        return etree.tostring(self.envelope, xml_declaration=True, encoding="utf-8")


def sample_names() -> list[str]:
    fixed = set(FIXED.values())
    return sorted(
        path.name
        for path in SAMPLES.glob("*.xml")
        if path.name not in fixed and path.name not in UNUSABLE
    )


def _repair(text: str) -> tuple[str, dict[str, str]]:
    headers: dict[str, str] = {}
    start = text.find("<")
    if start > 0 or not text.lstrip().startswith("<"):
        # The affinity how-to shows whole HTTP messages: keep their headers, parse the XML.
        preamble, text = text[:start], text[start:]
        for line in preamble.splitlines()[1:]:
            name, _, value = line.partition(":")
            if value:
                headers[name.strip()] = value.strip()
    text = text.replace("https://schemas.microsoft.com", "http://schemas.microsoft.com")
    text = text.replace("https://schemas.xmlsoap.org", "http://schemas.xmlsoap.org")
    return text, headers


@cache
def load(name: str) -> Sample:
    source = SAMPLES / FIXED.get(name, name)
    text, headers = _repair(source.read_text(encoding="utf-8-sig"))
    envelope = etree.fromstring(text.encode("utf-8"))
    return Sample(name, envelope, headers)


def fresh(name: str) -> Sample:
    """A copy of a sample that may be edited."""
    sample = load(name)
    return Sample(
        name, etree.fromstring(etree.tostring(sample.envelope)), dict(sample.http_headers)
    )


def structure(elem: Element) -> set[str]:
    """Tag paths below and including `elem` (order and repetition of siblings ignored)."""
    paths: set[str] = set()

    def walk(node: Element, prefix: str) -> None:
        qname = etree.QName(node)
        path = f"{prefix}/{PREFIXES.get(qname.namespace or '', qname.namespace)}:{qname.localname}"
        paths.add(path)
        for child in node:
            if isinstance(child.tag, str):
                walk(child, path)

    walk(elem, "")
    return paths
