"""The engine's rule scenarios, with the port over the simulator's mailbox store as Exchange.

The scenarios are the engine's own tests (tests/engine), imported rather than copied: the
`world` and `fresh` harnesses below replace the fake Exchange with the store, so each scenario
runs once more against the one model of Exchange (DESIGN §8). So does the convergence machine.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from adapters.exchange.mailbox_store import MailboxStorePort
from engine import reasons
from engine.model import Task, TaskStatus
from tests.engine import test_rules as rules
from tests.engine.test_convergence import BothSidesConverge
from tests.exchange.support import mailbox_store_exchange
from tests.harness import Harness, Outlook

SCENARIOS = (
    rules.test_r1_appointments_and_tasks_from_the_erp_reach_outlook,
    rules.test_r1_appointments_and_tasks_from_outlook_reach_the_erp,
    rules.test_r2_series_with_modified_and_deleted_occurrences_reaches_outlook,
    rules.test_r2_occurrence_moved_and_deleted_in_outlook_reach_the_erp,
    rules.test_r2_pattern_change_in_the_erp_keeps_exceptions_that_still_fall_on_the_pattern,
    rules.test_r2_pattern_change_in_outlook_keeps_the_exceptions_that_still_fit,
    rules.test_r2_restoring_a_deleted_occurrence_rewrites_the_series_in_outlook,
    rules.test_r5_items_that_existed_before_setup_stay_put,
    rules.test_r5_a_preexisting_item_transfers_as_a_creation_once_changed,
    rules.test_r5_a_preexisting_item_that_is_only_touched_stays_put,
    rules.test_r5_deleting_a_preexisting_item_deletes_nothing_on_the_other_side,
    rules.test_r6_info_text_edited_in_outlook_is_not_imported,
    rules.test_r6_info_text_is_not_imported_on_creation_either,
    rules.test_r6_info_text_never_conflicts,
    rules.test_r7_info_text_is_not_written_to_outlook_by_default,
    rules.test_r7_info_text_is_written_when_the_option_is_off,
    rules.test_r7_info_text_is_written_as_html_when_configured,
    rules.test_r7_outlook_body_is_not_overwritten_while_the_info_text_is_unchanged,
    rules.test_r8_a_user_whose_mailbox_cannot_be_reached_is_not_synchronised,
    rules.test_r12_status_tells_per_user_whether_and_why_not,
    rules.test_r14_participants_and_responses_travel_with_the_appointment,
    rules.test_r15_changes_made_while_the_engine_is_stopped_are_transferred,
    rules.test_r15_a_crash_between_writing_and_recording_is_recovered_without_duplicates,
    rules.test_r15_a_deleted_row_that_the_item_no_longer_lives_in_deletes_nothing,
    rules.test_r16_different_fields_changed_on_both_sides_are_merged,
    rules.test_r16_the_same_field_changed_on_both_sides_follows_the_policy,
    rules.test_r16_newest_wins_compares_when_each_side_changed,
    rules.test_r16_echo_is_recognised_by_version_not_by_time,
    rules.test_r17_deleting_a_linked_item_deletes_its_counterpart,
    rules.test_r17_a_deletion_beaten_by_an_edit_on_the_other_side_recreates_the_item,
    rules.test_r17_a_burst_of_deletions_is_held_until_released,
    rules.test_r17_a_user_leaving_the_sync_scope_is_not_a_deletion,
    rules.test_transient_write_failures_are_retried_with_backoff,
    rules.test_an_item_that_changed_during_the_write_is_read_again_and_merged,
    rules.test_the_busy_status_and_other_fields_round_trip,
)
# Collected here under their own names, so pytest runs them with this module's fixtures.
globals().update({scenario.__name__: scenario for scenario in SCENARIOS})


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path, exchange=mailbox_store_exchange())
    assert isinstance(harness.exchange, MailboxStorePort)
    yield harness
    harness.close()


@pytest.fixture
def world(fresh: Harness) -> Harness:
    fresh.user("mueller")
    fresh.sync()  # sync is set up for mueller: what follows is "after setup" (R5)
    return fresh


def test_values_exchange_sets_when_saving_our_write_are_taken_over(world: Harness) -> None:
    """Exchange sets a completed task's CompleteDate itself: the ERP takes it over, the sides agree."""
    row = world.erp_task(subject="Call back")
    world.sync()
    world.clock.advance(minutes=5)
    world.erp.edit(row, status=TaskStatus.COMPLETED, percent_complete=100)
    world.sync()
    outlook = world.counterpart_in_exchange(row).content
    erp = world.erp.snapshot_of(row)
    assert isinstance(outlook, Task) and isinstance(erp, Task)
    assert outlook.completed_at == world.clock.now  # Exchange's CompleteDate
    assert erp.completed_at == outlook.completed_at
    assert reasons.ADJUSTED_ON_SAVE in world.reasons()


class BothSidesConvergeOnMailboxStore(BothSidesConverge):
    def exchange(self, clock: Callable[[], datetime]) -> Outlook:
        return mailbox_store_exchange()(clock)


# EINKLANG_DEEP=1 explores much further (minutes); CI runs the quick setting.
_DEEP = os.environ.get("EINKLANG_DEEP") == "1"
BothSidesConvergeOnMailboxStore.TestCase.settings = settings(
    max_examples=600 if _DEEP else 40,
    stateful_step_count=60 if _DEEP else 30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_both_sides_converge_on_the_mailbox_store = BothSidesConvergeOnMailboxStore.TestCase
