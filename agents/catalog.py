"""The agent catalog: specialists as data, one TOML file per category under agents/catalog/, loaded and checked once.

An entry says who the agent is (role, goal, backstory — CrewAI's three), what wakes it (triggers on event types with
conditions on the entity), what it may read (record kinds, the tenant's knowledge, fixed aggregate views), which tools
it may call, which provider actions it may propose, and the JSON Schema its output must satisfy. The schema becomes a
msgspec Struct (`output_struct`) so an answer is validated by the same decoder that the stream codec uses.
"""

from __future__ import annotations

import functools
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

import msgspec
from msgspec import Struct

CATALOG_DIR = Path(__file__).parent / "catalog"

# category id -> how many specialists it holds (the product's promise: 93 in six categories)
CATEGORIES: dict[str, int] = {
    "content-management": 15,
    "customer-relationship": 20,
    "e-commerce": 18,
    "analytics-reporting": 12,
    "marketing-automation": 15,
    "operations": 13,
}

# the tools an agent may be given (agents/tools.py builds them); each reads under the tenant's row-level security
TOOL_NAMES = frozenset({"read_records", "search_knowledge", "query_aggregates"})

Op = Literal["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "exists", "contains"]
AGENT_ID = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
ACTION_NAME = re.compile(r"^[a-z][a-z0-9-]*\.[a-z][a-z0-9_]*$")  # provider.action, as in provider.toml


class CatalogError(ValueError):
    """An entry of agents/catalog/ is malformed; the message names the file, the agent and the field."""


class Condition(Struct, frozen=True, forbid_unknown_fields=True):
    field: str  # dotted path into the event's entity data: "status", "total_minor", "billing.country"
    op: Op = "eq"
    value: Any = None  # absent for "exists"; a list for "in" / "not_in"


class Trigger(Struct, frozen=True, forbid_unknown_fields=True):
    event: str  # an event type without its version: "commerce.order.upserted"
    when: list[Condition] = []  # every condition must hold


class Reads(Struct, frozen=True, forbid_unknown_fields=True):
    records: list[str] = []  # record kinds (singular: order, contact ...)
    knowledge: bool = False  # hybrid search over the tenant's documents
    aggregates: list[str] = []  # fixed read-only views (agents/aggregates.py)


class AgentSpec(Struct, frozen=True, forbid_unknown_fields=True):
    id: str  # kebab-case, unique across the catalog: "order-fulfilment"
    category: str  # a key of CATEGORIES
    name: str  # for people: "Order fulfilment"
    role: str
    goal: str
    backstory: str
    task: str  # what to do with one trigger; the run's context (the subject record, search hits) is appended
    expected_output: str
    output_schema: dict[str, Any]  # JSON Schema (type object) of the answer; "actions" is added where it may act
    tools: list[str] = []
    triggers: list[Trigger] = []  # none: the agent runs only when asked (POST /v1/agents/{agent}/runs)
    reads: Reads = Reads()
    actions: list[str] = []  # provider actions it may propose ("woocommerce.update_stock"); commands after approval
    autonomy: Literal["suggest", "act"] = "suggest"  # suggest: output recorded for a person; act: proposes actions
    sample_output: dict[str, Any] = {}  # an answer that satisfies output_schema (checked by the tests)


class _CatalogFile(Struct, forbid_unknown_fields=True):
    agents: list[AgentSpec]


# one proposed action, the same for every agent that acts
PROPOSED_ACTIONS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["action", "input", "reason"],
        "properties": {
            "action": {"type": "string"},
            "input": {"type": "object"},
            "reason": {"type": "string"},
        },
    },
}


def full_output_schema(spec: AgentSpec) -> dict[str, Any]:
    """The entry's output schema, with the proposed-actions list added for an agent that may act."""
    if not spec.actions:
        return spec.output_schema
    schema = dict(spec.output_schema)
    schema["properties"] = {**schema.get("properties", {}), "actions": PROPOSED_ACTIONS_SCHEMA}
    return schema


_SCALARS: dict[str, Any] = {"string": str, "integer": int, "number": float, "boolean": bool}


def _struct_name(path: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^a-zA-Z0-9]+", path) if part) or "Output"


def schema_type(schema: dict[str, Any], path: str) -> Any:
    """A Python/msgspec type for a JSON Schema subset: object, array, string (enum), integer, number, boolean."""
    kind = schema.get("type")
    if "enum" in schema:
        return Literal[tuple(schema["enum"])]
    if kind in _SCALARS:
        return _SCALARS[kind]
    if kind == "array":
        return list[schema_type(schema.get("items", {}), path + "_item")]
    if kind == "object":
        props = schema.get("properties")
        if not props:
            return dict[str, Any]
        required = set(schema.get("required", []))
        fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
        for name, sub in props.items():
            typ = schema_type(sub, f"{path}_{name}")
            fields.append((name, typ) if name in required else (name, typ | None, None))
        fields.sort(key=lambda f: len(f) == 3)  # required fields first: msgspec wants no default before one without
        return msgspec.defstruct(_struct_name(path), fields, kw_only=True, forbid_unknown_fields=False)
    known = "object, array, string, integer, number, boolean"
    raise CatalogError(f"{path}: unsupported JSON Schema type {kind!r} ({known})")


@functools.cache
def output_struct(agent_id: str) -> type[Struct]:
    """The msgspec Struct an answer of this agent decodes into (validation of its output)."""
    spec = catalog()[agent_id]
    return schema_type(full_output_schema(spec), agent_id)


def validate_output(spec: AgentSpec, output: Any) -> Any:
    """The answer as its Struct, or msgspec.ValidationError naming the offending field."""
    return msgspec.convert(output, output_struct(spec.id), strict=False)


def _check(spec: AgentSpec, where: str) -> None:
    def fail(what: str) -> None:
        raise CatalogError(f"{where}: agent {spec.id!r}: {what}")

    if not AGENT_ID.match(spec.id):
        fail("id must be kebab-case")
    if spec.category not in CATEGORIES:
        fail(f"category must be one of {sorted(CATEGORIES)}")
    if unknown := set(spec.tools) - TOOL_NAMES:
        fail(f"unknown tools {sorted(unknown)} (known: {sorted(TOOL_NAMES)})")
    if spec.output_schema.get("type") != "object":
        fail("output_schema must be a JSON Schema of type object")
    if "actions" in spec.output_schema.get("properties", {}):  # the proposed actions' field, added for `act` agents
        fail("output_schema may not name a field 'actions': it is reserved for proposed actions")
    if bad := [a for a in spec.actions if not ACTION_NAME.match(a)]:
        fail(f"actions must be provider.action names: {bad}")
    if spec.autonomy == "act" and not spec.actions:
        fail("autonomy 'act' needs at least one action it may propose")
    for trigger in spec.triggers:
        if re.search(r"\.v\d+$", trigger.event):
            fail(f"trigger {trigger.event!r}: name the event type without its version")
    try:
        schema_type(full_output_schema(spec), spec.id)
    except CatalogError as exc:
        fail(str(exc))


@functools.cache
def catalog() -> dict[str, AgentSpec]:
    """Every specialist by id, in file order; raises CatalogError on the first malformed entry."""
    out: dict[str, AgentSpec] = {}
    for path in sorted(CATALOG_DIR.glob("*.toml")):
        try:
            entries = msgspec.convert(tomllib.loads(path.read_text()), _CatalogFile).agents
        except (tomllib.TOMLDecodeError, msgspec.ValidationError) as exc:
            raise CatalogError(f"{path.name}: {exc}") from exc
        for spec in entries:
            _check(spec, path.name)
            if spec.id in out:
                raise CatalogError(f"{path.name}: agent {spec.id!r} is defined twice")
            out[spec.id] = spec
    return out
