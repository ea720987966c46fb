"""The envelope every event shares (`Event`, its `Subject`) and the entity events' upserted/deleted pair
(`entity_events`); the types themselves are in events/types_entities.py and events/types_lifecycle.py."""

from __future__ import annotations

from datetime import UTC
from typing import Annotated

import msgspec
from msgspec import Meta, Struct

from events.entities import Entity, UtcTime

# the field's meaning travels with the schema catalog (docs/events/schemas/*.json: its `description`)
RawRef = Annotated[
    str | None,
    Meta(
        description=(
            "Where the original payload is kept: the id of the platform's delivery record (dlv_..., "
            "GET /v1/deliveries/{id}) on every event built from a webhook delivery, mapped or unmapped; absent when "
            "the event has no stored payload. Never the provider's own id (that is subject.external_id)."
        )
    ),
]


class Subject(Struct, frozen=True, kw_only=True):
    kind: str  # singular, lower-case entity kind: order, contact, post ...
    external_id: str  # the provider's id, as a string


class Event(Struct, frozen=True, kw_only=True, omit_defaults=True, tag_field="type"):
    """The envelope every event shares."""

    id: str  # sortable unique id (events.ids)
    tenant_id: str
    source: str  # the connector instance that produced it
    provider: str = ""  # woocommerce, shopify ... (kept here so consumers need no lookup)
    subject: Subject
    occurred_at: UtcTime  # provider time of this state
    recorded_at: UtcTime
    correlation_id: str | None = None
    causation_id: str | None = None
    raw_ref: RawRef = None  # where the original payload is kept: the delivery record (dlv_...)

    def __post_init__(self) -> None:
        # times are UTC everywhere: an offset given by a provider is converted, never dropped
        for name in ("occurred_at", "recorded_at"):
            value = getattr(self, name)
            if value.utcoffset() != UTC.utcoffset(None):
                msgspec.structs.force_setattr(self, name, value.astimezone(UTC))

    @property
    def type(self) -> str:
        return type(self).__struct_config__.tag


class EntityUpserted(Event, frozen=True, kw_only=True):
    data: Entity


class EntityDeleted(Event, frozen=True, kw_only=True):
    data: Entity | None = None


def entity_events(domain: str, kind: str, entity: type[Entity], version: int = 1, noun: str = "") -> tuple[type, type]:
    """The upserted/deleted pair for one entity kind; `noun` names it in the type tag where the kind alone would
    clash with another domain's (ads.campaign is kind ad_campaign: marketing.campaign holds `campaign`)."""
    name = "".join(part.capitalize() for part in kind.split("_"))
    upserted = msgspec.defstruct(
        f"{name}Upserted",
        [("data", entity)],
        bases=(EntityUpserted,),
        tag=f"{domain}.{noun or kind}.upserted.v{version}",
        frozen=True,
        kw_only=True,
        module="events.types",  # where every event type is imported from (the registry re-exports them)
    )
    deleted = msgspec.defstruct(
        f"{name}Deleted",
        [("data", entity | None, None)],
        bases=(EntityDeleted,),
        tag=f"{domain}.{noun or kind}.deleted.v{version}",
        frozen=True,
        kw_only=True,
        module="events.types",  # where every event type is imported from (the registry re-exports them)
    )
    upserted.kind = deleted.kind = kind
    return upserted, deleted
