"""`einklang sim --data DIR`: the mailboxes survive a restart, a crash and a `kill -9`.

What is kept: mailboxes with their folders and items (exceptions, deleted occurrences, extended
properties), the change sequence and every item counter (so ids and ChangeKeys never repeat),
event logs and subscriptions (their cursors and expiry; no stream is open after a restart), and
the secret that seals sync states and watermarks, so those handed out before stay valid.
OAuth2 tokens are not kept: clients ask for new ones, as after an Exchange failover.

How: one snapshot file, `DIR/mailboxes.pickle`, written through after every EWS request that
changed anything (and at the end of a stream, and on stop) before the answer is sent. It is
taken under the store's lock, so it is consistent, and written atomically (temporary file, fsync,
rename, fsync of the directory), so a `kill -9` at any moment leaves either the old or the new
snapshot, never a torn one. A snapshot of the whole store costs time proportional to its size,
which for a simulator's few thousand items is milliseconds; a log of changes would be faster but
would need a second model of every mutation. The file is the simulator's own trusted state
(pickle), not an exchange format: do not load one from somebody else.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import pickle
import threading
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sim.clock import Clock
from sim.ids import TokenSeal
from sim.store import MailboxStore, StoreSettings

SNAPSHOT = "mailboxes.pickle"
_FORMAT = 1


class _Pickler(pickle.Pickler):
    """Pickles the store's counters (itertools.count) as their next value, and read-only
    mappings (types.MappingProxyType) as such mappings over a copy."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, itertools.count):
            return itertools.count, (_next_value(obj),)
        if isinstance(obj, MappingProxyType):
            return _read_only, (dict(obj),)
        return NotImplemented


def _read_only(mapping: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    return MappingProxyType(mapping)


def _next_value(counter: itertools.count[int]) -> int:
    """The value `next(counter)` would return, without taking it (repr is `count(N)`)."""
    return int(repr(counter).removeprefix("count(").removesuffix(")"))


class StoreFile:
    """The snapshot of one store in `directory`, loaded at start and written through."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / SNAPSHOT
        self._written: bytes | None = None  # digest of the last snapshot on disk
        self._write_lock = threading.Lock()

    def load(
        self, clock: Clock | None = None, settings: StoreSettings | None = None
    ) -> MailboxStore:
        """The store as last saved in the directory, or a new, empty one."""
        self.directory.mkdir(parents=True, exist_ok=True)
        store = MailboxStore(clock=clock, settings=settings)
        if not self.path.exists():
            return store
        try:
            state = pickle.loads(self.path.read_bytes())
        except OSError:
            raise
        except Exception as error:  # a damaged file can fail unpickling in any way
            raise ValueError(f"{self.path} is damaged ({type(error).__name__})") from None
        if not isinstance(state, dict) or state.get("format") != _FORMAT:
            raise ValueError(f"{self.path} is not a simulator snapshot of this version")
        hub = store.notifications
        with store._lock:
            store._seq = state["seq"]
            store._mailboxes = state["mailboxes"]
            store._by_number = {box.number: box for box in state["mailboxes"].values()}
            store._seal = hub._seal = TokenSeal(state["secret"])
            hub._logs = state["logs"]
            hub._subscriptions = state["subscriptions"]
            for subscription in hub._subscriptions.values():
                subscription.open_streams = 0  # no connection survives a restart
        self._written = hashlib.sha256(self._dump(store)).digest()
        return store

    def save(self, store: MailboxStore) -> None:
        """Write the store's state if it changed since the last write (atomically, durably)."""
        with self._write_lock:
            data = self._dump(store)
            digest = hashlib.sha256(data).digest()
            if digest == self._written:
                return
            temporary = self.path.with_name(f".{SNAPSHOT}.tmp")
            with open(temporary, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
            directory = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
            self._written = digest

    @staticmethod
    def _dump(store: MailboxStore) -> bytes:
        hub = store.notifications
        buffer = io.BytesIO()
        with store._lock:
            _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(
                {
                    "format": _FORMAT,
                    "seq": store._seq,
                    "mailboxes": store._mailboxes,
                    "secret": store._seal._secret,
                    "logs": hub._logs,
                    "subscriptions": hub._subscriptions,
                }
            )
        return buffer.getvalue()
