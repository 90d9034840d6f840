"""EWS error codes and the exception that carries them through the simulator.

Every rule violation in the store or an operation raises `EwsError` with the ResponseCode real
Exchange answers in that situation. Operations turn it into an error ResponseMessage for the one
item it concerns; request-level problems (authentication, impersonation, schema, throttling)
become SOAP faults (see `sim.envelope.fault_envelope`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum


class ResponseCode(StrEnum):
    """The ResponseCodeType values the simulator produces (all from messages.xsd)."""

    NO_ERROR = "NoError"
    ACCESS_DENIED = "ErrorAccessDenied"
    CALENDAR_END_BEFORE_START = "ErrorCalendarEndDateIsEarlierThanStartDate"
    CALENDAR_FOLDER_INVALID_FOR_VIEW = "ErrorCalendarFolderIsInvalidForCalendarView"
    CALENDAR_INVALID_RECURRENCE = "ErrorCalendarInvalidRecurrence"
    CALENDAR_OCCURRENCE_DELETED = "ErrorCalendarOccurrenceIsDeletedFromRecurrence"
    CALENDAR_OCCURRENCE_INDEX_OUT_OF_RANGE = "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange"
    CALENDAR_CANNOT_USE_ID_FOR_OCCURRENCE_ID = "ErrorCalendarCannotUseIdForOccurrenceId"
    CALENDAR_CANNOT_USE_ID_FOR_RECURRING_MASTER_ID = "ErrorCalendarCannotUseIdForRecurringMasterId"
    CALENDAR_VIEW_RANGE_TOO_BIG = "ErrorCalendarViewRangeTooBig"
    CANNOT_CREATE_CALENDAR_ITEM_IN_NON_CALENDAR_FOLDER = (
        "ErrorCannotCreateCalendarItemInNonCalendarFolder"
    )
    CANNOT_CREATE_TASK_IN_NON_TASK_FOLDER = "ErrorCannotCreateTaskInNonTaskFolder"
    EXCEEDED_SUBSCRIPTION_COUNT = "ErrorExceededSubscriptionCount"
    EXPIRED_SUBSCRIPTION = "ErrorExpiredSubscription"
    FOLDER_NOT_FOUND = "ErrorFolderNotFound"
    IMPERSONATE_USER_DENIED = "ErrorImpersonateUserDenied"
    INTERNAL_SERVER_ERROR = "ErrorInternalServerError"
    INVALID_ARGUMENT = "ErrorInvalidArgument"
    INVALID_PAGING_MAX_ROWS = "ErrorInvalidPagingMaxRows"
    INVALID_EXCHANGE_IMPERSONATION_HEADER = "ErrorInvalidExchangeImpersonationHeaderData"
    INVALID_EXTENDED_PROPERTY = "ErrorInvalidExtendedProperty"
    INVALID_ID_MALFORMED = "ErrorInvalidIdMalformed"
    INVALID_OPERATION = "ErrorInvalidOperation"
    INCORRECT_UPDATE_PROPERTY_COUNT = "ErrorIncorrectUpdatePropertyCount"
    INVALID_PROPERTY_APPEND = "ErrorInvalidPropertyAppend"
    INVALID_PROPERTY_DELETE = "ErrorInvalidPropertyDelete"
    INVALID_PROPERTY_FOR_OPERATION = "ErrorInvalidPropertyForOperation"
    INVALID_PROPERTY_SET = "ErrorInvalidPropertySet"
    INVALID_PROPERTY_REQUEST = "ErrorInvalidPropertyRequest"
    INVALID_PULL_SUBSCRIPTION_ID = "ErrorInvalidPullSubscriptionId"
    INVALID_REQUEST = "ErrorInvalidRequest"
    INVALID_RESTRICTION = "ErrorInvalidRestriction"
    INVALID_SUBSCRIPTION = "ErrorInvalidSubscription"
    INVALID_SUBSCRIPTION_REQUEST = "ErrorInvalidSubscriptionRequest"
    INVALID_SYNC_STATE_DATA = "ErrorInvalidSyncStateData"
    INVALID_VALUE_FOR_PROPERTY = "ErrorInvalidValueForProperty"
    INVALID_WATERMARK = "ErrorInvalidWatermark"
    IRRESOLVABLE_CONFLICT = "ErrorIrresolvableConflict"
    ITEM_NOT_FOUND = "ErrorItemNotFound"
    MISSING_ARGUMENT = "ErrorMissingArgument"
    NON_EXISTENT_MAILBOX = "ErrorNonExistentMailbox"
    OCCURRENCE_CROSSING_BOUNDARY = "ErrorOccurrenceCrossingBoundary"
    RECURRENCE_HAS_NO_OCCURRENCE = "ErrorRecurrenceHasNoOccurrence"
    SCHEMA_VALIDATION = "ErrorSchemaValidation"
    SERVER_BUSY = "ErrorServerBusy"
    SUBSCRIPTION_ACCESS_DENIED = "ErrorSubscriptionAccessDenied"
    SUBSCRIPTION_NOT_FOUND = "ErrorSubscriptionNotFound"
    SYNC_FOLDER_NOT_FOUND = "ErrorSyncFolderNotFound"
    TIME_ZONE = "ErrorTimeZone"
    UNSUPPORTED_PATH_FOR_QUERY = "ErrorUnsupportedPathForQuery"
    UNSUPPORTED_QUERY_FILTER = "ErrorUnsupportedQueryFilter"


class EwsError(Exception):
    """An EWS error: a ResponseCode, the message text and optional MessageXml values."""

    def __init__(
        self,
        code: ResponseCode | str,
        message: str,
        *,
        message_xml: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = str(code)
        self.message = message
        self.message_xml: dict[str, str] = dict(message_xml or {})
        self.subscription_ids: list[str] = []  # GetStreamingEvents' ErrorSubscriptionIds


class SoapFault(EwsError):
    """An EWS error that fails the whole request as a SOAP fault (HTTP 500), not one item."""


# Subscription ids are 24 random bytes, URL-safe base64: 32 characters.
SUBSCRIPTION_ID_BYTES = 24
_SUBSCRIPTION_ID = re.compile(r"[A-Za-z0-9_-]{32}")


def unknown_subscription(subscription_id: str) -> EwsError:
    """ErrorInvalidSubscription for an id this server could never have issued (Exchange's
    answer to a malformed id), ErrorSubscriptionNotFound for one it does not know (any more)."""
    if not _SUBSCRIPTION_ID.fullmatch(subscription_id):
        return EwsError(ResponseCode.INVALID_SUBSCRIPTION, "The subscription id is invalid.")
    return EwsError(ResponseCode.SUBSCRIPTION_NOT_FOUND, "The subscription was not found.")


def stream_failure(failed: list[str], *, expired: bool) -> EwsError:
    """What ends a streaming connection: the first failed subscription's error, naming all the
    failed ones (ErrorSubscriptionIds: "a list of subscription IDs that are invalid") and not
    the connection's others."""
    error = (
        EwsError(ResponseCode.EXPIRED_SUBSCRIPTION, "The subscription has expired.")
        if expired
        else unknown_subscription(failed[0])
    )
    error.subscription_ids = list(failed)
    return error
