"""Sizes a reader can hold (issue 9): no module of the simulator is over 500 lines.

A module that outgrows this is two concerns; split it as `sim.store` is split into parts.
"""

from __future__ import annotations

from pathlib import Path

import sim

LIMIT = 500
SIM = Path(sim.__file__).parent


def line_counts() -> dict[str, int]:
    return {
        str(path.relative_to(SIM.parent)): len(path.read_text("utf-8").splitlines())
        for path in sorted(SIM.rglob("*.py"))
    }


def test_every_simulator_module_is_at_most_500_lines() -> None:
    counts = line_counts()

    assert "sim/store/__init__.py" in counts  # the check sees the package's subpackages
    assert {name: lines for name, lines in counts.items() if lines > LIMIT} == {}
