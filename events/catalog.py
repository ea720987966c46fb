"""The schema catalog: one JSON Schema per published event and command type, generated from the Structs.

Every type that can appear on a stream is published: current events, legacy events (still in the log, upcast on
read) and commands. The checked-in copy under docs/events/ is the contract that compatibility checks compare against
(bizosaas.schema_compat); bizosaas.asyncapi builds the streams document from `components`.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass

import msgspec

from events.codec import CURRENT_TYPE
from events.commands import COMMAND_TYPES
from events.legacy import LEGACY_EVENT_TYPES
from events.types import EVENT_TYPES

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


@dataclass(frozen=True)
class CatalogEntry:
    """One type as the catalog lists it."""

    tag: str  # the `type` value on the wire: commerce.order.upserted.v2
    struct: type[msgspec.Struct]
    kind: str  # "event" or "command"
    legacy: bool = False  # still readable, never written any more
    upcast_to: str | None = None  # what readers see a legacy type as (the end of its upcaster chain)


def _tag(struct: type[msgspec.Struct]) -> str:
    return struct.__struct_config__.tag


def catalog_entries() -> list[CatalogEntry]:
    types = [CatalogEntry(_tag(t), t, "event") for t in EVENT_TYPES]
    types += [
        CatalogEntry(_tag(t), t, "event", legacy=True, upcast_to=CURRENT_TYPE[_tag(t)]) for t in LEGACY_EVENT_TYPES
    ]
    types += [CatalogEntry(_tag(t), t, "command") for t in COMMAND_TYPES]
    tags = [p.tag for p in types]
    duplicates = sorted({t for t in tags if tags.count(t) > 1})
    if duplicates:  # a tag names one wire shape; two Structs claiming it would make the catalog ambiguous
        raise ValueError(f"type tags published twice: {duplicates}")
    return types


def type_schema(struct: type[msgspec.Struct], tag: str | None = None) -> dict[str, typing.Any]:
    """The self-contained JSON Schema (2020-12) of one type: its Struct and every Struct it references in $defs."""
    schema = msgspec.json.schema(struct)
    return {"$schema": JSON_SCHEMA_DIALECT, "title": tag or _tag(struct), **schema}


def catalog_schemas() -> dict[str, dict[str, typing.Any]]:
    """tag -> schema document, with the catalog's notes on each type (x-bizosaas)."""
    out = {}
    for p in catalog_entries():
        doc = type_schema(p.struct, p.tag)
        note: dict[str, typing.Any] = {"kind": p.kind, "status": "legacy" if p.legacy else "current"}
        if p.upcast_to:
            note["upcast_to"] = p.upcast_to
        doc["x-bizosaas"] = note
        out[p.tag] = doc
    return out


def components(ref_template: str = "#/components/schemas/{name}") -> tuple[dict[str, str], dict[str, typing.Any]]:
    """(tag -> component name, component name -> schema) for every published type, sharing one set of definitions."""
    types = catalog_entries()
    refs, defs = msgspec.json.schema_components([p.struct for p in types], ref_template=ref_template)
    prefix = ref_template.split("{name}")[0]
    return {p.tag: ref["$ref"].removeprefix(prefix) for p, ref in zip(types, refs)}, defs
