"""Response shapes and property paths: BaseShape, AdditionalProperties, FieldURI and friends.

A request names what it wants returned (IdOnly/Default/AllProperties plus AdditionalProperties)
and which properties it sets, deletes, searches or sorts by, all as property paths: t:FieldURI,
t:IndexedFieldURI or t:ExtendedFieldURI (an extended MAPI property).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sim.envelope import Element, child, child_text, children, local_name, t
from sim.errors import EwsError, ResponseCode
from sim.model import (
    ExtendedPropertyKey,
)


class BaseShape(StrEnum):
    ID_ONLY = "IdOnly"
    DEFAULT = "Default"
    ALL_PROPERTIES = "AllProperties"


@dataclass(frozen=True)
class FieldPath:
    """A t:FieldURI (uri), t:IndexedFieldURI (uri + index) or t:ExtendedFieldURI (extended)."""

    uri: str | None = None
    extended: ExtendedPropertyKey | None = None
    index: str | None = None


@dataclass(frozen=True)
class Shape:
    base: BaseShape = BaseShape.ID_ONLY
    additional: tuple[FieldPath, ...] = ()
    body_type: str = "Best"

    def wants(self, uri: str, in_default: bool, in_all: bool) -> bool:
        if any(path.uri == uri for path in self.additional):
            return True
        if self.base is BaseShape.ALL_PROPERTIES:
            return in_all
        return self.base is BaseShape.DEFAULT and in_default

    @property
    def extended(self) -> list[ExtendedPropertyKey]:
        return [path.extended for path in self.additional if path.extended is not None]


def parse_shape(elem: Element | None) -> Shape:
    if elem is None:
        return Shape()
    base = child_text(elem, "BaseShape") or "IdOnly"
    try:
        base_shape = BaseShape(base)
    except ValueError:
        raise EwsError(ResponseCode.INVALID_REQUEST, f"Unknown BaseShape {base}") from None
    additional = tuple(
        parse_field_path(path) for path in children(child(elem, "AdditionalProperties"))
    )
    return Shape(base_shape, additional, child_text(elem, "BodyType") or "Best")


def parse_extended_key(elem: Element) -> ExtendedPropertyKey:
    def number(name: str) -> int | None:
        text = elem.get(name)
        if text is None:
            return None
        return int(text, 16) if text.lower().startswith("0x") else int(text)

    try:
        return ExtendedPropertyKey(
            property_type=elem.get("PropertyType", ""),
            property_set_id=elem.get("PropertySetId"),
            distinguished_property_set_id=elem.get("DistinguishedPropertySetId"),
            property_name=elem.get("PropertyName"),
            property_id=number("PropertyId"),
            property_tag=number("PropertyTag"),
        )
    except ValueError as error:
        raise EwsError(ResponseCode.INVALID_EXTENDED_PROPERTY, str(error)) from None


def parse_field_path(elem: Element) -> FieldPath:
    name = local_name(elem)
    if name == "ExtendedFieldURI":
        return FieldPath(extended=parse_extended_key(elem))
    if name in ("FieldURI", "IndexedFieldURI", "ExceptionFieldURI"):
        return FieldPath(uri=elem.get("FieldURI"), index=elem.get("FieldIndex"))
    raise EwsError(ResponseCode.INVALID_PROPERTY_REQUEST, f"Unknown property path {name}")


def extended_key_element(key: ExtendedPropertyKey) -> Element:
    tag = None if key.property_tag is None else f"0x{key.property_tag:x}"
    return t(
        "ExtendedFieldURI",
        DistinguishedPropertySetId=key.distinguished_property_set_id,
        PropertySetId=key.property_set_id,
        PropertyTag=tag,
        PropertyName=key.property_name,
        PropertyId=key.property_id,
        PropertyType=key.property_type,
    )
