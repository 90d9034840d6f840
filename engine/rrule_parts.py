"""The syntax of an RFC 5545 RRULE (§3.3.10): its parts, checked, without their meaning.

Everything RFC 5545 calls malformed raises `InvalidRecurrence` here, with the part named: an
unknown or repeated part, a value outside its range, BYDAY ordinals outside MONTHLY/YEARLY,
BYMONTHDAY with WEEKLY, BYYEARDAY outside YEARLY, BYWEEKNO outside YEARLY, BYSETPOS alone, COUNT
with UNTIL, and an UNTIL that is not a UTC date-time although DTSTART has a time zone (every
series here has one: the all-day ones start at midnight in their zone).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NoReturn

from engine.errors import InvalidRecurrence

FREQUENCIES = ("SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY")
DAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")  # index = date.weekday()

# Part name -> (lowest, highest absolute value, may be negative).
_NUMBER_LISTS = {
    "BYSECOND": (0, 60, False),
    "BYMINUTE": (0, 59, False),
    "BYHOUR": (0, 23, False),
    "BYMONTHDAY": (1, 31, True),
    "BYYEARDAY": (1, 366, True),
    "BYWEEKNO": (1, 53, True),
    "BYMONTH": (1, 12, False),
    "BYSETPOS": (1, 366, True),
}
_KEYS = {"FREQ", "UNTIL", "COUNT", "INTERVAL", "BYDAY", "WKST", *_NUMBER_LISTS}
_SIGNED = re.compile(r"[+-]?\d{1,3}")
_UNSIGNED = re.compile(r"\d{1,3}")
_BYDAY_ITEM = re.compile(r"([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)")
_UTC_UNTIL = re.compile(r"\d{8}T\d{6}Z")


@dataclass(frozen=True)
class RuleParts:
    """A syntactically valid RRULE; weekdays are `date.weekday()` numbers (Monday 0)."""

    freq: str
    interval: int = 1
    count: int | None = None
    until: datetime | None = None  # aware, UTC
    wkst: int = 0
    byday: frozenset[tuple[int | None, int]] = frozenset()  # (ordinal or None, weekday)
    numbers: tuple[tuple[str, frozenset[int]], ...] = ()  # the BYxxx number lists given

    def by(self, name: str) -> frozenset[int]:
        """The values of BYxxx part `name` (empty when it is not given)."""
        return dict(self.numbers).get(name, frozenset())


def split_rrule(text: str) -> RuleParts:
    """The parts of `text` (with or without a leading 'RRULE:'); InvalidRecurrence if malformed."""
    body = text.strip()
    if body.upper().startswith("RRULE:"):
        body = body[6:]
    if not body or any(c in body for c in "\r\n"):
        _fail("it is empty or more than one line", text)
    raw: dict[str, str] = {}
    for part in body.split(";"):
        if not part.strip():
            _fail("it has an empty part (';' twice or at the end)", text)
        key, sep, value = part.partition("=")
        key, value = key.strip().upper(), value.strip().upper()
        if not sep or not value:
            _fail(f"part {part!r} has no value", text)
        if key not in _KEYS:
            _fail(f"unknown part {key}", text)
        if key in raw:
            _fail(f"{key} is given twice", text)
        raw[key] = value
    freq = raw.pop("FREQ", None)
    if freq is None:
        _fail("FREQ is missing", text)
    if freq not in FREQUENCIES:
        _fail(f"FREQ={freq} is not one of {', '.join(FREQUENCIES)}", text)
    if "UNTIL" in raw and "COUNT" in raw:
        _fail("UNTIL and COUNT exclude each other", text)
    wkst = raw.pop("WKST", "MO")
    if wkst not in DAY_CODES:
        _fail(f"WKST={wkst} is not a weekday", text)
    numbers = {name: _numbers(raw.pop(name), name, text) for name in _NUMBER_LISTS if name in raw}
    parts = RuleParts(
        freq=freq,
        interval=_positive(raw.pop("INTERVAL", "1"), "INTERVAL", text),
        count=_positive(raw["COUNT"], "COUNT", text) if "COUNT" in raw else None,
        until=_until(raw["UNTIL"], text) if "UNTIL" in raw else None,
        wkst=DAY_CODES.index(wkst),
        byday=_byday(raw["BYDAY"], text) if "BYDAY" in raw else frozenset(),
        numbers=tuple(sorted(numbers.items())),
    )
    _check_combinations(parts, text)
    return parts


def _check_combinations(parts: RuleParts, text: str) -> None:
    """RFC 5545's MUST NOTs between FREQ and the BYxxx parts."""
    freq = parts.freq
    if any(n is not None for n, _ in parts.byday):
        if freq not in ("MONTHLY", "YEARLY"):
            _fail("a BYDAY ordinal (like 1MO) needs FREQ=MONTHLY or YEARLY", text)
        if parts.by("BYWEEKNO"):
            _fail("a BYDAY ordinal cannot go with BYWEEKNO", text)
    if parts.by("BYMONTHDAY") and freq == "WEEKLY":
        _fail("BYMONTHDAY cannot go with FREQ=WEEKLY", text)
    if parts.by("BYYEARDAY") and freq in ("DAILY", "WEEKLY", "MONTHLY"):
        _fail(f"BYYEARDAY cannot go with FREQ={freq}", text)
    if parts.by("BYWEEKNO") and freq != "YEARLY":
        _fail("BYWEEKNO needs FREQ=YEARLY", text)
    if parts.by("BYSETPOS") and not (parts.byday or len(parts.numbers) > 1):
        _fail("BYSETPOS needs another BYxxx part", text)


def _fail(reason: str, text: str) -> NoReturn:
    raise InvalidRecurrence(f"invalid RRULE {text!r}: {reason}", field="recurrence")


def _positive(value: str, name: str, text: str) -> int:
    if not value.isdigit() or int(value) < 1:
        _fail(f"{name}={value} is not a positive whole number", text)
    return int(value)


def _numbers(value: str, name: str, text: str) -> frozenset[int]:
    low, high, signed = _NUMBER_LISTS[name]
    result: set[int] = set()
    for item in value.split(","):
        if (_SIGNED if signed else _UNSIGNED).fullmatch(item) is None:
            _fail(f"{name} item {item!r} is not a number", text)
        number = int(item)
        if not low <= abs(number) <= high:
            bound = f"±{low}..{high}" if signed else f"{low}..{high}"
            _fail(f"{name}={number} is outside {bound}", text)
        result.add(number)
    return frozenset(result)


def _byday(value: str, text: str) -> frozenset[tuple[int | None, int]]:
    items: set[tuple[int | None, int]] = set()
    for item in value.split(","):
        match = _BYDAY_ITEM.fullmatch(item)
        if match is None:
            _fail(f"BYDAY item {item!r} is not a weekday like MO or 2TU", text)
        ordinal = int(match.group(1)) if match.group(1) else None
        if ordinal is not None and not 1 <= abs(ordinal) <= 53:
            _fail(f"BYDAY ordinal {ordinal} is outside ±1..53", text)
        items.add((ordinal, DAY_CODES.index(match.group(2))))
    return frozenset(items)


def _until(value: str, text: str) -> datetime:
    if _UTC_UNTIL.fullmatch(value) is None:
        _fail(
            f"UNTIL={value} must be a UTC date-time like 20261231T230000Z, "
            "since DTSTART has a time zone",
            text,
        )
    try:
        return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        _fail(f"UNTIL={value} is not a valid date-time", text)
