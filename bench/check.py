"""`--check` for the benchmarks: each figure against its target, exit status 1 below one.

The targets live beside each benchmark (`TARGETS`) and in the README's table (a test keeps the
two the same). They are the figures measured on the shared 2-core machine with a safety margin,
so that a busy machine does not fail them but a real regression does. `--target NAME=VALUE`
replaces one target for a run (the tests use it to show that `--check` can fail).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Target:
    figure: str
    bound: float
    at_most: bool = False  # a ceiling (lower is better) instead of a floor

    def met(self, value: float) -> bool:
        return value <= self.bound if self.at_most else value >= self.bound

    def describe(self) -> str:
        return f"{self.figure} {'≤' if self.at_most else '≥'} {self.bound:,g}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--check", action="store_true", help="exit with status 1 if a figure misses its target"
    )
    parser.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="FIGURE=VALUE",
        help="replace one figure's target for this run",
    )
    parser.add_argument("--out", type=Path, help="also write the JSON line to this file")


def targets_for(args: argparse.Namespace, targets: Sequence[Target]) -> tuple[Target, ...]:
    """The targets of this run, `--target` applied; a bad one is a user error (status 2)."""
    result = {t.figure: t for t in targets}
    for text in args.target:
        name, _, value = text.partition("=")
        try:
            if name not in result:
                raise ValueError(f"no figure {name!r} (one of {', '.join(result)})")
            result[name] = Target(name, float(value), result[name].at_most)
        except ValueError as error:
            print(f"--target {text}: {error}", file=sys.stderr)
            raise SystemExit(2) from None
    return tuple(result.values())


def missed(figures: Mapping[str, object], targets: Sequence[Target]) -> list[str]:
    """One line per target a figure misses; a figure not measured (null) is noted, not failed."""
    lines = []
    for target in targets:
        value = figures.get(target.figure)
        if value is None:
            print(f"{target.figure}: not measured, not checked", file=sys.stderr)
        elif not isinstance(value, int | float):
            raise TypeError(f"{target.figure} is {value!r}, not a number")
        elif not target.met(float(value)):
            lines.append(f"{target.figure} = {value:,} misses its target {target.describe()}")
    return lines


def report(
    figures: Mapping[str, object], args: argparse.Namespace, targets: Sequence[Target]
) -> int:
    """Print the JSON line (and write it to --out); with --check, 1 if a target is missed."""
    line = json.dumps(figures)
    print(line)
    if args.out:
        args.out.write_text(line + "\n")
    if not args.check:
        return 0
    failures = missed(figures, targets)
    for failure in failures:
        print(f"below target: {failure}", file=sys.stderr)
    return 1 if failures else 0
