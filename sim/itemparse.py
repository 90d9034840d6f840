"""EWS XML into store changes: the items of CreateItem and the fields of UpdateItem.

Parsing turns the children of a t:CalendarItem or t:Task (CreateItem) or one field of one
(SetItemField/AppendToItemField) into store field changes; DeleteItemField maps to the field's
empty value. Values without a time zone are read in the request's TimeZoneContext. Which
properties are modelled, stored as sent, or refused is `sim.properties`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from lxml import etree

from sim.envelope import (
    TYPES_NS,
    Element,
    build,
    child,
    child_text,
    children,
    format_datetime,
    local_name,
    t,
)
from sim.errors import EwsError, ResponseCode
from sim.model import (
    Attendee,
    Body,
    BodyType,
    ExtendedPropertyKey,
    ExtendedValue,
    FreeBusyStatus,
    Importance,
    ItemKind,
    ResponseType,
    Sensitivity,
    TaskStatus,
)
from sim.properties import Access, Property, ValueKind, by_element, by_uri, field_uri
from sim.recurrencexml import parse_date, parse_recurrence, zoned_date
from sim.shapes import FieldPath, parse_extended_key
from sim.timezones import UnknownTimeZone, zoneinfo_for


@dataclass(frozen=True)
class ParseContext:
    """What a request's headers say about values in its body (TimeZoneContext)."""

    time_zone_id: str | None = None


def parse_datetime(text: str | None, context: ParseContext) -> datetime:
    """xs:dateTime; values without an offset are in the request's TimeZoneContext (or UTC)."""
    if not text:
        raise EwsError(ResponseCode.INVALID_VALUE_FOR_PROPERTY, "Empty date/time value.")
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise EwsError(
            ResponseCode.INVALID_VALUE_FOR_PROPERTY, f"Invalid date/time {text}"
        ) from None
    if value.tzinfo is None:
        zone = UTC if context.time_zone_id is None else _zone(context.time_zone_id)
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def _zone(windows_id: str) -> Any:
    try:
        return zoneinfo_for(windows_id)
    except UnknownTimeZone:
        raise EwsError(ResponseCode.TIME_ZONE, f"Unknown time zone id {windows_id!r}.") from None


def parse_bool(text: str | None) -> bool:
    value = (text or "").strip().lower()
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise EwsError(ResponseCode.INVALID_VALUE_FOR_PROPERTY, f"Invalid boolean {text}")


def _enum(enum: type[StrEnum]) -> Callable[[Element, ParseContext], Any]:
    def parse(elem: Element, context: ParseContext) -> Any:
        try:
            return enum((elem.text or "").strip())
        except ValueError:
            raise EwsError(
                ResponseCode.INVALID_VALUE_FOR_PROPERTY, f"Invalid value {elem.text!r}"
            ) from None

    return parse


def _parse_body(elem: Element, context: ParseContext) -> Body:
    return Body(elem.text or "", BodyType(elem.get("BodyType", "Text")))


def _parse_attendees(elem: Element, context: ParseContext) -> tuple[Attendee, ...]:
    attendees = []
    for attendee in children(elem, "Attendee"):
        mailbox = child(attendee, "Mailbox")
        email = child_text(mailbox, "EmailAddress")
        if not email:
            raise EwsError(
                ResponseCode.INVALID_VALUE_FOR_PROPERTY, "An attendee needs an EmailAddress."
            )
        response = child_text(attendee, "ResponseType")
        last = child_text(attendee, "LastResponseTime")
        attendees.append(
            Attendee(
                email=email.strip(),
                name=child_text(mailbox, "Name"),
                response_type=ResponseType(response) if response else ResponseType.UNKNOWN,
                last_response_time=parse_datetime(last, context) if last else None,
            )
        )
    return tuple(attendees)


def _parse_time_zone(elem: Element, context: ParseContext) -> str:
    zone = elem.get("Id") or elem.get("TimeZoneName") or elem.get("Name")
    if not zone:
        raise EwsError(ResponseCode.TIME_ZONE, "A time zone needs an Id.")
    _zone(zone)
    return zone


def _int(elem: Element, context: ParseContext) -> int:
    try:
        return int((elem.text or "").strip())
    except ValueError:
        raise EwsError(
            ResponseCode.INVALID_VALUE_FOR_PROPERTY, f"Invalid number {elem.text}"
        ) from None


def _float(elem: Element, context: ParseContext) -> float:
    try:
        return float((elem.text or "").strip())
    except ValueError:
        raise EwsError(
            ResponseCode.INVALID_VALUE_FOR_PROPERTY, f"Invalid number {elem.text}"
        ) from None


Parser = Callable[[Element, ParseContext], Any]


@dataclass(frozen=True)
class _Writable:
    """A modelled property (see `sim.properties`): its element, store field and parser."""

    element: str
    kinds: frozenset[ItemKind]
    store_field: str
    parse: Parser
    empty: Any = None


_BOTH = frozenset(ItemKind)
_CAL = frozenset({ItemKind.CALENDAR_ITEM})
_TASK = frozenset({ItemKind.TASK})


def _text(elem: Element, context: ParseContext) -> str:
    return elem.text or ""


def _strings(elem: Element, context: ParseContext) -> tuple[str, ...]:
    return tuple(value.text or "" for value in children(elem, "String"))


def _datetime(elem: Element, context: ParseContext) -> datetime:
    return parse_datetime(elem.text, context)


def _boolean(elem: Element, context: ParseContext) -> bool:
    return parse_bool(elem.text)


_WRITABLE: tuple[_Writable, ...] = (
    _Writable("Subject", _BOTH, "subject", _text, ""),
    _Writable("Sensitivity", _BOTH, "sensitivity", _enum(Sensitivity), Sensitivity.NORMAL),
    _Writable("Body", _BOTH, "body", _parse_body, None),
    _Writable("Categories", _BOTH, "categories", _strings, ()),
    _Writable("Importance", _BOTH, "importance", _enum(Importance), Importance.NORMAL),
    _Writable("ReminderDueBy", _TASK, "reminder_due_by", _datetime, None),
    _Writable("ReminderIsSet", _BOTH, "reminder_is_set", _boolean, False),
    _Writable("ReminderMinutesBeforeStart", _CAL, "reminder_minutes_before_start", _int, 0),
    _Writable("UID", _CAL, "uid", _text),
    _Writable("Start", _CAL, "start", _datetime),
    _Writable("End", _CAL, "end", _datetime),
    _Writable("IsAllDayEvent", _CAL, "is_all_day", _boolean, False),
    _Writable(
        "LegacyFreeBusyStatus",
        _CAL,
        "legacy_free_busy_status",
        _enum(FreeBusyStatus),
        FreeBusyStatus.BUSY,
    ),
    _Writable("Location", _CAL, "location", _text, None),
    _Writable("RequiredAttendees", _CAL, "required_attendees", _parse_attendees, ()),
    _Writable("OptionalAttendees", _CAL, "optional_attendees", _parse_attendees, ()),
    _Writable("Recurrence", _CAL, "recurrence", parse_recurrence, None),
    _Writable("MeetingTimeZone", _CAL, "meeting_time_zone", _parse_time_zone),
    _Writable("StartTimeZone", _CAL, "start_time_zone", _parse_time_zone),
    _Writable("EndTimeZone", _CAL, "end_time_zone", _parse_time_zone),
    _Writable("CompleteDate", _TASK, "complete_date", _datetime, None),
    _Writable("DueDate", _TASK, "due_date", _datetime, None),
    _Writable("PercentComplete", _TASK, "percent_complete", _float, 0.0),
    _Writable("StartDate", _TASK, "start_date", _datetime, None),
    _Writable("Status", _TASK, "status", _enum(TaskStatus), TaskStatus.NOT_STARTED),
)

_MODELLED: dict[tuple[str, ItemKind], _Writable] = {
    (spec.element, kind): spec for spec in _WRITABLE for kind in spec.kinds
}
# Fields that every item has: deleting them is refused.
_REQUIRED = frozenset({"start", "end", "start_time_zone", "end_time_zone", "meeting_time_zone"})


def kind_of_element(elem: Element) -> ItemKind | None:
    name = local_name(elem)
    return {"CalendarItem": ItemKind.CALENDAR_ITEM, "Task": ItemKind.TASK}.get(name)


def _not_settable(prop: Property | None, uri: str, kind: ItemKind) -> EwsError:
    if prop is not None and prop.access is Access.UNSUPPORTED:
        detail = f"The simulator does not support setting {uri} on a {kind}."
    else:
        detail = f"Set action is invalid for property {uri} on a {kind}."
    return EwsError(ResponseCode.INVALID_PROPERTY_SET, detail)


def _settable(name: str, kind: ItemKind) -> Property:
    prop = by_element(name, kind)
    if prop is None or prop.access not in (Access.MODELLED, Access.STORED):
        raise _not_settable(prop, field_uri(name, kind), kind)
    return prop


def _stored_value(part: Element, prop: Property, context: ParseContext) -> str:
    """A stored property's value as XML, checked against its type and with times in UTC."""
    value = copy.deepcopy(part)
    if prop.value is ValueKind.INT:
        value.text = str(_int(part, context))
    elif prop.value is ValueKind.BOOLEAN:
        value.text = "true" if parse_bool(part.text) else "false"
    elif prop.value is ValueKind.DATETIME:
        value.text = format_datetime(parse_datetime(part.text, context))
    elif prop.value is ValueKind.STRINGS:
        value = build(t(prop.element), *(t("String", text) for text in _strings(part, context)))
    elif prop.element == "Recurrence":
        # A task's recurrence: its dates carry an offset, as Exchange writes them.
        zone = _zone(context.time_zone_id) if context.time_zone_id else ZoneInfo("UTC")
        for day in value.iter(f"{{{TYPES_NS}}}StartDate", f"{{{TYPES_NS}}}EndDate"):
            day.text = zoned_date(parse_date(day.text), zone)
    elif prop.value is ValueKind.TEXT and len(part):
        raise EwsError(ResponseCode.INVALID_VALUE_FOR_PROPERTY, f"{prop.uri} is a plain text.")
    return etree.tostring(value, encoding="unicode")


def parse_item(elem: Element, kind: ItemKind, context: ParseContext) -> dict[str, Any]:
    """All field values in a t:CalendarItem/t:Task of CreateItem, as store field changes.

    Time zones: StartTimeZone/EndTimeZone, else the legacy MeetingTimeZone, else the request's
    TimeZoneContext, else UTC (Exchange's order of precedence).
    """
    changes: dict[str, Any] = {}
    extended: dict[ExtendedPropertyKey, ExtendedValue] = {}
    stored: dict[str, str] = {}
    for part in children(elem):
        name = local_name(part)
        if name == "ExtendedProperty":
            key, value = parse_extended_property(part)
            extended[key] = value
            continue
        prop = _settable(name, kind)
        if prop.access is Access.STORED:
            stored[name] = _stored_value(part, prop, context)
            continue
        spec = _MODELLED[(name, kind)]
        changes[spec.store_field] = spec.parse(part, context)
    if extended:
        changes["extended_properties"] = extended
    if stored:
        changes["other_properties"] = stored
    if kind is ItemKind.CALENDAR_ITEM:
        meeting_zone = changes.pop("meeting_time_zone", None)
        start_zone = changes.get("start_time_zone") or meeting_zone or context.time_zone_id or "UTC"
        changes["start_time_zone"] = start_zone
        changes.setdefault("end_time_zone", start_zone)
    return changes


def parse_extended_property(elem: Element) -> tuple[ExtendedPropertyKey, ExtendedValue]:
    uri = child(elem, "ExtendedFieldURI")
    if uri is None:
        raise EwsError(ResponseCode.INVALID_EXTENDED_PROPERTY, "ExtendedFieldURI is missing.")
    key = parse_extended_key(uri)
    values = child(elem, "Values")
    if values is not None:
        return key, tuple(value.text or "" for value in children(values, "Value"))
    return key, child_text(elem, "Value") or ""


def parse_set_field(
    path: FieldPath, item_elem: Element, kind: ItemKind, context: ParseContext
) -> dict[str, Any]:
    """The store field change for one SetItemField (its path and the item holding the value).

    A stored property comes back as {"#other": (element, XML)}, an extended property as
    {"#extended": (key, value)}; the caller merges them into the item's current ones.
    """
    if path.extended is not None:
        for part in children(item_elem, "ExtendedProperty"):
            key, value = parse_extended_property(part)
            if key == path.extended:
                return {"#extended": (key, value)}
        raise EwsError(
            ResponseCode.INCORRECT_UPDATE_PROPERTY_COUNT, "The extended property value is missing."
        )
    uri = path.uri or ""
    prop = by_uri(uri, kind)
    if prop is None or prop.access not in (Access.MODELLED, Access.STORED):
        raise _not_settable(prop, uri, kind)
    parts = children(item_elem, prop.element)
    if len(parts) != 1 or len(children(item_elem)) != 1:
        raise EwsError(
            ResponseCode.INCORRECT_UPDATE_PROPERTY_COUNT,
            "An object within a change description must contain one and only one property "
            "to modify.",
        )
    if prop.access is Access.STORED:
        return {"#other": (prop.element, _stored_value(parts[0], prop, context))}
    spec = _MODELLED[(prop.element, kind)]
    value = spec.parse(parts[0], context)
    if spec.store_field == "meeting_time_zone":
        return {"start_time_zone": value, "end_time_zone": value}
    return {spec.store_field: value}


def parse_delete_field(path: FieldPath, kind: ItemKind) -> dict[str, Any]:
    """The store field change for one DeleteItemField.

    Deleting a property the item does not have succeeds (exchangelib deletes every unset
    property on a full save, e.g. task:Recurrence of a task that never recurred).
    """
    if path.extended is not None:
        return {"#extended": (path.extended, None)}
    uri = path.uri or ""
    prop = by_uri(uri, kind)
    if prop is None or prop.access not in (Access.MODELLED, Access.STORED):
        raise EwsError(
            ResponseCode.INVALID_PROPERTY_DELETE, f"The property {uri} cannot be deleted."
        )
    if prop.access is Access.STORED:
        return {"#other": (prop.element, None)}
    spec = _MODELLED[(prop.element, kind)]
    if spec.store_field in _REQUIRED or spec.store_field == "uid":
        raise EwsError(
            ResponseCode.INVALID_PROPERTY_DELETE, f"The property {uri} cannot be deleted."
        )
    return {spec.store_field: spec.empty}
