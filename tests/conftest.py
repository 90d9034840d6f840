"""Fixtures shared by the engine tests: a harness with both sides and a real SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import Harness


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Harness]:
    """Both sides and a store, nobody set up yet."""
    harness = Harness(tmp_path)
    yield harness
    harness.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path)
    harness.user("mueller")
    harness.sync()  # sync is set up for mueller: what follows is "after setup" (R5)
    yield harness
    harness.close()
