"""Support bundles (R19, issue 13): the events of some users' items, personal text redacted by
default, on which verify and what-if give the same answers as on the full store."""

from __future__ import annotations

import io
from pathlib import Path

import orjson
import pytest

from engine.model import Participant
from engine.options import SyncOptions
from replay.bundle import BundleError, Redactor, Selection, export_bundle, open_bundle
from replay.verify import verify
from tests.harness import Harness, at

PERSONAL = [
    "Quarterly review with Dr. O'Brien",
    "Besprechungsraum Süd",
    "Bring the Müller contract, PIN 4711",
    "huber@kanzlei-huber.de",
    "Dr. Anna Huber",
    "Dentist appointment Friday",
    "Call Mrs. Schmidt about the invoice",
]


@pytest.fixture
def history(tmp_path: Path) -> Harness:
    """Histories made by the real engine path: both sides, edits, a conflict, a deletion."""
    world = Harness(tmp_path, SyncOptions(write_info_text=True))
    world.user("mueller")
    world.user("schmidt")
    world.sync()
    row = world.erp_appointment(
        subject=PERSONAL[0],
        location=PERSONAL[1],
        info_text=PERSONAL[2],
        participants=(Participant(email=PERSONAL[3], name=PERSONAL[4]),),
    )
    world.outlook_appointment(subject=PERSONAL[5])
    world.erp_task(user="schmidt", subject=PERSONAL[6])
    world.sync()
    world.clock.advance(minutes=5)
    world.erp.edit(row, subject=PERSONAL[0] + " (moved)", start=at(1, 11), end=at(1, 12))
    world.sync()
    outlook = world.counterpart_in_exchange(row)
    world.exchange.edit(outlook.id, location="Raum 3")
    world.sync()
    world.erp.delete(row)
    world.sync()
    world.verify()
    return world


def bundle_bytes(world: Harness, **kwargs: object) -> bytes:
    out = io.BytesIO()
    assert world.store is not None
    export_bundle(world.store, out, **kwargs)  # type: ignore[arg-type]
    return out.getvalue()


def test_r19_a_redacted_bundle_holds_no_personal_text(history: Harness) -> None:
    data = bundle_bytes(history, config={"exchange": {"username": "svc"}})
    text = data.decode("utf-8")
    for personal in [*PERSONAL, PERSONAL[0] + " (moved)", "Raum 3", "mueller@example.com"]:
        assert personal not in text, personal
        assert orjson.dumps(personal).decode()[1:-1] not in text, personal  # JSON-escaped
    assert "redacted-" in text and "@redacted.invalid" in text
    kept = bundle_bytes(history, redact=False).decode("utf-8")
    assert all(orjson.dumps(p).decode()[1:-1] in kept for p in PERSONAL[:5])


def test_r19_verify_on_the_bundle_gives_the_answers_of_the_full_store(
    history: Harness, tmp_path: Path
) -> None:
    assert history.store is not None
    full = verify(history.store)
    path = tmp_path / "bundle.jsonl"
    path.write_bytes(bundle_bytes(history))
    opened = open_bundle(path, tmp_path / "opened.db")
    on_bundle = verify(opened)
    assert full.ok and on_bundle.ok, on_bundle.differences
    assert on_bundle.decisions == full.decisions > 0
    # A what-if gives the same verdicts on both.
    other = SyncOptions(write_info_text=True, conflict_policy="exchange_wins", import_enabled=False)
    whatif_full = verify(history.store, options=other)
    whatif_bundle = verify(opened, options=other)
    assert [
        (d.recorded.reason, d.derived and d.derived.reason) for d in whatif_full.differences
    ] == [(d.recorded.reason, d.derived and d.derived.reason) for d in whatif_bundle.differences]
    assert whatif_full.differences  # the what-if does change something


def test_a_bundle_of_one_user_has_only_that_users_streams(history: Harness, tmp_path: Path) -> None:
    data = bundle_bytes(history, selection=Selection(users=frozenset({"schmidt"})))
    lines = [orjson.loads(line) for line in data.splitlines()]
    manifest, events = lines[0], lines[1:]
    assert manifest["users"] == ["schmidt"] and manifest["events"] == len(events) > 0
    starts = [e["state"]["user"] for e in events if "user" in e["state"] and e["version"] == 1]
    assert set(starts) == {"schmidt"}
    path = tmp_path / "schmidt.jsonl"
    path.write_bytes(data)
    assert verify(open_bundle(path, tmp_path / "s.db")).ok


def test_equal_texts_get_equal_replacements_and_codes_stay() -> None:
    redactor = Redactor()
    state = {
        "subject": "Kickoff",
        "participants": [{"email": "A@B.DE", "name": "Anna"}],
        "trigger": {"name": "retry", "reason": "RETRY_DUE"},
        "sentence": "appointment 'Kickoff' of mueller: mailbox a@b.de unreachable",
    }
    redacted = redactor.free_text(redactor.structure(state))
    assert redacted["subject"] == redactor.replace("Kickoff") != "Kickoff"
    assert redacted["trigger"] == {"name": "retry", "reason": "RETRY_DUE"}
    assert redacted["participants"][0]["name"] != "Anna"
    assert "Kickoff" not in redacted["sentence"] and "a@b.de" not in redacted["sentence"]
    assert repr(redactor.replace("Kickoff")) in redacted["sentence"]
    assert Redactor().replace("Kickoff") != redacted["subject"]  # a key of its own per bundle


def test_a_file_that_is_no_bundle_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text("hello\n", encoding="utf-8")
    with pytest.raises(BundleError, match="not an einklang support bundle"):
        open_bundle(path, tmp_path / "x.db")
