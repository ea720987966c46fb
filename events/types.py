"""Event types: one frozen Struct per type, tagged by its dotted, versioned name.

The one place to import them from. The envelope (`Event`, `Subject`) and `entity_events` are in
events/types_envelope.py; entity events, which come in pairs (`<domain>.<kind>.upserted.vN` / `.deleted.vN`), in
events/types_entities.py; lifecycle events, written out, in events/types_lifecycle.py. Here: `EVENT_TYPES`, every
current type, and the entity types by kind. `legacy.py` holds the old versions still readable through upcasters.
"""

from __future__ import annotations

# every name of the three family modules, so `from events.types import X` names any event type (and what the
# families import, such as the entities) wherever it is declared
from events.types_entities import *  # noqa: F403
from events.types_entities import ENTITY_EVENT_TYPES
from events.types_envelope import *  # noqa: F403
from events.types_envelope import EntityDeleted, EntityUpserted, Event
from events.types_lifecycle import *  # noqa: F403
from events.types_lifecycle import LIFECYCLE_EVENT_TYPES

EVENT_TYPES: tuple[type[Event], ...] = ENTITY_EVENT_TYPES + LIFECYCLE_EVENT_TYPES

# kind -> upserted type, for connectors that build events from a kind name
UPSERTED_BY_KIND: dict[str, type[EntityUpserted]] = {
    t.kind: t for t in ENTITY_EVENT_TYPES if issubclass(t, EntityUpserted)
}
DELETED_BY_KIND: dict[str, type[EntityDeleted]] = {
    t.kind: t for t in ENTITY_EVENT_TYPES if issubclass(t, EntityDeleted)
}
