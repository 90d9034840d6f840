"""Microsoft's documented EWS envelopes (../shared/ews-reference/samples), ready for tests.

Loading applies the documented repairs: the how-to pages' `https://schemas...` namespaces become
`http://`, namespace URIs that the documentation wrapped across lines are joined again, HTTP
preambles of the affinity conversation are cut off, and the two broken samples are read from
their hand-repaired `*_fixed.xml` copies.
"""

from __future__ import annotations

import re
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
# Broken in the documentation by a line break inside a namespace URI (XML reads it as a space,
# which no URI contains); `_repair` joins the URI again.
WRAPPED_NAMESPACES = {
    "how-to-delete-appointments-and-cancel-meetings-by-using-ews-in-exchange__03.xml": (
        "xmlns:m breaks the line before its closing quote"
    ),
    "how-to-update-appointments-and-meetings-by-using-ews-in-exchange__02.xml": (
        "xmlns:t breaks the line inside 'exchange'"
    ),
}
PREFIXES = {MESSAGES_NS: "m", TYPES_NS: "t", SOAP_NS: "s"}
_NAMESPACE_DECLARATION = re.compile(r'(xmlns(?::[\w.-]+)?=")([^"]*)"')


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
    return sorted(path.name for path in SAMPLES.glob("*.xml") if path.name not in fixed)


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
    # A URI has no whitespace: whatever the documentation's line wrapping put there goes.
    text = _NAMESPACE_DECLARATION.sub(lambda m: f'{m[1]}{"".join(m[2].split())}"', text)
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
