"""The simulator's property catalogue is the schema's: every element of ItemType,
CalendarItemType and TaskType, in the schema's order, classified."""

from __future__ import annotations

import pytest
from exchangelib import CalendarItem, Task
from lxml import etree

from sim import itemparse
from sim.model import ItemKind
from sim.properties import (
    BOOLEAN_ELEMENTS,
    CALENDAR_ELEMENTS,
    DATETIME_ELEMENTS,
    ITEM_ELEMENTS,
    NUMBER_ELEMENTS,
    PROPERTIES,
    STRING_ARRAY_ELEMENTS,
    STRUCTURED_ELEMENTS,
    TASK_ELEMENTS,
    Access,
    by_uri,
)
from tests.sim.support import EWS_REFERENCE, EXCHANGE_2016, attribute, xpath_elements

XS = "http://www.w3.org/2001/XMLSchema"


def schema_sequence(type_name: str) -> tuple[str, ...]:
    schema = etree.parse(str(EWS_REFERENCE / "xsd" / "types.xsd"))
    [complex_type] = xpath_elements(
        schema, f"//xs:complexType[@name='{type_name}']", namespaces={"xs": XS}
    )
    return tuple(
        attribute(element, "name")
        for element in xpath_elements(
            complex_type, ".//xs:sequence/xs:element", namespaces={"xs": XS}
        )
    )


@pytest.mark.parametrize(
    ("type_name", "ours"),
    [
        ("ItemType", ITEM_ELEMENTS),
        ("CalendarItemType", CALENDAR_ELEMENTS),
        ("TaskType", TASK_ELEMENTS),
    ],
)
def test_the_element_order_is_the_schemas(type_name: str, ours: tuple[str, ...]) -> None:
    assert ours == schema_sequence(type_name)


@pytest.mark.parametrize(
    ("cls", "kind"), [(CalendarItem, ItemKind.CALENDAR_ITEM), (Task, ItemKind.TASK)]
)
def test_what_exchangelib_may_set_is_kept_and_what_it_may_not_is_refused(
    cls: type[CalendarItem] | type[Task], kind: ItemKind
) -> None:
    for field in cls.FIELDS:
        uri = getattr(field, "field_uri", None)
        if not field.supports_version(EXCHANGE_2016) or not uri or ":" not in uri:
            continue
        prop = by_uri(uri, kind)
        assert prop is not None, uri
        # exchangelib never sends these; Exchange lets a client set them (the EWS Managed API
        # has setters): ItemClass (not simulated), CompleteDate (completes the task).
        if field.is_read_only and field.name not in ("item_class", "complete_date"):
            assert prop.access is Access.READ_ONLY, uri
        elif field.name not in ("mime_content", "attachments", "item_class"):
            assert prop.access in (Access.MODELLED, Access.STORED), uri
    assert {prop.access for prop in PROPERTIES[kind].values()} == set(Access)


def test_how_values_compare_is_read_from_their_schema_types() -> None:
    schema = etree.parse(str(EWS_REFERENCE / "xsd" / "types.xsd"))
    namespaces = {"xs": XS}
    types: dict[str, set[str]] = {}
    for type_name in ("ItemType", "CalendarItemType", "TaskType"):
        [complex_type] = xpath_elements(
            schema, f"//xs:complexType[@name='{type_name}']", namespaces=namespaces
        )
        for element in xpath_elements(complex_type, ".//xs:sequence/xs:element", namespaces):
            types.setdefault(attribute(element, "type"), set()).add(attribute(element, "name"))

    def structured(type_name: str) -> bool:
        local = type_name.split(":")[1]
        found = xpath_elements(schema, f"//xs:complexType[@name='{local}']", namespaces)
        return bool(found) and not xpath_elements(found[0], "xs:simpleContent", namespaces)

    assert types["xs:boolean"] == BOOLEAN_ELEMENTS
    assert types["xs:dateTime"] == DATETIME_ELEMENTS
    assert (
        types["xs:int"] | types["xs:double"] | types["xs:long"]
        | types["t:ReminderMinutesBeforeStartType"]
    ) == NUMBER_ELEMENTS  # fmt: skip
    assert types["t:ArrayOfStringsType"] == STRING_ARRAY_ELEMENTS
    assert {
        name
        for type_name, names in types.items()
        if type_name.startswith("t:") and type_name != "t:ArrayOfStringsType"
        and structured(type_name)
        for name in names
    } == STRUCTURED_ELEMENTS  # fmt: skip


@pytest.mark.parametrize("kind", list(ItemKind))
def test_every_modelled_property_has_a_parser(kind: ItemKind) -> None:
    modelled = {
        prop.element for prop in PROPERTIES[kind].values() if prop.access is Access.MODELLED
    }
    parsed = {element for element, parsed_kind in itemparse._MODELLED if parsed_kind is kind}
    assert modelled - {"ExtendedProperty"} == parsed
