"""The mutation score per module from mutmut's results, and the surviving mutants with their diff.

Survivors named in docs/mutation-equivalent.md (a line starting with the mutant's name in
backticks) are equivalent: no test can kill them, and the file says why. The score is the share
of the other mutants that the tests killed.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENT_FILE = ROOT / "docs" / "mutation-equivalent.md"
TARGET = 0.90


def results() -> dict[str, str]:
    done = subprocess.run(
        ["uv", "run", "mutmut", "results", "--all", "true"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    found = {}
    for line in done.stdout.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name:
            found[name] = status
    return found


def equivalent() -> set[str]:
    if not EQUIVALENT_FILE.exists():
        return set()
    return set(re.findall(r"^- `([^`]+)`", EQUIVALENT_FILE.read_text("utf-8"), re.MULTILINE))


def main() -> int:
    statuses = results()
    known_equivalent = equivalent()
    by_module: dict[str, Counter[str]] = defaultdict(Counter)
    survivors: list[str] = []
    for name, status in statuses.items():
        module = name.split(".x")[0]
        if status == "not checked":
            continue
        if status in ("survived", "no tests") and name in known_equivalent:
            status = "equivalent"
        elif status in ("survived", "no tests"):
            survivors.append(name)
        by_module[module][status] += 1
    print(f"{'module':<20} {'mutants':>7} {'killed':>7} {'equiv.':>7} {'survived':>8} {'score':>7}")
    below = False
    for module, counts in sorted(by_module.items()):
        killed = counts["killed"] + counts["timeout"] + counts["caught by type check"]
        equiv = counts["equivalent"]
        total = sum(counts.values())
        survived = total - killed - equiv
        score = killed / (total - equiv) if total > equiv else 1.0
        below |= score < TARGET
        print(f"{module:<20} {total:>7} {killed:>7} {equiv:>7} {survived:>8} {score:>7.1%}")
    # Only modules with results: a module not run yet says nothing about its listed mutants.
    stale = sorted(
        n
        for n in known_equivalent
        if n.split(".x")[0] in by_module and statuses.get(n) not in ("survived", "no tests")
    )
    if stale:
        print(f"\nlisted as equivalent but not surviving (remove from {EQUIVALENT_FILE.name}):")
        print("\n".join(f"  {n}" for n in stale))
    if survivors:
        print(f"\n{len(survivors)} survivors not explained (mutmut show NAME for the diff):")
        print("\n".join(f"  {n}" for n in sorted(survivors)))
    return 1 if below else 0


if __name__ == "__main__":
    sys.exit(main())
