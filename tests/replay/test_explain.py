"""`replay explain` (R18, R19, issue 13): an item's whole history from its events."""

from __future__ import annotations

import uuid
from pathlib import Path

from replay.explain import explain, render
from tests.harness import Harness, at


def test_r18_explain_tells_each_observation_with_its_field_changes_and_each_decision(
    tmp_path: Path,
) -> None:
    world = Harness(tmp_path)
    world.user("mueller")
    world.sync()
    row = world.erp_appointment(subject="Kickoff", location="Room 1")
    world.sync()
    world.clock.advance(minutes=5)
    world.erp.edit(row, start=at(1, 11), end=at(1, 12))
    world.sync()
    stream = world.erp.stream_id_of(row)
    assert world.store is not None
    history = explain(world.store, stream)

    whats = [s.what for s in history]
    assert whats[0] == "observed"
    assert whats.count("decided") >= 3 and "written" in whats
    decided = [s for s in history if s.what == "decided"]
    assert [s.reason for s in decided][:2] == ["CREATED_IN_ERP", "ECHO"]
    edit = [s for s in history if s.what == "observed" and s.side == "ERP"][-1]
    assert {c.field for c in edit.changes} == {"start", "end"}
    assert next(c for c in edit.changes if c.field == "start").after.startswith("2026-12-01T1")
    first = next(s for s in history if s.what == "observed")
    assert {"subject", "location"} <= {c.field for c in first.changes}

    text = render(history)
    assert "CREATED_IN_ERP" in text and "start:" in text and "Exchange" in text
    assert [s.as_json()["what"] for s in history] == whats


def test_explain_of_an_unknown_stream_is_empty(tmp_path: Path) -> None:
    world = Harness(tmp_path)
    assert world.store is not None
    assert explain(world.store, uuid.uuid4()) == []
