"""The domain model: users, appointments and tasks as both sides must agree on them.

Snapshots are normalised on construction (UTC times to the second, sorted collections, one line
ending, series start on its first occurrence) so that equal content has equal hashes, whichever
side it was read from. Anything that cannot be normalised raises a typed `InvalidItem`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any, Literal, Self, TypeVar, cast
from weakref import WeakValueDictionary
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from engine.errors import (
    EndBeforeStart,
    InfoTextTooLarge,
    InvalidField,
    InvalidItem,
    InvalidRecurrence,
    InvalidText,
    UnknownTimeZone,
)
from engine.recurrence import Recurrence, local_occurrence_starts

# Bigger info texts are pasted blobs, not notes; each observation stores the snapshot.
MAX_INFO_TEXT_BYTES = 1_048_576
# Exchange (XML 1.0) cannot carry C0 controls other than tab, line feed and carriage return.
_FORBIDDEN_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff\ud800-\udfff]")


class Side(StrEnum):
    ERP = "erp"
    EXCHANGE = "exchange"

    @property
    def other(self) -> Side:
        return Side.EXCHANGE if self is Side.ERP else Side.ERP


class ItemKind(StrEnum):
    APPOINTMENT = "appointment"
    TASK = "task"


class BusyStatus(StrEnum):
    FREE = "free"
    TENTATIVE = "tentative"
    BUSY = "busy"
    OUT_OF_OFFICE = "out_of_office"
    WORKING_ELSEWHERE = "working_elsewhere"


class TaskStatus(StrEnum):
    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    WAITING_ON_OTHERS = "waiting_on_others"
    DEFERRED = "deferred"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"


class ResponseStatus(StrEnum):
    UNKNOWN = "unknown"
    ORGANIZER = "organizer"
    TENTATIVE = "tentative"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    NO_RESPONSE = "no_response"


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def check_text(value: str, field: str) -> str:
    match = _FORBIDDEN_CHARS.search(value)
    if match is not None:
        raise InvalidText(
            f"{field} contains the control character U+{ord(match.group()):04X} "
            f"at position {match.start()}, which Exchange cannot store",
            field=field,
        )
    return value


def utc_second(value: datetime, field: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidField(f"{field} {value.isoformat()} has no time zone", field=field)
    return value.astimezone(UTC).replace(microsecond=0)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise UnknownTimeZone(f"unknown time zone {name!r}", field="time_zone") from None


class User(Frozen):
    """An ERP user and what the ERP says about syncing them (R8)."""

    login: str
    short_name: str = ""
    mailbox: str | None = None
    mailbox_shared: bool = False  # the stored mailbox is a shared (team) mailbox, not the user's
    outlook_account: str | None = None
    allow_sync: bool = False
    locked: bool = False
    valid_from: date | None = None
    valid_until: date | None = None
    unreadable: str | None = None  # why the ERP's row could not be read: not synchronised


class Participant(Frozen):
    email: str
    name: str = ""
    required: bool = True
    response: ResponseStatus = ResponseStatus.UNKNOWN

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()


class ModifiedOccurrence(Frozen):
    """One occurrence of a series that deviates from it, keyed by its original start (R2)."""

    original_start: datetime
    start: datetime
    end: datetime
    subject: str
    location: str = ""
    busy_status: BusyStatus = BusyStatus.BUSY

    @field_validator("original_start", "start", "end")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return utc_second(value, "occurrence time")

    @field_validator("subject", "location")
    @classmethod
    def _text(cls, value: str) -> str:
        return check_text(value.strip(), "occurrence subject/location")

    @model_validator(mode="after")
    def _order(self) -> ModifiedOccurrence:
        if self.end < self.start:
            raise EndBeforeStart(
                f"occurrence of {self.original_start.isoformat()} ends before it starts",
                field="modified_occurrences",
            )
        return self


class Snapshot(Frozen):
    """Common behaviour of appointment and task snapshots."""

    subject: str
    info_text: str = ""

    @field_validator("subject")
    @classmethod
    def _subject(cls, value: str) -> str:
        return check_text(value.strip(), "subject")

    @field_validator("info_text")
    @classmethod
    def _info_text(cls, value: str) -> str:
        size = len(value.encode("utf-8", "surrogatepass"))
        if size > MAX_INFO_TEXT_BYTES:
            raise InfoTextTooLarge(
                f"info text is {size:,} bytes; at most {MAX_INFO_TEXT_BYTES:,} are synchronised",
                field="info_text",
            )
        return check_text(value.replace("\r\n", "\n").replace("\r", "\n"), "info_text")

    def replace(self, **changes: Any) -> Self:
        """A copy with some fields changed (values already valid); cached hashes start afresh."""
        copy = self.model_copy(update=changes)
        for name in ("_fields", "content_hash", "sync_hash"):
            copy.__dict__.pop(name, None)
        return copy

    def fields(self) -> dict[str, Any]:
        """Field name → JSON-ready value, the unit of the three-way merge."""
        return self._fields

    @cached_property
    def _fields(self) -> dict[str, Any]:
        data: dict[str, Any] = self.model_dump(mode="json", exclude={"kind"})
        return data

    @cached_property
    def content_hash(self) -> str:
        """Hash of everything, info text included."""
        return _hash(self.fields())

    @cached_property
    def sync_hash(self) -> str:
        """Hash of what must agree on both sides: everything but the info text (R6)."""
        return _hash({k: v for k, v in self.fields().items() if k != "info_text"})


_kept: WeakValueDictionary[tuple[type[Snapshot], str], Snapshot] = WeakValueDictionary()


def interned(snapshot: Appointment | Task | None) -> Appointment | Task | None:
    """The one copy of this content to keep in a long-lived state: equal snapshots — both sides
    and the agreed base of an item in sync, above all after a reload, when each comes from an
    event of its own — share it. Its hashes stay; its field dump, needed only while deciding,
    is dropped (and made again when asked for)."""
    if snapshot is None:
        return None
    key = (type(snapshot), snapshot.content_hash)
    snapshot.sync_hash  # noqa: B018 (both hashes computed from the dump before it goes)
    kept = _kept.setdefault(key, snapshot)
    kept.__dict__.pop("_fields", None)
    snapshot.__dict__.pop("_fields", None)
    return cast("Appointment | Task", kept)


def _hash(value: Any) -> str:
    return hashlib.blake2b(
        orjson.dumps(value, option=orjson.OPT_SORT_KEYS), digest_size=16
    ).hexdigest()


class Appointment(Snapshot):
    kind: Literal["appointment"] = "appointment"
    start: datetime
    end: datetime
    all_day: bool = False
    location: str = ""
    busy_status: BusyStatus = BusyStatus.BUSY
    private: bool = False
    reminder_minutes: int | None = None
    time_zone: str = "Europe/Berlin"
    recurrence: Recurrence | None = None
    modified_occurrences: tuple[ModifiedOccurrence, ...] = ()
    deleted_occurrences: tuple[datetime, ...] = ()
    participants: tuple[Participant, ...] = ()

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return utc_second(value, "start/end")

    @field_validator("location")
    @classmethod
    def _location(cls, value: str) -> str:
        return check_text(value.strip(), "location")

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        zone(value)
        return value

    @field_validator("reminder_minutes")
    @classmethod
    def _reminder(cls, value: int | None) -> int | None:
        if value is not None and not 0 <= value <= 525_600:
            raise InvalidField(
                f"reminder of {value} minutes is outside 0..525600", field="reminder_minutes"
            )
        return value

    @field_validator("deleted_occurrences")
    @classmethod
    def _deleted(cls, value: tuple[datetime, ...]) -> tuple[datetime, ...]:
        return tuple(sorted({utc_second(v, "deleted occurrence") for v in value}))

    @field_validator("modified_occurrences")
    @classmethod
    def _modified(cls, value: tuple[ModifiedOccurrence, ...]) -> tuple[ModifiedOccurrence, ...]:
        return tuple(sorted(value, key=lambda o: o.original_start))

    @field_validator("participants")
    @classmethod
    def _participants(cls, value: tuple[Participant, ...]) -> tuple[Participant, ...]:
        return tuple(sorted({p.email: p for p in value}.values(), key=lambda p: p.email))

    @model_validator(mode="after")
    def _consistent(self) -> Appointment:
        if self.recurrence is not None:
            self._start_on_first_occurrence(self.recurrence)
        if self.end < self.start:
            raise EndBeforeStart(
                f"ends {self.end.isoformat()} before it starts {self.start.isoformat()}",
                field="end",
            )
        if self.all_day:
            tz = zone(self.time_zone)
            for name, value in (("start", self.start), ("end", self.end)):
                if value.astimezone(tz).time() != time(0):
                    raise InvalidField(
                        f"all-day {name} is not at midnight in {self.time_zone}", field=name
                    )
            if self.end == self.start:
                raise EndBeforeStart("an all-day appointment lasts at least one day", field="end")
        if self.recurrence is None:
            if self.modified_occurrences or self.deleted_occurrences:
                raise InvalidRecurrence("occurrence exceptions on an item that is not a series")
            return self
        starts = {o.original_start for o in self.modified_occurrences}
        if len(starts) != len(self.modified_occurrences):
            raise InvalidRecurrence("two modified occurrences share an original start")
        if starts & set(self.deleted_occurrences):
            raise InvalidRecurrence("an occurrence is both modified and deleted")
        # Exceptions off the pattern (left over from a pattern change) are dropped by decide,
        # with a log entry, rather than making the whole series invalid (R2).
        regular = tuple(o for o in self.modified_occurrences if not self._is_regular(o))
        if len(regular) != len(self.modified_occurrences):
            # An occurrence edited back to the series' values is no exception (Exchange keeps it).
            object.__setattr__(self, "modified_occurrences", regular)
        return self

    def _start_on_first_occurrence(self, recurrence: Recurrence) -> None:
        """A series starts on its first occurrence, as Exchange shows it (and Outlook saves it)."""
        tz = zone(self.time_zone)
        local = self.start.astimezone(tz).replace(tzinfo=None)
        first = next(local_occurrence_starts(recurrence, local), None)
        if first is None:
            raise InvalidRecurrence("the series has no occurrence", field="recurrence")
        if first != local:
            shift = (
                first.replace(tzinfo=tz).astimezone(UTC) - self.start
            )  # in UTC: no wall-clock drift
            object.__setattr__(self, "start", self.start + shift)
            object.__setattr__(self, "end", self.end + shift)

    def _is_regular(self, occurrence: ModifiedOccurrence) -> bool:
        return (
            occurrence.start == occurrence.original_start
            and occurrence.end == occurrence.original_start + (self.end - self.start)
            and occurrence.subject == self.subject
            and occurrence.location == self.location
            and occurrence.busy_status == self.busy_status
        )

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def occurrence_starts(self, *, until: date | None = None) -> list[datetime]:
        """UTC original starts of the series' occurrences (through `until`, local date)."""
        if self.recurrence is None:
            return [self.start]
        tz = zone(self.time_zone)
        first = self.start.astimezone(tz).replace(tzinfo=None)
        return [
            local.replace(tzinfo=tz).astimezone(UTC)
            for local in local_occurrence_starts(self.recurrence, first, until=until)
        ]


class Task(Snapshot):
    kind: Literal["task"] = "task"
    start: date | None = None
    due: date | None = None
    status: TaskStatus = TaskStatus.NOT_STARTED
    percent_complete: int = 0
    priority: Priority = Priority.NORMAL
    reminder_at: datetime | None = None
    completed_at: datetime | None = None

    @field_validator("reminder_at", "completed_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else utc_second(value, "task time")

    @field_validator("percent_complete")
    @classmethod
    def _percent(cls, value: int) -> int:
        if not 0 <= value <= 100:
            raise InvalidField(
                f"percent complete {value} is outside 0..100", field="percent_complete"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Task:
        if self.start is not None and self.due is not None and self.due < self.start:
            raise EndBeforeStart(f"due {self.due} before start {self.start}", field="due")
        return self


ItemSnapshot = Annotated[Appointment | Task, Field(discriminator="kind")]

S = TypeVar("S", Appointment, Task)


def build(cls: type[S], data: Mapping[str, Any]) -> S:
    """Construct a snapshot from native data, raising the typed error behind any failure."""
    try:
        return cls.model_validate(dict(data))
    except ValidationError as exc:
        raise typed_error(exc) from None


def typed_error(exc: ValidationError) -> InvalidItem:
    for error in exc.errors():
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, InvalidItem):
            return cause
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return InvalidField(
        f"{where or 'item'}: {first.get('msg', 'invalid value')}", field=where or None
    )
