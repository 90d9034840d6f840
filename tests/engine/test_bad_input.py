"""Bad input never crashes the engine and never loses data: the item is parked with its reason."""

from __future__ import annotations

from typing import Any

import pytest

from engine.state import Status
from tests.harness import Harness, at

BAD_ROWS: dict[str, dict[str, Any]] = {
    "END_BEFORE_START": {"start": at(1, 10), "end": at(1, 9)},
    "INVALID_RECURRENCE": {"rrule": "FREQ=WEEKLY;BYDAY=XX"},
    "UNSUPPORTED_RECURRENCE": {"rrule": "FREQ=HOURLY;INTERVAL=3"},
    "INFO_TEXT_TOO_LARGE": {"info_text": "x" * (5 * 1024 * 1024)},
    "INVALID_TEXT": {"subject": "Kick\x07off"},
    "UNKNOWN_TIME_ZONE": {"time_zone": "Europe/Atlantis"},
}


@pytest.mark.parametrize("code", list(BAD_ROWS))
def test_a_bad_erp_record_is_parked_with_its_reason_while_others_sync(
    world: Harness, code: str
) -> None:
    good_before = world.erp_appointment(subject="Good 1")
    bad = world.erp_appointment(**{"subject": "Bad", **BAD_ROWS[code]})
    good_after = world.erp_appointment(subject="Good 2")
    world.sync()
    assert sorted(i.content.subject for i in world.exchange_items()) == ["Good 1", "Good 2"]
    assert world.counterpart_in_exchange(good_before) and world.counterpart_in_exchange(good_after)
    entry = world.log(erp_id=bad)[-1]
    assert (entry["verdict"], entry["reason"], entry["outcome"]) == ("fail", code, "none")
    assert entry["sentence"].startswith("parked: ")
    assert len(entry["sentence"]) < 1000  # the 5 MB text is not copied into the log
    assert world.state(world.erp.stream_id_of(bad)).status is Status.FAILED
    assert int(bad) in world.erp.rows  # nothing lost: the record stays as the person saved it


def test_a_parked_item_syncs_once_corrected(world: Harness) -> None:
    bad = world.erp_appointment(start=at(1, 10), end=at(1, 9))
    world.sync()
    world.erp.edit(bad, end=at(1, 11))
    world.sync()
    assert world.counterpart_in_exchange(bad).content.end == at(1, 11)  # type: ignore[union-attr]
    assert world.state(world.erp.stream_id_of(bad)).status is Status.IN_SYNC


def test_a_record_that_becomes_invalid_keeps_its_counterpart_untouched(world: Harness) -> None:
    row = world.erp_appointment(subject="Fine")
    world.sync()
    world.erp.edit(row, time_zone="Nowhere/Special")
    world.sync()
    assert world.counterpart_in_exchange(row).content.subject == "Fine"
    assert world.state(world.erp.stream_id_of(row)).status is Status.FAILED
    world.verify()


def test_an_adapter_failure_parks_the_item_and_others_keep_syncing(world: Harness) -> None:
    world.exchange.fail_next_writes.append(RuntimeError("adapter bug: unexpected None"))
    broken = world.erp_appointment(subject="Hits the bug")
    world.sync()
    fine = world.erp_appointment(subject="After the bug")
    world.sync()
    assert world.counterpart_in_exchange(fine).content.subject == "After the bug"
    state = world.state(world.erp.stream_id_of(broken))
    assert state.status is Status.FAILED and state.next_retry_at is None
    assert "RuntimeError" in world.log(erp_id=broken)[0]["error"]
