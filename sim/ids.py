"""Opaque identifiers: ItemId, FolderId, ChangeKey, and sealed tokens (sync states, watermarks).

Ids look like Exchange's (base64 text) but encode what the store needs to find the object again:
the mailbox and item number, and for an occurrence the master's number and the occurrence's
original start. Mailbox numbers are random (`new_mailbox_number`) and item numbers never repeat
within a mailbox, so an id is never reused, not even by a store started afresh. A ChangeKey encodes the store's change sequence number of the write that produced
it, which lets UpdateItem tell a stale ChangeKey from a current one. Sync states and watermarks
are JSON payloads, compressed and signed with the store's secret, so a client cannot forge or
alter them — a damaged one is answered with ErrorInvalidSyncStateData/ErrorInvalidWatermark.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import struct
import zlib
from collections.abc import Container
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

_ITEM = 1
_OCCURRENCE = 2
_FOLDER = 3
_MAGIC = b"\x00\x00\x00\x02SIM"
# The mailbox number is a random 64-bit value (as Exchange's mailbox GUID), so the ids of one
# store never resolve in another, e.g. after a restart without --data.
_ITEM_LAYOUT = struct.Struct(">BQQ")
_OCCURRENCE_LAYOUT = struct.Struct(">BQQq")
_FOLDER_LAYOUT = struct.Struct(">BQI")
_CHANGE_KEY_LAYOUT = struct.Struct(">4sQI")


@dataclass(frozen=True)
class ItemRef:
    mailbox_number: int
    item_number: int


@dataclass(frozen=True)
class OccurrenceRef:
    mailbox_number: int
    master_number: int
    original_start: datetime


@dataclass(frozen=True)
class FolderRef:
    mailbox_number: int
    folder_number: int


def _encode(payload: bytes) -> str:
    return base64.b64encode(_MAGIC + payload).decode("ascii")


def _decode(text: str) -> bytes | None:
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None
    if not raw.startswith(_MAGIC):
        return None
    return raw[len(_MAGIC) :]


def new_mailbox_number(taken: Container[int]) -> int:
    """A random, non-zero 64-bit mailbox number not in `taken`."""
    while True:
        number = secrets.randbits(64)
        if number and number not in taken:
            return number


def item_id(ref: ItemRef) -> str:
    return _encode(_ITEM_LAYOUT.pack(_ITEM, ref.mailbox_number, ref.item_number))


def occurrence_id(ref: OccurrenceRef) -> str:
    seconds = int(ref.original_start.timestamp())
    return _encode(
        _OCCURRENCE_LAYOUT.pack(_OCCURRENCE, ref.mailbox_number, ref.master_number, seconds)
    )


def folder_id(ref: FolderRef) -> str:
    return _encode(_FOLDER_LAYOUT.pack(_FOLDER, ref.mailbox_number, ref.folder_number))


def parse_id(text: str) -> ItemRef | OccurrenceRef | FolderRef | None:
    """Decode any id the simulator issued; None for anything else (a malformed id)."""
    raw = _decode(text)
    if not raw:
        return None
    kind = raw[0]
    try:
        if kind == _ITEM and len(raw) == _ITEM_LAYOUT.size:
            _, mailbox, number = _ITEM_LAYOUT.unpack(raw)
            return ItemRef(mailbox, number)
        if kind == _OCCURRENCE and len(raw) == _OCCURRENCE_LAYOUT.size:
            _, mailbox, master, seconds = _OCCURRENCE_LAYOUT.unpack(raw)
            return OccurrenceRef(mailbox, master, datetime.fromtimestamp(seconds, UTC))
        if kind == _FOLDER and len(raw) == _FOLDER_LAYOUT.size:
            _, mailbox, number = _FOLDER_LAYOUT.unpack(raw)
            return FolderRef(mailbox, number)
    except (struct.error, OverflowError, ValueError):
        return None
    return None


def change_key(version: int, salt: int) -> str:
    """A ChangeKey for the write with change sequence number `version`."""
    packed = _CHANGE_KEY_LAYOUT.pack(b"CK\x00\x01", version, salt & 0xFFFFFFFF)
    return base64.b64encode(packed).decode("ascii")


def change_key_version(text: str) -> int | None:
    """The change sequence number inside a ChangeKey, or None if it is not one of ours."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
        marker, version, _ = _CHANGE_KEY_LAYOUT.unpack(raw)
    except (binascii.Error, UnicodeEncodeError, ValueError, struct.error):
        return None
    return int(version) if marker == b"CK\x00\x01" else None


class TokenSeal:
    """Seals small JSON payloads into opaque, tamper-evident strings (HMAC-SHA256)."""

    _DIGEST = 16

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def seal(self, purpose: str, payload: dict[str, Any]) -> str:
        body = zlib.compress(json.dumps(payload, separators=(",", ":")).encode("utf-8"))
        mac = hmac.new(self._secret, purpose.encode() + body, hashlib.sha256).digest()
        return base64.b64encode(mac[: self._DIGEST] + body).decode("ascii")

    def open(self, purpose: str, token: str) -> dict[str, Any] | None:
        """The payload of a token sealed for `purpose`, or None if it was not (or was altered)."""
        try:
            raw = base64.b64decode(token.strip().encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            return None
        mac, body = raw[: self._DIGEST], raw[self._DIGEST :]
        expected = hmac.new(self._secret, purpose.encode() + body, hashlib.sha256).digest()
        if not hmac.compare_digest(mac, expected[: self._DIGEST]):
            return None
        try:
            payload = json.loads(zlib.decompress(body))
        except (zlib.error, ValueError):
            return None
        return payload if isinstance(payload, dict) else None
