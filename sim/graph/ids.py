"""How Graph ids relate to the EWS ids of the same mailbox (one store, two id forms).

The store issues EWS ids: standard base64 (`+`, `/`, `=`). Graph's REST ids are the same bytes
in the URL-safe alphabet (`-`, `_`, `=` kept), as Exchange's own `translateExchangeIds` turns an
`ewsId` into a `restId`. So the mapping is a bijection by character substitution, needs no
table, survives a restart with `--data`, and an id read over one protocol can always be
converted and used over the other:

    rest_id("AAMk+a/b=") == "AAMk-a_b="      ews_id("AAMk-a_b=") == "AAMk+a/b="

Occurrences have ids of their own over both protocols (the store encodes master and original
start). ChangeKeys are the same strings over both protocols; `@odata.etag` is `W/"<changeKey>"`
(user-post-events samples). Users are addressed by address (userPrincipalName) or by a stable
user id derived from the address (`user_id`). Cancelled occurrences are named
`OID.<master rest id>.<yyyy-mm-dd>` (assumption G3b in sim/graph/README.md).
"""

from __future__ import annotations

import uuid
from datetime import date

_TO_REST = str.maketrans("+/", "-_")
_TO_EWS = str.maketrans("-_", "+/")
_USERS = uuid.UUID("5a1d2f0e-6d1b-4f3e-9c0a-7e1b2c3d4e5f")


def rest_id(ews_id: str) -> str:
    return ews_id.translate(_TO_REST)


def ews_id(rest: str) -> str:
    return rest.translate(_TO_EWS)


def user_id(address: str) -> str:
    """The Entra object id the simulator gives a mailbox's user (stable per address)."""
    return str(uuid.uuid5(_USERS, address.lower()))


def etag(change_key: str) -> str:
    return f'W/"{change_key}"'


def change_key_of_etag(value: str) -> str:
    """The changeKey inside an If-Match value (`W/"ck"`, `"ck"` or a bare `ck`)."""
    text = value.strip()
    if text.startswith("W/"):
        text = text[2:]
    return text.strip('"')


def occurrence_id_string(master_rest_id: str, day: date) -> str:
    return f"OID.{master_rest_id}.{day.isoformat()}"
