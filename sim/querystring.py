"""FindItem's QueryString: the part of AQS (Advanced Query Syntax) that clients send.

Understood: terms separated by spaces, which must all match (written AND or not); OR between
terms (it binds looser than AND: `a b OR c` is `(a AND b) OR c`); NOT or a leading `-` before a
term. A term is a word or a "quoted phrase", optionally after a property and a colon: subject,
body, location, category/categories. Matching is Exchange's content-index matching, simplified:
case-insensitive, a word matches where a word of the property starts with it, a phrase where its
words follow each other that way. A term without a property matches in any of them.

Anything else — parentheses, comparisons and ranges (`received>=2026-01-01`), other properties
(`from:`, `to:`, `kind:`, ...) — is refused with ErrorUnsupportedQueryFilter, never ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sim.errors import EwsError, ResponseCode
from sim.model import CalendarItem, Item

Predicate = Callable[[Item], bool]

_TERM = re.compile(
    r'(?P<negated>-)?(?:(?P<property>[A-Za-z]+):)?(?:"(?P<phrase>[^"]*)"|(?P<word>[^\s"()<>=:]+))'
)


def _subject(item: Item) -> list[str]:
    return [item.fields.subject]


def _body(item: Item) -> list[str]:
    return [item.fields.body.text] if item.fields.body else []


def _location(item: Item) -> list[str]:
    location = item.fields.location if isinstance(item, CalendarItem) else None
    return [location] if location else []


def _categories(item: Item) -> list[str]:
    return list(item.fields.categories)


_PROPERTIES: dict[str, Callable[[Item], list[str]]] = {
    "subject": _subject,
    "body": _body,
    "location": _location,
    "category": _categories,
    "categories": _categories,
}


def _unsupported(detail: str) -> EwsError:
    return EwsError(ResponseCode.UNSUPPORTED_QUERY_FILTER, f"Unsupported query string: {detail}")


def _term(negated: bool, prop: str | None, text: str) -> Predicate:
    if prop is not None and prop.lower() not in _PROPERTIES:
        raise _unsupported(f"the property {prop!r}")
    words = re.findall(r"\w+", text.casefold())
    if not words:
        raise _unsupported(f"the empty term {text!r}")
    # Each word at the start of a word of the text, the words one after the other.
    pattern = re.compile(r"(?<!\w)" + r"\w*\W+".join(re.escape(word) for word in words))
    getters = [_PROPERTIES[prop.lower()]] if prop else list(_PROPERTIES.values())

    def matches(item: Item) -> bool:
        found = any(
            pattern.search(value.casefold()) for getter in getters for value in getter(item)
        )
        return found != negated

    return matches


def parse_query_string(query: str) -> Predicate:
    """A predicate for an AQS query string; raises ErrorUnsupportedQueryFilter beyond the subset."""
    alternatives: list[list[Predicate]] = [[]]
    negate_next = False
    position = 0
    text = query.strip()
    while position < len(text):
        if text[position].isspace():
            position += 1
            continue
        keyword = re.match(r"(AND|OR|NOT)(?=\s|$)", text[position:])
        if keyword:
            position += keyword.end()
            if keyword.group(1) == "OR":
                if not alternatives[-1] or negate_next:
                    raise _unsupported("OR without a term on both sides")
                alternatives.append([])
            elif keyword.group(1) == "NOT":
                negate_next = True
            continue
        term = _TERM.match(text, position)
        if term is None or (term.end() < len(text) and not text[term.end()].isspace()):
            raise _unsupported(f"{text[position:]!r}")
        value = term.group("phrase") if term.group("phrase") is not None else term.group("word")
        negated = negate_next or bool(term.group("negated"))
        alternatives[-1].append(_term(negated, term.group("property"), value))
        negate_next = False
        position = term.end()
    if not alternatives[-1] or negate_next:
        raise _unsupported("a query that ends without a term")

    def matches(item: Item) -> bool:
        return any(all(term(item) for term in terms) for terms in alternatives)

    return matches
