"""Items to and from EWS XML: t:CalendarItem and t:Task, field paths, shapes, recurrences.

Serialising follows the element order of CalendarItemType/TaskType in types.xsd and returns the
fields a response shape asks for (IdOnly/Default/AllProperties plus AdditionalProperties, with
extended properties only when named). Parsing turns the children of a t:CalendarItem or t:Task
(CreateItem) or one field of one (SetItemField) into store field changes; DeleteItemField maps to
the field's empty value.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sim.envelope import Element, build, child, child_text, children, format_duration, local_name, t
from sim.errors import EwsError, ResponseCode
from sim.model import (
    Attendee,
    Body,
    BodyType,
    CalendarItem,
    CalendarItemType,
    EmailAddress,
    ExtendedPropertyKey,
    ExtendedValue,
    FreeBusyStatus,
    Importance,
    Item,
    ItemKind,
    OccurrenceInfo,
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
    NoEndRange,
    NumberedRange,
    Pattern,
    Range,
    Recurrence,
    RelativeMonthlyPattern,
    RelativeYearlyPattern,
    WeeklyPattern,
)
from sim.timezones import UnknownTimeZone, windows_zone, zoneinfo_for

# --- shapes and field paths -------------------------------------------------------------------


class BaseShape(StrEnum):
    ID_ONLY = "IdOnly"
    DEFAULT = "Default"
    ALL_PROPERTIES = "AllProperties"


@dataclass(frozen=True)
class FieldPath:
    """A t:FieldURI (uri), t:IndexedFieldURI (uri + index) or t:ExtendedFieldURI (extended)."""

    uri: str | None = None
    extended: ExtendedPropertyKey | None = None
    index: str | None = None


@dataclass(frozen=True)
class Shape:
    base: BaseShape = BaseShape.ID_ONLY
    additional: tuple[FieldPath, ...] = ()
    body_type: str = "Best"

    def wants(self, uri: str, in_default: bool, in_all: bool) -> bool:
        if any(path.uri == uri for path in self.additional):
            return True
        if self.base is BaseShape.ALL_PROPERTIES:
            return in_all
        return self.base is BaseShape.DEFAULT and in_default

    @property
    def extended(self) -> list[ExtendedPropertyKey]:
        return [path.extended for path in self.additional if path.extended is not None]


def parse_shape(elem: Element | None) -> Shape:
    if elem is None:
        return Shape()
    base = child_text(elem, "BaseShape") or "IdOnly"
    try:
        base_shape = BaseShape(base)
    except ValueError:
        raise EwsError(ResponseCode.INVALID_REQUEST, f"Unknown BaseShape {base}") from None
    additional = tuple(
        parse_field_path(path) for path in children(child(elem, "AdditionalProperties"))
    )
    return Shape(base_shape, additional, child_text(elem, "BodyType") or "Best")


def parse_extended_key(elem: Element) -> ExtendedPropertyKey:
    def number(name: str) -> int | None:
        text = elem.get(name)
        if text is None:
            return None
        return int(text, 16) if text.lower().startswith("0x") else int(text)

    try:
        return ExtendedPropertyKey(
            property_type=elem.get("PropertyType", ""),
            property_set_id=elem.get("PropertySetId"),
            distinguished_property_set_id=elem.get("DistinguishedPropertySetId"),
            property_name=elem.get("PropertyName"),
            property_id=number("PropertyId"),
            property_tag=number("PropertyTag"),
        )
    except ValueError as error:
        raise EwsError(ResponseCode.INVALID_EXTENDED_PROPERTY, str(error)) from None


def parse_field_path(elem: Element) -> FieldPath:
    name = local_name(elem)
    if name == "ExtendedFieldURI":
        return FieldPath(extended=parse_extended_key(elem))
    if name in ("FieldURI", "IndexedFieldURI", "ExceptionFieldURI"):
        return FieldPath(uri=elem.get("FieldURI"), index=elem.get("FieldIndex"))
    raise EwsError(ResponseCode.INVALID_PROPERTY_REQUEST, f"Unknown property path {name}")


def extended_key_element(key: ExtendedPropertyKey) -> Element:
    tag = None if key.property_tag is None else f"0x{key.property_tag:x}"
    return t(
        "ExtendedFieldURI",
        DistinguishedPropertySetId=key.distinguished_property_set_id,
        PropertySetId=key.property_set_id,
        PropertyTag=tag,
        PropertyName=key.property_name,
        PropertyId=key.property_id,
        PropertyType=key.property_type,
    )


# --- rendering --------------------------------------------------------------------------------


def item_id_element(item: Item, tag: str = "ItemId") -> Element:
    return t(tag, Id=item.item_id, ChangeKey=item.change_key)


def _mailbox(address: EmailAddress | Attendee, kind: str = "Mailbox") -> Element:
    return build(
        t("Mailbox"),
        t("Name", address.name) if address.name else None,
        t("EmailAddress", address.email),
        t("RoutingType", "SMTP"),
        t("MailboxType", kind),
    )


def _attendees(tag: str, attendees: Iterable[Attendee]) -> Element | None:
    elems = [
        build(
            t("Attendee"),
            _mailbox(attendee),
            t("ResponseType", attendee.response_type),
            t("LastResponseTime", attendee.last_response_time)
            if attendee.last_response_time
            else None,
        )
        for attendee in attendees
    ]
    return build(t(tag), *elems) if elems else None


def _html_to_text(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", text)).strip()


def _body(body: Body | None, body_type: str, tag: str = "Body") -> Element:
    if body is None:
        return t(tag, "", BodyType=BodyType.TEXT if body_type != "HTML" else BodyType.HTML)
    if body_type == "Text" and body.body_type is BodyType.HTML:
        return t(tag, _html_to_text(body.text), BodyType=BodyType.TEXT)
    if body_type == "HTML" and body.body_type is BodyType.TEXT:
        rendered = "<html><body>" + html.escape(body.text).replace("\n", "<br>") + "</body></html>"
        return t(tag, rendered, BodyType=BodyType.HTML)
    return t(tag, body.text, BodyType=body.body_type)


def _zone_name(windows_id: str) -> str | None:
    try:
        return windows_zone(windows_id).display_name
    except UnknownTimeZone:
        return None


def _time_zone(tag: str, windows_id: str) -> Element:
    return t(tag, Id=windows_id, Name=_zone_name(windows_id))


def recurrence_element(recurrence: Recurrence, tag: str = "Recurrence") -> Element:
    pattern, rng = recurrence.pattern, recurrence.range
    if isinstance(pattern, RelativeYearlyPattern):
        pattern_elem = build(
            t("RelativeYearlyRecurrence"),
            t("DaysOfWeek", pattern.day_of_week),
            t("DayOfWeekIndex", pattern.index),
            t("Month", MONTH_NAMES[pattern.month - 1]),
        )
    elif isinstance(pattern, AbsoluteYearlyPattern):
        pattern_elem = build(
            t("AbsoluteYearlyRecurrence"),
            t("DayOfMonth", pattern.day_of_month),
            t("Month", MONTH_NAMES[pattern.month - 1]),
        )
    elif isinstance(pattern, RelativeMonthlyPattern):
        pattern_elem = build(
            t("RelativeMonthlyRecurrence"),
            t("Interval", pattern.interval),
            t("DaysOfWeek", pattern.day_of_week),
            t("DayOfWeekIndex", pattern.index),
        )
    elif isinstance(pattern, AbsoluteMonthlyPattern):
        pattern_elem = build(
            t("AbsoluteMonthlyRecurrence"),
            t("Interval", pattern.interval),
            t("DayOfMonth", pattern.day_of_month),
        )
    elif isinstance(pattern, WeeklyPattern):
        pattern_elem = build(
            t("WeeklyRecurrence"),
            t("Interval", pattern.interval),
            t("DaysOfWeek", " ".join(pattern.days_of_week)),
            t("FirstDayOfWeek", pattern.first_day_of_week) if pattern.first_day_of_week else None,
        )
    else:
        pattern_elem = build(t("DailyRecurrence"), t("Interval", pattern.interval))
    if isinstance(rng, NumberedRange):
        range_elem = build(
            t("NumberedRecurrence"),
            t("StartDate", rng.start_date),
            t("NumberOfOccurrences", rng.count),
        )
    elif isinstance(rng, EndDateRange):
        range_elem = build(
            t("EndDateRecurrence"), t("StartDate", rng.start_date), t("EndDate", rng.end_date)
        )
    else:
        range_elem = build(t("NoEndRecurrence"), t("StartDate", rng.start_date))
    return build(t(tag), pattern_elem, range_elem)


def _occurrence_info(tag: str, info: OccurrenceInfo) -> Element:
    return build(
        t(tag),
        t("ItemId", Id=info.item_id),
        t("Start", info.start),
        t("End", info.end),
        t("OriginalStart", info.original_start),
    )


Renderer = Callable[[Any, Shape], Element | None]


@dataclass(frozen=True)
class _Rendered:
    uri: str
    render: Renderer
    in_default: bool = False
    in_all: bool = True


def _simple(uri: str, tag: str, value: Callable[[Any], Any], **flags: bool) -> _Rendered:
    def render(item: Any, shape: Shape) -> Element | None:
        current = value(item)
        return None if current is None else t(tag, current)

    return _Rendered(uri, render, **flags)


_EXTENDED = _Rendered("#extended", lambda item, shape: None)

_ITEM_HEAD: tuple[_Rendered, ...] = (
    _Rendered("item:ParentFolderId", lambda i, s: t("ParentFolderId", Id=i.folder_id)),
    _simple(
        "item:ItemClass",
        "ItemClass",
        lambda i: "IPM.Appointment" if isinstance(i, CalendarItem) else "IPM.Task",
    ),
    _simple("item:Subject", "Subject", lambda i: i.fields.subject, in_default=True),
    _simple("item:Sensitivity", "Sensitivity", lambda i: i.fields.sensitivity),
    _Rendered("item:Body", lambda i, s: _body(i.fields.body, s.body_type)),
    _simple("item:DateTimeReceived", "DateTimeReceived", lambda i: i.created),
    _simple(
        "item:Size",
        "Size",
        lambda i: 1024 + len(i.fields.subject) + len(i.fields.body.text if i.fields.body else ""),
    ),
    _Rendered(
        "item:Categories",
        lambda i, s: (
            build(t("Categories"), *(t("String", c) for c in i.fields.categories))
            if i.fields.categories
            else None
        ),
    ),
    _simple("item:Importance", "Importance", lambda i: i.fields.importance),
    _simple("item:IsSubmitted", "IsSubmitted", lambda i: False),
    _simple("item:IsDraft", "IsDraft", lambda i: False),
    _simple("item:IsFromMe", "IsFromMe", lambda i: False),
    _simple("item:IsResend", "IsResend", lambda i: False),
    _simple("item:IsUnmodified", "IsUnmodified", lambda i: False),
    _simple("item:DateTimeSent", "DateTimeSent", lambda i: i.created),
    _simple("item:DateTimeCreated", "DateTimeCreated", lambda i: i.created),
    _simple(
        "item:ReminderDueBy",
        "ReminderDueBy",
        lambda i: i.fields.start if isinstance(i, CalendarItem) else i.fields.reminder_due_by,
    ),
    _simple("item:ReminderIsSet", "ReminderIsSet", lambda i: i.fields.reminder_is_set),
    _simple(
        "item:ReminderMinutesBeforeStart",
        "ReminderMinutesBeforeStart",
        lambda i: i.fields.reminder_minutes_before_start if isinstance(i, CalendarItem) else 0,
    ),
    _simple(
        "item:DisplayCc",
        "DisplayCc",
        lambda i: (
            "; ".join(a.name or a.email for a in i.fields.optional_attendees)
            if isinstance(i, CalendarItem)
            else ""
        ),
    ),
    _simple(
        "item:DisplayTo",
        "DisplayTo",
        lambda i: (
            "; ".join(a.name or a.email for a in i.fields.required_attendees)
            if isinstance(i, CalendarItem)
            else ""
        ),
    ),
    _simple("item:HasAttachments", "HasAttachments", lambda i: False),
    _EXTENDED,
    _simple("item:Culture", "Culture", lambda i: "en-US"),
    _Rendered(
        "item:EffectiveRights",
        lambda i, s: build(
            t("EffectiveRights"),
            t("CreateAssociated", False),
            t("CreateContents", False),
            t("CreateHierarchy", False),
            t("Delete", True),
            t("Modify", True),
            t("Read", True),
            t("ViewPrivateItems", True),
        ),
    ),
    _simple(
        "item:LastModifiedName",
        "LastModifiedName",
        lambda i: i.organizer.name if isinstance(i, CalendarItem) else i.owner,
    ),
    _simple("item:LastModifiedTime", "LastModifiedTime", lambda i: i.last_modified),
    _simple("item:IsAssociated", "IsAssociated", lambda i: False),
    _Rendered(
        "item:TextBody",
        lambda i, s: _body(i.fields.body, "Text", "TextBody"),
        in_all=False,
    ),
)


def _is_part_of_series(item: CalendarItem) -> bool:
    return item.item_type in (CalendarItemType.OCCURRENCE, CalendarItemType.EXCEPTION)


def _if_master(value: Callable[[CalendarItem], Element | None]) -> Renderer:
    def render(item: CalendarItem, shape: Shape) -> Element | None:
        return value(item) if item.item_type is CalendarItemType.RECURRING_MASTER else None

    return render


_CALENDAR_TAIL: tuple[_Rendered, ...] = (
    _simple("calendar:UID", "UID", lambda i: i.uid),
    _simple(
        "calendar:RecurrenceId",
        "RecurrenceId",
        lambda i: i.original_start if _is_part_of_series(i) else None,
    ),
    _simple("calendar:DateTimeStamp", "DateTimeStamp", lambda i: i.created),
    _simple("calendar:Start", "Start", lambda i: i.fields.start, in_default=True),
    _simple("calendar:End", "End", lambda i: i.fields.end, in_default=True),
    _simple(
        "calendar:OriginalStart",
        "OriginalStart",
        lambda i: i.original_start if _is_part_of_series(i) else None,
    ),
    _simple("calendar:IsAllDayEvent", "IsAllDayEvent", lambda i: i.fields.is_all_day),
    _simple(
        "calendar:LegacyFreeBusyStatus",
        "LegacyFreeBusyStatus",
        lambda i: i.fields.legacy_free_busy_status,
        in_default=True,
    ),
    _simple("calendar:Location", "Location", lambda i: i.fields.location, in_default=True),
    _simple(
        "calendar:IsMeeting",
        "IsMeeting",
        lambda i: bool(i.fields.required_attendees or i.fields.optional_attendees),
    ),
    _simple("calendar:IsCancelled", "IsCancelled", lambda i: False),
    _simple("calendar:IsRecurring", "IsRecurring", _is_part_of_series),
    _simple("calendar:MeetingRequestWasSent", "MeetingRequestWasSent", lambda i: False),
    _simple("calendar:IsResponseRequested", "IsResponseRequested", lambda i: True),
    _simple(
        "calendar:CalendarItemType", "CalendarItemType", lambda i: i.item_type, in_default=True
    ),
    _simple("calendar:MyResponseType", "MyResponseType", lambda i: ResponseType.ORGANIZER),
    _Rendered(
        "calendar:Organizer",
        lambda i, s: build(t("Organizer"), _mailbox(i.organizer)),
        in_default=True,
    ),
    _Rendered(
        "calendar:RequiredAttendees",
        lambda i, s: _attendees("RequiredAttendees", i.fields.required_attendees),
        in_default=True,
    ),
    _Rendered(
        "calendar:OptionalAttendees",
        lambda i, s: _attendees("OptionalAttendees", i.fields.optional_attendees),
        in_default=True,
    ),
    _simple("calendar:ConflictingMeetingCount", "ConflictingMeetingCount", lambda i: 0),
    _simple("calendar:AdjacentMeetingCount", "AdjacentMeetingCount", lambda i: 0),
    _simple("calendar:Duration", "Duration", lambda i: format_duration(i.fields.duration)),
    _simple("calendar:TimeZone", "TimeZone", lambda i: _zone_name(i.fields.start_time_zone)),
    _simple("calendar:AppointmentSequenceNumber", "AppointmentSequenceNumber", lambda i: 0),
    _simple(
        "calendar:AppointmentState",
        "AppointmentState",
        lambda i: 1 if i.fields.required_attendees or i.fields.optional_attendees else 0,
    ),
    _Rendered(
        "calendar:Recurrence",
        _if_master(lambda i: recurrence_element(i.recurrence) if i.recurrence else None),
    ),
    _Rendered(
        "calendar:FirstOccurrence",
        _if_master(
            lambda i: (
                _occurrence_info("FirstOccurrence", i.first_occurrence)
                if i.first_occurrence
                else None
            )
        ),
    ),
    _Rendered(
        "calendar:LastOccurrence",
        _if_master(
            lambda i: (
                _occurrence_info("LastOccurrence", i.last_occurrence) if i.last_occurrence else None
            )
        ),
    ),
    _Rendered(
        "calendar:ModifiedOccurrences",
        _if_master(
            lambda i: (
                build(
                    t("ModifiedOccurrences"),
                    *(_occurrence_info("Occurrence", info) for info in i.modified_occurrences),
                )
                if i.modified_occurrences
                else None
            )
        ),
    ),
    _Rendered(
        "calendar:DeletedOccurrences",
        _if_master(
            lambda i: (
                build(
                    t("DeletedOccurrences"),
                    *(
                        build(t("DeletedOccurrence"), t("Start", start))
                        for start in i.deleted_occurrences
                    ),
                )
                if i.deleted_occurrences
                else None
            )
        ),
    ),
    _Rendered(
        "calendar:StartTimeZone", lambda i, s: _time_zone("StartTimeZone", i.fields.start_time_zone)
    ),
    _Rendered(
        "calendar:EndTimeZone", lambda i, s: _time_zone("EndTimeZone", i.fields.end_time_zone)
    ),
    _simple("calendar:ConferenceType", "ConferenceType", lambda i: 0),
    _simple("calendar:AllowNewTimeProposal", "AllowNewTimeProposal", lambda i: True),
    _simple("calendar:IsOnlineMeeting", "IsOnlineMeeting", lambda i: False),
    _simple(
        "calendar:StartTimeZoneId",
        "StartTimeZoneId",
        lambda i: i.fields.start_time_zone,
        in_all=False,
    ),
    _simple(
        "calendar:EndTimeZoneId", "EndTimeZoneId", lambda i: i.fields.end_time_zone, in_all=False
    ),
)

_STATUS_DESCRIPTIONS = {
    TaskStatus.NOT_STARTED: "Not Started",
    TaskStatus.IN_PROGRESS: "In Progress",
    TaskStatus.COMPLETED: "Completed",
    TaskStatus.WAITING_ON_OTHERS: "Waiting on someone else",
    TaskStatus.DEFERRED: "Deferred",
}

_TASK_TAIL: tuple[_Rendered, ...] = (
    _simple("task:CompleteDate", "CompleteDate", lambda i: i.fields.complete_date),
    _simple("task:DelegationState", "DelegationState", lambda i: "NoMatch"),
    _simple("task:DueDate", "DueDate", lambda i: i.fields.due_date, in_default=True),
    _simple("task:IsAssignmentEditable", "IsAssignmentEditable", lambda i: 0),
    _simple("task:IsComplete", "IsComplete", lambda i: i.is_complete),
    _simple("task:IsRecurring", "IsRecurring", lambda i: False),
    _simple("task:IsTeamTask", "IsTeamTask", lambda i: False),
    _simple("task:Owner", "Owner", lambda i: i.owner),
    _simple(
        "task:PercentComplete",
        "PercentComplete",
        lambda i: i.fields.percent_complete,
        in_default=True,
    ),
    _simple("task:StartDate", "StartDate", lambda i: i.fields.start_date),
    _simple("task:Status", "Status", lambda i: i.fields.status, in_default=True),
    _simple(
        "task:StatusDescription",
        "StatusDescription",
        lambda i: _STATUS_DESCRIPTIONS[i.fields.status],
    ),
)


def item_element(item: Item, shape: Shape) -> Element:
    """The t:CalendarItem or t:Task element for `item`, with the fields `shape` asks for."""
    is_calendar = isinstance(item, CalendarItem)
    elem = t("CalendarItem" if is_calendar else "Task")
    elem.append(item_id_element(item))
    for spec in _ITEM_HEAD + (_CALENDAR_TAIL if is_calendar else _TASK_TAIL):
        if spec is _EXTENDED:
            for key in shape.extended:
                value = item.extended_properties.get(key)
                if value is not None:
                    elem.append(_extended_property(key, value))
            continue
        if shape.wants(spec.uri, spec.in_default, spec.in_all):
            rendered = spec.render(item, shape)
            if rendered is not None:
                elem.append(rendered)
    return elem


def _extended_property(key: ExtendedPropertyKey, value: ExtendedValue) -> Element:
    if isinstance(value, tuple):
        content = build(t("Values"), *(t("Value", part) for part in value))
    else:
        content = t("Value", value)
    return build(t("ExtendedProperty"), extended_key_element(key), content)


def item_kind_tag(item: Item) -> str:
    return "CalendarItem" if isinstance(item, CalendarItem) else "Task"


# --- parsing ----------------------------------------------------------------------------------


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


def parse_recurrence(elem: Element, context: ParseContext | None = None) -> Recurrence:
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
    return Recurrence(pattern, rng)


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
_KNOWN_URIS = frozenset(spec.uri for spec in _WRITABLE) | frozenset(
    spec.uri for spec in _ITEM_HEAD + _CALENDAR_TAIL + _TASK_TAIL
)


def kind_of_element(elem: Element) -> ItemKind | None:
    name = local_name(elem)
    return {"CalendarItem": ItemKind.CALENDAR_ITEM, "Task": ItemKind.TASK}.get(name)


def _read_only(uri: str, kind: ItemKind) -> EwsError:
    if uri in _KNOWN_URIS:
        return EwsError(
            ResponseCode.INVALID_PROPERTY_SET,
            f"Set action is invalid for property {uri} on a {kind}.",
        )
    return EwsError(ResponseCode.INVALID_PROPERTY_SET, f"Unsupported property {uri}.")


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
