"""Every test in tests/ checks something: an assert, an expected exception, or a helper that asserts.

Found on the source, across the whole tests tree: a helper counts when its own body asserts (or
calls a helper that does), so a test that only drives code and looks at nothing fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def _called_names(node: ast.AST) -> set[str]:
    names: set[str] = set()
    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            func = call.func
            if isinstance(func, ast.Name):
                names.add(func.id)
            elif isinstance(func, ast.Attribute):
                names.add(func.attr)
    return names


def _checks_directly(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Assert) for n in ast.walk(node)) or bool(
        _called_names(node) & {"raises", "fail", "warns", "deprecated_call"}
    )


def _functions() -> dict[tuple[Path, str], ast.FunctionDef | ast.AsyncFunctionDef]:
    found: dict[tuple[Path, str], ast.FunctionDef | ast.AsyncFunctionDef] = {}
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                found[(path, node.name)] = node
    return found


def checking_helpers(functions: dict[tuple[Path, str], ast.AST]) -> set[str]:
    """Names of the functions in tests/ that assert, directly or through one another."""
    checking = {name for (_, name), node in functions.items() if _checks_directly(node)}
    while True:
        more = {
            name
            for (_, name), node in functions.items()
            if name not in checking and _called_names(node) & checking
        }
        if not more:
            return checking
        checking |= more


def test_every_test_checks_something() -> None:
    functions = _functions()
    helpers = checking_helpers(functions)  # type: ignore[arg-type]
    silent = [
        f"{path.relative_to(TESTS)}::{name}"
        for (path, name), node in functions.items()
        if name.startswith("test_")
        and not _checks_directly(node)
        and not _called_names(node) & helpers
    ]
    assert silent == []
    assert len([n for (_, n) in functions if n.startswith("test_")]) > 300  # it saw the tree


def test_a_test_without_a_check_is_found() -> None:
    source = "def helper(x):\n    return x\n\ndef test_silent():\n    helper(1)\n"
    functions = {
        (TESTS / "t.py", node.name): node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef)
    }
    assert checking_helpers(functions) == set()  # type: ignore[arg-type]
    assert not _checks_directly(functions[(TESTS / "t.py", "test_silent")])
