"""Raw SOAP behaviour that exchangelib does not reach: what other EWS clients may send."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import requests
from lxml import etree

from sim.envelope import MESSAGES_NS, SOAP_NS, TYPES_NS
from sim.model import CalendarFields
from sim.server import EwsServer
from sim.store import MailboxStore
from tests.sim.support import ADMIN, ALICE, CAROL, xpath_strings

NS = {"s": SOAP_NS, "m": MESSAGES_NS, "t": TYPES_NS}


def call(
    server: EwsServer, body: str, anchor: str = ALICE, impersonate: str | None = ALICE
) -> etree._Element:
    header = '<t:RequestServerVersion Version="Exchange2016"/>'
    if impersonate:
        header += (
            "<t:ExchangeImpersonation><t:ConnectingSID>"
            f"<t:PrimarySmtpAddress>{impersonate}</t:PrimarySmtpAddress>"
            "</t:ConnectingSID></t:ExchangeImpersonation>"
        )
    data = (
        f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{SOAP_NS}" '
        f'xmlns:m="{MESSAGES_NS}" xmlns:t="{TYPES_NS}"><s:Header>{header}</s:Header>'
        f"<s:Body>{body}</s:Body></s:Envelope>"
    )
    response = requests.post(
        server.url,
        data=data.encode(),
        auth=(ADMIN.username, ADMIN.password),
        headers={"X-AnchorMailbox": anchor},
        timeout=30,
    )
    return etree.fromstring(response.content)


def codes(envelope: etree._Element) -> list[str]:
    faults = xpath_strings(envelope, "//s:Fault/faultcode/text()", NS)
    return faults or xpath_strings(envelope, "//m:ResponseCode/text()", NS)


@pytest.fixture
def item_id(store: MailboxStore) -> str:
    start = dt.datetime(2026, 3, 10, 9, tzinfo=dt.UTC)
    fields = CalendarFields(
        subject="Budget review",
        start=start,
        end=start + dt.timedelta(hours=1),
        categories=("Finance",),
    )
    return store.create_calendar_item(ALICE, fields).item_id


def test_append_to_item_field_extends_categories(
    server: EwsServer, store: MailboxStore, item_id: str
) -> None:
    envelope = call(
        server,
        f"""<m:UpdateItem ConflictResolution="AlwaysOverwrite"
        SendMeetingInvitationsOrCancellations="SendToNone">
        <m:ItemChanges><t:ItemChange><t:ItemId Id="{item_id}"/><t:Updates>
        <t:AppendToItemField><t:FieldURI FieldURI="item:Categories"/>
        <t:CalendarItem><t:Categories><t:String>ERP</t:String></t:Categories></t:CalendarItem>
        </t:AppendToItemField></t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>""",
    )

    assert codes(envelope) == ["NoError"]
    assert store.get_item(item_id).fields.categories == ("Finance", "ERP")


def test_setting_a_read_only_property_is_refused(server: EwsServer, item_id: str) -> None:
    envelope = call(
        server,
        f"""<m:UpdateItem ConflictResolution="AlwaysOverwrite"
        SendMeetingInvitationsOrCancellations="SendToNone">
        <m:ItemChanges><t:ItemChange><t:ItemId Id="{item_id}"/><t:Updates>
        <t:SetItemField><t:FieldURI FieldURI="calendar:CalendarItemType"/>
        <t:CalendarItem><t:CalendarItemType>Single</t:CalendarItemType></t:CalendarItem>
        </t:SetItemField></t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>""",
    )

    assert codes(envelope) == ["ErrorInvalidPropertySet"]


def test_find_item_with_restriction_and_sort_order(
    server: EwsServer, store: MailboxStore, item_id: str
) -> None:
    start = dt.datetime(2026, 3, 11, 9, tzinfo=dt.UTC)
    store.create_calendar_item(ALICE, CalendarFields(subject="Budget plan", start=start, end=start))
    store.create_calendar_item(ALICE, CalendarFields(subject="Lunch", start=start, end=start))

    envelope = call(
        server,
        """<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>
        <t:AdditionalProperties><t:FieldURI FieldURI="item:Subject"/></t:AdditionalProperties>
        </m:ItemShape>
        <m:IndexedPageItemView MaxEntriesReturned="10" Offset="0" BasePoint="Beginning"/>
        <m:Restriction>
        <t:Contains ContainmentMode="Prefixed" ContainmentComparison="IgnoreCase">
        <t:FieldURI FieldURI="item:Subject"/><t:Constant Value="budget"/></t:Contains>
        </m:Restriction>
        <m:SortOrder><t:FieldOrder Order="Descending"><t:FieldURI FieldURI="calendar:Start"/>
        </t:FieldOrder></m:SortOrder>
        <m:ParentFolderIds><t:DistinguishedFolderId Id="calendar"/></m:ParentFolderIds>
        </m:FindItem>""",
    )

    subjects = xpath_strings(envelope, "//t:CalendarItem/t:Subject/text()", NS)
    assert subjects == ["Budget plan", "Budget review"]


def test_calendar_view_over_two_years_is_too_big(server: EwsServer) -> None:
    envelope = call(
        server,
        """<m:FindItem Traversal="Shallow">
        <m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>
        <m:CalendarView StartDate="2026-01-01T00:00:00Z" EndDate="2028-06-01T00:00:00Z"/>
        <m:ParentFolderIds><t:DistinguishedFolderId Id="calendar"/></m:ParentFolderIds>
        </m:FindItem>""",
    )

    assert codes(envelope) == ["ErrorCalendarViewRangeTooBig"]


def test_opening_a_mailbox_without_rights_is_access_denied(server: EwsServer) -> None:
    body = """<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>
        <m:FolderIds><t:DistinguishedFolderId Id="calendar"/></m:FolderIds></m:GetFolder>"""

    assert codes(call(server, body, impersonate=CAROL)) == ["a:ErrorImpersonateUserDenied"]
    assert codes(call(server, body, impersonate=ALICE)) == ["NoError"]


def test_push_subscriptions_are_refused(server: EwsServer) -> None:
    envelope = call(
        server,
        """<m:Subscribe><m:PushSubscriptionRequest><t:FolderIds>
        <t:DistinguishedFolderId Id="calendar"/></t:FolderIds>
        <t:EventTypes><t:EventType>CreatedEvent</t:EventType></t:EventTypes>
        <t:StatusFrequency>1</t:StatusFrequency><t:URL>http://127.0.0.1:1/push</t:URL>
        </m:PushSubscriptionRequest></m:Subscribe>""",
    )

    assert codes(envelope) == ["ErrorInvalidSubscriptionRequest"]


def test_operations_the_simulator_lacks_are_a_fault(server: EwsServer) -> None:
    envelope = call(
        server,
        """<m:ResolveNames ReturnFullContactData="true"><m:UnresolvedEntry>bob</m:UnresolvedEntry>
        </m:ResolveNames>""",
    )

    assert codes(envelope) == ["a:ErrorInvalidOperation"]


def test_malformed_xml_is_a_schema_validation_fault(server: EwsServer) -> None:
    response = requests.post(
        server.url, data=b"<s:Envelope", auth=(ADMIN.username, ADMIN.password), timeout=30
    )

    assert response.status_code == 500
    assert codes(etree.fromstring(response.content)) == ["a:ErrorSchemaValidation"]
    assert server.take_violations() == []  # nothing to validate: it is not XML


def test_missing_credentials_are_challenged(server: EwsServer) -> None:
    response = requests.post(server.url, data=b"<x/>", timeout=30)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")


@pytest.mark.parametrize(
    "property_xml",
    [
        "<t:IsMeeting>true</t:IsMeeting>",
        "<t:Organizer><t:Mailbox><t:EmailAddress>x@example.com</t:EmailAddress></t:Mailbox>"
        "</t:Organizer>",
        "<t:Attachments><t:FileAttachment><t:Name>a.txt</t:Name><t:Content>YQ==</t:Content>"
        "</t:FileAttachment></t:Attachments>",
    ],
    ids=["IsMeeting", "Organizer", "Attachments"],
)
def test_creating_with_a_property_exchange_computes_or_we_do_not_keep_is_refused(
    server: EwsServer, store: MailboxStore, property_xml: str
) -> None:
    # Subject, Attachments ... IsMeeting, Organizer: CalendarItemType's element order.
    subject, rest = "<t:Subject>x</t:Subject>", property_xml
    if "Attachments" in property_xml:
        subject, rest = subject + property_xml, ""
    body = (
        '<m:CreateItem SendMeetingInvitations="SendToNone"><m:Items><t:CalendarItem>'
        f"{subject}<t:Start>2026-05-04T09:00:00Z</t:Start><t:End>2026-05-04T10:00:00Z</t:End>"
        f"{rest}</t:CalendarItem></m:Items></m:CreateItem>"
    )
    assert codes(call(server, body, impersonate=ALICE)) == ["ErrorInvalidPropertySet"]
    assert store.list_items(ALICE) == []


@pytest.mark.parametrize(
    ("subscription_id", "code"),
    [
        ("not a subscription id", "ErrorInvalidSubscription"),
        ("AAAA", "ErrorInvalidSubscription"),
        ("A" * 32, "ErrorSubscriptionNotFound"),  # the shape of ours, but unknown
    ],
)
def test_an_unknown_subscription_id_is_invalid_when_malformed_else_not_found(
    server: EwsServer, subscription_id: str, code: str
) -> None:
    for body in (
        f"<m:GetEvents><m:SubscriptionId>{subscription_id}</m:SubscriptionId>"
        "<m:Watermark>AQAAAA==</m:Watermark></m:GetEvents>",
        f"<m:Unsubscribe><m:SubscriptionId>{subscription_id}</m:SubscriptionId></m:Unsubscribe>",
    ):
        assert codes(call(server, body, impersonate=ALICE)) == [code]


def convert(server: EwsServer, item_id: str, source: str, destination: str, mailbox: str) -> Any:
    envelope = call(
        server,
        f'<m:ConvertId DestinationFormat="{destination}"><m:SourceIds>'
        f'<t:AlternateId Format="{source}" Id="{item_id}" Mailbox="{mailbox}"/>'
        "</m:SourceIds></m:ConvertId>",
        impersonate=ALICE,
    )
    assert xpath_strings(envelope, "//t:ServerVersionInfo/@MajorVersion", NS) == ["15"]
    converted = xpath_strings(envelope, "//m:AlternateId/@Id", NS)
    return codes(envelope), converted[0] if converted else None


def test_convert_id_converts_between_the_formats_the_simulator_has(
    server: EwsServer, item_id: str
) -> None:
    assert convert(server, item_id, "EwsId", "EwsLegacyId", ALICE) == (["NoError"], item_id)
    code, hex_id = convert(server, item_id, "EwsId", "HexEntryId", ALICE)
    assert code == ["NoError"] and int(hex_id, 16)
    assert convert(server, hex_id, "HexEntryId", "EwsId", ALICE) == (["NoError"], item_id)
    for refused in (
        (item_id, "EwsId", "StoreId", ALICE),  # a format the simulator does not have
        (item_id, "EwsId", "EwsLegacyId", "bob@example.com"),  # not that mailbox's item
        ("DUMMY", "EwsId", "EntryId", "DUMMY"),  # exchangelib's version probe
    ):
        assert convert(server, *refused) == (["ErrorInvalidIdMalformed"], None)
