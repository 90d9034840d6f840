"""The Exchange port's contract, stated on the port over the simulator's mailbox store
(DESIGN §8: one model of Exchange); every Exchange adapter keeps it.

Every test goes through the `ExchangePort` methods and the "user in Outlook" helpers only.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from engine.errors import NotFound, PermanentError, TransientError, VersionConflict
from engine.model import (
    Appointment,
    ItemKind,
    Side,
    Task,
)
from engine.observation import Change
from engine.ports import Write, WriteResult
from tests.exchange.conformance import (
    JOUR_FIXE,
    KICKOFF,
    STARTS,
    created,
    fetched,
    with_exceptions,
)
from tests.exchange.support import (
    MAILBOX,
    USER,
    creating,
    read_all,
    updating,
)
from tests.harness import Clock, Outlook, at

# ---- mailboxes ------------------------------------------------------------------------------------


def test_a_mailbox_is_reachable_unless_exchange_says_why_not(exchange: Outlook) -> None:
    assert exchange.check_mailbox(USER).reachable
    exchange.unreachable[MAILBOX] = "ErrorImpersonateUserDenied"
    status = exchange.check_mailbox(USER)
    # Graph's denial is an Application Access Policy: 403 ErrorAccessDenied.
    code = getattr(exchange, "denial_code", "ErrorImpersonateUserDenied")
    assert (status.reachable, status.reason) == (False, code)
    with pytest.raises(TransientError):  # rights are granted later: worth retrying
        exchange.read_changes(USER, ItemKind.APPOINTMENT, None)
    with pytest.raises(TransientError):
        exchange.apply(USER, uuid.uuid4(), creating(KICKOFF))


# ---- ChangeKeys ------------------------------------------------------------------------------------


def test_every_write_gives_the_item_a_new_change_key(exchange: Outlook) -> None:
    item_id = exchange.create(MAILBOX, JOUR_FIXE)
    keys = [exchange.get(item_id).change_key]
    acts: list[Callable[[], None]] = [
        lambda: exchange.edit(item_id, subject="Jour fixe!"),
        lambda: exchange.touch(item_id),
        lambda: exchange.modify_occurrence(item_id, STARTS[1], location="Lab"),
        lambda: exchange.delete_occurrence(item_id, STARTS[2]),
    ]
    for act in acts:
        act()
        keys.append(exchange.get(item_id).change_key)
    item = exchange.get(item_id)
    result = exchange.apply(USER, uuid.uuid4(), updating(item, item.content.replace(subject="v2")))
    keys.append(exchange.get(item_id).change_key)
    assert len(set(keys)) == len(keys) == 6
    assert result.native_version == keys[-1]


# ---- reading: baseline, changes, pages, expired sync states --------------------------------------


def test_setup_reads_existing_items_as_baseline_and_later_ones_as_changes(
    exchange: Outlook, clock: Clock
) -> None:
    dentist = exchange.create(MAILBOX, KICKOFF.replace(subject="Dentist"))
    stamps = exchange.create(MAILBOX, Task(subject="Buy stamps"))
    baseline = exchange.read_changes(USER, ItemKind.APPOINTMENT, None)
    [seen] = baseline.observations
    item = exchange.get(dentist)
    assert (seen.change, seen.native_id, seen.native_version) == (
        Change.BASELINE,
        dentist,
        item.change_key,
    )
    assert seen.snapshot == item.content and seen.sync_id is None
    assert seen.observed_at == clock.now and not baseline.more
    [task] = exchange.read_changes(USER, ItemKind.TASK, None).observations
    assert (task.change, task.native_id) == (Change.BASELINE, stamps)

    exchange.edit(dentist, location="Praxis")
    lunch = exchange.create(MAILBOX, KICKOFF.replace(subject="Lunch"))
    changes = exchange.read_changes(USER, ItemKind.APPOINTMENT, baseline.checkpoint)
    assert {(o.native_id, o.change) for o in changes.observations} == {
        (dentist, Change.CHANGED),
        (lunch, Change.CHANGED),
    }
    exchange.delete(dentist)
    deletion = exchange.read_changes(USER, ItemKind.APPOINTMENT, changes.checkpoint)
    assert [(o.native_id, o.change) for o in deletion.observations] == [(dentist, Change.DELETED)]
    quiet = exchange.read_changes(USER, ItemKind.APPOINTMENT, deletion.checkpoint)
    assert (quiet.observations, quiet.more) == ((), False)


def test_a_long_list_of_changes_comes_in_pages(exchange: Outlook) -> None:
    exchange.max_changes = 2
    before = [exchange.create(MAILBOX, KICKOFF.replace(subject=f"Old {n}")) for n in range(3)]
    baseline, checkpoint, batches = read_all(exchange, ItemKind.APPOINTMENT, None)
    assert sorted(o.native_id for o in baseline) == sorted(before)
    assert {o.change for o in baseline} == {Change.BASELINE}
    assert batches == 2  # the baseline is paged like every sync
    after = [exchange.create(MAILBOX, KICKOFF.replace(subject=f"New {n}")) for n in range(5)]
    first = exchange.read_changes(USER, ItemKind.APPOINTMENT, checkpoint)
    assert len(first.observations) == 2 and first.more
    rest, _, batches = read_all(exchange, ItemKind.APPOINTMENT, first.checkpoint)
    assert sorted(o.native_id for o in (*first.observations, *rest)) == sorted(after)
    assert {o.change for o in rest} == {Change.CHANGED} and batches == 2


def test_an_invalid_sync_state_resynchronises_every_item_as_a_change(exchange: Outlook) -> None:
    items = {exchange.create(MAILBOX, KICKOFF.replace(subject=f"Item {n}")) for n in range(2)}
    baseline = exchange.read_changes(USER, ItemKind.APPOINTMENT, None)
    exchange.invalidate_sync_states()
    resync = exchange.read_changes(USER, ItemKind.APPOINTMENT, baseline.checkpoint)
    assert {(o.native_id, o.change) for o in resync.observations} == {
        (item, Change.CHANGED) for item in items
    }
    assert resync.checkpoint != baseline.checkpoint
    assert exchange.read_changes(USER, ItemKind.APPOINTMENT, resync.checkpoint).observations == ()


# ---- writing --------------------------------------------------------------------------------------


def test_a_created_item_shows_the_snapshot_and_carries_the_stream_id(exchange: Outlook) -> None:
    stream = uuid.uuid4()
    result = exchange.apply(USER, stream, creating(KICKOFF))
    item = exchange.get(result.native_id)
    assert (item.sync_id, item.change_key) == (stream, result.native_version)
    assert item.content.sync_hash == KICKOFF.sync_hash
    assert exchange.find_by_stream_id(USER, ItemKind.APPOINTMENT, stream) == result.native_id
    assert exchange.find_by_stream_id(USER, ItemKind.APPOINTMENT, uuid.uuid4()) is None
    observation = exchange.fetch(USER, ItemKind.APPOINTMENT, result.native_id)
    assert (observation.sync_id, observation.native_version) == (stream, result.native_version)


def test_a_repeated_create_updates_the_item_it_made_before(exchange: Outlook) -> None:
    stream = uuid.uuid4()
    first = exchange.apply(USER, stream, creating(KICKOFF))
    again = exchange.apply(USER, stream, creating(KICKOFF.replace(subject="Kickoff 2")))
    assert again.native_id == first.native_id
    assert [i.content.subject for i in exchange.items(MAILBOX, ItemKind.APPOINTMENT)] == [
        "Kickoff 2"
    ]


def test_a_repeated_create_of_a_series_with_a_deleted_occurrence(exchange: Outlook) -> None:
    """A re-export after a crash writes every exception again."""
    stream, series = uuid.uuid4(), with_exceptions()
    first = exchange.apply(USER, stream, creating(series))
    again = exchange.apply(USER, stream, creating(series))
    assert again.native_id == first.native_id
    assert fetched(exchange, again.native_id).sync_hash == series.sync_hash


def test_a_stale_change_key_is_a_version_conflict(exchange: Outlook) -> None:
    item_id = created(exchange, KICKOFF)
    stale = exchange.get(item_id).change_key
    exchange.edit(item_id, location="Room 7")  # in Outlook, after the engine read it
    edit = updating(
        exchange.get(item_id), KICKOFF.replace(subject="ERP edit"), expected_version=stale
    )
    with pytest.raises(VersionConflict):
        exchange.apply(USER, uuid.uuid4(), edit)
    with pytest.raises(VersionConflict):
        exchange.apply(USER, uuid.uuid4(), _deleting(item_id, stale))
    content = exchange.get(item_id).content
    assert isinstance(content, Appointment)
    assert (content.subject, content.location) == ("Kickoff", "Room 7")


def test_writing_an_item_that_is_gone_is_not_found(exchange: Outlook) -> None:
    item_id = created(exchange, KICKOFF)
    read = exchange.get(item_id)
    exchange.delete(item_id)
    with pytest.raises(NotFound):
        exchange.apply(USER, uuid.uuid4(), updating(read, KICKOFF))
    with pytest.raises(NotFound):
        exchange.apply(USER, uuid.uuid4(), _deleting(item_id, None))
    assert exchange.fetch(USER, ItemKind.APPOINTMENT, item_id).change is Change.DELETED


def test_a_delete_removes_the_item(exchange: Outlook) -> None:
    item_id = created(exchange, KICKOFF)
    result = exchange.apply(
        USER, uuid.uuid4(), _deleting(item_id, exchange.get(item_id).change_key)
    )
    assert result.native_id == item_id
    assert exchange.items(MAILBOX, ItemKind.APPOINTMENT) == []


def test_queued_failures_are_raised_by_the_next_writes_in_order(exchange: Outlook) -> None:
    exchange.fail_next_writes += [TransientError("busy", retry_after_s=2), PermanentError("bad")]
    with pytest.raises(TransientError, match="busy"):
        exchange.apply(USER, uuid.uuid4(), creating(KICKOFF))
    with pytest.raises(PermanentError, match="bad"):
        exchange.apply(USER, uuid.uuid4(), creating(KICKOFF))
    created(exchange, KICKOFF)
    assert len(exchange.items(MAILBOX, ItemKind.APPOINTMENT)) == 1


def test_r18_a_batch_of_writes_makes_each_and_an_item_exchange_refuses_fails_alone(
    exchange: Outlook,
) -> None:
    """`apply_many` (an ERP bulk import): one outcome per write, in order; the refused item
    fails alone, the others are made and carry their stream ids; repeated (after a crash) it
    finds what it made instead of duplicating it."""
    doomed = created(exchange, KICKOFF.replace(subject="Cancelled"))
    backwards = KICKOFF.model_copy(
        update={"subject": "Backwards", "start": at(2, 10), "end": at(2, 9)}
    )
    writes = [(uuid.uuid4(), creating(KICKOFF.replace(subject=f"Import {n}"))) for n in range(3)]
    # A snapshot our model would refuse, so that Exchange is the one to refuse it.
    refused = creating(KICKOFF).model_copy(update={"snapshot": backwards})
    writes.insert(1, (uuid.uuid4(), refused))
    writes.append((uuid.uuid4(), _deleting(doomed, exchange.get(doomed).change_key)))
    writes.append((uuid.uuid4(), creating(Task(subject="Call back"))))

    results = exchange.apply_many(USER, writes)

    assert [type(result).__name__ for result in results] == [
        "WriteResult",
        "PermanentError",
        "WriteResult",
        "WriteResult",
        "WriteResult",
        "WriteResult",
    ]
    appointments = exchange.items(MAILBOX, ItemKind.APPOINTMENT)
    assert sorted(item.content.subject for item in appointments) == [
        f"Import {n}" for n in range(3)
    ]
    for (stream_id, write), result in zip(writes, results, strict=True):
        if isinstance(result, WriteResult) and write.operation == "create":
            assert exchange.get(result.native_id).sync_id == stream_id
    again = exchange.apply_many(USER, [writes[0], writes[2], writes[5]])
    made = [r.native_id for i, r in enumerate(results) if isinstance(r, WriteResult)]
    assert [r.native_id for r in again if isinstance(r, WriteResult)] == [made[0], made[1], made[4]]
    assert len(exchange.items(MAILBOX, ItemKind.APPOINTMENT)) == 3
    assert len(exchange.items(MAILBOX, ItemKind.TASK)) == 1


def test_r16_a_batch_of_updates_writes_each_and_an_item_changed_meanwhile_conflicts_alone(
    exchange: Outlook,
) -> None:
    first = created(exchange, KICKOFF.replace(subject="First"))
    second = created(exchange, KICKOFF.replace(subject="Second"))
    task = created(exchange, Task(subject="Call back"))
    read = {item_id: exchange.get(item_id) for item_id in (first, second, task)}
    exchange.edit(second, subject="Second, edited in Outlook")
    writes = [
        (uuid.uuid4(), updating(read[first], KICKOFF.replace(subject="First, renamed"))),
        (uuid.uuid4(), updating(read[second], KICKOFF.replace(subject="Second, renamed"))),
        (uuid.uuid4(), updating(read[task], Task(subject="Call back soon"))),
    ]

    results = exchange.apply_many(USER, writes)

    kinds = [type(result).__name__ for result in results]
    assert kinds == ["WriteResult", "VersionConflict", "WriteResult"]
    assert exchange.get(first).content.subject == "First, renamed"
    assert exchange.get(second).content.subject == "Second, edited in Outlook"
    assert exchange.get(task).content.subject == "Call back soon"
    assert isinstance(results[0], WriteResult)
    assert results[0].native_version == exchange.get(first).change_key
    assert exchange.get(first).sync_id == writes[0][0]


def _deleting(item_id: str, expected_version: str | None) -> Write:
    return Write(
        side=Side.EXCHANGE,
        operation="delete",
        kind=ItemKind.APPOINTMENT,
        native_id=item_id,
        expected_version=expected_version,
    )
