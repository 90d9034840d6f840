"""A support engineer's regression check (R19, issue 13): change one decision rule, and
`verify` reports exactly the items that rule decided — no more, no fewer."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import lifecycle
from replay.verify import verify
from tests.harness import Harness


def test_r19_verify_reports_exactly_the_items_a_changed_rule_decided(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = Harness(tmp_path)
    world.user("mueller", locked=True)  # not synchronised yet
    world.sync()
    world.outlook_appointment(subject="Dentist")  # there before setup: R5
    world.outlook_appointment(subject="Lunch")
    world.erp_task(subject="Old task")  # seen while not synchronised (R8), pre-existing at setup
    world.user("mueller")  # unlocked: sync is set up now
    world.sync()
    world.erp_appointment(subject="Kickoff")  # after setup: transferred
    world.outlook_task(subject="Buy stamps")
    world.sync()
    preexisting = {r["stream_id"] for r in world.log() if r["reason"] == "R5_PREEXISTING"}
    assert len(preexisting) == 3
    assert world.store is not None
    assert verify(world.store).ok

    # The changed rule: items there before setup are no longer left alone.
    rules = tuple(r for r in lifecycle.OBSERVATION_RULES if r[0] is not lifecycle.is_first_baseline)
    assert len(rules) == len(lifecycle.OBSERVATION_RULES) - 1
    monkeypatch.setattr(lifecycle, "OBSERVATION_RULES", rules)
    report = verify(world.store)

    assert {str(d.stream_id) for d in report.differences} == preexisting
    assert all(d.recorded.reason == "R5_PREEXISTING" for d in report.differences)
