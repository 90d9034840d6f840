"""What only the EWS adapter shows, against the simulator over HTTP with the real exchangelib:
its requests (ID-only SyncFolderItems, GetItem in batches, FindItem on the stream id), where
deletes go, the exchangelib 5.6 all-day workaround, and how EWS errors become the engine's.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pytest
import requests
from exchangelib import EWSDate
from exchangelib.protocol import BaseProtocol

from adapters.exchange.ews import items as ews_items
from adapters.exchange.ews.port import EwsExchange
from engine.errors import NotFound, PermanentError, TransientError, VersionConflict
from engine.model import Appointment, BusyStatus, ItemKind, ModifiedOccurrence, Participant, User
from engine.observation import Change
from engine.recurrence import Recurrence
from sim.faults import Delay, HttpStatus, ResponseError, ServerBusy
from tests.exchange.ews_outlook import ADMIN, EXCHANGE_2016, EwsOutlook, ews_accounts, ews_outlook
from tests.exchange.support import MAILBOX, USER, creating, updating
from tests.harness import BERLIN, Clock, at

KICKOFF = Appointment(subject="Kickoff", start=at(1, 9), end=at(1, 10))


@pytest.fixture
def ews(clock: Clock) -> Iterator[EwsOutlook]:
    with ews_outlook(clock) as outlook:
        yield outlook


def _operations(ews: EwsOutlook) -> list[str]:
    return [r.operation for r in ews.server.requests]


def _all_day(first: date, days: int) -> Appointment:
    start = datetime(first.year, first.month, first.day, tzinfo=BERLIN)
    return Appointment(
        subject="Holiday",
        start=start,
        end=start + timedelta(days=days),  # wall-clock days: 23 h across the spring change
        all_day=True,
        busy_status=BusyStatus.FREE,
    )


# ---- requests -----------------------------------------------------------------------------------


def test_r3_changes_are_read_id_only_then_fetched_in_one_get_item(ews: EwsOutlook) -> None:
    for n in range(3):
        ews.create(MAILBOX, KICKOFF.replace(subject=f"Item {n}"))
    before = len(ews.server.requests)
    batch = ews.read_changes(USER, ItemKind.APPOINTMENT, None)
    assert len(batch.observations) == 3 and not batch.more
    # (GetFolder: exchangelib looks the calendar folder up once per account.)
    asked = [op for op in _operations(ews)[before:] if op != "GetFolder"]
    assert asked == ["SyncFolderItems", "GetItem"]


def test_r3_at_most_512_changes_are_asked_for_at_once(ews: EwsOutlook) -> None:
    ews.max_changes = 5000
    ews.create(MAILBOX, KICKOFF)
    [seen] = ews.read_changes(USER, ItemKind.APPOINTMENT, None).observations  # sim refuses > 512
    assert seen.change is Change.BASELINE


def test_a_repeated_create_is_found_by_a_restriction_on_the_stream_id(ews: EwsOutlook) -> None:
    stream = uuid.uuid4()
    first = ews.apply(USER, stream, creating(KICKOFF))
    before = len(ews.server.requests)
    again = ews.apply(USER, stream, creating(KICKOFF))
    assert again.native_id == first.native_id
    assert _operations(ews)[before] == "FindItem"
    assert "CreateItem" not in _operations(ews)[before:]


def test_r17_a_delete_moves_the_item_to_deleted_items_by_default(ews: EwsOutlook) -> None:
    item_id = ews.apply(USER, uuid.uuid4(), creating(KICKOFF)).native_id
    ews.apply(USER, uuid.uuid4(), _deleting(item_id))
    assert ews.items(MAILBOX, ItemKind.APPOINTMENT) == []
    [kept] = ews.store.list_items(MAILBOX, "deleteditems")
    assert kept.fields.subject == "Kickoff"
    assert ews.fetch(USER, ItemKind.APPOINTMENT, item_id).change is Change.DELETED


def test_r17_a_hard_delete_when_configured(ews: EwsOutlook, clock: Clock) -> None:
    hard = EwsExchange(ews_accounts(ews.server), clock=clock, delete_type="HardDelete")
    item_id = hard.apply(USER, uuid.uuid4(), creating(KICKOFF)).native_id
    hard.apply(USER, uuid.uuid4(), _deleting(item_id))
    assert ews.store.list_items(MAILBOX, "deleteditems") == []
    with pytest.raises(ValueError, match="delete_type"):
        EwsExchange(ews_accounts(ews.server), delete_type="Shred")


def _deleting(item_id: str) -> Any:
    from engine.model import Side
    from engine.ports import Write

    return Write(
        side=Side.EXCHANGE, operation="delete", kind=ItemKind.APPOINTMENT, native_id=item_id
    )


def test_observations_hold_plain_values_the_event_store_can_write(ews: EwsOutlook) -> None:
    """exchangelib's EWSDateTime is a datetime subclass orjson refuses (the engine's events)."""
    item_id = ews.apply(USER, uuid.uuid4(), creating(KICKOFF)).native_id
    seen = ews.fetch(USER, ItemKind.APPOINTMENT, item_id)
    assert seen.modified_at is not None and type(seen.modified_at) is datetime
    assert type(seen.native_version) is str
    orjson.dumps(seen.model_dump())


# ---- all-day items across DST (exchangelib 5.6.0) -------------------------------------------------


@pytest.mark.parametrize(
    ("first", "days"),
    [
        (date(2026, 3, 29), 1),
        (date(2026, 3, 28), 2),
        (date(2026, 3, 27), 4),
        (date(2026, 10, 25), 1),
    ],
    ids=["spring day", "spring weekend", "over the spring change", "autumn day"],
)
def test_an_all_day_item_across_a_dst_change_keeps_its_days(
    ews: EwsOutlook, first: date, days: int
) -> None:
    snapshot = _all_day(first, days)
    item_id = ews.apply(USER, uuid.uuid4(), creating(snapshot)).native_id
    seen = ews.fetch(USER, ItemKind.APPOINTMENT, item_id)
    assert seen.snapshot is not None and seen.snapshot.sync_hash == snapshot.sync_hash


def test_exchangelib_reads_an_all_day_end_a_day_short_in_spring(ews: EwsOutlook) -> None:
    """Why `items.item_times` exists: without it the end read is the one exchangelib makes."""
    # Saturday and Sunday, 28-29 March 2026: the clocks go forward on the Sunday.
    item_id = ews.apply(USER, uuid.uuid4(), creating(_all_day(date(2026, 3, 28), 2))).native_id
    account = ews_accounts(ews.server)(MAILBOX)
    [raw] = account.fetch(
        [(item_id, None)],
        folder=account.calendar,
        only_fields=["start", "end", "is_all_day", "_start_timezone"],
    )
    # exchangelib 5.6.0: the inclusive end date should be 2026-03-29; it subtracts 24 h in UTC.
    assert (raw.start, raw.end) == (EWSDate(2026, 3, 28), EWSDate(2026, 3, 28))


def test_without_the_workaround_the_spring_all_day_item_reads_wrong(
    ews: EwsOutlook, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshot = _all_day(date(2026, 3, 28), 2)
    item_id = ews.apply(USER, uuid.uuid4(), creating(snapshot)).native_id

    def exchangelibs_own(item: Any, time_zone: str) -> tuple[datetime, datetime]:
        start = datetime.combine(item.start, datetime.min.time(), BERLIN)
        end = datetime.combine(item.end + timedelta(days=1), datetime.min.time(), BERLIN)
        return start.astimezone(UTC), end.astimezone(UTC)

    monkeypatch.setattr(ews_items, "item_times", exchangelibs_own)
    seen = ews.fetch(USER, ItemKind.APPOINTMENT, item_id)
    assert seen.snapshot is not None and seen.snapshot.sync_hash != snapshot.sync_hash


# ---- errors -------------------------------------------------------------------------------------


def test_server_busy_is_transient_with_its_back_off(ews: EwsOutlook) -> None:
    ews.server.faults.add(ServerBusy(back_off_ms=1500), operation="CreateItem")
    with pytest.raises(TransientError) as busy:
        ews.apply(USER, uuid.uuid4(), creating(KICKOFF))
    assert busy.value.retry_after_s == 1.5 and "ErrorServerBusy" in str(busy.value)
    ews.apply(USER, uuid.uuid4(), creating(KICKOFF))  # fired once: the retry goes through


@pytest.mark.parametrize("status", [500, 503])
def test_http_server_errors_are_transient(ews: EwsOutlook, status: int) -> None:
    ews.server.faults.add(HttpStatus(status), operation="SyncFolderItems")
    with pytest.raises(TransientError):
        ews.read_changes(USER, ItemKind.APPOINTMENT, None)


def test_a_response_slower_than_the_timeout_is_transient(
    ews: EwsOutlook, monkeypatch: pytest.MonkeyPatch
) -> None:
    item_id = ews.apply(USER, uuid.uuid4(), creating(KICKOFF)).native_id
    monkeypatch.setattr(BaseProtocol, "TIMEOUT", 0.3)
    ews.server.faults.add(Delay(1.0), operation="GetItem")
    with pytest.raises(TransientError):
        ews.fetch(USER, ItemKind.APPOINTMENT, item_id)


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("ErrorItemNotFound", NotFound),
        ("ErrorIrresolvableConflict", VersionConflict),
        ("ErrorMailboxStoreUnavailable", TransientError),
        ("ErrorQuotaExceeded", PermanentError),
    ],
)
def test_ews_codes_become_the_engines_errors(
    ews: EwsOutlook, code: str, error: type[Exception]
) -> None:
    # (On DeleteItem: the simulator's injected errors for CreateItem/GetItem/UpdateItem lack
    # the m:Items element the schema wants; reported, not changed here.)
    item_id = ews.apply(USER, uuid.uuid4(), creating(KICKOFF)).native_id
    ews.server.faults.add(ResponseError(code), operation="DeleteItem")
    with pytest.raises(error, match=code) as raised:
        ews.apply(USER, uuid.uuid4(), _deleting(item_id))
    assert type(raised.value) is error


def test_a_permanent_error_names_its_code_and_parks_only_that_item(ews: EwsOutlook) -> None:
    item_id = ews.apply(USER, uuid.uuid4(), creating(KICKOFF)).native_id
    ews.server.faults.add(ResponseError("ErrorQuotaExceeded"), operation="DeleteItem")
    with pytest.raises(PermanentError, match="ErrorQuotaExceeded"):
        ews.apply(USER, uuid.uuid4(), _deleting(item_id))
    assert ews.check_mailbox(USER).reachable  # the mailbox is fine; the next item goes through
    ews.apply(USER, uuid.uuid4(), creating(KICKOFF.replace(subject="Next")))


@pytest.mark.parametrize(
    ("code", "on_write"),
    [
        # Rights are granted later, where no item changes: retried, never parked.
        ("ErrorImpersonateUserDenied", TransientError),
        ("ErrorAccessDenied", TransientError),
        ("ErrorNonExistentMailbox", PermanentError),
    ],
)
def test_r12_a_mailbox_that_cannot_be_reached_says_why(
    ews: EwsOutlook, code: str, on_write: type[Exception]
) -> None:
    ews.unreachable[MAILBOX] = code
    status = ews.check_mailbox(USER)
    assert (status.reachable, status.reason) == (False, code)
    with pytest.raises(on_write, match=code) as raised:
        ews.apply(USER, uuid.uuid4(), creating(KICKOFF))
    assert type(raised.value) is on_write


def test_a_user_without_a_mailbox_is_unreachable(ews: EwsOutlook) -> None:
    status = ews.check_mailbox(User(login="nobody", allow_sync=True))
    assert not status.reachable and "no Exchange mailbox" in status.reason


def test_wrong_credentials_never_show_the_password(ews: EwsOutlook, clock: Clock) -> None:
    from exchangelib import BASIC, IMPERSONATION, Account, Configuration, Credentials

    secret = "not-the-password-4711"
    config = Configuration(
        service_endpoint=ews.server.url,
        credentials=Credentials(ADMIN.username, secret),
        auth_type=BASIC,
        version=EXCHANGE_2016,
    )
    port = EwsExchange(
        lambda mailbox: Account(
            mailbox, config=config, autodiscover=False, access_type=IMPERSONATION
        ),
        clock=clock,
    )
    status = port.check_mailbox(USER)
    assert not status.reachable and secret not in status.reason
    with pytest.raises(TransientError) as denied:
        port.read_changes(USER, ItemKind.APPOINTMENT, None)
    assert secret not in str(denied.value) and secret not in repr(denied.value.__cause__)


def test_an_item_exchange_cannot_store_is_refused_before_sending(ews: EwsOutlook) -> None:
    # A zone whose rules parted from its Windows zone has no id Exchange would read back right.
    odd = KICKOFF.replace(time_zone="America/Scoresbysund")
    with pytest.raises(PermanentError, match="UNKNOWN_TIME_ZONE"):
        ews.apply(USER, uuid.uuid4(), creating(odd))


# ---- what goes over the wire ---------------------------------------------------------------------


def test_writes_send_no_invitations_and_deletes_move_to_deleted_items(
    ews: EwsOutlook, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """R14 is separate: the engine writes appointments, never meeting requests."""
    sent: list[str] = []

    class Recording(requests.adapters.HTTPAdapter):
        def send(self, request: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            body = request.body
            sent.append(body.decode() if isinstance(body, bytes) else str(body or ""))
            return super().send(request, **kwargs)

    monkeypatch.setattr(BaseProtocol, "HTTP_ADAPTER_CLS", Recording)
    port = EwsExchange(ews_accounts(ews.server), clock=clock)  # a new pool, with the recorder
    participant = Participant(email="schmidt@example.com")
    meeting = KICKOFF.replace(participants=(participant,))
    item_id = port.apply(USER, uuid.uuid4(), creating(meeting)).native_id
    item = ews.get(item_id)
    port.apply(USER, uuid.uuid4(), updating(item, meeting.replace(subject="Moved")))
    port.apply(USER, uuid.uuid4(), _deleting(item_id))

    def request(operation: str) -> str:
        [body] = [b for b in sent if f"<m:{operation} " in b]
        return body

    assert 'SendMeetingInvitations="SendToNone"' in request("CreateItem")
    assert 'SendMeetingInvitationsOrCancellations="SendToNone"' in request("UpdateItem")
    assert 'ConflictResolution="NeverOverwrite"' in request("UpdateItem")
    delete = request("DeleteItem")
    assert 'DeleteType="MoveToDeletedItems"' in delete
    assert 'SendMeetingCancellations="SendToNone"' in delete


def test_a_server_that_does_not_answer_is_transient(clock: Clock) -> None:
    from exchangelib import BASIC, IMPERSONATION, Account, Configuration, Credentials, FailFast

    config = Configuration(
        service_endpoint="http://127.0.0.1:9/EWS/Exchange.asmx",  # nothing listens there
        credentials=Credentials(ADMIN.username, ADMIN.password),
        auth_type=BASIC,
        version=EXCHANGE_2016,
        retry_policy=FailFast(),
    )
    port = EwsExchange(
        lambda mailbox: Account(
            mailbox, config=config, autodiscover=False, access_type=IMPERSONATION
        ),
        clock=clock,
    )
    assert not port.check_mailbox(USER).reachable
    with pytest.raises(TransientError):
        port.read_changes(USER, ItemKind.APPOINTMENT, None)
    with pytest.raises(TransientError):
        port.apply(USER, uuid.uuid4(), creating(KICKOFF))


def test_r9_the_mailbox_comes_from_the_injected_resolution(ews: EwsOutlook, clock: Clock) -> None:
    """No domain is assumed: the composition root says where a user's mailbox is."""
    by_login = EwsExchange(
        ews_accounts(ews.server), mailbox_for=lambda user: f"{user.login}@example.com", clock=clock
    )
    user = User(login="schmidt", allow_sync=True)  # no stored mailbox
    assert by_login.check_mailbox(user).reachable
    item_id = by_login.apply(user, uuid.uuid4(), creating(KICKOFF)).native_id
    assert [i.id for i in ews.items("schmidt@example.com", ItemKind.APPOINTMENT)] == [item_id]


def test_r2_a_series_exceptions_are_written_in_one_update_and_one_delete(ews: EwsOutlook) -> None:
    weekly = Recurrence(pattern="weekly", weekdays=("monday", "wednesday"), count=8)
    series = Appointment(subject="Jour fixe", start=at(7, 9), end=at(7, 10), recurrence=weekly)
    starts = series.occurrence_starts()
    moved = [
        ModifiedOccurrence(
            original_start=s, start=s + timedelta(hours=1), end=s + timedelta(hours=2), subject="M"
        )
        for s in starts[1:4]
    ]
    target = series.replace(
        modified_occurrences=tuple(moved), deleted_occurrences=(starts[5], starts[6])
    )
    before = len(ews.server.requests)
    item_id = ews.apply(USER, uuid.uuid4(), creating(target)).native_id
    asked = _operations(ews)[before:]
    assert (asked.count("CreateItem"), asked.count("UpdateItem"), asked.count("DeleteItem")) == (
        1,
        1,
        1,
    )
    seen = ews.fetch(USER, ItemKind.APPOINTMENT, item_id)
    assert seen.snapshot is not None and seen.snapshot.sync_hash == target.sync_hash
