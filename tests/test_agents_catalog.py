"""The agent catalog (agents/catalog/*.toml): every entry loads, its output schema becomes a Struct that accepts its
sample output and refuses a wrong one, and trigger rules decide on the entity's fields."""

from __future__ import annotations

import msgspec
import pytest

from agents.catalog import CatalogError, catalog, schema_type, validate_output
from agents.triggers import matches


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
