"""The schema check itself: invalid traffic is caught, and the one exception stays narrow."""

from __future__ import annotations

import datetime as dt

import pytest
import requests
from lxml import etree

from sim.envelope import (
    MESSAGES_NS,
    SOAP_NS,
    TYPES_NS,
    Element,
    build,
    m,
    response_messages,
    success_message,
)
from sim.itemxml import item_element
from sim.model import CalendarFields
from sim.operations.get_item import GetItem
from sim.recurrence import DailyPattern, EwsRecurrence, NumberedRange
from sim.schema import SchemaValidator
from sim.server import EwsServer
from sim.shapes import BaseShape, Shape
from sim.store import MailboxStore
from tests.sim.support import ADMIN, ALICE, MESSAGES_XSD, envelope, impersonating


def post(server: EwsServer, data: bytes, password: str = ADMIN.password) -> requests.Response:
    return requests.post(
        server.url,
        data=data,
        auth=(ADMIN.username, password),
        headers={"X-AnchorMailbox": ALICE},
        timeout=30,
    )


@pytest.fixture
def validator() -> SchemaValidator:
    return SchemaValidator(MESSAGES_XSD)


def test_invalid_request_is_refused_with_error_schema_validation_and_recorded(
    server: EwsServer,
) -> None:
    body = (
        "<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>"
        '<m:ItemIds><t:ItemIdentifier Id="x"/></m:ItemIds></m:GetItem>'
    )

    response = post(server, envelope(body))

    assert response.status_code == 500
    fault = etree.fromstring(response.content).find(f"{{{SOAP_NS}}}Body/{{{SOAP_NS}}}Fault")
    assert fault is not None and fault.findtext("faultcode") == "a:ErrorSchemaValidation"
    [violation] = server.take_violations()
    assert violation.direction == "request" and "ItemIdentifier" in str(violation)


def test_a_request_refused_at_authentication_is_neither_parsed_nor_checked(
    server: EwsServer,
) -> None:
    body = (
        "<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>"
        '<m:ItemIds><t:ItemIdentifier Id="x"/></m:ItemIds></m:GetItem>'
    )

    response = post(server, envelope(body), password="wrong")

    assert response.status_code == 401
    assert server.take_violations() == []  # authentication comes first; the body is not read
    assert (server.requests[-1].operation, server.requests[-1].status) == ("?", 401)


def test_a_valid_request_refused_at_authentication_records_no_violation(
    server: EwsServer,
) -> None:
    body = (
        "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>"
        '<m:FolderIds><t:DistinguishedFolderId Id="calendar"/></m:FolderIds></m:GetFolder>'
    )

    assert post(server, envelope(body), password="wrong").status_code == 401
    assert server.violations == []


def test_invalid_header_is_caught(server: EwsServer) -> None:
    body = '<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="calendar"/></m:FolderIds></m:GetFolder>'

    response = post(
        server, envelope(body, header='<t:RequestServerVersion Version="Exchange2099"/>')
    )

    assert response.status_code == 500
    [violation] = server.take_violations()
    assert violation.element.endswith("RequestServerVersion")


def test_invalid_response_is_recorded(server: EwsServer, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: GetItem, context: object, request: object) -> Element:
        # ResponseCode before MessageText: the wrong order for ResponseMessageType.
        response = m("GetItemResponse")
        messages = etree.SubElement(response, f"{{{MESSAGES_NS}}}ResponseMessages")
        message = etree.SubElement(messages, f"{{{MESSAGES_NS}}}GetItemResponseMessage")
        message.set("ResponseClass", "Error")
        etree.SubElement(message, f"{{{MESSAGES_NS}}}ResponseCode").text = "ErrorItemNotFound"
        etree.SubElement(message, f"{{{MESSAGES_NS}}}MessageText").text = "not found"
        return response

    monkeypatch.setattr(GetItem, "execute", broken)
    body = (
        "<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>"
        '<m:ItemIds><t:ItemId Id="x"/></m:ItemIds></m:GetItem>'
    )

    post(server, envelope(body, impersonating(ALICE)))

    [violation] = server.take_violations()
    assert violation.direction == "response" and violation.operation == "GetItem"


STREAMED = """<m:GetStreamingEventsResponse xmlns:m="{m}" xmlns:t="{t}"><m:ResponseMessages>
<m:GetStreamingEventsResponseMessage ResponseClass="Success">
<m:ResponseCode>NoError</m:ResponseCode><m:Notifications>{notification}</m:Notifications><m:ConnectionStatus>OK</m:ConnectionStatus>
</m:GetStreamingEventsResponseMessage></m:ResponseMessages></m:GetStreamingEventsResponse>"""
NOTIFICATION = """<{prefix}:Notification><t:SubscriptionId>abc</t:SubscriptionId>
<t:CreatedEvent><t:TimeStamp>2026-03-02T08:00:00Z</t:TimeStamp><t:ItemId Id="i"/>
<t:ParentFolderId Id="f"/></t:CreatedEvent>{extra}</{prefix}:Notification>"""


def streamed(prefix: str, extra: str = "") -> Element:
    notification = NOTIFICATION.format(prefix=prefix, extra=extra)
    return etree.fromstring(STREAMED.format(m=MESSAGES_NS, t=TYPES_NS, notification=notification))


def test_m_notification_in_streaming_responses_is_the_documented_exception(
    validator: SchemaValidator,
) -> None:
    assert validator.check_element(streamed("m")) == []
    assert validator.check_element(streamed("t")) == []


def test_the_exception_still_validates_the_notification_content(validator: SchemaValidator) -> None:
    assert validator.check_element(streamed("m", extra="<t:Bogus/>")) != []


def test_m_notification_elsewhere_is_not_excused(validator: SchemaValidator) -> None:
    response = etree.fromstring(
        f"""<m:GetEventsResponse xmlns:m="{MESSAGES_NS}" xmlns:t="{TYPES_NS}"><m:ResponseMessages>
        <m:GetEventsResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>
        <t:Notification><t:SubscriptionId>abc</t:SubscriptionId>
        <t:StatusEvent><t:Watermark>w</t:Watermark></t:StatusEvent></t:Notification>
        </m:GetEventsResponseMessage></m:ResponseMessages></m:GetEventsResponse>"""
    )

    assert validator.check_element(response) != []


def test_soap_faults_are_checked_against_the_soap_fault_definition(
    validator: SchemaValidator,
) -> None:
    fault = etree.fromstring(
        f'<s:Fault xmlns:s="{SOAP_NS}"><faultstring>no code</faultstring></s:Fault>'
    )

    assert validator.check_element(fault) != []


def test_master_with_modified_and_deleted_occurrences_validates(
    validator: SchemaValidator, store: MailboxStore
) -> None:
    # Microsoft documents no such response; the schema (OccurrenceInfoType,
    # DeletedOccurrenceInfoType) is the only reference.
    start = dt.datetime(2026, 3, 16, 8, tzinfo=dt.UTC)
    master = store.create_calendar_item(
        ALICE,
        CalendarFields(subject="series", start=start, end=start + dt.timedelta(hours=1)),
        EwsRecurrence(DailyPattern(), NumberedRange(start.date(), 5)),
    )
    store.update_occurrence(master.item_id, start + dt.timedelta(days=1), subject="moved")
    store.delete_occurrence(master.item_id, start + dt.timedelta(days=2))
    item = store.get_calendar_item(master.item_id)

    response = response_messages(
        "GetItem",
        [
            success_message(
                "GetItem", build(m("Items"), item_element(item, Shape(BaseShape.ALL_PROPERTIES)))
            )
        ],
    )

    paths = {etree.QName(elem).localname for elem in response.iter()}
    assert {"ModifiedOccurrences", "Occurrence", "OriginalStart", "DeletedOccurrences"} <= paths
    assert validator.check_element(response) == []
