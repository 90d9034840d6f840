"""singleValueExtendedProperties: the EWS extended properties of an item, named as Graph names them.

An id is `"{Type} {guid} Name {name}"`, `"{Type} {guid} Id 0x{hex}"` or `"{Type} 0x{tag}"`
(singlevaluelegacyextendedproperty.md). They are the very properties EWS reads and writes as
ExtendedFieldURI, so a sync id set over one protocol is seen over the other (assumption G7:
the engine's sync id is a single-value extended property; open extensions are not simulated).
A distinguished property set (EWS `DistinguishedPropertySetId`) is named by its GUID over Graph.

Reads: `$expand=singleValueExtendedProperties($filter=id eq '...')` on GET and lists, several
ids joined by `or` in one filter (as documented) or one expand per id (which Graph may refuse:
the adapter's assumption GA4); another filter is 400;
`$filter=singleValueExtendedProperties/Any(ep: ep/id eq '...' and ep/value eq '...')` on
`/events`. Writes: `singleValueExtendedProperties: [{"id", "value"}]` on POST and PATCH
(a `null` value removes the property).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sim.graph.errors import bad_request
from sim.graph.values import only_keys
from sim.model import ExtendedPropertyKey, ExtendedValue

DISTINGUISHED_SETS: Mapping[str, str] = {
    "PublicStrings": "00020329-0000-0000-c000-000000000046",
    "Common": "00062008-0000-0000-c000-000000000046",
    "Appointment": "00062002-0000-0000-c000-000000000046",
    "Meeting": "6ed8da90-450b-101b-98da-00aa003f1305",
    "Task": "00062003-0000-0000-c000-000000000046",
    "Address": "00062004-0000-0000-c000-000000000046",
    "InternetHeaders": "00020386-0000-0000-c000-000000000046",
    "CalendarAssistant": "11000e07-b51b-40d6-af21-caa85edab1d0",
    "UnifiedMessaging": "4442858e-a9e3-4e80-b900-317a210cc15b",
    "Sharing": "00062040-0000-0000-c000-000000000046",
}
_TYPES = (
    "String",
    "Integer",
    "Boolean",
    "SystemTime",
    "Binary",
    "CLSID",
    "Long",
    "Double",
    "Short",
    "Float",
    "Currency",
    "ApplicationTime",
)
_NAMED = re.compile(r"^(\w+)\s+\{([0-9a-fA-F-]{36})\}\s+(Name|Id)\s+(.+)$")
_TAGGED = re.compile(r"^(\w+)\s+(0x[0-9a-fA-F]{1,4})$")
_FILTER_ANY = re.compile(
    r"^singleValueExtendedProperties/any\(\s*(\w+)\s*:\s*\1/id\s+eq\s+'((?:[^']|'')*)'"
    r"\s+and\s+\1/value\s+eq\s+'((?:[^']|'')*)'\s*\)$",
    re.IGNORECASE,
)
_EXPAND = re.compile(
    r"^singleValueExtendedProperties\(\s*\$filter\s*=\s*(.*?)\s*\)$", re.IGNORECASE | re.DOTALL
)
_ID_EQ = r"id\s+eq\s+'((?:[^']|'')*)'"
_ID_TEXT = r"id\s+eq\s+'(?:[^']|'')*'"
# One id, or several joined by `or` (the documented form, extended-properties-get.md).
_ID_CHAIN = re.compile(rf"^{_ID_TEXT}(?:\s+or\s+{_ID_TEXT})*$", re.IGNORECASE)


def graph_id(key: ExtendedPropertyKey) -> str:
    kind = "CLSID" if key.property_type == "CLSID" else key.property_type
    if key.property_tag is not None:
        return f"{kind} 0x{key.property_tag:04x}"
    guid = key.property_set_id or DISTINGUISHED_SETS[key.distinguished_property_set_id or ""]
    if key.property_name is not None:
        return f"{kind} {{{guid}}} Name {key.property_name}"
    return f"{kind} {{{guid}}} Id 0x{key.property_id or 0:x}"


def parse_id(text: Any) -> ExtendedPropertyKey:
    if not isinstance(text, str):
        raise bad_request("An extended property needs an id.")
    named = _NAMED.match(text.strip())
    tagged = _TAGGED.match(text.strip())
    try:
        if named:
            kind, guid, how, name = named.groups()
            kind = _type(kind)
            if how.lower() == "name":
                return ExtendedPropertyKey(kind, property_set_id=guid, property_name=name)
            return ExtendedPropertyKey(kind, property_set_id=guid, property_id=int(name, 16))
        if tagged:
            kind, tag = tagged.groups()
            return ExtendedPropertyKey(_type(kind), property_tag=int(tag, 16))
    except ValueError:
        pass
    raise bad_request(f"The extended property id '{text}' is not valid.", "ErrorInvalidProperty")


def _type(name: str) -> str:
    for candidate in _TYPES:
        if candidate.lower() == name.lower():
            return candidate
    if name.lower() == "guid":
        return "CLSID"
    raise bad_request(f"'{name}' is not a single-value extended property type.")


def same(one: ExtendedPropertyKey, other: ExtendedPropertyKey) -> bool:
    return graph_id(one).lower() == graph_id(other).lower()


def find(
    properties: Mapping[ExtendedPropertyKey, ExtendedValue], key: ExtendedPropertyKey
) -> tuple[ExtendedPropertyKey, ExtendedValue] | None:
    for stored, value in properties.items():
        if same(stored, key):
            return stored, value
    return None


def merged(
    properties: Mapping[ExtendedPropertyKey, ExtendedValue], written: Any
) -> dict[ExtendedPropertyKey, ExtendedValue]:
    """The item's properties after a POST/PATCH of `singleValueExtendedProperties`."""
    if not isinstance(written, list):
        raise bad_request("singleValueExtendedProperties must be a list.")
    result = dict(properties)
    for entry in written:
        only_keys(entry, ("id", "value"), "singleValueLegacyExtendedProperty")
        key = parse_id(entry.get("id"))
        if key.is_array:
            raise bad_request("Multi-value properties go in multiValueExtendedProperties.")
        found = find(result, key)
        if found is not None:
            key = found[0]
            del result[key]
        value = entry.get("value")
        if value is not None:
            if not isinstance(value, str):
                raise bad_request("An extended property value is a string.")
            result[key] = value
    return result


def rendered(
    properties: Mapping[ExtendedPropertyKey, ExtendedValue], wanted: list[ExtendedPropertyKey]
) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for key in wanted:
        found = find(properties, key)
        if found is not None and isinstance(found[1], str):
            out.append({"id": graph_id(found[0]), "value": found[1]})
    return out


def unquote(text: str) -> str:
    return text.replace("''", "'")


def parse_expand(expand: str | None) -> list[ExtendedPropertyKey] | None:
    """The properties named by `$expand`, or None when it does not ask for them."""
    if not expand:
        return None
    wanted: list[ExtendedPropertyKey] = []
    for part in _split_top_level(expand):
        match = _EXPAND.match(part.strip())
        if match:
            condition = match.group(1)
            if not _ID_CHAIN.match(condition):
                raise bad_request(
                    "Expand singleValueExtendedProperties with $filter=id eq '...' "
                    "(or several joined by 'or')."
                )
            ids = re.findall(_ID_EQ, condition, re.IGNORECASE)
            wanted.extend(parse_id(unquote(text)) for text in ids)
        elif part.strip().lower() == "singlevalueextendedproperties":
            raise bad_request("Expand singleValueExtendedProperties with a $filter on its id.")
    return wanted


def parse_filter(expression: str) -> tuple[ExtendedPropertyKey, str]:
    match = _FILTER_ANY.match(expression.strip())
    if match is None:
        raise bad_request(
            "Only singleValueExtendedProperties/Any(ep: ep/id eq '...' and ep/value eq '...') "
            "is supported as $filter here.",
            "ErrorInvalidUrlQueryFilter",
        )
    return parse_id(unquote(match.group(2))), unquote(match.group(3))


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        current += char
    parts.append(current)
    return parts
