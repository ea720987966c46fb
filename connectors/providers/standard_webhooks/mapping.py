"""Standard Webhooks payloads -> entities. The payload is generic (`{"type", "timestamp", "data"}`): `data` is
validated into the entity of the kind the type names; the fields the entity lacks go to provider_data."""

from __future__ import annotations

from typing import Any

import msgspec

from connectors.base import NormalizeError
from events.entities import Entity
from events.types import UPSERTED_BY_KIND

# our kind -> its entity Struct (page shares Post)
ENTITIES: dict[str, type[Entity]] = {
    kind: next(f.type for f in msgspec.structs.fields(event) if f.name == "data")
    for kind, event in UPSERTED_BY_KIND.items()
}


def entity(kind: str, data: dict[str, Any]) -> Entity:
    entity_type = ENTITIES[kind]
    known = {f.name for f in msgspec.structs.fields(entity_type)} - {"provider_data"}
    extra = {k: v for k, v in data.items() if k not in known and k not in ("id", "provider_data")}
    given = data.get("provider_data")
    values = {k: v for k, v in data.items() if k in known}
    values["provider_data"] = {**extra, **(given if isinstance(given, dict) else {})}
    try:
        return msgspec.convert(values, entity_type)
    except msgspec.ValidationError as exc:
        raise NormalizeError(f"data does not fit a {kind}: {exc}") from None
