"""Trigger rules: does an event wake an agent? Pure and cheap — the agents group runs it on every event."""

from __future__ import annotations

import re
from typing import Any

from msgspec import Struct

from agents.catalog import AgentSpec, Condition

_VERSION = re.compile(r"\.v\d+$")
_MISSING = object()


def unversioned(event_type: str) -> str:
    """commerce.order.upserted.v2 -> commerce.order.upserted (triggers name types without their version)."""
    return _VERSION.sub("", event_type)


def field_value(data: Any, path: str) -> Any:
    """The value at a dotted path of the entity's data, or _MISSING. Pass the decoded entity (a Struct): entities
    leave their default values out of the JSON (omit_defaults), so in a dict `status == ""` or
    `accepts_marketing == false` would never hold, while the Struct reads the default. A dict is taken as it is."""
    value = data
    for part in path.split("."):
        if isinstance(value, Struct) and part in value.__struct_fields__:
            value = getattr(value, part)
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return _MISSING
    return value


def holds(condition: Condition, data: Any) -> bool:
    value = field_value(data, condition.field)
    if condition.op == "exists":
        return value is not _MISSING and value is not None
    if value is _MISSING:
        return False
    expected = condition.value
    try:
        match condition.op:
            case "eq":
                return value == expected
            case "ne":
                return value != expected
            case "in":
                return value in expected
            case "not_in":
                return value not in expected
            case "gt":
                return value > expected
            case "gte":
                return value >= expected
            case "lt":
                return value < expected
            case "lte":
                return value <= expected
            case "contains":
                return expected in value
    except TypeError:  # a provider sent a string where the rule compares numbers: the rule does not hold
        return False
    return False


def matches(spec: AgentSpec, event_type: str, data: Any) -> bool:
    """True when one of the agent's triggers names this event type and all its conditions hold on `data`."""
    name = unversioned(event_type)
    return any(t.event == name and all(holds(c, data) for c in t.when) for t in spec.triggers)
