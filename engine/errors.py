"""Typed errors for bad input: every one names what is wrong so the transfer log can say it.

An adapter that cannot turn a native record into a valid snapshot raises one of these; the
runtime records it as an `invalid` observation, the item is parked in `failed` with the error's
code and message, and everything else keeps syncing.
"""

from __future__ import annotations


class InvalidItem(ValueError):
    """A native record that cannot be synchronised as it is."""

    code = "INVALID_ITEM"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.code


class EndBeforeStart(InvalidItem):
    code = "END_BEFORE_START"


class UnknownTimeZone(InvalidItem):
    code = "UNKNOWN_TIME_ZONE"


class InvalidText(InvalidItem):
    """Control characters or invalid code points that Exchange (XML 1.0) cannot carry."""

    code = "INVALID_TEXT"


class InfoTextTooLarge(InvalidItem):
    code = "INFO_TEXT_TOO_LARGE"


class InvalidRecurrence(InvalidItem):
    """An RRULE or pattern that cannot be parsed or is inconsistent."""

    code = "INVALID_RECURRENCE"


class UnsupportedRecurrence(InvalidRecurrence):
    """A valid RFC 5545 rule that Exchange's six pattern types cannot express."""

    code = "UNSUPPORTED_RECURRENCE"


class InvalidField(InvalidItem):
    """Any other field value outside what both sides accept."""

    code = "INVALID_FIELD"


class FieldTooLong(InvalidField):
    """A text longer than the column's limit (written by a program that bypassed it)."""

    code = "FIELD_TOO_LONG"


class InvalidEncoding(InvalidItem):
    """Bytes that are not valid UTF-8 (e.g. from a legacy import)."""

    code = "INVALID_ENCODING"


class SideError(Exception):
    """A write or read on one side failed; the runtime records it and decides about retrying."""

    transient = False

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class TransientError(SideError):
    """Worth retrying with backoff: server busy, timeouts, connection drops."""

    transient = True


class PermanentError(SideError):
    """Retrying will not help: the item is parked with this reason."""


class VersionConflict(TransientError):
    """The item changed on that side since we last read it: re-read, then decide again."""


class NotFound(SideError):
    """The native item no longer exists on that side."""
