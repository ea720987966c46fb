"""Trigger rules against the event contract: every trigger of the catalog names a current event type and fields
its entity has, and can hold on an entity as it travels (through JSON and back, where defaults are left out)."""

from __future__ import annotations

import typing
from datetime import datetime

import msgspec

from agents.catalog import catalog
from agents.triggers import matches, unversioned
from events.entities import Product
from events.types import EVENT_TYPES, Event


def _event_payloads() -> dict[str, type]:
    """Unversioned event type -> the Struct whose fields a trigger's conditions read (an entity, or the event)."""
    out: dict[str, type] = {}
    for event in EVENT_TYPES:
        name = unversioned(event.__struct_config__.tag)
        data = next((f.type for f in msgspec.structs.fields(event) if f.name == "data"), None)
        out[name] = _struct_in(data) or event
    return out


def _struct_in(annotation) -> type | None:
    """The Struct inside `T`, `T | None` or `list[T]`, if any."""
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return annotation
    for arg in typing.get_args(annotation):
        if found := _struct_in(arg):
            return found
    return None


def _has_path(struct: type, path: str) -> bool:
    head, _, rest = path.partition(".")
    field = next((f for f in msgspec.structs.fields(struct) if f.name == head), None)
    if field is None:
        return False
    return not rest or ((inner := _struct_in(field.type)) is not None and _has_path(inner, rest))


def test_triggers_name_current_event_types_and_real_fields():
    payloads = _event_payloads()
    triggered = 0
    for spec in catalog().values():
        for trigger in spec.triggers:
            assert trigger.event in payloads, f"{spec.id}: no event type {trigger.event!r}"
            for condition in trigger.when:
                assert _has_path(payloads[trigger.event], condition.field), (spec.id, trigger.event, condition.field)
                if condition.op in ("in", "not_in"):
                    assert isinstance(condition.value, list), (spec.id, condition)
                elif condition.op != "exists":
                    assert condition.value is not None, (spec.id, condition)
        triggered += bool(spec.triggers)
    assert 30 <= triggered < 93  # most specialists react to events; reports and forecasts run on request


def _field_type(struct: type, path: str):
    head, _, rest = path.partition(".")
    annotation = next(f.type for f in msgspec.structs.fields(struct) if f.name == head)
    return _field_type(_struct_in(annotation), rest) if rest else annotation


def _plain(annotation):
    """`T | None` -> T; `Annotated[T, ...]` -> T; `list[T]` -> list."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is list:
        return list
    if origin is typing.Annotated:
        return _plain(args[0])
    present = [a for a in args if a is not type(None)]
    return _plain(present[0]) if len(present) == 1 else annotation


_ANY_VALUE = {str: "x", int: 1, float: 1.0, bool: True, list: ["x"], datetime: "2026-12-03T10:00:00Z"}


def _satisfying(condition, kind):
    value = condition.value
    match condition.op:
        case "eq" | "gte" | "lte":
            return value
        case "in":
            return value[0]
        case "gt":
            return value + 1
        case "lt":
            return value - 1
        case "ne" | "not_in":
            return "something else" if kind is str else not value if kind is bool else 10**6
        case "exists":
            return _ANY_VALUE[kind]
        case "contains":
            return [value] if kind is list else f"a {value} here"


def _set(target: dict, path: str, value) -> None:
    *parents, last = path.split(".")
    for part in parents:
        target = target.setdefault(part, {})
    target[last] = value


def test_every_trigger_can_hold_on_the_entity_as_it_travels():
    """Each trigger's conditions, met by an entity that went through JSON and back (defaults are left out of the
    JSON: a condition on a default value, `description == ""`, holds only on the decoded Struct)."""
    payloads = _event_payloads()
    envelope = {
        "id": "evt_1",
        "tenant_id": "ten_1",
        "source": "con_1",
        "subject": {"kind": "connector", "external_id": "con_1"},
        "occurred_at": "2026-12-03T10:00:00Z",
        "recorded_at": "2026-12-03T10:00:00Z",
        "resource": "orders",  # the sync events' one required field of their own
    }
    checked = 0
    for spec in catalog().values():
        for trigger in spec.triggers:
            payload_type = payloads[trigger.event]
            wanted: dict = dict(envelope) if issubclass(payload_type, Event) else {}
            for condition in trigger.when:
                kind = _plain(_field_type(payload_type, condition.field))
                _set(wanted, condition.field, _satisfying(condition, kind))
            built = msgspec.convert(wanted, payload_type)
            travelled = msgspec.json.decode(msgspec.json.encode(built), type=payload_type)
            assert matches(spec, f"{trigger.event}.v1", travelled), (spec.id, trigger, wanted)
            assert not matches(spec, "crm.nothing.upserted.v1", travelled)
            checked += 1
    assert checked >= 48


def test_a_condition_on_a_default_value_reads_the_struct():
    spec = catalog()["product-description-writer"]
    empty = msgspec.json.decode(msgspec.json.encode(Product(name="Grinder")), type=Product)
    assert msgspec.to_builtins(empty) == {"name": "Grinder"}  # the default is not in the JSON ...
    assert matches(spec, "commerce.product.upserted.v1", empty)  # ... and the Struct still reads it
    assert not matches(spec, "commerce.product.upserted.v1", Product(name="Grinder", description="Burrs"))
