"""The agent catalog (agents/catalog/*.toml): every entry loads, its output schema becomes a Struct that accepts its
sample output and refuses a wrong one, and trigger rules decide on the entity's fields."""

from __future__ import annotations

import re
import tomllib
from collections import Counter

import jsonschema
import msgspec
import pytest

from agents.catalog import CATALOG_DIR, CATEGORIES, CatalogError, catalog, schema_type, validate_output
from agents.triggers import matches
from connectors.registry import all_providers, get_facts
from events.types import UPSERTED_BY_KIND


def test_every_entry_validates_its_sample_output():
    for spec in catalog().values():
        assert spec.sample_output, f"{spec.id} has no sample_output"
        validate_output(spec, spec.sample_output)


def test_a_wrong_answer_is_refused_naming_the_field():
    spec = catalog()["lead-scoring"]
    with pytest.raises(msgspec.ValidationError, match=r"\$\.score"):
        validate_output(spec, {"score": "very high", "reasons": [], "next_step": "call"})
    with pytest.raises(msgspec.ValidationError, match="next_step"):
        validate_output(spec, {"score": 3, "reasons": []})


def test_an_agent_that_acts_gets_the_proposed_actions_field():
    spec = catalog()["order-fulfilment"]
    answer = validate_output(spec, spec.sample_output)
    assert answer.actions[0].action == "woocommerce.update_stock"
    with pytest.raises(msgspec.ValidationError, match="reason"):
        validate_output(spec, {"can_ship": True, "summary": "", "actions": [{"action": "x.y", "input": {}}]})


def test_triggers_compare_entity_fields():
    spec = catalog()["order-fulfilment"]
    assert matches(spec, "commerce.order.upserted.v2", {"status": "processing"})
    assert not matches(spec, "commerce.order.upserted.v2", {"status": "pending"})
    assert not matches(spec, "commerce.order.deleted.v2", {"status": "processing"})
    assert not matches(spec, "commerce.order.upserted.v2", {})


def test_an_unsupported_schema_type_is_named():
    with pytest.raises(CatalogError, match="'null'"):
        schema_type({"type": "object", "properties": {"x": {"type": "null"}}}, "probe")


# --- the whole catalog: counts, distinct work, and every name it uses exists ------------------------------------

# the examples issue 11 names (the seed's list) -> the agent that does that work
NAMED_EXAMPLES = {
    "blog post generation": "blog-post-writer",
    "SEO optimisation": "seo-optimiser",
    "image optimisation": "image-optimiser",
    "content scheduling": "content-scheduler",
    "lead scoring": "lead-scoring",
    "email campaigns": "email-campaign-planner",
    "customer segmentation": "customer-segmentation",
    "support ticket routing": "support-ticket-router",
    "inventory management": "inventory-manager",
    "price optimisation": "price-optimiser",
    "order fulfilment": "order-fulfilment",
    "product recommendations": "product-recommender",
    "sales forecasting": "sales-forecaster",
    "performance dashboards": "performance-dashboard",
    "trend analysis": "trend-analyst",
    "custom reports": "custom-report-builder",
    "social media posting": "social-media-poster",
    "ad campaign optimisation": "ad-campaign-optimiser",
    "A/B testing": "ab-test-designer",
    "conversion tracking": "conversion-tracker",
    "workflow automation": "workflow-automator",
    "task scheduling": "task-scheduler",
    "resource allocation": "resource-allocator",
    "process optimisation": "process-optimiser",
}


def test_the_catalog_holds_93_specialists_in_the_promised_categories():
    raw_ids = [
        entry["id"]
        for path in sorted(CATALOG_DIR.glob("*.toml"))
        for entry in tomllib.loads(path.read_text())["agents"]
    ]
    assert len(raw_ids) == len(set(raw_ids)) == 93
    assert {path.stem for path in CATALOG_DIR.glob("*.toml")} == set(CATEGORIES)
    counts = Counter(spec.category for spec in catalog().values())
    assert counts == CATEGORIES
    for path in CATALOG_DIR.glob("*.toml"):  # each file holds its own category only
        assert {e["category"] for e in tomllib.loads(path.read_text())["agents"]} == {path.stem}


def test_every_example_the_issue_names_has_its_agent():
    specs = catalog()
    missing = {example: agent for example, agent in NAMED_EXAMPLES.items() if agent not in specs}
    assert missing == {}
    assert len(set(NAMED_EXAMPLES.values())) == len(NAMED_EXAMPLES)  # no agent stands in for two examples


def _words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def test_each_entry_is_distinct_work():
    specs = list(catalog().values())
    for field in ("name", "role", "goal", "backstory", "task", "expected_output"):
        seen: dict[str, str] = {}
        for spec in specs:
            text = _words(getattr(spec, field))
            assert text, f"{spec.id}: empty {field}"
            assert text not in seen, f"{spec.id} and {seen[text]} share their {field}"
            seen[text] = spec.id
    # the answers differ too: no two agents produce the same set of output fields
    shapes: dict[frozenset[str], str] = {}
    for spec in specs:
        shape = frozenset(spec.output_schema["properties"])
        assert shape not in shapes, f"{spec.id} and {shapes[shape]} have the same output fields"
        shapes[shape] = spec.id


def _action(name: str):
    provider, _, action = name.partition(".")
    return next((a for a in get_facts(provider).actions if a.name == action), None)


def test_actions_exist_and_only_acting_agents_propose_them():
    for spec in catalog().values():
        assert (spec.autonomy == "act") == bool(spec.actions), spec.id
        for name in spec.actions:
            assert name.partition(".")[0] in all_providers(), f"{spec.id}: no provider for {name}"
            assert _action(name) is not None, f"{spec.id}: {name} is not in its provider.toml"
        proposed = spec.sample_output.get("actions", [])
        assert bool(proposed) == bool(spec.actions), f"{spec.id}: its sample shows what it proposes"
        for item in proposed:
            assert item["action"] in spec.actions, (spec.id, item["action"])
            schema = _action(item["action"]).input_schema
            errors = list(jsonschema.validators.validator_for(schema)(schema).iter_errors(item["input"]))
            assert errors == [], (spec.id, item["action"], [e.message for e in errors])


def test_a_proposed_input_that_breaks_the_actions_schema_is_caught():
    """The check above can fail: the schema check refuses an input the provider would refuse."""
    schema = _action("fluentcrm.add_tag").input_schema
    validator = jsonschema.validators.validator_for(schema)(schema)
    assert list(validator.iter_errors({"contact_id": "214", "tag": "vip"})) == []
    assert list(validator.iter_errors({"contact_id": "not-a-number", "tag": "vip"}))


def test_reads_name_record_kinds_that_exist():
    kinds = set(UPSERTED_BY_KIND)
    for spec in catalog().values():
        assert spec.reads.records, f"{spec.id} reads nothing"
        assert set(spec.reads.records) <= kinds, (spec.id, set(spec.reads.records) - kinds)
        assert not spec.reads.aggregates, f"{spec.id}: no aggregate views exist yet (agents/aggregates.py)"
        assert spec.reads.knowledge == ("search_knowledge" in spec.tools), spec.id
        assert "read_records" in spec.tools, f"{spec.id} reads records without the tool that reads them"


def test_an_output_field_named_actions_is_refused(tmp_path, monkeypatch):
    """`actions` is where an acting agent's proposals go; a report's own `actions` field would pass for them."""
    (tmp_path / "operations.toml").write_text(
        '[[agents]]\nid = "probe"\ncategory = "operations"\nname = "n"\nrole = "r"\ngoal = "g"\nbackstory = "b"\n'
        'task = "t"\nexpected_output = "e"\n'
        'output_schema = { type = "object", properties = { actions = { type = "array" } } }\n'
    )
    monkeypatch.setattr("agents.catalog.CATALOG_DIR", tmp_path)
    catalog.cache_clear()
    try:
        with pytest.raises(CatalogError, match="reserved for proposed actions"):
            catalog()
    finally:
        catalog.cache_clear()
