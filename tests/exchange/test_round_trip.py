"""Round trips through each Exchange port — the mailbox store called directly, and EWS over HTTP
against the simulator: what the engine writes with `apply` reads back with `fetch` as the same
content (equal `sync_hash`, which is what the engine compares).

Random appointments — single or series with moved and deleted occurrences, all-day or timed,
in every time zone our table shares with the simulator — and random tasks.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from adapters.exchange.timezones import IANA_TO_WINDOWS
from engine.errors import InvalidItem
from engine.model import (
    Appointment,
    BusyStatus,
    ItemKind,
    ModifiedOccurrence,
    Participant,
    Priority,
    ResponseStatus,
    Task,
    TaskStatus,
    build,
)
from engine.observation import Change
from sim.timezones import known_windows_ids
from tests.engine.test_recurrence import recurrences
from tests.exchange.ews_outlook import ews_outlook
from tests.exchange.graph_outlook import GraphOutlook, graph_outlook
from tests.exchange.support import (
    USER,
    creating,
    rewritten_occurrences,
    updating,
)
from tests.harness import Clock, Outlook, mailbox_store_exchange

# Zones the simulator knows too: it answers ErrorTimeZone for the rest, as Exchange would not.
ZONES = sorted(iana for iana, windows in IANA_TO_WINDOWS.items() if windows in known_windows_ids())
words = st.sampled_from(["Review", "Jour fixe", "Visit", "Call", "Lunch"])
rooms = st.sampled_from(["", "Room 1", "Lab", "Online"])
participants = st.lists(
    st.builds(
        Participant,
        email=st.sampled_from(["schmidt@example.com", "weber@example.com", "a.b@firma.de"]),
        name=st.sampled_from(["", "Schmidt", "Weber"]),
        required=st.booleans(),
        response=st.sampled_from(list(ResponseStatus)),
    ),
    max_size=3,
)


def _exists(local: datetime, tz: ZoneInfo) -> bool:
    """Whether a wall-clock time exists in `tz` (not skipped by a DST change)."""
    aware = local.replace(tzinfo=tz)
    return aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == local


@st.composite
def appointments(draw: st.DrawFn) -> Appointment:
    time_zone = draw(st.sampled_from(ZONES))
    tz = ZoneInfo(time_zone)
    day = date(2026, 1, 1) + timedelta(days=draw(st.integers(0, 700)))
    all_day = draw(st.booleans())
    if all_day:
        start = datetime.combine(day, time(0))
        end = start + timedelta(days=draw(st.integers(1, 3)))
    else:
        start = datetime.combine(
            day, time(draw(st.integers(0, 23)), draw(st.sampled_from([0, 30])))
        )
        end = start + timedelta(minutes=draw(st.integers(0, 6 * 60)))
    assume(_exists(start, tz) and _exists(end, tz))
    fields: dict[str, Any] = {
        "subject": draw(words),
        "info_text": draw(st.sampled_from(["", "Agenda"])),
        "start": start.replace(tzinfo=tz),
        "end": end.replace(tzinfo=tz),
        "all_day": all_day,
        "location": draw(rooms),
        "busy_status": draw(st.sampled_from(list(BusyStatus))),
        "private": draw(st.booleans()),
        "reminder_minutes": draw(st.none() | st.integers(0, 2880)),
        "time_zone": time_zone,
        "recurrence": draw(st.none() | recurrences()),
        "participants": draw(participants),
    }
    try:
        appointment = build(Appointment, fields)
    except InvalidItem:  # e.g. a range that ends before its first occurrence
        assume(False)
        raise
    return build(Appointment, {**fields, **draw(_exceptions(appointment))})


@st.composite
def _exceptions(draw: st.DrawFn, series: Appointment) -> dict[str, Any]:
    """Moved (within their own day, as Exchange requires) and deleted occurrences."""
    if series.recurrence is None:
        return {}
    tz = ZoneInfo(series.time_zone)
    first = series.start.astimezone(tz).date()
    starts = series.occurrence_starts(until=first + timedelta(days=3 * 366))[:8]
    picked = draw(st.lists(st.sampled_from(starts), unique=True, max_size=4))
    modified, deleted = [], []
    for original in picked:
        if draw(st.booleans()):
            deleted.append(original)
            continue
        start = original + timedelta(minutes=draw(st.integers(-180, 180)))
        if start.astimezone(tz).date() != original.astimezone(tz).date():
            start = original
        end = start + timedelta(minutes=draw(st.integers(0, 240)))
        if series.all_day:  # Exchange rounds an all-day event to whole local days
            days = series.end.astimezone(tz).date() - series.start.astimezone(tz).date()
            last = original.astimezone(tz).date() + days
            start, end = original, datetime.combine(last, time(), tz).astimezone(UTC)
        modified.append(
            ModifiedOccurrence(
                original_start=original,
                start=start,
                end=end,
                subject=draw(words),
                location=draw(rooms),
                busy_status=draw(st.sampled_from(list(BusyStatus))),
            )
        )
    return {"modified_occurrences": tuple(modified), "deleted_occurrences": tuple(deleted)}


tasks = st.builds(
    Task,
    subject=words,
    start=st.none() | st.dates(date(2026, 1, 1), date(2026, 6, 30)),
    due=st.none() | st.dates(date(2026, 7, 1), date(2027, 12, 31)),
    priority=st.sampled_from(list(Priority)),
    reminder_at=st.none()
    | st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 31), timezones=st.just(UTC)),
).flatmap(
    # Exchange keeps status and percent consistent (and sets CompleteDate itself): draw pairs
    # it leaves as they are.
    lambda task: st.one_of(
        st.just(task),
        st.builds(
            task.replace,
            status=st.sampled_from(
                [TaskStatus.IN_PROGRESS, TaskStatus.WAITING_ON_OTHERS, TaskStatus.DEFERRED]
            ),
            percent_complete=st.integers(0, 99),
        ),
    )
)


@pytest.fixture(scope="module", params=["store", "ews", "graph"])
def port(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Outlook]:
    """One port per module and kind: examples write new items, so they do not meet."""
    clock = Clock(datetime(2026, 11, 2, 8, 0, tzinfo=UTC))
    if request.param == "store":
        yield mailbox_store_exchange()(clock)
        return
    if request.param == "graph":
        with graph_outlook(clock, tmp_path_factory.mktemp("graph")) as graph:
            yield graph
        return
    with ews_outlook(clock) as outlook:
        yield outlook


def _read_back(port: Outlook, item_id: str, kind: ItemKind) -> Appointment | Task:
    observation = port.fetch(USER, kind, item_id)
    assert observation.change is Change.CHANGED and observation.snapshot is not None, observation
    return observation.snapshot


S = TypeVar("S", Appointment, Task)


def _as_graph_keeps(port: Outlook, written: S) -> S:
    """What Graph can carry of a snapshot: attendee responses are the attendees' to give (Graph
    ignores those a client writes) and To Do has no percentComplete (assumption GA2)."""
    if not isinstance(port, GraphOutlook):
        return written
    if isinstance(written, Task):
        return written.replace(percent_complete=100 if written.status == "completed" else 0)
    return written.replace(
        participants=tuple(
            p.model_copy(update={"response": ResponseStatus.UNKNOWN}) for p in written.participants
        )
    )


def _same_content(read: Appointment | Task, written: Appointment | Task) -> None:
    content = {k: v for k, v in read.fields().items() if k != "info_text"}
    assert content == {k: v for k, v in written.fields().items() if k != "info_text"}
    assert read.sync_hash == written.sync_hash


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(first=appointments(), second=appointments())
def test_an_appointment_written_to_exchange_reads_back_the_same(
    port: Outlook, first: Appointment, second: Appointment
) -> None:
    item_id = port.apply(USER, uuid.uuid4(), creating(first)).native_id
    _same_content(_read_back(port, item_id, ItemKind.APPOINTMENT), _as_graph_keeps(port, first))
    # Rewritten as another appointment, the series started afresh as after a pattern change.
    rewrite = updating(
        port.get(item_id),
        second,
        occurrences=rewritten_occurrences(second),
        pattern_changed=True,
    )
    assert port.apply(USER, uuid.uuid4(), rewrite).native_id == item_id
    _same_content(_read_back(port, item_id, ItemKind.APPOINTMENT), _as_graph_keeps(port, second))


@settings(max_examples=40, deadline=None)
@given(task=tasks)
def test_a_task_written_to_exchange_reads_back_the_same(port: Outlook, task: Task) -> None:
    item_id = port.apply(USER, uuid.uuid4(), creating(task)).native_id
    _same_content(_read_back(port, item_id, ItemKind.TASK), _as_graph_keeps(port, task))
