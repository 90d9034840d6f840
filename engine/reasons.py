"""Reason codes of decisions (R18): stable, machine-readable, named after the rule they apply.

The transfer log stores the code beside a human sentence; support staff filter by code.
"""

from __future__ import annotations

# Scope and switches
SYNC_OFF = "R10_SYNC_OFF"  # automatic synchronisation switched off
KIND_OFF = "R10_KIND_OFF"  # appointments or tasks switched off
EXPORT_OFF = "R10_EXPORT_OFF"
IMPORT_OFF = "R10_IMPORT_OFF"
USER_NOT_ELIGIBLE = "R8_USER_NOT_ELIGIBLE"
SCOPE_LEFT = "R17_SCOPE_LEFT"  # user disabled or type switched off: not a deletion

# Nothing to transfer
ECHO = "ECHO"  # our own write coming back (by version or content)
UNCHANGED = "UNCHANGED"  # reported again without a content change
STALE = "STALE_NATIVE_ID"  # about a row/item that no longer stands for this item
SAME_CHANGE = "SAME_CHANGE_BOTH_SIDES"
BODY_NOT_IMPORTED = "R6_BODY_NOT_IMPORTED"  # only the Outlook body changed
INFO_TEXT_NOT_WRITTEN = "R7_INFO_TEXT_NOT_WRITTEN"  # only the ERP info text changed, R7 on
PREEXISTING = "R5_PREEXISTING"  # existed before setup, untouched

# Transfers
CREATED_IN_ERP = "CREATED_IN_ERP"
CHANGED_IN_ERP = "CHANGED_IN_ERP"
CREATED_IN_EXCHANGE = "CREATED_IN_EXCHANGE"
CHANGED_IN_EXCHANGE = "CHANGED_IN_EXCHANGE"
ADJUSTED_ON_SAVE = (
    "ADJUSTED_ON_SAVE"  # a side changed values while saving our write (e.g. CompleteDate)
)
CHANGED_AFTER_SETUP = "R5_CHANGED_AFTER_SETUP"  # pre-existing item changed: transferred as creation
PATTERN_CHANGED = "R2_PATTERN_CHANGED"  # series pattern changed; exceptions kept or dropped
MERGED = "R16_MERGED"  # both sides changed different fields
CONFLICT_RESOLVED = "R16_CONFLICT_RESOLVED"  # both sides changed the same field: policy decided

# Deletions
DELETED_IN_ERP = "R17_DELETED_IN_ERP"
DELETED_IN_EXCHANGE = "R17_DELETED_IN_EXCHANGE"
NOT_LINKED = "R17_NOT_LINKED"  # never transferred: nothing to delete on the other side
ALREADY_GONE = "R17_ALREADY_GONE"
EDIT_BEATS_DELETE = "R16_EDIT_BEATS_DELETE"  # deleted on one side, changed on the other
BURST_HELD = "R17_DELETION_BURST_HELD"

# Moves: the ERP gives a row to another user (issue 10). Not deletions: never counted (R17).
MOVED_AWAY = "MOVED_TO_ANOTHER_USER"  # the old user's copy is deleted from their mailbox
MOVED_IN = "MOVED_FROM_ANOTHER_USER"  # the new user's copy is created in their mailbox

# Failures
MERGE_INVALID = "MERGE_INVALID"
RETRIES_EXHAUSTED = "RETRIES_EXHAUSTED"  # a write failed `max_attempts` times: parked
WRITE_FAILED = "WRITE_FAILED"  # prefix of a failed write's reason: WRITE_FAILED:<error class>
RACE = f"{WRITE_FAILED}:VersionConflict"  # changed there meanwhile: never a reason to give up
