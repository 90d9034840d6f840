"""Items as EWS XML: t:CalendarItem and t:Task elements in the shape a request asks for.

Serialising follows the element order of CalendarItemType/TaskType in types.xsd and returns the
fields a response shape asks for (IdOnly/Default/AllProperties plus AdditionalProperties, with
extended properties only when named). Parsing requests is `sim.itemparse`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sim.envelope import Element, build, format_duration, t
from sim.model import (
    Attendee,
    Body,
    BodyType,
    CalendarItem,
    CalendarItemType,
    EmailAddress,
    ExtendedPropertyKey,
    ExtendedValue,
    Item,
    OccurrenceInfo,
    ResponseType,
    TaskStatus,
)
from sim.recurrence import (
    MONTH_NAMES,
    AbsoluteMonthlyPattern,
    AbsoluteYearlyPattern,
    EndDateRange,
    EwsRecurrence,
    NumberedRange,
    RelativeMonthlyPattern,
    RelativeYearlyPattern,
    WeeklyPattern,
)
from sim.shapes import Shape, extended_key_element
from sim.timezones import UnknownTimeZone, windows_zone


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


def recurrence_element(recurrence: EwsRecurrence, tag: str = "Recurrence") -> Element:
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
        t("ItemId", Id=info.item_id, ChangeKey=info.change_key),
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
