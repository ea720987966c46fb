"""The schema catalog in docs/events/: current with the Structs, guarded against incompatible changes, and true.

The "changed" types below are real msgspec Structs (variants of the published ones under the same tag), run through
the same schema function and checker as `bizosaas schemas --check`.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Annotated, Any

import jsonschema
import msgspec
import pytest
from msgspec import Meta, inspect

from bizosaas.asyncapi import check_with_faststream
from bizosaas.cli import build_parser
from bizosaas.cmd_schemas import ASYNCAPI, DEFAULT_DIR, compare, generate, read_published
from bizosaas.schema_compat import catalog_incompatibilities, incompatibilities
from events import codec
from events.catalog import catalog_entries, catalog_schemas, type_schema
from events.entities import Entity, Order, OrderLine
from events.types import Event, entity_events

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "events"
ORDER_UPSERTED = "commerce.order.upserted.v2"


@pytest.fixture(scope="module")
def published() -> dict[str, dict]:
    return read_published(DOCS)


# --- (a) the checked-in catalog is what the Structs generate now ------------------------------------------------


def test_checked_in_catalog_equals_the_generated_one():
    assert DEFAULT_DIR == DOCS
    generated = generate()
    report = compare(DOCS, generated)
    assert report.ok, "\n".join(report.incompatible + report.stale) + "\n-> run `bizosaas schemas`"
    on_disk = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.json")}
    assert on_disk == set(generated), f"files no type generates: {sorted(on_disk - set(generated))}"


def test_catalog_lists_every_published_type_once():
    tags = [p.tag for p in catalog_entries()]
    assert (
        len(tags) == len(set(tags)) == len(codec.EVENT_TYPES) + len(codec.LEGACY_EVENT_TYPES) + len(codec.COMMAND_TYPES)
    )
    assert catalog_schemas()["commerce.order.upserted.v1"]["x-bizosaas"] == {
        "kind": "event",
        "status": "legacy",
        "upcast_to": ORDER_UPSERTED,
    }


def test_asyncapi_document_describes_the_streams_and_resolves():
    document = json.loads((DOCS / ASYNCAPI).read_text())
    check_with_faststream(document)  # what `faststream docs serve docs/events/asyncapi.json` loads
    channels = document["channels"]
    assert {c["address"] for c in channels.values()} == {
        "bz:events:{partition}",
        "bz:commands",
        "bz:dead:{group}",
        "bz:replay:{group}",
    }
    events = {p.tag for p in catalog_entries() if p.kind == "event"}
    commands = {p.tag for p in catalog_entries() if p.kind == "command"}
    assert set(channels["events"]["messages"]) == events
    assert set(channels["commands"]["messages"]) == commands
    assert "{3}" in channels["events"]["parameters"]["partition"]["examples"]
    unresolved = [ref for ref in _refs(document) if _pointer(document, ref) is None]
    assert not unresolved


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return ([node["$ref"]] if isinstance(node.get("$ref"), str) else []) + [
            r for v in node.values() for r in _refs(v)
        ]
    return [r for v in node for r in _refs(v)] if isinstance(node, list) else []


def _pointer(document: dict, ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


# --- (b) the checker flags each incompatible change and accepts compatible ones ----------------------------------

_ENTITY_FIELDS = {f.name for f in msgspec.structs.fields(Entity)}


def order_variant(
    drop: tuple[str, ...] = (),
    change: dict[str, tuple] | None = None,
    add: tuple[tuple, ...] = (),
    line: type = OrderLine,
) -> dict:
    """The schema of commerce.order.upserted.v2 if Order were declared differently."""
    change = change or {}
    fields = []
    for f in msgspec.structs.fields(Order):
        if f.name in _ENTITY_FIELDS or f.name in drop:
            continue
        if f.name == "line_items":
            fields.append(("line_items", list[line], []))
        else:
            fields.append((f.name, *change.get(f.name, (f.type, f.default))))
    entity = msgspec.defstruct("Order", fields + list(add), bases=(Entity,), frozen=True, kw_only=True)
    upserted, _ = entity_events("commerce", "order", entity, version=2)
    return type_schema(upserted)


def test_unchanged_declaration_is_compatible(published):
    assert incompatibilities(published[ORDER_UPSERTED], order_variant()) == []
    assert catalog_incompatibilities(published, catalog_schemas()) == []


@pytest.mark.parametrize(
    ("variant", "expected"),
    [
        (dict(drop=("total_minor",)), "data.total_minor: field removed"),
        (dict(change={"total_minor": (str, "0")}), "data.total_minor: type changed, integer is no longer accepted"),
        (dict(change={"customer_email": (str, None)}), "data.customer_email: type changed, null is no longer accepted"),
        (
            dict(change={"currency": (Annotated[str, Meta(min_length=3, max_length=3)], "USD")}),
            "data.currency: maxLength narrowed to 3 (was absent)",
        ),
        (
            dict(change={"customer_email": (Annotated[str, Meta(pattern="^[^@]+@[^@]+$")] | None, None)}),
            'data.customer_email: pattern narrowed to "^[^@]+@[^@]+$" (was absent)',
        ),
        (dict(add=(("channel", str),)), "data.channel: new field is required (give it a default)"),
        (dict(change={"number": (str, msgspec.NODEFAULT)}), "data.number: optional field became required"),
        (dict(change={"currency": (str, "EUR")}), 'data.currency: default changed from "USD" to "EUR"'),
    ],
    ids=[
        "field-removed",
        "type-changed",
        "null-dropped",
        "constraint-added",
        "pattern-added",
        "new-required",
        "became-required",
        "default-changed",
    ],
)
def test_incompatible_entity_changes_are_flagged(published, variant, expected):
    problems = incompatibilities(published[ORDER_UPSERTED], order_variant(**variant))
    assert any(p.startswith(expected) for p in problems), problems


def test_nested_struct_changes_are_flagged(published):
    narrower_line = msgspec.defstruct(
        "OrderLine",
        [
            (f.name, Annotated[int, Meta(ge=1)] if f.name == "quantity" else f.type, f.default)
            for f in msgspec.structs.fields(OrderLine)
        ],
        frozen=True,
        kw_only=True,
        omit_defaults=True,
    )
    problems = incompatibilities(published[ORDER_UPSERTED], order_variant(line=narrower_line))
    assert problems == ["data.line_items[*].quantity: minimum narrowed to 1 (was absent)"]


def test_envelope_changes_are_flagged(published):
    sync_failed = msgspec.defstruct(
        "SyncFailed",
        [
            ("resource", str),
            ("error", str, ""),
            ("retryable", bool, True),
            ("run_id", str, ""),
            ("full", bool, False),
            ("attempt", int),
        ],
        bases=(Event,),
        tag="connector.sync.failed.v1",
        frozen=True,
        kw_only=True,
    )
    assert incompatibilities(published["connector.sync.failed.v1"], type_schema(sync_failed)) == [
        "attempt: new field is required (give it a default)"
    ]
    renamed = msgspec.defstruct(
        "SyncFailed", [("resource", str)], bases=(Event,), tag="connector.sync.failure.v1", frozen=True, kw_only=True
    )
    problems = incompatibilities(published["connector.sync.failed.v1"], type_schema(renamed))
    assert 'type: value(s) ["connector.sync.failed.v1"] no longer accepted' in problems
    assert "error: field removed" in problems and "retryable: field removed" in problems


def test_a_type_removed_from_the_catalog_is_flagged(published):
    current = catalog_schemas()
    del current["cms.page.deleted.v1"]
    assert catalog_incompatibilities(published, current) == ["cms.page.deleted.v1: type removed from the catalog"]


@pytest.mark.parametrize(
    "variant",
    [
        dict(add=(("note", str, ""),)),
        dict(add=(("gift_wrap", bool | None, None), ("tags", list[str], []))),
        dict(change={"total_minor": (int | None, 0)}),
        dict(change={"total_minor": (float, 0)}),
        dict(change={"customer_email": (str | int | None, None)}),
    ],
    ids=["optional-field", "optional-fields", "widened-to-null", "widened-to-number", "widened-union"],
)
def test_compatible_entity_changes_are_accepted(published, variant):
    assert incompatibilities(published[ORDER_UPSERTED], order_variant(**variant)) == []


def test_compatible_envelope_changes_and_new_types_are_accepted(published):
    sync_started = msgspec.defstruct(
        "SyncStarted",
        [
            ("resource", str, ""),
            ("cursor", str | None, None),
            ("run_id", str, ""),
            ("full", bool, False),
            ("page", int, 0),
        ],
        bases=(Event,),
        tag="connector.sync.started.v1",
        frozen=True,
        kw_only=True,
    )
    assert incompatibilities(published["connector.sync.started.v1"], type_schema(sync_started)) == []
    brand_new = msgspec.defstruct(
        "SyncPaused", [("resource", str)], bases=(Event,), tag="connector.sync.paused.v1", frozen=True, kw_only=True
    )
    current = {**catalog_schemas(), "connector.sync.paused.v1": type_schema(brand_new)}
    assert catalog_incompatibilities(published, current) == []


def _cli(capsys, *argv: str) -> tuple[int, str]:
    args = build_parser().parse_args(["schemas", *argv])
    code = args.run(args)
    return code, capsys.readouterr().out


def test_cli_check_names_what_changed_and_write_refuses_a_break(tmp_path, capsys):
    catalog = tmp_path / "events"
    shutil.copytree(DOCS, catalog)
    assert _cli(capsys, "--check", "--dir", str(catalog)) == (
        0,
        f"schema catalog is current ({len(catalog_schemas())} types)\n",
    )
    # as if a published Order had a field that the current Struct dropped
    published_file = catalog / "schemas" / f"{ORDER_UPSERTED}.json"
    doc = json.loads(published_file.read_text())
    doc["$defs"]["Order"]["properties"]["gift_note"] = {"type": "string", "default": ""}
    published_file.write_text(json.dumps(doc, indent=2) + "\n")
    (catalog / "schemas" / "agent.run.v1.json").unlink()  # as if agent.run.v1 were new
    code, out = _cli(capsys, "--check", "--dir", str(catalog))
    assert code == 1
    assert f"incompatible: {ORDER_UPSERTED}: data.gift_note: field removed" in out
    assert f"stale: schemas/{ORDER_UPSERTED}.json: out of date" in out
    assert re.search(r'^  -\s+"gift_note": \{$', out, re.MULTILINE), out  # the diff shows what changed
    assert "stale: schemas/agent.run.v1.json: missing" in out
    before = published_file.read_text()
    code, out = _cli(capsys, "--dir", str(catalog))
    assert code == 1 and "nothing written" in out and published_file.read_text() == before
    assert not (catalog / "schemas" / "agent.run.v1.json").exists()
    published_file.write_text(json.dumps(json.loads((DOCS / "schemas" / f"{ORDER_UPSERTED}.json").read_text())))
    code, out = _cli(capsys, "--dir", str(catalog))  # compatible now: only formatting and a new type to write
    assert code == 0 and f"schemas/{ORDER_UPSERTED}.json" in out and "schemas/agent.run.v1.json" in out
    assert _cli(capsys, "--check", "--dir", str(catalog))[0] == 0


# --- (c) every type round-trips: an instance encoded by the codec validates against its published schema ---------


# fields whose values must mean something to an upcaster (legacy v1 money was decimal strings)
FIELD_SAMPLES = {"currency": "EUR", "price": "12.34", "total": "29.35"}


def sample(info: inspect.Type) -> Any:
    """A JSON value for a msgspec type, with every optional field set to a non-default value."""
    match info:
        case inspect.Metadata():
            return sample(info.type)
        case inspect.StructType():
            value = {f.encode_name: FIELD_SAMPLES.get(f.name, sample(f.type)) for f in info.fields}
            for f in info.fields:
                if value[f.encode_name] == f.default and isinstance(f.default, bool):
                    value[f.encode_name] = not f.default  # omit_defaults would leave it out of the wire form
            if info.tag_field:
                value[info.tag_field] = info.tag
            return value
        case inspect.UnionType():
            return sample(next(t for t in info.types if not isinstance(t, inspect.NoneType)))
        case inspect.ListType():
            return [sample(info.item_type)]
        case inspect.DictType():
            return {"key": sample(info.value_type)}
        case inspect.DateTimeType():
            return "2026-01-02T03:04:05.123456" + ("" if info.tz is False else "Z")
        case inspect.StrType():
            return "text"
        case inspect.BoolType():
            return True
        case inspect.IntType():
            return 7
        case inspect.FloatType():
            return 1.5
        case inspect.AnyType():
            return {"nested": [1, "two"]}
    raise AssertionError(f"no sample for {info!r}: extend sample()")


@pytest.mark.parametrize("published_type", catalog_entries(), ids=lambda p: p.tag)
def test_every_type_round_trips_through_its_schema(published, published_type):
    schema = published[published_type.tag]
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    instance = msgspec.json.decode(
        msgspec.json.encode(sample(inspect.type_info(published_type.struct))), type=published_type.struct
    )
    raw = codec.encode(instance)
    wire = json.loads(raw)
    assert set(wire) == set(schema["$defs"][published_type.struct.__name__]["properties"])  # no field left out
    validator.validate(wire)
    if published_type.kind == "command":
        assert codec.decode_command(raw) == instance
    else:
        decoded = codec.decode_event(raw)
        assert decoded.type == codec.CURRENT_TYPE[published_type.tag]
        assert decoded == (instance if not published_type.legacy else codec.upcast(instance))
    broken = {k: v for k, v in wire.items() if k != "tenant_id"}  # the schema is not vacuous
    with pytest.raises(jsonschema.ValidationError, match="'tenant_id' is a required property"):
        validator.validate(broken)
