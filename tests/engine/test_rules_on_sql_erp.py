"""The rule, bad-input and convergence tests again, with the real ERP adapter instead of the fake.

DESIGN §8: one model of the ERP. The tests of test_rules.py and test_bad_input.py are collected
here a second time, unchanged; only the `erp_factory` fixture differs, so `world` and `fresh`
run on `ErpStore` over a temporary SQLite database, with a person's edits made through
`ErpEditor` (tests/erp_person.py). The convergence machine runs on it with the same settings.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine import test_bad_input, test_rules
from tests.engine.test_convergence import BothSidesConverge
from tests.erp_person import Clock, ErpFactory, SqlErp
from tests.harness import Harness

# The same test functions, collected in this module so that its `erp_factory` applies to them.
for _module in (test_rules, test_bad_input):
    globals().update({k: v for k, v in vars(_module).items() if k.startswith("test_")})


@pytest.fixture
def erp_factory(tmp_path: Path) -> Iterator[ErpFactory]:
    made: list[SqlErp] = []

    def sql_erp(clock: Clock) -> SqlErp:
        made.append(SqlErp(clock, tmp_path / f"erp-{len(made)}.sqlite3"))
        return made[-1]

    yield sql_erp
    for erp in made:
        erp.close()  # the ERP outlives the engine's restarts: closed only when the test ends


def test_the_tests_here_act_in_the_sql_erp_and_the_engine_reads_its_change_feed(
    world: Harness,
) -> None:
    row = world.erp_appointment(subject="Through the feed")
    assert isinstance(world.erp, SqlErp)
    [entry] = world.erp.store.read_feed(world.erp.feed_position() - 1)
    assert (entry.item_id, entry.origin) == (int(row), "erp")
    world.sync()
    assert world.counterpart_in_exchange(row).content.subject == "Through the feed"


class BothSidesConvergeOnSql(BothSidesConverge):
    erp_side = SqlErp

    def teardown(self) -> None:
        try:
            super().teardown()
        finally:
            assert isinstance(self.world.erp, SqlErp)
            self.world.erp.close()


BothSidesConvergeOnSql.TestCase.settings = BothSidesConverge.TestCase.settings
test_both_sides_converge_on_sql = BothSidesConvergeOnSql.TestCase
