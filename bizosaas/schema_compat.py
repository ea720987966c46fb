"""Is a current schema a compatible evolution of a published one?

The rule is the event log's: events written under the published schema stay readable forever, so every value the
published schema accepted must still be accepted, with the same meaning. Incompatible:
  - a field removed;
  - a field's type changed or narrowed (a union member dropped, a constraint added or tightened, an enum value gone);
  - a new field that is required (no default), or an optional field that became required;
  - a default changed (every Struct is written with omit_defaults, so an event that left the field out would now
    read as the new default);
  - a type removed from the catalog.
Compatible: new optional fields, widened types, new types. Readers tolerate unknown fields, so no rule is needed for
fields the reader does not know.

Works on the JSON Schema subset msgspec emits ($ref/$defs, anyOf, enum, object with properties, maps, arrays,
primitives with constraints); the schemas are plain dicts, so the published side is just the checked-in file.
"""

from __future__ import annotations

import json
from typing import Any

Schema = dict[str, Any]

# keywords that describe rather than constrain
_ANNOTATIONS = {"title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly", "$comment"}
# constraint keywords where a smaller (lower bounds) or larger (upper bounds) value in the new schema is a widening
_LOWER_BOUNDS = {"minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties"}
_UPPER_BOUNDS = {"maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties"}
# keywords compared structurally rather than as constraints
_STRUCTURE = {
    "type",
    "anyOf",
    "oneOf",
    "enum",
    "const",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "prefixItems",
    "$ref",
    "$defs",
    "$schema",
    "discriminator",
}


def catalog_incompatibilities(published: dict[str, Schema], current: dict[str, Schema]) -> list[str]:
    """Every incompatible change between two catalogs (tag -> schema), one readable line each."""
    problems = [f"{tag}: type removed from the catalog" for tag in published if tag not in current]
    for tag, old in published.items():
        if tag in current:
            problems += [f"{tag}: {p}" for p in incompatibilities(old, current[tag])]
    return problems


def incompatibilities(old: Schema, new: Schema) -> list[str]:
    """Why `new` cannot read everything `old` accepted; empty when it can."""
    return _Comparison(old, new).union(old, new, "")


def _show(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


class _Comparison:
    def __init__(self, old_root: Schema, new_root: Schema) -> None:
        self.roots = (old_root, new_root)
        self.seen: set[tuple[str, str, str]] = set()  # ($ref pairs already compared at a path) against recursion

    def resolve(self, node: Schema, side: int) -> Schema:
        while "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            node = self.roots[side]["$defs"][name]
        return node

    def alternatives(self, node: Schema, side: int) -> list[Schema]:
        node = self.resolve(node, side)
        members = node.get("anyOf") or node.get("oneOf")
        if members:
            return [alt for member in members for alt in self.alternatives(member, side)]
        if isinstance(node.get("type"), list):
            return [{**node, "type": t} for t in node["type"]]
        return [node]

    def union(self, old: Schema, new: Schema, path: str) -> list[str]:
        """Every alternative of `old` must be accepted by some alternative of `new`."""
        key = (old.get("$ref", ""), new.get("$ref", ""), path)
        if key[0] and key[1]:
            if key in self.seen:
                return []
            self.seen.add(key)
        problems = []
        new_alts = self.alternatives(new, 1)
        for old_alt in self.alternatives(old, 0):
            tries = [self.covers(old_alt, new_alt, path) for new_alt in self._candidates(old_alt, new_alts)]
            if not tries:
                problems.append(
                    f"{path or 'value'}: type changed, {_kind(old_alt)} is no longer accepted "
                    f"(now {' | '.join(_kind(a) for a in new_alts)})"
                )
            elif all(tries):
                problems += min(tries, key=len)
        return problems

    def _candidates(self, old_alt: Schema, new_alts: list[Schema]) -> list[Schema]:
        """The new alternatives that could accept old_alt: the same kind (a struct of the same name first)."""
        if any(_kind(a) == "any" for a in new_alts):
            return [{}]
        kind = _kind(old_alt)
        same = [a for a in new_alts if _kind(a) == kind or (kind == "integer" and _kind(a) == "number")]
        if kind == "enum":
            same = [a for a in new_alts if _kind(a) in ("enum", *_value_kinds(old_alt))]
        named = [a for a in same if "title" in old_alt and a.get("title") == old_alt["title"]]
        return named or same

    def covers(self, old: Schema, new: Schema, path: str) -> list[str]:
        kind = _kind(new)
        if kind == "any":
            return []
        if _kind(old) == "enum":
            return self._enum(old, new, path)
        if kind == "struct":
            return self.struct(old, new, path)
        problems = self.constraints(old, new, path)
        if kind == "map" and "additionalProperties" in new:
            problems += self.union(old.get("additionalProperties", {}), new["additionalProperties"], f"{path}{{*}}")
        if kind == "array" and "items" in new:
            problems += self.union(old.get("items", {}), new["items"], f"{path}[*]")
        return problems

    def _enum(self, old: Schema, new: Schema, path: str) -> list[str]:
        values = old.get("enum", [old.get("const")])
        if _kind(new) == "enum":
            allowed = new.get("enum", [new.get("const")])
            gone = [v for v in values if v not in allowed]
            return [f"{path or 'value'}: value(s) {_show(gone)} no longer accepted"] if gone else []
        if any(k not in _ANNOTATIONS | _STRUCTURE for k in new):  # a constrained primitive: cannot prove it covers
            return [f"{path or 'value'}: values {_show(values)} now constrained by {_show(_constraints(new))}"]
        return []

    def constraints(self, old: Schema, new: Schema, path: str) -> list[str]:
        problems = []
        old_c, new_c = _constraints(old), _constraints(new)
        for name, value in new_c.items():
            before = old_c.get(name)
            widened = before is not None and (
                (name in _LOWER_BOUNDS and value <= before) or (name in _UPPER_BOUNDS and value >= before)
            )
            if before != value and not widened:
                was = "absent" if before is None else _show(before)
                problems.append(f"{path or 'value'}: {name} narrowed to {_show(value)} (was {was})")
        return problems

    def struct(self, old: Schema, new: Schema, path: str) -> list[str]:
        problems = []
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        old_req, new_req = set(old.get("required", [])), set(new.get("required", []))
        if new.get("additionalProperties") is False and old.get("additionalProperties") is not False:
            problems.append(f"{path or 'value'}: unknown fields are now forbidden")
        for name, old_prop in old_props.items():
            where = f"{path}.{name}" if path else name
            if name not in new_props:
                problems.append(f"{where}: field removed")
                continue
            new_prop = new_props[name]
            if name in new_req and name not in old_req:
                problems.append(f"{where}: optional field became required")
            if "default" in old_prop and "default" in new_prop and old_prop["default"] != new_prop["default"]:
                problems.append(
                    f"{where}: default changed from {_show(old_prop['default'])} to "
                    f"{_show(new_prop['default'])} (events that omitted it would read differently)"
                )
            problems += self.union(old_prop, new_prop, where)
        for name in new_props:
            if name not in old_props and name in new_req:
                where = f"{path}.{name}" if path else name
                problems.append(f"{where}: new field is required (give it a default)")
        return problems


def _constraints(node: Schema) -> dict[str, Any]:
    return {k: v for k, v in node.items() if k not in _ANNOTATIONS and k not in _STRUCTURE and not k.startswith("x-")}


def _value_kinds(node: Schema) -> set[str]:
    kinds = {bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null"}
    return {kinds.get(type(v), "any") for v in node.get("enum", [node.get("const")])}


def _kind(node: Schema) -> str:
    if "enum" in node or "const" in node:
        return "enum"
    kind = node.get("type")
    if kind == "object":
        return "struct" if "properties" in node else "map"
    return kind if isinstance(kind, str) else "any"
