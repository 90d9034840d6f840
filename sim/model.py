"""The simulator's model of Exchange items: typed, immutable values with EWS semantics.

`CalendarFields` and `TaskFields` hold what a user (or EWS client) can write. The store wraps them
in snapshots — `CalendarItem`, `TaskItem` — that add what Exchange computes: ItemId and ChangeKey
(a new ChangeKey on every write), item type (Single, Occurrence, Exception, RecurringMaster),
creation and modification times, and for recurring masters the first/last occurrence and the
modified and deleted occurrences. All times are timezone-aware UTC; time zones of items and
series are Windows ids, as in EWS.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from sim.recurrence import EwsRecurrence


class DistinguishedFolder(StrEnum):
    """The distinguished folders every simulated mailbox has."""

    ROOT = "root"
    MSGFOLDERROOT = "msgfolderroot"
    CALENDAR = "calendar"
    TASKS = "tasks"
    INBOX = "inbox"
    SENT_ITEMS = "sentitems"
    DELETED_ITEMS = "deleteditems"


class FolderKind(StrEnum):
    """The EWS element a folder is returned as."""

    FOLDER = "Folder"
    CALENDAR = "CalendarFolder"
    TASKS = "TasksFolder"


class ItemKind(StrEnum):
    CALENDAR_ITEM = "CalendarItem"
    TASK = "Task"


class CalendarItemType(StrEnum):
    SINGLE = "Single"
    OCCURRENCE = "Occurrence"
    EXCEPTION = "Exception"
    RECURRING_MASTER = "RecurringMaster"


class BodyType(StrEnum):
    TEXT = "Text"
    HTML = "HTML"


class FreeBusyStatus(StrEnum):
    FREE = "Free"
    TENTATIVE = "Tentative"
    BUSY = "Busy"
    OOF = "OOF"
    WORKING_ELSEWHERE = "WorkingElsewhere"
    NO_DATA = "NoData"


class Sensitivity(StrEnum):
    NORMAL = "Normal"
    PERSONAL = "Personal"
    PRIVATE = "Private"
    CONFIDENTIAL = "Confidential"


class Importance(StrEnum):
    LOW = "Low"
    NORMAL = "Normal"
    HIGH = "High"


class ResponseType(StrEnum):
    UNKNOWN = "Unknown"
    ORGANIZER = "Organizer"
    TENTATIVE = "Tentative"
    ACCEPT = "Accept"
    DECLINE = "Decline"
    NO_RESPONSE_RECEIVED = "NoResponseReceived"


class TaskStatus(StrEnum):
    NOT_STARTED = "NotStarted"
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    WAITING_ON_OTHERS = "WaitingOnOthers"
    DEFERRED = "Deferred"


@dataclass(frozen=True)
class Body:
    text: str
    body_type: BodyType = BodyType.TEXT


@dataclass(frozen=True)
class EmailAddress:
    email: str
    name: str | None = None


@dataclass(frozen=True)
class Attendee:
    email: str
    name: str | None = None
    response_type: ResponseType = ResponseType.UNKNOWN
    last_response_time: datetime | None = None


DISTINGUISHED_PROPERTY_SETS = frozenset(
    {
        "Meeting",
        "Appointment",
        "Common",
        "PublicStrings",
        "Address",
        "InternetHeaders",
        "CalendarAssistant",
        "UnifiedMessaging",
        "Task",
        "Sharing",
    }
)
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


@dataclass(frozen=True)
class ExtendedPropertyKey:
    """Identifies a MAPI extended property as EWS does (t:ExtendedFieldURI).

    Valid combinations: (PropertySetId or DistinguishedPropertySetId) with (PropertyName or
    PropertyId), or PropertyTag alone; PropertyType always. GUIDs compare case-insensitively.
    """

    property_type: str
    property_set_id: str | None = None
    distinguished_property_set_id: str | None = None
    property_name: str | None = None
    property_id: int | None = None
    property_tag: int | None = None

    def __post_init__(self) -> None:
        if self.property_set_id is not None:
            if not _GUID.match(self.property_set_id):
                raise ValueError(f"PropertySetId {self.property_set_id!r} is not a GUID")
            object.__setattr__(self, "property_set_id", self.property_set_id.lower())
        if (
            self.distinguished_property_set_id is not None
            and self.distinguished_property_set_id not in DISTINGUISHED_PROPERTY_SETS
        ):
            raise ValueError(
                f"Unknown DistinguishedPropertySetId {self.distinguished_property_set_id}"
            )
        has_set = (self.property_set_id is None) != (self.distinguished_property_set_id is None)
        has_name = (self.property_name is None) != (self.property_id is None)
        by_tag = self.property_tag is not None
        no_set = self.property_set_id is None and self.distinguished_property_set_id is None
        no_name = self.property_name is None and self.property_id is None
        if not ((has_set and has_name and not by_tag) or (by_tag and no_set and no_name)):
            raise ValueError("invalid combination of extended property attributes")

    @property
    def is_array(self) -> bool:
        return self.property_type.endswith("Array")


ExtendedValue = str | tuple[str, ...]
ExtendedProperties = Mapping[ExtendedPropertyKey, ExtendedValue]
# Properties Exchange keeps without rules the simulator models (When, Mileage, ...): element name
# -> the t: element as EWS XML (see sim.properties).
OtherProperties = Mapping[str, str]


def _frozen_properties(values: Mapping[ExtendedPropertyKey, Any]) -> ExtendedProperties:
    frozen: dict[ExtendedPropertyKey, ExtendedValue] = {}
    for key, value in values.items():
        if not isinstance(key, ExtendedPropertyKey):
            raise TypeError(f"extended property keys must be ExtendedPropertyKey, not {key!r}")
        if key.is_array:
            if isinstance(value, str) or not all(isinstance(part, str) for part in value):
                raise TypeError(f"{key.property_type} needs a sequence of strings")
            frozen[key] = tuple(value)
        else:
            if not isinstance(value, str):
                raise TypeError(f"{key.property_type} value must be a string, as EWS sends it")
            frozen[key] = value
    return MappingProxyType(frozen)


def require_utc(value: datetime | None, name: str) -> datetime | None:
    """Normalise an aware datetime to UTC; naive ones are rejected (EWS times carry a zone)."""
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.astimezone(UTC)


@dataclass(frozen=True)
class CalendarFields:
    """What can be written on a calendar item (a single, a master, or one occurrence)."""

    start: datetime
    end: datetime
    subject: str = ""
    body: Body | None = None
    is_all_day: bool = False
    location: str | None = None
    legacy_free_busy_status: FreeBusyStatus = FreeBusyStatus.BUSY
    sensitivity: Sensitivity = Sensitivity.NORMAL
    importance: Importance = Importance.NORMAL
    reminder_is_set: bool = True
    reminder_minutes_before_start: int = 15
    categories: tuple[str, ...] = ()
    required_attendees: tuple[Attendee, ...] = ()
    optional_attendees: tuple[Attendee, ...] = ()
    start_time_zone: str = "UTC"
    end_time_zone: str = "UTC"
    extended_properties: ExtendedProperties = field(default_factory=dict)
    other_properties: OtherProperties = field(default_factory=dict)

    def __post_init__(self) -> None:
        _freeze_common(self)
        object.__setattr__(self, "start", require_utc(self.start, "start"))
        object.__setattr__(self, "end", require_utc(self.end, "end"))
        for name in ("required_attendees", "optional_attendees"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(
            self, "legacy_free_busy_status", FreeBusyStatus(self.legacy_free_busy_status)
        )

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


@dataclass(frozen=True)
class TaskFields:
    """What can be written on a task."""

    subject: str = ""
    body: Body | None = None
    start_date: datetime | None = None
    due_date: datetime | None = None
    status: TaskStatus = TaskStatus.NOT_STARTED
    percent_complete: float = 0.0
    importance: Importance = Importance.NORMAL
    sensitivity: Sensitivity = Sensitivity.NORMAL
    reminder_is_set: bool = False
    reminder_due_by: datetime | None = None
    complete_date: datetime | None = None
    categories: tuple[str, ...] = ()
    extended_properties: ExtendedProperties = field(default_factory=dict)
    other_properties: OtherProperties = field(default_factory=dict)

    def __post_init__(self) -> None:
        _freeze_common(self)
        for name in ("start_date", "due_date", "reminder_due_by", "complete_date"):
            object.__setattr__(self, name, require_utc(getattr(self, name), name))
        object.__setattr__(self, "status", TaskStatus(self.status))
        if not 0 <= self.percent_complete <= 100:
            raise ValueError("percent_complete must be between 0 and 100")


# Exchange cuts a longer Subject to this many characters without an error.
SUBJECT_MAX_LENGTH = 255


def _freeze_common(fields: CalendarFields | TaskFields) -> None:
    object.__setattr__(fields, "subject", fields.subject[:SUBJECT_MAX_LENGTH])
    object.__setattr__(fields, "categories", tuple(fields.categories))
    object.__setattr__(fields, "other_properties", MappingProxyType(dict(fields.other_properties)))
    object.__setattr__(fields, "importance", Importance(fields.importance))
    object.__setattr__(fields, "sensitivity", Sensitivity(fields.sensitivity))
    object.__setattr__(
        fields, "extended_properties", _frozen_properties(fields.extended_properties)
    )


CALENDAR_FIELD_NAMES = frozenset(f.name for f in dataclasses.fields(CalendarFields))
TASK_FIELD_NAMES = frozenset(f.name for f in dataclasses.fields(TaskFields))


@dataclass(frozen=True)
class OccurrenceInfo:
    """One entry of FirstOccurrence/LastOccurrence/ModifiedOccurrences on a master."""

    item_id: str
    change_key: str
    start: datetime
    end: datetime
    original_start: datetime


@dataclass(frozen=True)
class FolderInfo:
    folder_id: str
    change_key: str
    mailbox: str
    display_name: str
    kind: FolderKind
    folder_class: str | None
    parent_id: str | None
    distinguished: DistinguishedFolder | None
    child_folder_count: int
    total_count: int


@dataclass(frozen=True)
class CalendarItem:
    """A snapshot of a calendar item as EWS would return it."""

    item_id: str
    change_key: str
    mailbox: str
    folder_id: str
    item_type: CalendarItemType
    fields: CalendarFields
    uid: str
    created: datetime
    last_modified: datetime
    organizer: EmailAddress
    original_start: datetime | None = None
    master_id: str | None = None
    recurrence: EwsRecurrence | None = None
    first_occurrence: OccurrenceInfo | None = None
    last_occurrence: OccurrenceInfo | None = None
    modified_occurrences: tuple[OccurrenceInfo, ...] = ()
    deleted_occurrences: tuple[datetime, ...] = ()

    @property
    def subject(self) -> str:
        return self.fields.subject

    @property
    def start(self) -> datetime:
        return self.fields.start

    @property
    def end(self) -> datetime:
        return self.fields.end

    @property
    def extended_properties(self) -> ExtendedProperties:
        return self.fields.extended_properties


@dataclass(frozen=True)
class TaskItem:
    """A snapshot of a task as EWS would return it."""

    item_id: str
    change_key: str
    mailbox: str
    folder_id: str
    fields: TaskFields
    created: datetime
    last_modified: datetime
    owner: str

    @property
    def subject(self) -> str:
        return self.fields.subject

    @property
    def is_complete(self) -> bool:
        return self.fields.status is TaskStatus.COMPLETED

    @property
    def extended_properties(self) -> ExtendedProperties:
        return self.fields.extended_properties


Item = CalendarItem | TaskItem


def new_uid() -> str:
    """An iCalendar UID in the shape Exchange generates (hex of a global object id)."""
    return "040000008200E00074C5B7101A82E00800000000" + uuid.uuid4().hex.upper()
