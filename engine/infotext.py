"""The ERP info text as an Exchange body (R7: plain text or HTML)."""

from __future__ import annotations

import html


def as_body(text: str, body_format: str) -> str:
    """The body to write: the text itself, or a minimal HTML document that shows it unchanged."""
    if body_format != "html":
        return text
    lines = [html.escape(line) for line in text.split("\n")]
    return "<html><body><p>" + "<br>".join(lines) + "</p></body></html>"
