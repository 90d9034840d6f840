"""Support bundles (R19): the events that explain some users' items, for a support engineer who
has no access to the customer's systems.

A bundle is a JSON-lines file a customer can read before sending it: the first line is a manifest
(format, selection, whether personal data was redacted, the configuration without secrets), then
one line per stored event, in the store's order — item streams and user ledgers of the selected
users, each stream whole, so that replay starts from its beginning.

Redaction (the default) replaces personal text — subjects, locations, info texts, participants'
names and every e-mail address — with keyed hashes: equal texts get equal replacements inside one
bundle and different texts different ones, which is all `decide` looks at (it compares content,
never reads it), so explain, verify and what-if give the same answers on the bundle as on the full
store. The key is random per bundle and not kept, so a replacement cannot be looked up in a table
of likely subjects. Texts the engine wrote into sentences or reasons (a subject quoted in a
decision's sentence, an address in "the mailbox cannot be reached: …") are replaced there too.
Ids, times, recurrence patterns and switches stay: they are what support needs to follow an item.

`open_bundle` loads a bundle into an event store of its own (a SQLite file), on which the replay
tools work unchanged.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import orjson
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from engine import aggregates as ev
from engine.store import EventStore, StoreLocation

FORMAT = "einklang-bundle"
VERSION = 1
# Keys whose string values are personal text (in snapshots, occurrences, participants, users).
PERSONAL_KEYS = frozenset(
    {"subject", "location", "info_text", "body", "email", "mailbox", "outlook_account"}
)
# Keys whose strings are sentences or messages, which may quote personal text.
FREE_TEXT_KEYS = frozenset({"sentence", "message", "user_reason", "error", "detail", "by"})
_EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
_STARTED = get_topic(ev.ItemStarted)
_LEDGER_STARTED = get_topic(ev.LedgerStarted)


class BundleError(Exception):
    """The file is not a bundle this version can open; the message says why in one line."""


@dataclass
class Redactor:
    """Keyed, stable replacements for personal text within one bundle."""

    key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    seen: dict[str, str] = field(default_factory=dict)  # original → replacement
    _forms: dict[str, str] = field(default_factory=dict)
    _pattern: re.Pattern[str] | None = None
    _pattern_size: int = -1

    def replace(self, text: str) -> str:
        if not text:
            return text  # emptiness is a fact decide may use (no info text, no location)
        known = self.seen.get(text)
        if known is not None:
            return known
        digest = hmac.new(self.key, text.encode("utf-8"), hashlib.sha256).hexdigest()[:16]
        replaced = f"{digest}@redacted.invalid" if _EMAIL.fullmatch(text) else f"redacted-{digest}"
        self.seen[text] = replaced
        return replaced

    def structure(self, value: Any) -> Any:
        """`value` with its personal fields replaced (a participant's name: beside its email)."""
        if isinstance(value, dict):
            personal = PERSONAL_KEYS | ({"name"} if "email" in value else set())
            return {
                k: self.replace(v) if isinstance(v, str) and k in personal else self.structure(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self.structure(v) for v in value]
        return value

    def free_text(self, value: Any) -> Any:
        """Sentences and messages with the personal texts met so far (quoted or not) and every
        e-mail address replaced; codes, enums and ids are left alone."""
        if isinstance(value, dict):
            return {
                k: self._text(v) if _is_free_text(k, v) else self.free_text(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self.free_text(v) for v in value]
        return value

    def _text(self, text: str) -> str:
        if len(self.seen) != self._pattern_size:
            forms = {o: r for o, r in self.seen.items() if len(o) >= 3}
            forms.update({repr(o): repr(r) for o, r in self.seen.items()})
            self._forms = forms
            alternatives = sorted(forms, key=len, reverse=True)
            self._pattern = re.compile("|".join(map(re.escape, alternatives))) if forms else None
            self._pattern_size = len(self.seen)
        if self._pattern is not None:  # one pass: a replacement is never scanned again
            text = self._pattern.sub(lambda m: self._forms[m.group()], text)
        return _EMAIL.sub(
            lambda m: (
                m.group() if m.group().endswith("@redacted.invalid") else self.replace(m.group())
            ),
            text,
        )


def _is_free_text(key: str, value: Any) -> bool:
    """Keys that hold words for people; `reason` holds a code unless it has spaces."""
    if not isinstance(value, str) or not value:
        return False
    return key in FREE_TEXT_KEYS or (key == "reason" and " " in value)


@dataclass(frozen=True)
class Selection:
    users: frozenset[str] | None = None  # None: every user
    since: datetime | None = None  # streams with an event at or after this time

    def wants_user(self, user: str) -> bool:
        return self.users is None or user.lower() in self.users


def export_bundle(
    store: EventStore,
    out: IO[bytes],
    *,
    selection: Selection = Selection(),
    redact: bool = True,
    config: Mapping[str, Any] | None = None,
    created_at: datetime | None = None,
) -> int:
    """Write the bundle of `selection` to `out`; returns the number of events in it."""
    streams = selected_streams(store, selection)
    redactor = Redactor()
    events = list(_events(store, streams))
    if redact:
        # Two passes: personal fields first, so that free text anywhere can be matched to them.
        states = [redactor.structure(state) for _, _, _, state in events]
        states = [redactor.free_text(state) for state in states]
    else:
        states = [state for _, _, _, state in events]
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "created_at": (created_at or datetime.now().astimezone()).isoformat(),
        "redacted": redact,
        "users": sorted(selection.users) if selection.users is not None else None,
        "since": selection.since.isoformat() if selection.since else None,
        "events": len(events),
        "config": (redactor.free_text(dict(config)) if redact else dict(config)) if config else {},
    }
    out.write(orjson.dumps(manifest) + b"\n")
    for (stream, version, topic, _), state in zip(events, states, strict=True):
        line = {"stream": stream, "version": version, "topic": topic, "state": state}
        out.write(orjson.dumps(line) + b"\n")
    return len(events)


def read_manifest(path: Path) -> dict[str, Any]:
    with path.open("rb") as f:
        return _manifest(f.readline(), path)


def open_bundle(path: Path, into: Path) -> EventStore:
    """Load the bundle at `path` into a new SQLite event store at `into`."""
    if into.exists():
        raise BundleError(f"{into} exists: give a path for a new store")
    store = EventStore(StoreLocation(f"sqlite:///{into}"))
    batch: list[StoredEvent] = []
    with path.open("rb") as f:
        manifest = _manifest(f.readline(), path)
        count = 0
        for number, raw in enumerate(f, start=2):
            try:
                line = orjson.loads(raw)
                batch.append(
                    StoredEvent(
                        originator_id=uuid.UUID(line["stream"]),
                        originator_version=int(line["version"]),
                        topic=str(line["topic"]),
                        state=orjson.dumps(line["state"], option=orjson.OPT_UTC_Z),
                    )
                )
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise BundleError(f"{path}: line {number} is not a bundle event ({exc})") from None
            if len(batch) >= 1000:
                store.recorder.insert_events(batch)
                count += len(batch)
                batch = []
        if batch:
            store.recorder.insert_events(batch)
            count += len(batch)
    if count != manifest["events"]:
        raise BundleError(
            f"{path}: {count} events, the manifest says {manifest['events']}: cut off?"
        )
    return store


def _manifest(first: bytes, path: Path) -> dict[str, Any]:
    try:
        manifest = orjson.loads(first)
    except orjson.JSONDecodeError:
        raise BundleError(f"{path}: not an einklang support bundle") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"{path}: not an einklang support bundle")
    if manifest.get("version") != VERSION:
        raise BundleError(
            f"{path}: bundle format {manifest.get('version')}, this einklang reads {VERSION}"
        )
    return manifest


def _pages(store: EventStore) -> Iterator[tuple[int, str, str, bytes]]:
    position = 1
    while True:
        page = store.log_page(position, 1000)
        if not page:
            return
        yield from page
        position = page[-1][0] + 1


def selected_streams(store: EventStore, selection: Selection) -> set[str]:
    """Streams of the selected users (items and ledgers); with `since`, those active since."""
    owner: dict[str, str] = {}
    last_at: dict[str, datetime] = {}
    for _, stream, topic, state in _pages(store):
        stream = _dashed(stream)
        if topic in (_STARTED, _LEDGER_STARTED):
            owner[stream] = str(orjson.loads(state)["user"]).lower()
        if selection.since is not None and state:
            stamp = orjson.loads(state).get("timestamp")
            if isinstance(stamp, str):
                at = datetime.fromisoformat(stamp)
                last_at[stream] = max(last_at.get(stream, at), at)
    since = selection.since
    return {
        stream
        for stream, user in owner.items()
        if selection.wants_user(user)
        and (since is None or (stream in last_at and last_at[stream] >= since))
    }


def _events(store: EventStore, streams: set[str]) -> Iterator[tuple[str, int, str, Any]]:
    versions: dict[str, int] = {}
    for _, stream, topic, state in _pages(store):
        stream = _dashed(stream)
        if stream not in streams:
            continue
        version = versions.get(stream, 0) + 1
        versions[stream] = version
        yield stream, version, topic, orjson.loads(state)


def _dashed(stream: str) -> str:
    return str(uuid.UUID(stream))
