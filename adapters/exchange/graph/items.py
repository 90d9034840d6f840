"""Graph event / todoTask JSON ⇄ our snapshots (`engine.model` Appointment, Task).

Events are read with `Prefer: outlook.timezone="UTC"`: times come as UTC wall clock, except
all-day bounds, which are the event's local dates (floating, G11) and are placed at midnight in
the event's own zone. The zone is `originalStartTimeZone` (a Windows id, or IANA), refined by the
IANA zone we wrote beside the sync id (the same extended properties as EWS, one property set:
`adapters.exchange.ews.properties`, so one mailbox seen over both protocols has one sync id).
Exceptions come from the master's `exceptionOccurrences`, cancelled occurrences from its
`cancelledOccurrences` (`OID.<master>.<local date>`). Tasks are To Do tasks: title, body, status,
importance, start/due dates, reminder, completion time; To Do has no percentComplete
(assumption GA2: completed reads as 100, any other status as 0 — a percentage set over EWS is
not visible over Graph). A task's sync id is a `linkedResource` (applicationName "einklang",
externalId = stream id): To Do tasks take no extended properties in v1.0.
Anything our model cannot take raises the typed `InvalidItem` (parked with its reason, R18).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

from adapters.exchange.ews.properties import PROPERTY_SET_ID
from adapters.exchange.graph.recurrence import from_graph, to_graph
from adapters.exchange.timezones import iana_zone, windows_zone
from engine.errors import InvalidField
from engine.infotext import as_body
from engine.model import (
    Appointment,
    BusyStatus,
    ModifiedOccurrence,
    Priority,
    ResponseStatus,
    Task,
    TaskStatus,
    build,
)

SYNC_ID_PROPERTY: Final = f"String {{{PROPERTY_SET_ID}}} Name EinklangSyncId"
ZONE_PROPERTY: Final = f"String {{{PROPERTY_SET_ID}}} Name EinklangTimeZone"
EXPAND_PROPERTIES: Final = (
    f"singleValueExtendedProperties($filter=id eq '{SYNC_ID_PROPERTY}' or id eq '{ZONE_PROPERTY}')"
)
APP_NAME: Final = "einklang"
UTC_PREFER: Final = {"Prefer": 'outlook.timezone="UTC"'}

_SHOW_AS = {
    BusyStatus.FREE: "free",
    BusyStatus.TENTATIVE: "tentative",
    BusyStatus.BUSY: "busy",
    BusyStatus.OUT_OF_OFFICE: "oof",
    BusyStatus.WORKING_ELSEWHERE: "workingElsewhere",
}
_BUSY = {v: k for k, v in _SHOW_AS.items()}
_RESPONSE = {
    ResponseStatus.UNKNOWN: "none",
    ResponseStatus.ORGANIZER: "organizer",
    ResponseStatus.TENTATIVE: "tentativelyAccepted",
    ResponseStatus.ACCEPTED: "accepted",
    ResponseStatus.DECLINED: "declined",
    ResponseStatus.NO_RESPONSE: "notResponded",
}
_RESPONSE_STATUS = {v: k for k, v in _RESPONSE.items()}
_TASK_STATUS = {
    TaskStatus.NOT_STARTED: "notStarted",
    TaskStatus.IN_PROGRESS: "inProgress",
    TaskStatus.COMPLETED: "completed",
    TaskStatus.WAITING_ON_OTHERS: "waitingOnOthers",
    TaskStatus.DEFERRED: "deferred",
}
_STATUS = {v: k for k, v in _TASK_STATUS.items()}
_IMPORTANCE = {Priority.LOW: "low", Priority.NORMAL: "normal", Priority.HIGH: "high"}
_PRIORITY = {v: k for k, v in _IMPORTANCE.items()}


# ---- ours as Graph JSON ----------------------------------------------------------------------


def local(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).replace(tzinfo=None).isoformat(timespec="seconds")


def _dtz(moment: datetime, zone: str) -> dict[str, str]:
    return {"dateTime": local(moment, zone), "timeZone": windows_zone(zone)}


def event_body(a: Appointment) -> dict[str, Any]:
    """Every field we sync of an appointment (no body: `with_body`), as Graph event JSON."""
    first = a.start.astimezone(ZoneInfo(a.time_zone)).date()
    body: dict[str, Any] = {
        "subject": a.subject,
        "start": _dtz(a.start, a.time_zone),
        "end": _dtz(a.end, a.time_zone),
        "isAllDay": a.all_day,
        "location": {"displayName": a.location},
        "showAs": _SHOW_AS[a.busy_status],
        "sensitivity": "private" if a.private else "normal",
        "isReminderOn": a.reminder_minutes is not None,
        "attendees": [
            {
                "emailAddress": {"address": p.email, **({"name": p.name} if p.name else {})},
                "type": "required" if p.required else "optional",
                "status": {"response": _RESPONSE[p.response]},
            }
            for p in a.participants
        ],
        "recurrence": None
        if a.recurrence is None
        else to_graph(a.recurrence, first, windows_zone(a.time_zone)),
    }
    if a.reminder_minutes is not None:
        body["reminderMinutesBeforeStart"] = a.reminder_minutes
    return body


def occurrence_body(o: ModifiedOccurrence, zone: str) -> dict[str, Any]:
    return {
        "start": _dtz(o.start, zone),
        "end": _dtz(o.end, zone),
        "subject": o.subject,
        "location": {"displayName": o.location},
        "showAs": _SHOW_AS[o.busy_status],
    }


def properties(stream_id: uuid.UUID, zone: str | None) -> list[dict[str, str]]:
    found = [{"id": SYNC_ID_PROPERTY, "value": str(stream_id)}]
    if zone is not None:
        found.append({"id": ZONE_PROPERTY, "value": zone})
    return found


def with_body(body: dict[str, Any], text: str, fmt: Literal["text", "html"]) -> dict[str, Any]:
    return {**body, "body": {"contentType": fmt, "content": as_body(text, fmt)}}


def task_body(t: Task) -> dict[str, Any]:
    """A To Do task's fields (no body); completedDateTime is Exchange's to set."""
    body: dict[str, Any] = {
        "title": t.subject,
        "status": _TASK_STATUS[t.status],
        "importance": _IMPORTANCE[t.priority],
        "isReminderOn": t.reminder_at is not None,
        "startDateTime": _day_dtz(t.start),
        "dueDateTime": _day_dtz(t.due),
        "reminderDateTime": None
        if t.reminder_at is None
        else {"dateTime": local(t.reminder_at, "UTC"), "timeZone": "UTC"},
    }
    return body


def link(stream_id: uuid.UUID) -> list[dict[str, str]]:
    return [{"applicationName": APP_NAME, "externalId": str(stream_id), "displayName": APP_NAME}]


def _day_dtz(day: date | None) -> dict[str, str] | None:
    return None if day is None else {"dateTime": f"{day.isoformat()}T00:00:00", "timeZone": "UTC"}


# ---- Graph JSON as ours ----------------------------------------------------------------------


def _property(event: dict[str, Any], wanted: str) -> str | None:
    for entry in event.get("singleValueExtendedProperties") or ():
        if str(entry.get("id", "")).lower() == wanted.lower():
            value = entry.get("value")
            return None if value is None else str(value)
    return None


def sync_id_of(event: dict[str, Any]) -> uuid.UUID | None:
    """Our stream id on an event or task (InvalidField when it is not a stream id)."""
    if "title" in event:  # a To Do task: the link we wrote
        values = [
            str(r.get("externalId"))
            for r in event.get("linkedResources") or ()
            if r.get("applicationName") == APP_NAME and r.get("externalId")
        ]
        value = values[0] if values else None
    else:
        value = _property(event, SYNC_ID_PROPERTY)
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidField(f"the sync id {value!r} is not a stream id", field="sync_id") from None


def event_zone(event: dict[str, Any]) -> str:
    original = str(event.get("originalStartTimeZone") or "UTC")
    written = _property(event, ZONE_PROPERTY)
    if "/" in original:
        return original
    return iana_zone(original, written_as=written)


def utc(text: Any, field: str = "start") -> datetime:
    """A Graph timestamp (UTC wall clock, with or without Z, up to 7 fractional digits)."""
    if not isinstance(text, str):
        raise InvalidField(f"time {text!r} is missing", field=field)
    raw = text.rstrip("Z")
    head, _, fraction = raw.partition(".")
    try:
        moment = datetime.fromisoformat(head)
    except ValueError:
        raise InvalidField(f"time {text!r} is not ISO 8601", field=field) from None
    micro = int((fraction + "000000")[:6]) if fraction.isdigit() else 0
    return moment.replace(microsecond=micro, tzinfo=UTC) if moment.tzinfo is None else moment


def _bound(value: Any, zone: str, all_day: bool, field: str) -> datetime:
    if not isinstance(value, dict):
        raise InvalidField(f"{field} is missing", field=field)
    if all_day:
        day = utc(value.get("dateTime"), field).date()
        return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone)).astimezone(UTC)
    return utc(value.get("dateTime"), field)


def _busy(value: Any) -> BusyStatus:
    try:
        return _BUSY[value or "busy"]
    except KeyError:
        raise InvalidField(
            f"free/busy status {value} has no equivalent in the ERP", field="busy_status"
        ) from None


def _location(event: dict[str, Any]) -> str:
    return str((event.get("location") or {}).get("displayName") or "")


def _name(address: dict[str, Any]) -> str:
    """The display name; Graph shows the address where there is none."""
    name = str(address.get("name") or "")
    return "" if name.lower() == str(address.get("address") or "").lower() else name


def occurrence_data(exception: dict[str, Any], zone: str, all_day: bool) -> dict[str, Any]:
    return {
        "original_start": utc(exception.get("originalStart"), "original_start"),
        "start": _bound(exception.get("start"), zone, all_day, "start"),
        "end": _bound(exception.get("end"), zone, all_day, "end"),
        "subject": exception.get("subject") or "",
        "location": _location(exception),
        "busy_status": _busy(exception.get("showAs")),
    }


def cancelled_start(oid: str, series_start: datetime, zone: str) -> datetime:
    """The original start of a cancelled occurrence `OID.<master>.<local date>`."""
    day = date.fromisoformat(oid.rsplit(".", 1)[-1])
    tz = ZoneInfo(zone)
    clock = series_start.astimezone(tz).time()
    return datetime.combine(day, clock, tzinfo=tz).astimezone(UTC)


def appointment_of(event: dict[str, Any]) -> Appointment:
    """The appointment a Graph event (a single or a master, with `exceptionOccurrences` and
    `cancelledOccurrences`) shows."""
    zone = event_zone(event)
    all_day = bool(event.get("isAllDay"))
    start = _bound(event.get("start"), zone, all_day, "start")
    recurrence = event.get("recurrence")
    data: dict[str, Any] = {
        "subject": event.get("subject") or "",
        "info_text": str((event.get("body") or {}).get("content") or ""),
        "start": start,
        "end": _bound(event.get("end"), zone, all_day, "end"),
        "all_day": all_day,
        "location": _location(event),
        "busy_status": _busy(event.get("showAs")),
        "private": event.get("sensitivity") == "private",
        "reminder_minutes": event.get("reminderMinutesBeforeStart")
        if event.get("isReminderOn")
        else None,
        "time_zone": zone,
        "recurrence": None if not recurrence else from_graph(recurrence),
        "modified_occurrences": [
            occurrence_data(e, zone, all_day) for e in event.get("exceptionOccurrences") or ()
        ],
        "deleted_occurrences": [
            cancelled_start(oid, start, zone) for oid in event.get("cancelledOccurrences") or ()
        ],
        "participants": [
            {
                "email": (a.get("emailAddress") or {}).get("address") or "",
                "name": _name(a.get("emailAddress") or {}),
                "required": a.get("type") != "optional",
                "response": _RESPONSE_STATUS.get(
                    str((a.get("status") or {}).get("response")), ResponseStatus.UNKNOWN
                ),
            }
            for a in event.get("attendees") or ()
            if a.get("type") != "resource"
        ],
    }
    return build(Appointment, data)


def task_of(task: dict[str, Any]) -> Task:
    status = _STATUS.get(task.get("status") or "", TaskStatus.NOT_STARTED)
    data: dict[str, Any] = {
        "subject": task.get("title") or "",
        "info_text": str((task.get("body") or {}).get("content") or ""),
        "start": _task_day(task.get("startDateTime")),
        "due": _task_day(task.get("dueDateTime")),
        "status": status,
        "percent_complete": 100 if status is TaskStatus.COMPLETED else 0,  # GA2
        "priority": _PRIORITY.get(task.get("importance") or "", Priority.NORMAL),
        "reminder_at": _task_time(task.get("reminderDateTime"))
        if task.get("isReminderOn")
        else None,
        "completed_at": _task_time(task.get("completedDateTime")),
    }
    return build(Task, data)


def _task_time(value: Any) -> datetime | None:
    if not isinstance(value, dict):
        return None
    moment = utc(value.get("dateTime"), "reminder_at")
    zone = str(value.get("timeZone") or "UTC")
    if zone.upper() != "UTC":
        local_zone = ZoneInfo(zone if "/" in zone else iana_zone(zone))
        moment = moment.replace(tzinfo=local_zone).astimezone(UTC)
    return moment


def _task_day(value: Any) -> date | None:
    moment = _task_time(value)
    if moment is None:
        return None
    # To Do keeps a date as midnight of some zone: the nearest midnight's date.
    return (moment + timedelta(hours=12)).date()
