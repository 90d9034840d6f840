"""The properties of calendar items and tasks: their order in the schema, and what a client may set.

`ITEM_ELEMENTS`, `CALENDAR_ELEMENTS` and `TASK_ELEMENTS` are the element sequences of ItemType,
CalendarItemType and TaskType in types.xsd (tests/sim/test_properties.py checks them against the
schema); responses follow this order. Every element is one of:

- modelled: a typed field of the store (`CalendarFields`/`TaskFields`, the UID, the recurrence)
  with Exchange's semantics — see `sim.itemparse`;
- stored: a property Exchange keeps for the client without rules the simulator needs (When,
  Culture, Mileage, ActualWork, a task's Recurrence, ...): its value is checked against its type,
  kept as the client sent it and returned as stored (`other_properties` of the fields);
- read-only: computed by Exchange (ItemId, IsMeeting, Organizer, ...). Setting it, on create or
  update, is ErrorInvalidPropertySet, as in Exchange;
- unsupported: settable in Exchange but not simulated (attachments, MIME upload, messaging and
  social properties): refused with ErrorInvalidPropertySet, never accepted and dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sim.model import ItemKind

ITEM_ELEMENTS: tuple[str, ...] = (
    "MimeContent", "ItemId", "ParentFolderId", "ItemClass", "Subject", "Sensitivity", "Body",
    "Attachments", "DateTimeReceived", "Size", "Categories", "Importance", "InReplyTo",
    "IsSubmitted", "IsDraft", "IsFromMe", "IsResend", "IsUnmodified", "InternetMessageHeaders",
    "DateTimeSent", "DateTimeCreated", "ResponseObjects", "ReminderDueBy", "ReminderIsSet",
    "ReminderNextTime", "ReminderMinutesBeforeStart", "DisplayCc", "DisplayTo", "DisplayBcc",
    "HasAttachments", "ExtendedProperty", "Culture", "EffectiveRights", "LastModifiedName",
    "LastModifiedTime", "IsAssociated", "WebClientReadFormQueryString",
    "WebClientEditFormQueryString", "ConversationId", "UniqueBody", "Flag", "StoreEntryId",
    "InstanceKey", "NormalizedBody", "EntityExtractionResult", "PolicyTag", "ArchiveTag",
    "RetentionDate", "Preview", "RightsManagementLicenseData", "PredictedActionReasons",
    "IsClutter", "BlockStatus", "HasBlockedImages", "TextBody", "IconIndex", "SearchKey",
    "SortKey", "Hashtags", "Mentions", "MentionedMe", "MentionsPreview", "MentionsEx",
    "AppliedHashtags", "AppliedHashtagsPreview", "Likes", "LikesPreview",
    "PendingSocialActivityTagIds", "AtAllMention", "CanDelete", "InferenceClassification",
)  # fmt: skip

CALENDAR_ELEMENTS: tuple[str, ...] = (
    "UID", "RecurrenceId", "DateTimeStamp", "Start", "End", "OriginalStart", "IsAllDayEvent",
    "LegacyFreeBusyStatus", "Location", "When", "IsMeeting", "IsCancelled", "IsRecurring",
    "MeetingRequestWasSent", "IsResponseRequested", "CalendarItemType", "MyResponseType",
    "Organizer", "RequiredAttendees", "OptionalAttendees", "Resources", "InboxReminders",
    "ConflictingMeetingCount", "AdjacentMeetingCount", "ConflictingMeetings", "AdjacentMeetings",
    "Duration", "TimeZone", "AppointmentReplyTime", "AppointmentSequenceNumber",
    "AppointmentState", "Recurrence", "FirstOccurrence", "LastOccurrence", "ModifiedOccurrences",
    "DeletedOccurrences", "MeetingTimeZone", "StartTimeZone", "EndTimeZone", "ConferenceType",
    "AllowNewTimeProposal", "IsOnlineMeeting", "MeetingWorkspaceUrl", "NetShowUrl",
    "EnhancedLocation", "StartWallClock", "EndWallClock", "StartTimeZoneId", "EndTimeZoneId",
    "IntendedFreeBusyStatus", "JoinOnlineMeetingUrl", "OnlineMeetingSettings", "IsOrganizer",
    "CalendarActivityData",
)  # fmt: skip

TASK_ELEMENTS: tuple[str, ...] = (
    "ActualWork", "AssignedTime", "BillingInformation", "ChangeCount", "Companies",
    "CompleteDate", "Contacts", "DelegationState", "Delegator", "DueDate", "IsAssignmentEditable",
    "IsComplete", "IsRecurring", "IsTeamTask", "Mileage", "Owner", "PercentComplete",
    "Recurrence", "StartDate", "Status", "StatusDescription", "TotalWork",
)  # fmt: skip


class Access(StrEnum):
    MODELLED = "modelled"
    STORED = "stored"
    READ_ONLY = "read-only"
    UNSUPPORTED = "unsupported"


class ValueKind(StrEnum):
    """How a stored property's value is checked (its schema type)."""

    TEXT = "text"
    INT = "int"
    BOOLEAN = "boolean"
    DATETIME = "datetime"  # normalised to UTC, as Exchange returns times
    STRINGS = "strings"  # ArrayOfStringsType
    ELEMENT = "element"  # a complex type, kept as sent


@dataclass(frozen=True)
class Property:
    element: str
    kind: ItemKind
    access: Access
    value: ValueKind = ValueKind.TEXT

    @property
    def uri(self) -> str:
        return field_uri(self.element, self.kind)


_MODELLED_ITEM = {
    "Subject", "Sensitivity", "Body", "Categories", "Importance", "ReminderIsSet", "ExtendedProperty"
}  # fmt: skip
_MODELLED = {
    ItemKind.CALENDAR_ITEM: _MODELLED_ITEM
    | {"ReminderMinutesBeforeStart", "UID", "Start", "End", "IsAllDayEvent",
       "LegacyFreeBusyStatus", "Location", "RequiredAttendees", "OptionalAttendees", "Recurrence",
       "MeetingTimeZone", "StartTimeZone", "EndTimeZone"},
    ItemKind.TASK: _MODELLED_ITEM
    | {"ReminderDueBy", "CompleteDate", "DueDate", "PercentComplete", "StartDate", "Status"},
}  # fmt: skip

_STORED_ITEM = {
    "InReplyTo": ValueKind.TEXT,
    "ReminderNextTime": ValueKind.DATETIME,
    "Culture": ValueKind.TEXT,
    "Flag": ValueKind.ELEMENT,
    "PolicyTag": ValueKind.ELEMENT,
    "ArchiveTag": ValueKind.ELEMENT,
    "RetentionDate": ValueKind.DATETIME,
}
_STORED: dict[ItemKind, dict[str, ValueKind]] = {
    ItemKind.CALENDAR_ITEM: _STORED_ITEM
    | {
        # ReminderDueBy of an appointment: Exchange returns the start unless a client set it.
        "ReminderDueBy": ValueKind.DATETIME,
        "When": ValueKind.TEXT,
        "IsResponseRequested": ValueKind.BOOLEAN,
        "Resources": ValueKind.ELEMENT,
        "InboxReminders": ValueKind.ELEMENT,
        "ConferenceType": ValueKind.INT,
        "AllowNewTimeProposal": ValueKind.BOOLEAN,
        "MeetingWorkspaceUrl": ValueKind.TEXT,
        "NetShowUrl": ValueKind.TEXT,
        "EnhancedLocation": ValueKind.ELEMENT,
        "IntendedFreeBusyStatus": ValueKind.TEXT,
        "JoinOnlineMeetingUrl": ValueKind.TEXT,
        "OnlineMeetingSettings": ValueKind.ELEMENT,
    },
    ItemKind.TASK: _STORED_ITEM
    | {
        "ReminderMinutesBeforeStart": ValueKind.INT,
        "ActualWork": ValueKind.INT,
        "BillingInformation": ValueKind.TEXT,
        "Companies": ValueKind.STRINGS,
        "Contacts": ValueKind.STRINGS,
        "Mileage": ValueKind.TEXT,
        # Kept and returned (IsRecurring follows it); regenerating on completion is not simulated.
        "Recurrence": ValueKind.ELEMENT,
        "TotalWork": ValueKind.INT,
    },
}

# Settable in Exchange, not simulated.
_UNSUPPORTED = {
    "MimeContent", "Attachments", "ItemClass", "Hashtags", "Mentions",
    "MentionsEx", "AppliedHashtags", "Likes", "PendingSocialActivityTagIds", "IconIndex",
    "InferenceClassification", "IsClutter", "StartWallClock", "EndWallClock", "StartTimeZoneId",
    "EndTimeZoneId",
}  # fmt: skip


def _classify(element: str, kind: ItemKind) -> Property:
    if element in _MODELLED[kind]:
        return Property(element, kind, Access.MODELLED)
    if element in _STORED[kind]:
        return Property(element, kind, Access.STORED, _STORED[kind][element])
    if element in _UNSUPPORTED:
        return Property(element, kind, Access.UNSUPPORTED)
    return Property(element, kind, Access.READ_ONLY)


def elements(kind: ItemKind) -> tuple[str, ...]:
    """The element sequence of a t:CalendarItem or t:Task, in schema order."""
    return ITEM_ELEMENTS + (CALENDAR_ELEMENTS if kind is ItemKind.CALENDAR_ITEM else TASK_ELEMENTS)


def field_uri(element: str, kind: ItemKind) -> str:
    if element in ITEM_ELEMENTS:
        return f"item:{element}"
    return f"{'calendar' if kind is ItemKind.CALENDAR_ITEM else 'task'}:{element}"


PROPERTIES: dict[ItemKind, dict[str, Property]] = {
    kind: {element: _classify(element, kind) for element in elements(kind)} for kind in ItemKind
}
_BY_URI: dict[tuple[str, ItemKind], Property] = {
    (prop.uri, kind): prop for kind, props in PROPERTIES.items() for prop in props.values()
}


def by_element(element: str, kind: ItemKind) -> Property | None:
    return PROPERTIES[kind].get(element)


def by_uri(uri: str, kind: ItemKind) -> Property | None:
    return _BY_URI.get((uri, kind))


# How values compare in restrictions and sort orders, by their type in types.xsd (checked by
# tests/sim/test_properties.py): elements not listed here hold text (strings, enumerations,
# bodies); structured ones (attendees, recurrences, ids, ...) cannot be compared.
BOOLEAN_ELEMENTS = frozenset({
    "IsSubmitted", "IsDraft", "IsFromMe", "IsResend", "IsUnmodified", "ReminderIsSet",
    "HasAttachments", "IsAssociated", "IsClutter", "BlockStatus", "HasBlockedImages",
    "MentionedMe", "AtAllMention", "CanDelete", "IsAllDayEvent", "IsMeeting", "IsCancelled",
    "IsRecurring", "MeetingRequestWasSent", "IsResponseRequested", "AllowNewTimeProposal",
    "IsOnlineMeeting", "IsOrganizer", "IsComplete", "IsTeamTask",
})  # fmt: skip
DATETIME_ELEMENTS = frozenset({
    "DateTimeReceived", "DateTimeSent", "DateTimeCreated", "ReminderDueBy", "ReminderNextTime",
    "LastModifiedTime", "RetentionDate", "RecurrenceId", "DateTimeStamp", "Start", "End",
    "OriginalStart", "AppointmentReplyTime", "StartWallClock", "EndWallClock", "AssignedTime",
    "CompleteDate", "DueDate", "StartDate",
})  # fmt: skip
NUMBER_ELEMENTS = frozenset({
    "Size", "ConflictingMeetingCount", "AdjacentMeetingCount", "AppointmentSequenceNumber",
    "AppointmentState", "ConferenceType", "ActualWork", "ChangeCount", "IsAssignmentEditable",
    "TotalWork", "PercentComplete", "SortKey", "ReminderMinutesBeforeStart",
})  # fmt: skip
STRING_ARRAY_ELEMENTS = frozenset(
    {"Categories", "Hashtags", "PendingSocialActivityTagIds", "Companies", "Contacts"}
)
STRUCTURED_ELEMENTS = frozenset({
    "ItemId", "ParentFolderId", "Attachments", "InternetMessageHeaders", "ResponseObjects",
    "ExtendedProperty", "EffectiveRights", "ConversationId", "Flag", "EntityExtractionResult",
    "RightsManagementLicenseData", "PredictedActionReasons",
    "Mentions", "MentionsPreview", "MentionsEx", "AppliedHashtags", "AppliedHashtagsPreview",
    "Likes", "LikesPreview", "Organizer", "RequiredAttendees", "OptionalAttendees", "Resources",
    "InboxReminders", "ConflictingMeetings", "AdjacentMeetings", "Recurrence", "FirstOccurrence",
    "LastOccurrence", "ModifiedOccurrences", "DeletedOccurrences", "MeetingTimeZone",
    "StartTimeZone", "EndTimeZone", "EnhancedLocation", "OnlineMeetingSettings",
    "CalendarActivityData",
})  # fmt: skip
