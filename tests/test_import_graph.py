"""Dependencies point down (DESIGN §2): service → (replay, projections, adapters) → engine; sim alone.

Read from the source with `ast`, so that an import anywhere in a module counts (also one inside a
function or under TYPE_CHECKING): the arrows are a property of the code, not of what one run loads.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("engine", "projections", "adapters", "replay", "sim", "service")

# What each package may import of ours (besides itself).
ALLOWED: dict[str, set[str]] = {
    "engine": set(),
    "projections": {"engine"},
    "adapters": {"engine"},
    "replay": {"engine", "projections"},
    "sim": set(),
    "service": {"engine", "projections", "adapters", "replay", "sim"},
}


def imported_packages(path: Path) -> set[str]:
    """Our top-level packages (and `tests`) that the module at `path` imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        found |= {n.split(".")[0] for n in names} & {*PACKAGES, "tests", "bench"}
    return found


def arrows() -> set[tuple[str, str, str]]:
    """(importing package, imported package, module path) for every import between packages."""
    result: set[tuple[str, str, str]] = set()
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for target in imported_packages(path) - {package}:
                result.add((package, target, str(path.relative_to(ROOT))))
    return result


def test_every_arrow_of_the_package_graph_points_down() -> None:
    wrong = sorted(
        f"{module}: {source} imports {target}"
        for source, target, module in arrows()
        if target not in ALLOWED[source]
    )
    assert wrong == []


def test_the_check_sees_arrows_that_point_up(tmp_path: Path) -> None:
    """The checker itself must notice an import that points the wrong way, in any form."""
    module = tmp_path / "m.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "import projections.projector\n"
        "if TYPE_CHECKING:\n    from adapters.erp import store\n"
        "def f() -> None:\n    from sim.store import MailboxStore\n",
        "utf-8",
    )
    assert imported_packages(module) == {"projections", "adapters", "sim"}


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_exists_where_the_check_looks(package: str) -> None:
    assert any((ROOT / package).rglob("*.py")), package
