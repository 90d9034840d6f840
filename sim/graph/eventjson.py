"""Calendar items of the store as Graph `event` JSON, and Graph event bodies as store changes.

Field by field (store field ⇄ Graph property): subject ⇄ subject; body ⇄ body (contentType
text/html); start/end + start_time_zone/end_time_zone ⇄ start/end (dateTimeTimeZone) and
originalStartTimeZone/originalEndTimeZone; is_all_day ⇄ isAllDay; location ⇄ location.displayName
(and `locations`); legacy_free_busy_status ⇄ showAs (NoData ⇄ unknown); sensitivity,
importance, categories; reminder_is_set ⇄ isReminderOn; reminder_minutes_before_start ⇄
reminderMinutesBeforeStart; required/optional attendees ⇄ attendees (type required/optional);
extended properties ⇄ singleValueExtendedProperties (`sim.graph.extended`); recurrence ⇄
recurrence (`sim.graph.recurrence`); uid ⇄ iCalUId, one per series (assumption G5).

Unset complex properties are sent as `null` (`recurrence`, `onlineMeeting`; assumption G1).
The body is returned in the type it was stored in; `Prefer: outlook.body-content-type` is not
applied (assumption G12). Output zone: `Prefer: outlook.timezone` or UTC. All-day events are floating: their dates at
midnight in the output zone (assumption G11). Read-only properties in a request body are
ignored (Graph ignores iCalUId on PATCH, reference §1.4); unknown ones are 400 RequestBodyRead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from sim.graph import extended, recurrence
from sim.graph.errors import GraphError, bad_request
from sim.graph.ids import etag, occurrence_id_string, rest_id
from sim.graph.values import (
    Zone,
    boolean,
    dtz,
    enum_in,
    integer,
    only_keys,
    parse_body,
    parse_dtz,
    text_or_none,
    timestamp,
    windows,
)
from sim.model import (
    Attendee,
    Body,
    BodyType,
    CalendarItem,
    CalendarItemType,
    FreeBusyStatus,
    Importance,
    ResponseType,
    Sensitivity,
)

EVENT_TYPE = "#microsoft.graph.event"
_SHOW_AS = {
    FreeBusyStatus.FREE: "free",
    FreeBusyStatus.TENTATIVE: "tentative",
    FreeBusyStatus.BUSY: "busy",
    FreeBusyStatus.OOF: "oof",
    FreeBusyStatus.WORKING_ELSEWHERE: "workingElsewhere",
    FreeBusyStatus.NO_DATA: "unknown",
}
_TYPES = {
    CalendarItemType.SINGLE: "singleInstance",
    CalendarItemType.OCCURRENCE: "occurrence",
    CalendarItemType.EXCEPTION: "exception",
    CalendarItemType.RECURRING_MASTER: "seriesMaster",
}
_RESPONSES = {
    ResponseType.UNKNOWN: "none",
    ResponseType.ORGANIZER: "organizer",
    ResponseType.TENTATIVE: "tentativelyAccepted",
    ResponseType.ACCEPT: "accepted",
    ResponseType.DECLINE: "declined",
    ResponseType.NO_RESPONSE_RECEIVED: "notResponded",
}
NEVER = "0001-01-01T00:00:00Z"
READ_ONLY = frozenset(
    {
        "id",
        "changeKey",
        "createdDateTime",
        "lastModifiedDateTime",
        "iCalUId",
        "type",
        "seriesMasterId",
        "originalStart",
        "originalStartTimeZone",
        "originalEndTimeZone",
        "bodyPreview",
        "isOrganizer",
        "organizer",
        "responseStatus",
        "webLink",
        "hasAttachments",
        "isCancelled",
        "isDraft",
        "onlineMeetingUrl",
        "onlineMeeting",
        "cancelledOccurrences",
    }
)
WRITABLE = frozenset(
    {
        "subject",
        "body",
        "start",
        "end",
        "isAllDay",
        "location",
        "locations",
        "showAs",
        "sensitivity",
        "importance",
        "isReminderOn",
        "reminderMinutesBeforeStart",
        "categories",
        "attendees",
        "recurrence",
        "singleValueExtendedProperties",
        "transactionId",
        "responseRequested",
        "allowNewTimeProposals",
        "hideAttendees",
        "isOnlineMeeting",
        "onlineMeetingProvider",
    }
)


@dataclass(frozen=True)
class View:
    """How to render: output zone, wanted extended properties, $select, extras."""

    zone: Zone
    properties: list[Any] | None = None  # ExtendedPropertyKey list from $expand
    select: frozenset[str] | None = None
    cancelled: bool = False  # list cancelledOccurrences (GET of a master with $select)
    transaction_id: str | None = None


def _location(name: str | None) -> dict[str, Any]:
    return {"displayName": name or "", "locationType": "default", "uniqueIdType": "unknown"}


def _attendee(attendee: Attendee, kind: str) -> dict[str, Any]:
    answered = attendee.last_response_time
    return {
        "type": kind,
        "status": {
            "response": _RESPONSES[attendee.response_type],
            "time": timestamp(answered) if answered else NEVER,
        },
        "emailAddress": {"name": attendee.name or attendee.email, "address": attendee.email},
    }


def _floating(moment: datetime, own_zone: str, out: Zone) -> dict[str, str]:
    """An all-day bound: its local date in the item's zone, midnight in the output zone."""
    day = moment.astimezone(windows(own_zone).rules).date()
    return {"dateTime": f"{day.isoformat()}T00:00:00.0000000", "timeZone": out.name}


def event_json(item: CalendarItem, view: View, *, stub: bool = False) -> dict[str, Any]:
    fields = item.fields
    if fields.is_all_day:
        start = _floating(fields.start, fields.start_time_zone, view.zone)
        end = _floating(fields.end, fields.end_time_zone, view.zone)
    else:
        start, end = dtz(fields.start, view.zone), dtz(fields.end, view.zone)
    kind = _TYPES[item.item_type]
    head: dict[str, Any] = {
        "@odata.type": EVENT_TYPE,
        "@odata.etag": etag(item.change_key),
        "id": rest_id(item.item_id),
    }
    master = rest_id(item.master_id) if item.master_id else None
    if stub:  # occurrences in delta rounds (reference §3.1, observed)
        return {**head, "seriesMasterId": master, "type": kind, "start": start, "end": end}
    body = fields.body or Body("")
    out: dict[str, Any] = {
        **head,
        "createdDateTime": timestamp(item.created),
        "lastModifiedDateTime": timestamp(item.last_modified),
        "changeKey": item.change_key,
        "categories": list(fields.categories),
        "transactionId": view.transaction_id,
        "originalStartTimeZone": fields.start_time_zone,
        "originalEndTimeZone": fields.end_time_zone,
        "iCalUId": item.uid,
        "reminderMinutesBeforeStart": fields.reminder_minutes_before_start,
        "isReminderOn": fields.reminder_is_set,
        "hasAttachments": False,
        "subject": fields.subject,
        "bodyPreview": " ".join(body.text.split())[:255] if body.body_type is BodyType.TEXT else "",
        "importance": fields.importance.value.lower(),
        "sensitivity": fields.sensitivity.value.lower(),
        "isAllDay": fields.is_all_day,
        "isCancelled": False,
        "isOrganizer": True,
        "responseRequested": True,
        "seriesMasterId": master,
        "showAs": _SHOW_AS[fields.legacy_free_busy_status],
        "type": kind,
        "webLink": f"https://outlook.office365.com/owa/?itemid={rest_id(item.item_id)}",
        "onlineMeetingUrl": None,
        "isOnlineMeeting": False,
        "onlineMeetingProvider": "unknown",
        "allowNewTimeProposals": True,
        "isDraft": False,
        "hideAttendees": False,
        "responseStatus": {"response": "organizer", "time": NEVER},
        "body": {"contentType": body.body_type.value.lower(), "content": body.text},
        "start": start,
        "end": end,
        "location": _location(fields.location),
        "locations": [_location(fields.location)] if fields.location else [],
        "recurrence": recurrence.to_graph(item.recurrence, fields.start_time_zone)
        if item.recurrence is not None
        else None,
        "attendees": [_attendee(a, "required") for a in fields.required_attendees]
        + [_attendee(a, "optional") for a in fields.optional_attendees],
        "organizer": {
            "emailAddress": {"name": item.organizer.name, "address": item.organizer.email}
        },
        "onlineMeeting": None,
    }
    if view.transaction_id is None:
        del out["transactionId"]  # only returned if set (event.md)
    if item.original_start is not None:
        out["originalStart"] = timestamp(item.original_start)
    if view.cancelled and item.item_type is CalendarItemType.RECURRING_MASTER:
        zone = windows(fields.start_time_zone).rules
        out["cancelledOccurrences"] = [
            occurrence_id_string(rest_id(item.item_id), moment.astimezone(zone).date())
            for moment in item.deleted_occurrences
        ]
    if view.properties:
        out["singleValueExtendedProperties"] = extended.rendered(
            fields.extended_properties, view.properties
        )
    if view.select is not None:
        keep = view.select | {"id", "@odata.etag", "@odata.type"}
        out = {name: value for name, value in out.items() if name in keep}
    return out


def _attendees(raw: Any) -> tuple[tuple[Attendee, ...], tuple[Attendee, ...]]:
    if not isinstance(raw, list):
        raise bad_request("attendees must be a list.")
    required: list[Attendee] = []
    optional: list[Attendee] = []
    for entry in raw:
        only_keys(entry, ("type", "status", "emailAddress"), "attendee")
        address = only_keys(entry.get("emailAddress"), ("address", "name"), "emailAddress")
        if not isinstance(address.get("address"), str) or not address["address"]:
            raise bad_request("An attendee needs emailAddress.address.")
        text_or_none(address.get("name"), "emailAddress.name")
        status = entry.get("status")
        if status is not None:  # the organizer's copy ignores what a client claims here
            only_keys(status, ("response",), "attendee.status")
            if status.get("response") is not None:
                enum_in(status["response"], list(_RESPONSES.values()), "status.response")
        kind = enum_in(
            entry.get("type") or "required", ("required", "optional", "resource"), "type"
        )
        attendee = Attendee(address["address"], address.get("name"))
        (required if kind == "required" else optional).append(attendee)
    return tuple(required), tuple(optional)


def _is_midnight(moment: datetime, zone_id: str) -> bool:
    return moment.astimezone(windows(zone_id).rules).time() == time(0)


def changes_from(body: Any, *, creating: bool, current: Any = None) -> dict[str, Any]:
    """Store changes (CalendarFields names, plus "recurrence") for a POST or PATCH body."""
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.", "RequestBodyRead")
    changes: dict[str, Any] = {}
    for name, value in body.items():
        if name.startswith("@") or name in READ_ONLY:
            continue
        if name not in WRITABLE:
            raise bad_request(
                f"The property '{name}' does not exist on type 'microsoft.graph.event'. Make sure "
                "to only use property names that are defined by the type.",
                "RequestBodyRead",
            )
        _apply(changes, name, value, current)
    if creating and not ("start" in changes and "end" in changes):
        raise bad_request("An event needs start and end.", "ErrorInvalidRequest")
    return changes


def _apply(changes: dict[str, Any], name: str, value: Any, current: Any) -> None:
    if name in ("start", "end"):
        moment, zone = parse_dtz(value, name)
        changes[name] = moment
        changes[f"{name}_time_zone"] = zone.windows_id
    elif name == "subject":
        changes["subject"] = text_or_none(value, name) or ""
    elif name == "body":
        changes["body"] = parse_body(value, name)
    elif name == "isAllDay":
        changes["is_all_day"] = boolean(value, name)
    elif name == "location":
        changes["location"] = _display_name(value, name)
    elif name == "locations":
        if not isinstance(value, list):
            raise bad_request("locations must be a list.")
        names = [_display_name(entry, name) for entry in value]
        if "location" not in changes:  # `location` wins; `locations` mirrors it
            changes["location"] = names[0] if names else None
    elif name == "showAs":
        shown = enum_in(value, list(_SHOW_AS.values()), name)
        changes["legacy_free_busy_status"] = next(k for k, v in _SHOW_AS.items() if v == shown)
    elif name == "sensitivity":
        changes["sensitivity"] = Sensitivity(enum_in(value, [s.value for s in Sensitivity], name))
    elif name == "importance":
        changes["importance"] = Importance(enum_in(value, [i.value for i in Importance], name))
    elif name == "isReminderOn":
        changes["reminder_is_set"] = boolean(value, name)
    elif name == "reminderMinutesBeforeStart":
        changes["reminder_minutes_before_start"] = integer(value, name)
    elif name == "categories":
        if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
            raise bad_request("categories must be a list of strings.")
        changes["categories"] = tuple(value)
    elif name == "attendees":
        changes["required_attendees"], changes["optional_attendees"] = _attendees(value)
    elif name == "recurrence":
        changes["recurrence"] = recurrence.from_graph(value)
    elif name == "singleValueExtendedProperties":
        existing = current.extended_properties if current is not None else {}
        changes["extended_properties"] = extended.merged(existing, value)
    elif name == "transactionId":
        changes["transaction_id"] = text_or_none(value, name)
    # responseRequested, allowNewTimeProposals, hideAttendees and the online-meeting flags are
    # accepted and not stored (assumption G13).


LOCATION_KEYS = (
    "address",
    "coordinates",
    "displayName",
    "locationEmailAddress",
    "locationType",
    "locationUri",
    "uniqueId",
    "uniqueIdType",
)


_LOCATION_ENUMS = {
    "locationType": (
        "default",
        "conferenceRoom",
        "homeAddress",
        "businessAddress",
        "geoCoordinates",
        "streetAddress",
        "hotel",
        "restaurant",
        "localBusiness",
        "postalAddress",
    ),
    "uniqueIdType": ("unknown", "locationStore", "directory", "private", "bing"),
}


def _display_name(value: Any, field: str) -> str | None:
    if value is None:
        return None
    only_keys(value, LOCATION_KEYS, field)
    for key in ("locationEmailAddress", "locationUri", "uniqueId"):
        text_or_none(value.get(key), f"{field}.{key}")
    for key, allowed in _LOCATION_ENUMS.items():
        if value.get(key) is not None:
            enum_in(value[key], allowed, f"{field}.{key}")
    for key in ("address", "coordinates"):
        if value.get(key) is not None:
            raise bad_request(f"{field}.{key} is not simulated; send displayName.")
    return text_or_none(value.get("displayName"), f"{field}.displayName") or None


def check_all_day(fields: Any) -> None:
    """isAllDay needs midnight start and end in their zones (event.md); 400 otherwise."""
    if fields.is_all_day and not (
        _is_midnight(fields.start, fields.start_time_zone)
        and _is_midnight(fields.end, fields.end_time_zone)
        and fields.end > fields.start
    ):
        raise GraphError(
            400,
            "ErrorInvalidRequest",
            "An all-day event needs start and end at midnight in their time zones.",
        )
