"""The event store holds what it writes at its size (issue 12): a batch of events waiting for
its transaction is not several times bigger than the bytes that will be stored."""

from __future__ import annotations

import tracemalloc

from engine.store import OrjsonTranscoder


def test_an_encoded_event_takes_about_its_own_size_in_memory() -> None:
    transcoder = OrjsonTranscoder()
    event = {"subject": "Kickoff " * 40, "location": "Room 1", "attendees": list(range(60))}
    tracemalloc.start()
    try:
        encoded = [transcoder.encode(event) for _ in range(500)]
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    size = len(encoded[0])
    assert 200 < size < 1000
    # Failed before: orjson's 8 KB buffer stayed behind every result (about 16× here).
    assert held / len(encoded) < 2 * size
    assert transcoder.decode(encoded[0]) == event
