"""The rules of DESIGN §1 that cross the Exchange boundary, end to end over EWS and over Graph
(one suite, `api` parametrised): the engine with the real ERP adapter on SQLite and the real
exchangelib or httpx and msal against the simulator. test_ews_engine.py holds the first ones
(R1, R2 exceptions, R5 items left alone, R6, R17 deletion); these are the rest: a pattern
change in either direction (R2), tasks both ways with status, percent and due date (R1), the
info text written as plain text or HTML (R7), pre-existing items changed later (R5), deletions
from Outlook and the burst guard (R17), and conflicts (R16).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Literal

import pytest
from exchangelib.protocol import BaseProtocol

from engine import reasons
from engine.model import Appointment, ItemKind, Task, TaskStatus
from engine.options import SyncOptions
from engine.recurrence import Recurrence
from sim.graph.ids import ews_id
from sim.model import Body, BodyType
from tests.exchange.fault_world import WEEKLY, Api, FaultWorld, fault_world
from tests.harness import Harness, at

LONGER = Recurrence(pattern="weekly", weekdays=("monday", "wednesday"), count=8)


@pytest.fixture(autouse=True)
def _restore_http_adapter(monkeypatch: pytest.MonkeyPatch) -> None:
    """An EWS connection sets exchangelib's process-wide HTTP adapter: put it back after."""
    monkeypatch.setattr(BaseProtocol, "HTTP_ADAPTER_CLS", BaseProtocol.HTTP_ADAPTER_CLS)


@pytest.fixture(params=["ews", "graph"])
def api(request: pytest.FixtureRequest) -> Api:
    value: Api = request.param
    return value


@pytest.fixture
def world(tmp_path: Path, api: Api) -> Iterator[FaultWorld]:
    with fault_world(tmp_path, api) as built:
        yield built


def _series(h: Harness) -> tuple[str, list[datetime]]:
    row = h.erp_appointment(
        subject="Jour fixe", start=at(7, 9), end=at(7, 10), rrule=WEEKLY.to_rrule(at(7, 9))
    )
    snapshot = h.erp.snapshot_of(row)
    assert isinstance(snapshot, Appointment)
    return row, list(snapshot.occurrence_starts())


def _moved(start: datetime, subject: str) -> dict[str, object]:
    return {
        "original_start": start,
        "start": start + timedelta(hours=2),
        "end": start + timedelta(hours=3),
        "subject": subject,
        "location": "",
        "busy_status": "busy",
    }


def test_r2_a_pattern_changed_in_the_erp_keeps_the_exceptions_the_erp_still_has(
    world: FaultWorld,
) -> None:
    h = world.harness
    row, starts = _series(h)
    h.erp.edit(
        row,
        modified_occurrences=[_moved(starts[1], "Jour fixe (later)")],
        deleted_occurrences=[starts[2]],
    )
    h.sync()
    h.erp.edit(row, rrule=LONGER.to_rrule(at(7, 9)))  # two weeks more; same occurrences first
    h.sync()

    exported = h.counterpart_in_exchange(row).content
    assert isinstance(exported, Appointment)
    assert exported.recurrence == LONGER
    assert [o.subject for o in exported.modified_occurrences] == ["Jour fixe (later)"]
    assert exported.deleted_occurrences == (starts[2],)
    assert exported.sync_hash == h.erp.snapshot_of(row).sync_hash
    assert reasons.PATTERN_CHANGED in h.reasons()
    h.verify()


def test_r2_a_pattern_changed_in_outlook_reaches_the_erp_and_its_exceptions_come_back(
    world: FaultWorld,
) -> None:
    """Exchange drops a series' exceptions when its pattern changes; the ERP still has them,
    so the new pattern is imported and the exceptions are written to Outlook again."""
    h = world.harness
    row, starts = _series(h)
    h.erp.edit(row, deleted_occurrences=[starts[2]])
    h.sync()
    item = h.counterpart_in_exchange(row)
    h.exchange.edit(item.id, recurrence=LONGER)
    dropped = h.counterpart_in_exchange(row).content
    assert isinstance(dropped, Appointment) and dropped.deleted_occurrences == ()
    h.sync()

    imported = h.erp.snapshot_of(row)
    assert isinstance(imported, Appointment)
    assert (imported.recurrence, imported.deleted_occurrences) == (LONGER, (starts[2],))
    assert imported.sync_hash == h.counterpart_in_exchange(row).content.sync_hash
    assert reasons.PATTERN_CHANGED in h.reasons()


def test_r1_tasks_travel_both_ways_with_status_percent_and_due_date(world: FaultWorld) -> None:
    h = world.harness
    percent = 50 if world.api == "ews" else 0  # To Do has no percentage (Graph reads 0, GA2)
    row = h.erp_task(
        subject="Call back",
        status=TaskStatus.IN_PROGRESS,
        percent_complete=percent,
        due=date(2026, 12, 9),
    )
    outlook_id = h.outlook_task(subject="Buy stamps", due=date(2026, 12, 4))
    h.sync()
    exported = h.counterpart_in_exchange(row).content
    assert isinstance(exported, Task)
    assert (exported.status, exported.percent_complete, exported.due) == (
        TaskStatus.IN_PROGRESS,
        percent,
        date(2026, 12, 9),
    )

    h.exchange.edit(outlook_id, status=TaskStatus.COMPLETED, percent_complete=100)
    h.exchange.edit(h.counterpart_in_exchange(row).id, due=date(2026, 12, 10))
    h.sync()

    bought = h.erp.snapshot_of(str(h.erp_row_for(outlook_id).id))
    assert isinstance(bought, Task)
    assert (bought.status, bought.percent_complete, bought.due) == (
        TaskStatus.COMPLETED,
        100,
        date(2026, 12, 4),
    )
    called = h.erp.snapshot_of(row)
    assert isinstance(called, Task) and called.due == date(2026, 12, 10)
    assert len(h.exchange_items("mueller", ItemKind.TASK)) == 2 == len(h.erp.rows)


@pytest.mark.parametrize("body_format", ["text", "html"])
def test_r7_the_info_text_is_written_as_plain_text_or_html_and_outlook_never_writes_back(
    tmp_path: Path, api: Api, body_format: Literal["text", "html"]
) -> None:
    options = SyncOptions(write_info_text=True, info_text_format=body_format)
    with fault_world(tmp_path, api, options=options) as world:
        h = world.harness
        row = h.erp_appointment(subject="Kickoff", info_text="Agenda\nitem <one> & two")
        h.sync()
        item = h.counterpart_in_exchange(row)
        body = _raw_body(world, item.id)
        if body_format == "html":
            assert body.body_type is BodyType.HTML
            assert "Agenda<br>item &lt;one&gt; &amp; two" in body.text
        else:
            assert body == Body("Agenda\nitem <one> & two", BodyType.TEXT)

        h.exchange.edit(item.id, info_text="Typed in Outlook")  # R6: not imported
        h.sync()
        assert h.erp.snapshot_of(row).info_text == "Agenda\nitem <one> & two"
        h.erp.edit(row, info_text="New agenda")  # R7: the ERP's text is written again
        h.sync()
        assert "New agenda" in _raw_body(world, item.id).text


def test_r7_by_default_the_info_text_is_not_written_and_the_outlook_body_stays(
    world: FaultWorld,
) -> None:
    h = world.harness
    row = h.erp_appointment(subject="Kickoff", info_text="ERP agenda")
    h.sync()
    item = h.counterpart_in_exchange(row)
    assert "ERP agenda" not in (_raw_body(world, item.id).text or "")
    h.exchange.edit(item.id, info_text="Notes in Outlook")
    h.erp.edit(row, info_text="ERP agenda, revised")
    h.sync()
    assert _raw_body(world, item.id).text == "Notes in Outlook"
    assert h.erp.snapshot_of(row).info_text == "ERP agenda, revised"
    assert reasons.INFO_TEXT_NOT_WRITTEN in h.reasons()


def _raw_body(world: FaultWorld, item_id: str) -> Body:
    native = ews_id(item_id) if world.api == "graph" else item_id
    body = world.outlook.store.get_item(native).fields.body
    return body if body is not None else Body("")


def test_r5_preexisting_items_changed_later_transfer_as_creations_once(
    tmp_path: Path, api: Api
) -> None:
    with fault_world(tmp_path, api, set_up=False) as world:
        h = world.harness
        h.user("mueller")
        row = h.erp_appointment(subject="Old ERP item")
        outlook_id = h.outlook_appointment(subject="Old Outlook item")
        h.sync()
        assert [i.content.subject for i in h.exchange_items()] == ["Old Outlook item"]
        assert len(h.erp.rows) == 1

        h.erp.edit(row, subject="Old ERP item, changed")
        h.exchange.edit(outlook_id, subject="Old Outlook item, changed")
        h.sync()
        h.sync()

        assert h.counterpart_in_exchange(row).content.subject == "Old ERP item, changed"
        assert h.erp_row_for(outlook_id).data["subject"] == "Old Outlook item, changed"
        assert len(h.exchange_items()) == 2 == len(h.erp.rows)
        assert h.reasons().count(reasons.CHANGED_AFTER_SETUP) == 2
        h.verify()


def test_r17_an_outlook_deletion_deletes_the_linked_erp_row(world: FaultWorld) -> None:
    h = world.harness
    row = h.erp_appointment(subject="Kickoff")
    h.sync()
    h.exchange.delete(h.counterpart_in_exchange(row).id)
    h.sync()
    assert int(row) not in h.erp.rows
    assert reasons.DELETED_IN_EXCHANGE in h.reasons()


def test_r17_a_burst_of_erp_deletions_is_held_and_outlook_keeps_the_items(
    tmp_path: Path, api: Api
) -> None:
    options = SyncOptions(deletion_burst_threshold=3)
    with fault_world(tmp_path, api, options=options) as world:
        h = world.harness
        rows = [
            h.erp_appointment(subject=f"Visit {n}", start=at(n, 9), end=at(n, 10))
            for n in range(1, 7)
        ]
        h.sync()
        for row in rows:
            h.erp.delete(row)
        h.sync()
        assert reasons.BURST_HELD in h.reasons()
        kept = h.exchange_items()
        assert 0 < len(kept) < len(rows)  # some went before the guard held the rest
        assert len(kept) == h.reasons().count(reasons.BURST_HELD)


def test_r16_both_sides_changed_merge_by_field_and_the_policy_decides_the_same_field(
    world: FaultWorld,
) -> None:
    h = world.harness
    merged = h.erp_appointment(subject="Review", location="Room 1")
    clash = h.erp_appointment(subject="Budget", start=at(3, 9), end=at(3, 10))
    h.sync()
    h.erp.edit(merged, location="Room 2")
    h.exchange.edit(h.counterpart_in_exchange(merged).id, subject="Review (Outlook)")
    h.erp.edit(clash, subject="Budget (ERP)")
    h.exchange.edit(h.counterpart_in_exchange(clash).id, subject="Budget (Outlook)")
    h.sync()

    both = h.counterpart_in_exchange(merged).content
    assert isinstance(both, Appointment)
    assert (both.subject, both.location) == ("Review (Outlook)", "Room 2")
    assert h.erp.snapshot_of(merged).sync_hash == both.sync_hash
    assert h.counterpart_in_exchange(clash).content.subject == "Budget (ERP)"  # erp_wins
    assert h.erp.snapshot_of(clash).subject == "Budget (ERP)"
    assert reasons.MERGED in h.reasons()
    assert reasons.CONFLICT_RESOLVED in h.reasons()
