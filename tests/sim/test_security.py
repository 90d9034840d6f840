"""Hostile or malformed requests are refused as Exchange refuses them, never half-understood."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import replace

import pytest
import requests
from exchangelib import DELEGATE, Account
from exchangelib.errors import ErrorAccessDenied, ErrorNonExistentMailbox
from lxml import etree

from sim.auth import AdminAccount
from sim.envelope import SOAP_NS
from sim.model import CalendarFields
from sim.recurrence import DailyPattern, EwsRecurrence, NumberedRange
from sim.server import EwsServer, ServerConfig
from sim.store import MailboxStore
from tests.sim.support import (
    ADMIN,
    ALICE,
    BOB,
    AccountFactory,
    envelope,
    impersonating,
    xpath_strings,
)

CREATE_ITEM = (
    '<m:CreateItem SendMeetingInvitations="SendToNone"><m:SavedItemFolderId>'
    '<t:DistinguishedFolderId Id="calendar"/></m:SavedItemFolderId><m:Items><t:CalendarItem>'
    "<t:Subject>{subject}</t:Subject><t:Start>2026-03-10T09:00:00Z</t:Start>"
    "<t:End>2026-03-10T10:00:00Z</t:End></t:CalendarItem></m:Items></m:CreateItem>"
)


def post(server: EwsServer, data: bytes) -> requests.Response:
    return requests.post(server.url, data=data, auth=(ADMIN.username, ADMIN.password), timeout=30)


def fault_of(response: requests.Response) -> tuple[str | None, str | None]:
    fault = etree.fromstring(response.content).find(f"{{{SOAP_NS}}}Body/{{{SOAP_NS}}}Fault")
    assert fault is not None, response.content
    return fault.findtext("faultcode"), fault.findtext("faultstring")


@pytest.mark.parametrize(
    ("doctype", "subject"),
    [
        ('<!DOCTYPE s:Envelope [<!ENTITY who "Budget">]>', "&who; review"),
        ("<!DOCTYPE s:Envelope>", "Budget review"),
        ('<!DOCTYPE s:Envelope SYSTEM "http://127.0.0.1:9/evil.dtd">', "Budget review"),
    ],
)
def test_a_doctype_is_refused_with_a_soap_fault_and_nothing_is_created(
    server: EwsServer,
    store: MailboxStore,
    caplog: pytest.LogCaptureFixture,
    doctype: str,
    subject: str,
) -> None:
    caplog.set_level(logging.ERROR, logger="sim")
    request = envelope(CREATE_ITEM.format(subject=subject), impersonating(ALICE))
    declaration, rest = request.split(b"\n", 1)
    hostile = declaration + b"\n" + doctype.encode() + b"\n" + rest

    response = post(server, hostile)

    assert response.status_code == 500
    code, message = fault_of(response)
    assert code == "a:ErrorSchemaValidation"
    assert message is not None and "DTD is prohibited" in message
    assert store.list_items(ALICE) == []
    assert "failed inside the simulator" not in caplog.text


GET_CALENDAR = (
    "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>"
    '<m:FolderIds><t:DistinguishedFolderId Id="calendar"/></m:FolderIds></m:GetFolder>'
)


def codes(response: requests.Response) -> list[str]:
    root = etree.fromstring(response.content)
    faults = xpath_strings(root, "//s:Fault/faultcode/text()", {"s": SOAP_NS})
    return faults or xpath_strings(root, "//*[local-name()='ResponseCode']/text()")


def an_item(store: MailboxStore, mailbox: str, subject: str = "Budget review") -> str:
    start = dt.datetime(2026, 3, 10, 9, tzinfo=dt.UTC)
    fields = CalendarFields(subject=subject, start=start, end=start + dt.timedelta(hours=1))
    return store.create_calendar_item(mailbox, fields).item_id


def test_x_anchor_mailbox_alone_does_not_open_another_mailbox(
    server: EwsServer, store: MailboxStore
) -> None:
    anchored = requests.post(
        server.url,
        data=envelope(CREATE_ITEM.format(subject="planted")),
        auth=(ADMIN.username, ADMIN.password),
        headers={"X-AnchorMailbox": ALICE},
        timeout=30,
    )

    # The admin has no mailbox of its own, and the anchor only routes.
    assert codes(anchored) == ["a:ErrorNonExistentMailbox"]
    assert store.list_items(ALICE) == []


def test_x_anchor_mailbox_routes_but_the_caller_acts_in_its_own_mailbox(
    store: MailboxStore, server_config: ServerConfig
) -> None:
    owner = AdminAccount(ALICE, "alice-pass", frozenset())  # a user with a mailbox, no rights
    with EwsServer(store, replace(server_config, admins=(owner,))) as server:
        response = requests.post(
            server.url,
            data=envelope(CREATE_ITEM.format(subject="mine")),
            auth=(ALICE, "alice-pass"),
            headers={"X-AnchorMailbox": BOB},
            timeout=30,
        )
        assert server.violations == []

    assert codes(response) == ["NoError"]
    assert [item.subject for item in store.list_items(ALICE)] == ["mine"]
    assert store.list_items(BOB) == []


def test_delegate_access_through_the_anchor_is_refused_to_exchangelib(
    account_for: AccountFactory, store: MailboxStore
) -> None:
    an_item(store, ALICE)
    delegate = account_for(ALICE, access_type=DELEGATE)

    with pytest.raises((ErrorNonExistentMailbox, ErrorAccessDenied)):
        list(delegate.calendar.all())


def test_an_impersonating_caller_cannot_read_an_item_of_another_mailbox(
    alice: Account, store: MailboxStore
) -> None:
    bobs = an_item(store, BOB, "Bob's secret")

    with pytest.raises(ErrorAccessDenied):
        list(alice.fetch(ids=[(bobs, None)]))


def test_an_item_id_of_another_mailbox_is_refused_in_every_operation(
    server: EwsServer, store: MailboxStore
) -> None:
    bobs = store.get_item(an_item(store, BOB, "Bob's"))
    series = store.create_calendar_item(
        BOB,
        CalendarFields(
            subject="Bob's series",
            start=dt.datetime(2026, 3, 10, 9, tzinfo=dt.UTC),
            end=dt.datetime(2026, 3, 10, 10, tzinfo=dt.UTC),
        ),
        EwsRecurrence(DailyPattern(1), NumberedRange(dt.date(2026, 3, 10), 3)),
    )
    bobs_calendar = store.folder(BOB, "calendar").folder_id
    item_id = f'<t:ItemId Id="{bobs.item_id}" ChangeKey="{bobs.change_key}"/>'
    occurrence = f'<t:OccurrenceItemId RecurringMasterId="{series.item_id}" InstanceIndex="2"/>'
    requests_ = {
        "GetItem": (
            "<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>"
            f"<m:ItemIds>{item_id}{occurrence}</m:ItemIds></m:GetItem>"
        ),
        "UpdateItem": (
            '<m:UpdateItem ConflictResolution="AlwaysOverwrite" '
            'SendMeetingInvitationsOrCancellations="SendToNone"><m:ItemChanges><t:ItemChange>'
            f'{item_id}<t:Updates><t:SetItemField><t:FieldURI FieldURI="item:Subject"/>'
            "<t:CalendarItem><t:Subject>changed</t:Subject></t:CalendarItem></t:SetItemField>"
            "</t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>"
        ),
        "DeleteItem": (
            '<m:DeleteItem DeleteType="HardDelete" SendMeetingCancellations="SendToNone">'
            f"<m:ItemIds>{item_id}{occurrence}</m:ItemIds></m:DeleteItem>"
        ),
        "FindItem": (
            '<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>'
            f'</m:ItemShape><m:ParentFolderIds><t:FolderId Id="{bobs_calendar}"/>'
            "</m:ParentFolderIds></m:FindItem>"
        ),
        "GetFolder by Mailbox": GET_CALENDAR.replace(
            'Id="calendar"/>',
            f'Id="calendar"><t:Mailbox><t:EmailAddress>{BOB}</t:EmailAddress></t:Mailbox>'
            "</t:DistinguishedFolderId>",
        ),
    }

    answers = {
        name: codes(post(server, envelope(body, impersonating(ALICE))))
        for name, body in requests_.items()
    }

    assert {name: set(found) for name, found in answers.items()} == {
        name: {"ErrorAccessDenied"} for name in requests_
    }
    assert store.get_item(bobs.item_id).subject == "Bob's"
    assert len(store.calendar_view(BOB, series.start, series.start + dt.timedelta(days=5))) == 4
