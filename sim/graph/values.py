"""Graph's value types: dateTimeTimeZone, zone names, enum spellings, timestamps.

- `dateTimeTimeZone` is a local wall-clock time (`2026-03-02T09:00:00.0000000`) plus a zone
  name, Windows (`W. Europe Standard Time`) or IANA (`Europe/Berlin`); both are accepted
  (datetimetimezone.md). The store keeps Windows ids (as EWS does), so an IANA name is stored
  as its Windows equivalent (CLDR's table, `exchangelib.winzone`) — assumption G9.
- Enums are case-insensitive on input (Microsoft's own samples send `"HTML"`, `"Monday"`) and
  camelCase on output (reference §1.4).
- Timestamps (createdDateTime, ...) are UTC with 7 fractional digits and `Z`, as Graph writes them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from exchangelib.winzone import IANA_TO_MS_TIMEZONE_MAP

from sim.graph.errors import GraphError, bad_request
from sim.model import Body, BodyType
from sim.timezones import UnknownTimeZone, windows_zone

_LOCAL = re.compile(
    r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?)(?:\.(\d{1,7}))?(Z|[+-]\d{2}:\d{2})?$"
)


class Zone:
    """A zone as a client named it (kept for output) with its Windows id and rules."""

    def __init__(self, name: str, windows_id: str, rules: tzinfo) -> None:
        self.name = name
        self.windows_id = windows_id
        self.rules = rules


UTC_ZONE = Zone("UTC", "UTC", UTC)


def zone(name: str | None) -> Zone:
    """The zone a client named; TimeZoneNotSupportedException (400) for an unknown name."""
    if not name:
        raise bad_request(
            "A valid TimeZone value must be specified.", "TimeZoneNotSupportedException"
        )
    if name.upper() == "UTC":
        return Zone(name, "UTC", UTC)
    try:
        return Zone(name, name, windows_zone(name).zoneinfo)
    except UnknownTimeZone:
        pass
    mapped = IANA_TO_MS_TIMEZONE_MAP.get(name)
    if mapped is not None:
        return Zone(name, mapped[0], ZoneInfo(name))
    raise bad_request(
        f"A valid TimeZone value must be specified. The following TimeZone value is not "
        f"supported: '{name}'.",
        "TimeZoneNotSupportedException",
    )


def windows(windows_id: str) -> Zone:
    """A stored Windows zone id as a Zone (stored ids are always known)."""
    if windows_id == "UTC":
        return UTC_ZONE
    return Zone(windows_id, windows_id, windows_zone(windows_id).zoneinfo)


def parse_local(text: Any, field: str) -> tuple[datetime, str | None]:
    """A dateTime string as (naive local datetime, explicit offset or None)."""
    match = _LOCAL.match(text) if isinstance(text, str) else None
    if match is None:
        raise bad_request(f"Cannot convert the literal '{text}' to the expected type of '{field}'.")
    base, fraction, offset = match.groups()
    micro = int((fraction or "0").ljust(7, "0")[:6])
    try:
        local = datetime.fromisoformat(base).replace(microsecond=micro)
    except ValueError:
        raise bad_request(f"'{text}' is not a valid {field}.") from None
    return local, offset


def only_keys(value: Any, allowed: Iterable[str], field: str) -> dict[str, Any]:
    """`value` as an object with no other properties than `allowed` (and annotations; G16)."""
    if not isinstance(value, dict):
        raise bad_request(f"{field} must be an object.")
    unknown = sorted(k for k in value if k not in allowed and not str(k).startswith("@"))
    if unknown:
        raise bad_request(
            f"The property '{unknown[0]}' does not exist on {field}.", "RequestBodyRead"
        )
    return value


def parse_body(value: Any, field: str) -> Body | None:
    """An itemBody (contentType required: text or html, any case); None stays None."""
    if value is None:
        return None
    body = only_keys(value, ("content", "contentType"), field)
    kind = enum_in(body.get("contentType"), ("text", "html"), f"{field}.contentType")
    content = text_or_none(body.get("content"), f"{field}.content") or ""
    return Body(content, BodyType.HTML if kind == "html" else BodyType.TEXT)


def parse_dtz(value: Any, field: str) -> tuple[datetime, Zone]:
    """A dateTimeTimeZone as (aware UTC datetime, the zone it was given in)."""
    only_keys(value, ("dateTime", "timeZone"), field)
    if "dateTime" not in value:
        raise bad_request(f"{field} must be a dateTimeTimeZone with dateTime and timeZone.")
    where = zone(value.get("timeZone"))
    local, offset = parse_local(value["dateTime"], f"{field}.dateTime")
    if offset is not None:  # a wall-clock time: the zone is in timeZone
        raise bad_request(f"{field}.dateTime is a local time without an offset.")
    return local.replace(tzinfo=where.rules).astimezone(UTC), where


def local_text(moment: datetime, where: Zone) -> str:
    local = moment.astimezone(where.rules)
    return f"{local:%Y-%m-%dT%H:%M:%S}.{local.microsecond:06d}0"


def dtz(moment: datetime, where: Zone) -> dict[str, str]:
    return {"dateTime": local_text(moment, where), "timeZone": where.name}


def timestamp(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond:06d}0Z"


def window_bound(text: str | None, name: str) -> datetime:
    """A startDateTime/endDateTime query value: ISO 8601, UTC unless it carries an offset."""
    if not text:
        raise missing_window()
    local, offset = parse_local(text.replace(" ", "+"), name)
    if offset is None or offset == "Z":
        return local.replace(tzinfo=UTC)
    return datetime.fromisoformat(local.isoformat() + offset).astimezone(UTC)


def missing_window() -> GraphError:
    # Assumption G6 (sim/graph/README.md): the status and text of Exchange's own answer.
    return bad_request(
        "This request requires a time window specified by the query string parameters "
        "StartDateTime and EndDateTime.",
        "ErrorInvalidParameter",
    )


def enum_in(value: Any, allowed: Iterable[str], field: str) -> str:
    """The canonical (camelCase) spelling of an enum value given in any case."""
    if isinstance(value, str):
        for candidate in allowed:
            if candidate.lower() == value.lower():
                return candidate
    raise bad_request(f"Requested value '{value}' was not found for property '{field}'.")


def text_or_none(value: Any, field: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise bad_request(f"{field} must be a string.")


def boolean(value: Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    raise bad_request(f"{field} must be true or false.")


def integer(value: Any, field: str, low: int = -(2**31), high: int = 2**31 - 1) -> int:
    """An Edm.Int32 (or the narrower range given)."""
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return value
    raise bad_request(f"{field} must be a whole number from {low} to {high}.")
