"""EWS XML into store changes: the items of CreateItem and the fields of UpdateItem.

Parsing turns the children of a t:CalendarItem or t:Task (CreateItem) or one field of one
(SetItemField/AppendToItemField) into store field changes; DeleteItemField maps to the field's
empty value. Values without a time zone are read in the request's TimeZoneContext.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sim.envelope import Element, child, child_text, children, local_name
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
from sim.recurrence import (
    MONTH_NAMES,
    AbsoluteMonthlyPattern,
    AbsoluteYearlyPattern,
    DailyPattern,
    DayOfWeek,
    DayOfWeekIndex,
    EndDateRange,
    EwsRecurrence,
    NoEndRange,
    NumberedRange,
    Pattern,
    Range,
    RelativeMonthlyPattern,
    RelativeYearlyPattern,
    WeeklyPattern,
)
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


def parse_date(text: str | None) -> date:
    """xs:date, which may carry an offset (2014-03-08-08:00) that does not change the day."""
    try:
        return date.fromisoformat((text or "").strip()[:10])
    except ValueError:
        raise EwsError(ResponseCode.INVALID_VALUE_FOR_PROPERTY, f"Invalid date {text}") from None


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


_DAY_NAMES = {day.value: day for day in DayOfWeek}


def _days(text: str | None) -> tuple[DayOfWeek, ...]:
    try:
        return tuple(_DAY_NAMES[name] for name in (text or "").split())
    except KeyError:
        raise EwsError(
            ResponseCode.CALENDAR_INVALID_RECURRENCE, f"Invalid DaysOfWeek {text}"
        ) from None


def _month(text: str | None) -> int:
    if text not in MONTH_NAMES:
        raise EwsError(ResponseCode.CALENDAR_INVALID_RECURRENCE, f"Invalid Month {text}")
    return MONTH_NAMES.index(text) + 1


def _index(text: str | None) -> DayOfWeekIndex:
    try:
        return DayOfWeekIndex(text or "")
    except ValueError:
        raise EwsError(
            ResponseCode.CALENDAR_INVALID_RECURRENCE, f"Invalid DayOfWeekIndex {text}"
        ) from None


def _single_day(text: str | None) -> DayOfWeek:
    days = _days(text)
    if len(days) != 1:
        raise EwsError(
            ResponseCode.CALENDAR_INVALID_RECURRENCE, "DaysOfWeek must name one day here."
        )
    return days[0]


def _interval(elem: Element) -> int:
    try:
        return int(child_text(elem, "Interval") or "1")
    except ValueError:
        raise EwsError(ResponseCode.CALENDAR_INVALID_RECURRENCE, "Invalid Interval") from None


def parse_recurrence(elem: Element, context: ParseContext | None = None) -> EwsRecurrence:
    parts = children(elem)
    if len(parts) != 2:
        raise EwsError(
            ResponseCode.CALENDAR_INVALID_RECURRENCE, "A recurrence needs a pattern and a range."
        )
    pattern_elem, range_elem = parts
    kind = local_name(pattern_elem)
    pattern: Pattern
    try:
        if kind == "DailyRecurrence":
            pattern = DailyPattern(_interval(pattern_elem))
        elif kind == "WeeklyRecurrence":
            first = child_text(pattern_elem, "FirstDayOfWeek")
            pattern = WeeklyPattern(
                days_of_week=_days(child_text(pattern_elem, "DaysOfWeek")),
                interval=_interval(pattern_elem),
                first_day_of_week=_single_day(first) if first else None,
            )
        elif kind == "AbsoluteMonthlyRecurrence":
            pattern = AbsoluteMonthlyPattern(
                int(child_text(pattern_elem, "DayOfMonth") or "0"), _interval(pattern_elem)
            )
        elif kind == "RelativeMonthlyRecurrence":
            pattern = RelativeMonthlyPattern(
                _single_day(child_text(pattern_elem, "DaysOfWeek")),
                _index(child_text(pattern_elem, "DayOfWeekIndex")),
                _interval(pattern_elem),
            )
        elif kind == "AbsoluteYearlyRecurrence":
            pattern = AbsoluteYearlyPattern(
                int(child_text(pattern_elem, "DayOfMonth") or "0"),
                _month(child_text(pattern_elem, "Month")),
            )
        elif kind == "RelativeYearlyRecurrence":
            pattern = RelativeYearlyPattern(
                _single_day(child_text(pattern_elem, "DaysOfWeek")),
                _index(child_text(pattern_elem, "DayOfWeekIndex")),
                _month(child_text(pattern_elem, "Month")),
            )
        else:
            raise EwsError(ResponseCode.CALENDAR_INVALID_RECURRENCE, f"Unsupported pattern {kind}")
    except ValueError:
        raise EwsError(
            ResponseCode.CALENDAR_INVALID_RECURRENCE, "Invalid recurrence pattern"
        ) from None
    start = parse_date(child_text(range_elem, "StartDate"))
    range_kind = local_name(range_elem)
    rng: Range
    if range_kind == "NoEndRecurrence":
        rng = NoEndRange(start)
    elif range_kind == "EndDateRecurrence":
        rng = EndDateRange(start, parse_date(child_text(range_elem, "EndDate")))
    elif range_kind == "NumberedRecurrence":
        try:
            count = int(child_text(range_elem, "NumberOfOccurrences") or "0")
        except ValueError:
            raise EwsError(
                ResponseCode.CALENDAR_INVALID_RECURRENCE, "Invalid NumberOfOccurrences"
            ) from None
        rng = NumberedRange(start, count)
    else:
        raise EwsError(ResponseCode.CALENDAR_INVALID_RECURRENCE, f"Unsupported range {range_kind}")
    return EwsRecurrence(pattern, rng)


Parser = Callable[[Element, ParseContext], Any]


@dataclass(frozen=True)
class _Writable:
    """A field that requests may set: its URI, element, store field and parser."""

    uri: str
    element: str
    kinds: frozenset[ItemKind]
    store_field: str | None  # None: accepted but not kept (Exchange-managed or unsupported)
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


def _ignored(elem: Element, context: ParseContext) -> None:
    return None


_WRITABLE: tuple[_Writable, ...] = (
    _Writable("item:Subject", "Subject", _BOTH, "subject", _text, ""),
    _Writable(
        "item:Sensitivity",
        "Sensitivity",
        _BOTH,
        "sensitivity",
        _enum(Sensitivity),
        Sensitivity.NORMAL,
    ),
    _Writable("item:Body", "Body", _BOTH, "body", _parse_body, None),
    _Writable("item:Categories", "Categories", _BOTH, "categories", _strings, ()),
    _Writable(
        "item:Importance", "Importance", _BOTH, "importance", _enum(Importance), Importance.NORMAL
    ),
    _Writable("item:InReplyTo", "InReplyTo", _BOTH, None, _ignored),
    _Writable("item:ReminderDueBy", "ReminderDueBy", _TASK, "reminder_due_by", _datetime, None),
    _Writable("item:ReminderDueBy", "ReminderDueBy", _CAL, None, _ignored),
    _Writable("item:ReminderIsSet", "ReminderIsSet", _BOTH, "reminder_is_set", _boolean, False),
    _Writable(
        "item:ReminderMinutesBeforeStart",
        "ReminderMinutesBeforeStart",
        _CAL,
        "reminder_minutes_before_start",
        _int,
        0,
    ),
    _Writable(
        "item:ReminderMinutesBeforeStart", "ReminderMinutesBeforeStart", _TASK, None, _ignored
    ),
    _Writable("item:Culture", "Culture", _BOTH, None, _ignored),
    _Writable("calendar:UID", "UID", _CAL, None, _ignored),
    _Writable("calendar:Start", "Start", _CAL, "start", _datetime),
    _Writable("calendar:End", "End", _CAL, "end", _datetime),
    _Writable("calendar:IsAllDayEvent", "IsAllDayEvent", _CAL, "is_all_day", _boolean, False),
    _Writable(
        "calendar:LegacyFreeBusyStatus",
        "LegacyFreeBusyStatus",
        _CAL,
        "legacy_free_busy_status",
        _enum(FreeBusyStatus),
        FreeBusyStatus.BUSY,
    ),
    _Writable("calendar:Location", "Location", _CAL, "location", _text, None),
    _Writable("calendar:When", "When", _CAL, None, _ignored),
    _Writable("calendar:IsResponseRequested", "IsResponseRequested", _CAL, None, _ignored),
    _Writable(
        "calendar:RequiredAttendees",
        "RequiredAttendees",
        _CAL,
        "required_attendees",
        _parse_attendees,
        (),
    ),
    _Writable(
        "calendar:OptionalAttendees",
        "OptionalAttendees",
        _CAL,
        "optional_attendees",
        _parse_attendees,
        (),
    ),
    _Writable("calendar:Resources", "Resources", _CAL, None, _ignored),
    _Writable("calendar:Recurrence", "Recurrence", _CAL, "recurrence", parse_recurrence, None),
    _Writable(
        "calendar:MeetingTimeZone", "MeetingTimeZone", _CAL, "meeting_time_zone", _parse_time_zone
    ),
    _Writable("calendar:StartTimeZone", "StartTimeZone", _CAL, "start_time_zone", _parse_time_zone),
    _Writable("calendar:EndTimeZone", "EndTimeZone", _CAL, "end_time_zone", _parse_time_zone),
    _Writable("calendar:ConferenceType", "ConferenceType", _CAL, None, _ignored),
    _Writable("calendar:AllowNewTimeProposal", "AllowNewTimeProposal", _CAL, None, _ignored),
    _Writable("calendar:MeetingWorkspaceUrl", "MeetingWorkspaceUrl", _CAL, None, _ignored),
    _Writable("calendar:NetShowUrl", "NetShowUrl", _CAL, None, _ignored),
    _Writable("task:ActualWork", "ActualWork", _TASK, None, _ignored),
    _Writable("task:BillingInformation", "BillingInformation", _TASK, None, _ignored),
    _Writable("task:Companies", "Companies", _TASK, None, _ignored),
    # CompleteDate is set by the server when the task is completed; clients' values are ignored.
    _Writable("task:CompleteDate", "CompleteDate", _TASK, None, _ignored),
    _Writable("task:Contacts", "Contacts", _TASK, None, _ignored),
    _Writable("task:DueDate", "DueDate", _TASK, "due_date", _datetime, None),
    _Writable("task:Mileage", "Mileage", _TASK, None, _ignored),
    _Writable("task:PercentComplete", "PercentComplete", _TASK, "percent_complete", _float, 0.0),
    _Writable("task:StartDate", "StartDate", _TASK, "start_date", _datetime, None),
    _Writable("task:Status", "Status", _TASK, "status", _enum(TaskStatus), TaskStatus.NOT_STARTED),
    _Writable("task:TotalWork", "TotalWork", _TASK, None, _ignored),
)

_BY_URI: dict[tuple[str, ItemKind], _Writable] = {
    (spec.uri, kind): spec for spec in _WRITABLE for kind in spec.kinds
}
_BY_ELEMENT: dict[tuple[str, ItemKind], _Writable] = {
    (spec.element, kind): spec for spec in _WRITABLE for kind in spec.kinds
}


def kind_of_element(elem: Element) -> ItemKind | None:
    name = local_name(elem)
    return {"CalendarItem": ItemKind.CALENDAR_ITEM, "Task": ItemKind.TASK}.get(name)


def _read_only(uri: str, kind: ItemKind) -> EwsError:
    return EwsError(
        ResponseCode.INVALID_PROPERTY_SET,
        f"Set action is invalid for property {uri} on a {kind}.",
    )


def parse_item(elem: Element, kind: ItemKind, context: ParseContext) -> dict[str, Any]:
    """All field values in a t:CalendarItem/t:Task of CreateItem, as store field changes.

    Time zones: StartTimeZone/EndTimeZone, else the legacy MeetingTimeZone, else the request's
    TimeZoneContext, else UTC (Exchange's order of precedence).
    """
    changes: dict[str, Any] = {}
    extended: dict[ExtendedPropertyKey, ExtendedValue] = {}
    for part in children(elem):
        name = local_name(part)
        if name == "ExtendedProperty":
            key, value = parse_extended_property(part)
            extended[key] = value
            continue
        spec = _BY_ELEMENT.get((name, kind))
        if spec is None:
            continue  # read-only values clients echo back (ItemId, CalendarItemType, ...)
        value = spec.parse(part, context)
        if spec.store_field is not None:
            changes[spec.store_field] = value
    if extended:
        changes["extended_properties"] = extended
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
    """The store field change for one SetItemField (its path and the item holding the value)."""
    if path.extended is not None:
        for part in children(item_elem, "ExtendedProperty"):
            key, value = parse_extended_property(part)
            if key == path.extended:
                return {"#extended": (key, value)}
        raise EwsError(
            ResponseCode.INCORRECT_UPDATE_PROPERTY_COUNT, "The extended property value is missing."
        )
    uri = path.uri or ""
    spec = _BY_URI.get((uri, kind))
    if spec is None:
        raise _read_only(uri, kind)
    parts = children(item_elem, spec.element)
    if len(parts) != 1:
        raise EwsError(
            ResponseCode.INCORRECT_UPDATE_PROPERTY_COUNT,
            "An object within a change description must contain one and only one property "
            "to modify.",
        )
    value = spec.parse(parts[0], context)
    if spec.store_field is None:
        return {}
    if spec.store_field == "meeting_time_zone":
        return {"start_time_zone": value, "end_time_zone": value}
    return {spec.store_field: value}


def parse_delete_field(path: FieldPath, kind: ItemKind) -> dict[str, Any]:
    """The store field change for one DeleteItemField."""
    if path.extended is not None:
        return {"#extended": (path.extended, None)}
    uri = path.uri or ""
    spec = _BY_URI.get((uri, kind))
    if spec is None:
        raise _read_only(uri, kind)
    if spec.store_field is None:
        return {}
    if spec.store_field in (
        "start",
        "end",
        "start_time_zone",
        "end_time_zone",
        "meeting_time_zone",
    ):
        raise EwsError(
            ResponseCode.INVALID_PROPERTY_DELETE, f"The property {uri} cannot be deleted."
        )
    return {spec.store_field: spec.empty}
