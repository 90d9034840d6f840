"""Writes over Graph: create, update (If-Match on the changeKey → VersionConflict), delete, and a
series' occurrences (found through `/instances` around their original start, then patched or
deleted in one `$batch`).

A create first looks for an item carrying the stream id (a creation repeated after a crash) and
makes that one exactly the write's snapshot; events are also created with the stream id as
`transactionId`, which Graph uses to refuse a duplicate POST. A new pattern drops a series'
exceptions: when the pattern changes, the series is made single first, as the EWS adapter does.
Exceptions the target does not have are given the series' values (restored).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from adapters.exchange.graph import reading
from adapters.exchange.graph.client import Request, user_path
from adapters.exchange.graph.items import (
    UTC_PREFER,
    appointment_of,
    event_body,
    link,
    occurrence_body,
    properties,
    sync_id_of,
    task_body,
    task_of,
    utc,
    with_body,
)
from engine.errors import InvalidItem, NotFound, PermanentError, SideError, VersionConflict
from engine.model import Appointment, ItemKind, ModifiedOccurrence, Task
from engine.ports import OccurrenceChange, Write, WriteResult

if TYPE_CHECKING:
    from adapters.exchange.graph.port import GraphExchange


def change_key(item: dict[str, Any]) -> str | None:
    key = item.get("changeKey")
    if key:
        return str(key)
    etag = str(item.get("@odata.etag") or "")
    return etag.removeprefix("W/").strip('"') or None


def regular(series: Appointment, original_start: datetime) -> ModifiedOccurrence:
    """The occurrence as the series makes it (a restore)."""
    return ModifiedOccurrence(
        original_start=original_start,
        start=original_start,
        end=original_start + (series.end - series.start),
        subject=series.subject,
        location=series.location,
        busy_status=series.busy_status,
    )


class Writer:
    def __init__(self, port: GraphExchange, mailbox: str) -> None:
        self.port = port
        self.client = port.client
        self.mailbox = mailbox

    # ---- items ------------------------------------------------------------------------------

    def path(self, kind: ItemKind, item_id: str = "") -> str:
        if kind is ItemKind.TASK:
            return reading.task_path(self.mailbox, self.port.list_id(self.mailbox), item_id)
        if not item_id:
            return f"{user_path(self.mailbox)}/events"
        return reading.event_path(self.mailbox, item_id)

    def current(self, kind: ItemKind, item_id: str) -> dict[str, Any]:
        [item] = self.port.read_items(self.mailbox, kind, [item_id])
        if isinstance(item, SideError):
            raise item
        if not isinstance(item, dict) or item.get("type") in ("occurrence", "exception"):
            raise NotFound(f"item {item_id} is not in the {kind.value} folder")
        return item

    def _content(self, kind: ItemKind, item: dict[str, Any]) -> Appointment | Task | None:
        try:
            return task_of(item) if kind is ItemKind.TASK else appointment_of(item)
        except InvalidItem:
            return None

    def fields(self, stream_id: uuid.UUID, write: Write) -> dict[str, Any]:
        target = write.snapshot
        assert target is not None
        if isinstance(target, Task):
            body = {**task_body(target), "linkedResources": link(stream_id)}
        else:
            body = {
                **event_body(target),
                "singleValueExtendedProperties": properties(stream_id, target.time_zone),
            }
        if write.write_info_text:
            body = with_body(body, target.info_text, write.info_text_format)
        return body

    def apply(self, stream_id: uuid.UUID, write: Write) -> WriteResult:
        if write.operation == "delete":
            return self._delete(stream_id, write)
        if write.operation == "update":
            item = self.current(write.kind, write.native_id or "")
            return self._update(item, stream_id, write, write.expected_version)
        found = self.port.find_by_stream_id_in(self.mailbox, write.kind, stream_id)
        if found is not None:
            return self._update(self.current(write.kind, found), stream_id, write, None)
        body = self.fields(stream_id, write)
        if write.kind is ItemKind.APPOINTMENT:
            body["transactionId"] = str(stream_id)
        made = self.client.call(self.mailbox, "POST", self.path(write.kind), body=body)
        item_id = str(made["id"])
        if isinstance(write.snapshot, Appointment) and write.occurrences:
            return self._update(self.current(write.kind, item_id), stream_id, write, None)
        return WriteResult(native_id=item_id, native_version=change_key(made))

    def _update(
        self, item: dict[str, Any], stream_id: uuid.UUID, write: Write, expected: str | None
    ) -> WriteResult:
        target = write.snapshot
        assert target is not None
        item_id = str(item["id"])
        key = change_key(item)
        if expected is not None and expected != key:
            raise VersionConflict(f"item {item_id} changed since it was read")
        current = self._content(write.kind, item)
        body = self.fields(stream_id, write)
        if isinstance(target, Appointment) and isinstance(current, Appointment):
            if (
                write.pattern_changed
                and current.recurrence is not None
                and (current.modified_occurrences or current.deleted_occurrences)
            ):
                # A new pattern drops every exception: the series is made single first.
                self._patch(write.kind, item_id, {"recurrence": None}, expected)
                expected = None
            elif target.recurrence == current.recurrence and (
                target.start,
                target.end,
                target.time_zone,
            ) == (current.start, current.end, current.time_zone):
                body.pop("recurrence")  # the same pattern: its exceptions stay
                body.pop("start")
                body.pop("end")
        if self._unchanged(item, current, stream_id, write):
            answer = None  # nothing of the item itself to write (occurrences only, or none)
        else:
            answer = self._patch(write.kind, item_id, body, expected)
        new_key = change_key(answer or {}) or key
        if isinstance(target, Appointment) and (target.recurrence or write.occurrences):
            series = self.current(write.kind, item_id)
            now = self._content(write.kind, series)
            assert now is None or isinstance(now, Appointment)
            self._occurrences(item_id, target, now, write.occurrences)
            new_key = change_key(self.current(write.kind, item_id)) or new_key
        return WriteResult(native_id=item_id, native_version=new_key)

    def _unchanged(
        self,
        item: dict[str, Any],
        current: Appointment | Task | None,
        stream_id: uuid.UUID,
        write: Write,
    ) -> bool:
        """Whether the item already shows every field the write would PATCH."""
        if current is None or write.write_info_text or write.pattern_changed:
            return False
        try:
            if sync_id_of(item) != stream_id:
                return False
        except InvalidItem:
            return False
        target = write.snapshot
        if isinstance(target, Task) and isinstance(current, Task):
            return task_body(target) == task_body(current)
        if isinstance(target, Appointment) and isinstance(current, Appointment):
            return event_body(target) == event_body(current)
        return False

    def _patch(
        self, kind: ItemKind, item_id: str, body: dict[str, Any], expected: str | None
    ) -> Any:
        headers = {**UTC_PREFER, **({"If-Match": f'W/"{expected}"'} if expected else {})}
        return self.client.call(
            self.mailbox, "PATCH", self.path(kind, item_id), body=body, headers=headers
        )

    def _delete(self, stream_id: uuid.UUID, write: Write) -> WriteResult:
        item_id = write.native_id or self.port.find_by_stream_id_in(
            self.mailbox, write.kind, stream_id
        )
        if item_id is None:
            raise NotFound(f"no {write.kind.value} carries stream {stream_id}")
        item = self.current(write.kind, item_id)
        if write.expected_version not in (None, change_key(item)):
            raise VersionConflict(f"item {item_id} changed since it was read")
        headers = {"If-Match": f'W/"{change_key(item)}"'}
        self.client.call(self.mailbox, "DELETE", self.path(write.kind, item_id), headers=headers)
        return WriteResult(native_id=item_id)

    # ---- occurrences ------------------------------------------------------------------------

    def _instances(self, master_id: str, starts: list[datetime]) -> dict[datetime, str]:
        """Occurrence ids by original start, for the occurrences around `starts`."""
        if not starts:
            return {}
        first, last = min(starts) - timedelta(days=2), max(starts) + timedelta(days=2)
        url: str | None = (
            f"{reading.event_path(self.mailbox, master_id)}/instances"
            f"?startDateTime={reading.stamp(first)}&endDateTime={reading.stamp(last)}"
            "&$select=id,originalStart,type"
        )
        found: dict[datetime, str] = {}
        while url:
            answer = self.client.call(self.mailbox, "GET", url, headers=dict(UTC_PREFER)) or {}
            for entry in answer.get("value", ()):
                if entry.get("originalStart"):
                    found[utc(entry["originalStart"])] = str(entry["id"])
            url = answer.get("@odata.nextLink")
        return found

    def _occurrences(
        self,
        master_id: str,
        series: Appointment,
        now: Appointment | None,
        changes: tuple[OccurrenceChange, ...],
    ) -> None:
        wanted = {o.original_start for o in series.modified_occurrences}
        planned: list[tuple[datetime, ModifiedOccurrence | None]] = []
        for change in changes:
            if change.action == "delete":
                planned.append((change.original_start, None))
            elif change.action == "modify" and change.occurrence is not None:
                planned.append((change.original_start, change.occurrence))
            else:
                planned.append((change.original_start, regular(series, change.original_start)))
        touched = {start for start, _ in planned}
        for stray in now.modified_occurrences if now is not None else ():
            if stray.original_start not in wanted and stray.original_start not in touched:
                planned.append((stray.original_start, regular(series, stray.original_start)))
        if not planned:
            return
        ids = self._instances(master_id, [start for start, _ in planned])
        shown = {o.original_start: o for o in (now.modified_occurrences if now else ())}
        requests = []
        for start, occurrence in planned:
            occurrence_id = ids.get(start)
            if occurrence_id is None:
                gone = now.deleted_occurrences if now is not None else ()
                if occurrence is None and start in gone:
                    continue  # already deleted
                raise PermanentError(f"{start.isoformat()} is not an occurrence of the series")
            path = reading.event_path(self.mailbox, occurrence_id)
            if occurrence is None:
                requests.append(Request("DELETE", path))
            else:
                # Only what differs from the occurrence as it is: Exchange lets an exception's
                # untouched fields follow later changes of the series.
                was = shown.get(start) or regular(series, start)
                body = occurrence_body(occurrence, series.time_zone)
                before = occurrence_body(was, series.time_zone)
                changed = {k: v for k, v in body.items() if before.get(k) != v}
                if changed:
                    requests.append(Request("PATCH", path, changed))
        for answer in self.client.batch(self.mailbox, requests):
            if isinstance(answer, SideError) and not isinstance(answer, NotFound):
                raise answer
