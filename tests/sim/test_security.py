"""Hostile or malformed requests are refused as Exchange refuses them, never half-understood."""

from __future__ import annotations

import logging

import pytest
import requests
from lxml import etree

from sim.envelope import SOAP_NS
from sim.server import EwsServer
from sim.store import MailboxStore
from tests.sim.support import ADMIN, ALICE, envelope, impersonating

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
