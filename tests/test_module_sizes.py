"""Sizes a reader can hold (issue 9, DESIGN §2): no module is over 500 lines — the product's,
the tests' and their doubles, the benchmarks' and the scripts'.

A module that outgrows this is two concerns; split it by concern, as `sim.store` is split into
parts and the runtime into its stages.
"""

from __future__ import annotations

from pathlib import Path

import pytest

LIMIT = 500
ROOT = Path(__file__).resolve().parents[1]
PACKAGES = (
    "engine",
    "projections",
    "adapters",
    "replay",
    "service",
    "sim",
    "tests",
    "bench",
    "scripts",
)


def line_counts(package: str) -> dict[str, int]:
    return {
        str(path.relative_to(ROOT)): len(path.read_text("utf-8").splitlines())
        for path in sorted((ROOT / package).rglob("*.py"))
    }


@pytest.mark.parametrize("package", PACKAGES)
def test_every_module_is_at_most_500_lines(package: str) -> None:
    counts = line_counts(package)
    assert counts, f"no modules found in {package}/"
    assert {name: lines for name, lines in counts.items() if lines > LIMIT} == {}


def test_the_check_sees_subpackages() -> None:
    assert "sim/store/__init__.py" in line_counts("sim")
    assert "adapters/exchange/ews/port.py" in line_counts("adapters")
    assert "tests/sim/mailbox_store/test_items.py" in line_counts("tests")
