"""Every provider package's facts (provider.toml) load and agree with its code; GET /v1/providers serves them, and
creating a connector is checked against them, each bad field named."""

from __future__ import annotations

from pathlib import Path

import pytest
from gateway_helpers import Gateway
from provider_conformance import check_facts
from webhook_support import connector_body

from connectors.facts import ProviderFacts, field_problems, load_facts
from connectors.registry import all_providers, get_api, get_facts

PROVIDERS = sorted(all_providers())


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_facts_load_and_agree_with_the_code(provider):
    check_facts(provider)  # the conformance suite's check (tests/provider_conformance.py), for every package


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_provider_that_declares_resources_has_an_api_to_read_them(provider):
    api, facts = get_api(provider), get_facts(provider)  # found by the package's own name (zoho_crm for zoho-crm)
    # an api without resources only for actions or webhook registration (Telegram)
    wanted = bool(facts.resources or facts.actions or facts.webhooks.registration == "by_setup")
    assert (api is not None) == wanted, provider


def test_a_malformed_facts_file_names_the_file_and_the_key(tmp_path: Path):
    broken = tmp_path / "provider.toml"
    broken.write_text('provider = "x"\ntitle = "X"\ndocs = "https://x"\n[auth]\nkind = "magic"\n')
    with pytest.raises(ValueError, match=r"provider\.toml.*auth\.kind"):
        load_facts(broken)
    broken.write_text('provider = "x"\ntitle = "X"\ndocs = "https://x"\ncolour = "red"\n[auth]\nkind = "none"\n')
    with pytest.raises(ValueError, match="colour"):
        load_facts(broken)


def test_field_problems_name_each_bad_field():
    facts: ProviderFacts = get_facts("woocommerce")
    problems = field_problems(facts, {"store_url": "ftp://shop", "colour": "red"}, {"consumer_key": "ck"})
    named = {p.field for p in problems}
    assert named == {
        "config.colour",
        "config.store_url",
        "secrets.consumer_secret",  # not the webhook secret: set-up registers the webhooks and makes it
    }
    assert field_problems(facts, None, {"webhook_secret": "rotated"}, update=True) == []  # a rotation alone


async def test_the_provider_list_is_a_connect_form(gw: Gateway):
    _, key = await gw.create_tenant()
    resp = await gw.get("/v1/providers", headers=gw.bearer(key))
    assert resp.status == 200
    body = await resp.json()
    by_name = {p["provider"]: p for p in body["items"]}
    assert sorted(by_name) == PROVIDERS and body["next"] is None
    woo = by_name["woocommerce"]
    assert woo["auth"] == "basic"
    assert [r["name"] for r in woo["resources"]] == ["orders", "products", "customers"]
    assert {r["name"]: r["incremental"] for r in woo["resources"]} == {
        "orders": True,
        "products": True,
        "customers": False,
    }
    assert {f["name"]: f["secret"] for f in woo["credential_fields"]} == {
        "consumer_key": True,
        "consumer_secret": True,
        "webhook_secret": True,
    }
    assert woo["config_fields"][0]["name"] == "store_url" and woo["config_fields"][0]["fetched"]
    assert woo["actions"][0]["name"] == "update_stock" and woo["actions"][0]["input_schema"]["type"] == "object"
    assert "order.created" in woo["webhooks"]["topics"] and woo["webhooks"]["registration"] == "by_setup"
    zoho = by_name["zoho-crm"]
    assert "ZohoCRM.modules.deals.ALL" in zoho["scopes"] and woo["scopes"] == []
    assert zoho["auth"] == "oauth2" and zoho["webhooks"]["registration"] == "by_setup"
    assert "Leads.update" in zoho["webhooks"]["topics"] and "ZohoCRM.notifications.ALL" in zoho["scopes"]
    assert {f["name"]: f["secret"] for f in zoho["credential_fields"]} == {
        "client_id": True,
        "client_secret": True,
        "webhook_secret": True,  # optional: the set-up makes the channel token when none is given
    }
    assert (
        zoho["config_fields"][0]["name"] == "api_domain"
        and "https://www.zohoapis.eu" in zoho["config_fields"][0]["choices"]
    )
    assert (await gw.get("/v1/providers")).status == 401


async def test_creating_a_connector_names_every_bad_field(gw: Gateway):
    _, key = await gw.create_tenant()
    body = connector_body("woocommerce", "s3cret")
    body["config"] = {"store_url": "not a url", "colour": "red"}
    del body["secrets"]["consumer_secret"]
    resp = await gw.post("/v1/connectors", json=body, headers=gw.bearer(key))
    assert resp.status == 422 and resp.content_type == "application/problem+json"
    problem = await resp.json()
    assert sorted(e.split(":")[0] for e in problem["errors"]) == [
        "config.colour",
        "config.store_url",
        "secrets.consumer_secret",
    ]
    assert problem["detail"].startswith("woocommerce: config.")
    assert (await (await gw.get("/v1/connectors", headers=gw.bearer(key))).json())["items"] == []


@pytest.mark.parametrize(
    "store_url",
    ["http://127.0.0.1:8200/", "http://localhost/", "http://169.254.169.254/latest/meta-data/", "http://[::1]/"],
)
async def test_a_store_url_on_a_private_address_is_refused_unless_allowed(make_gateway, store_url):
    strict = await make_gateway(allow_private_urls=False)
    _, key = await strict.create_tenant()
    body = connector_body("woocommerce", "s3cret", store_url=store_url)
    resp = await strict.post("/v1/connectors", json=body, headers=strict.bearer(key))
    assert resp.status == 422, await resp.text()
    assert (await resp.json())["errors"][0].startswith("config.store_url:") and "not a public address" in (
        await resp.json()
    )["errors"][0]
    relaxed = await make_gateway(allow_private_urls=True)
    _, key = await relaxed.create_tenant()
    resp = await relaxed.post("/v1/connectors", json=body, headers=relaxed.bearer(key))
    assert resp.status == 201, await resp.text()
