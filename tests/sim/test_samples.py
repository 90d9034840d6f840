"""Microsoft's sample envelopes against the simulator.

Requests: every documented request is accepted by the simulator's request parser (the envelope
parser and the operation's own parser).

Responses: for each documented response, the simulator answers the documented request of the
same page (with the sample's truncated ids replaced by real ones of a seeded mailbox) and its
response must have the same element structure: the same set of tag paths, ignoring the order and
repetition of siblings and all values. What cannot match is listed per sample, with the reason.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from lxml import etree

from sim.envelope import MESSAGES_NS, TYPES_NS, parse_request
from sim.errors import SoapFault
from sim.model import Attendee, Body, BodyType, CalendarFields, TaskFields
from sim.operations import OPERATIONS, StreamTiming
from sim.recurrence import DayOfWeek, EwsRecurrence, NumberedRange, WeeklyPattern
from sim.server import EwsServer, ServerConfig
from sim.store import MailboxStore
from tests.sim.sample_pairs import (
    NOT_COVERED,
    PAIRINGS,
    Pairing,
    Seeded,
    _kept,
    replay,
)
from tests.sim.samples import WRAPPED_NAMESPACES, load, sample_names, structure
from tests.sim.support import ADMIN, ALICE, MESSAGES_XSD, SAMPLES, original_start

REQUESTS = [name for name in sample_names() if not load(name).is_response]
RESPONSES = [name for name in sample_names() if load(name).is_response]


@pytest.mark.parametrize("name", REQUESTS)
def test_documented_request_is_accepted_by_the_request_parser(name: str) -> None:
    sample = load(name)
    if name == "subscribe-operation__04.xml":
        # The documentation's push example declares no namespace on <Subscribe>: not an EWS
        # request. The simulator refuses it like Exchange; its content still parses.
        with pytest.raises(SoapFault, match="messages namespace"):
            parse_request(sample.xml())
        assert OPERATIONS["Subscribe"].parse(sample.payload).kind == "Push"
        return

    request = parse_request(sample.xml())
    parsed = OPERATIONS[request.operation].parse(request.payload)

    assert request.operation == sample.operation and parsed is not None


@pytest.mark.parametrize("name", sorted(WRAPPED_NAMESPACES))
def test_a_sample_with_a_line_wrapped_namespace_is_usable_once_repaired(name: str) -> None:
    with pytest.raises(etree.XMLSyntaxError, match="not a valid URI"):
        etree.fromstring((SAMPLES / name).read_bytes())

    sample = load(name)

    assert etree.QName(sample.payload).namespace == MESSAGES_NS
    assert {etree.QName(e).namespace for e in sample.payload.iter(etree.Element)} <= {
        MESSAGES_NS,
        TYPES_NS,
    }
    assert name in sample_names()


# --- responses ----------------------------------------------------------------------------------


@pytest.fixture
def seeded(store: MailboxStore) -> Iterator[Seeded]:
    config = ServerConfig(
        admins=(ADMIN,),
        schema=MESSAGES_XSD,
        timing=StreamTiming(minute_seconds=0.3, heartbeat_seconds=30),
    )
    server = EwsServer(store, config).start()
    calendar = store.folder(ALICE, "calendar").folder_id
    new_items = ["CreatedEvent", "NewMailEvent"]
    pull, watermark = store.subscribe_pull(ALICE, [calendar], new_items, 30)
    foreign_pull, _ = store.subscribe_pull(ALICE, None, new_items, 30, owner="another-app")
    start = dt.datetime(2026, 3, 16, 9, tzinfo=dt.UTC)
    single = store.create_calendar_item(
        ALICE,
        CalendarFields(
            subject="Planning",
            body=Body("Agenda", BodyType.TEXT),
            start=start,
            end=start + dt.timedelta(minutes=30),
            location="Room 1",
            required_attendees=(Attendee("bob@example.com", "Bob"),),
        ),
    )
    master = store.create_calendar_item(
        ALICE,
        CalendarFields(subject="Weekly", start=start, end=start + dt.timedelta(hours=1)),
        EwsRecurrence(WeeklyPattern((DayOfWeek.MONDAY,)), NumberedRange(dt.date(2026, 3, 16), 10)),
    )
    second = store.occurrence(master.item_id, index=2)
    store.update_occurrence(master.item_id, original_start(second), subject="Moved")
    store.delete_occurrence(
        master.item_id, original_start(store.occurrence(master.item_id, index=3))
    )
    master = store.get_calendar_item(master.item_id)
    plain_master = store.create_calendar_item(
        ALICE,
        CalendarFields(subject="Plain", start=start, end=start + dt.timedelta(hours=1)),
        EwsRecurrence(WeeklyPattern((DayOfWeek.TUESDAY,)), NumberedRange(dt.date(2026, 3, 16), 4)),
    )
    doomed = store.create_calendar_item(
        ALICE, CalendarFields(subject="Doomed", start=start, end=start + dt.timedelta(hours=2))
    )
    # A sync state from before the last changes: a later sync reports Create, Update, Delete.
    sync_state = store.sync_folder_items(ALICE, "calendar").sync_state
    store.delete_item(doomed.item_id)
    edited = store.update_item(single.item_id, location="Room 2")
    store.create_calendar_item(
        ALICE, CalendarFields(subject="Added", start=start, end=start + dt.timedelta(hours=1))
    )
    # All folders: the documented stream also reports the folder itself as modified.
    streaming = store.subscribe_streaming(ALICE, None, [*new_items, "ModifiedEvent"])
    task = store.create_task(ALICE, TaskFields(subject="Call back"))
    try:
        yield Seeded(
            server=server,
            single=edited.item_id,
            single_key=edited.change_key,
            master=master.item_id,
            master_key=master.change_key,
            plain_master=plain_master.item_id,
            plain_master_key=plain_master.change_key,
            occurrence=store.occurrence(master.item_id, index=4).item_id,
            task=task.item_id,
            task_key=task.change_key,
            calendar=calendar,
            pull=pull,
            watermark=watermark,
            foreign_pull=foreign_pull,
            streaming=streaming,
            sync_state=sync_state,
        )
    finally:
        server.stop()
    assert server.in_flight == 0, "requests still running after stop: their traffic is unchecked"
    assert server.violations == [], "\n".join(map(str, server.violations))


@pytest.mark.parametrize(
    "pairing", PAIRINGS, ids=[p.response.removesuffix(".xml") for p in PAIRINGS]
)
def test_response_has_the_documented_structure(pairing: Pairing, seeded: Seeded) -> None:
    documented = structure(load(pairing.response).payload)
    ours = structure(replay(pairing, seeded))

    missing = sorted(_kept(documented, pairing.skipped) - ours)
    extra = sorted(_kept(ours, pairing.skipped) - documented)

    assert (missing, extra) == ([], [])


def test_every_documented_response_is_paired_or_explained() -> None:
    paired = {pairing.response for pairing in PAIRINGS}
    assert paired.isdisjoint(NOT_COVERED)
    assert paired | set(NOT_COVERED) == set(RESPONSES)
