"""Google Merchant Center against a local Merchant API (tests/providers/google_merchant_server.py): products pages
by pageToken, the documented refusals; products and their statuses imported through the real Temporal sync
workflow and visible over REST, a disapproval and a deletion seen by the next full runs; `set_availability` through
the action workflow."""

from __future__ import annotations

import uuid

import pytest
from factories import running, wait_for
from google_support import TIMEOUT_S, api_call, connect, counted, deleted_ids, records, served, temporal_sync
from providers.google_merchant_server import GoogleMerchant

from connectors.base import ProviderBusy, ProviderRefused
from connectors.providers.google_merchant import api, mapping
from connectors.registry import get_facts
from connectors.temporal.client import run_action
from consumers.projector import projector_group
from events.streams import DEFAULT_PARTITIONS

FACTS = get_facts("google-merchant")
PRODUCTS, STATUSES = FACTS.resource("products"), FACTS.resource("product_statuses")


@pytest.fixture
async def merchant(monkeypatch):
    async with served(GoogleMerchant(), monkeypatch) as made:
        yield made


def config(merchant: GoogleMerchant, **more) -> dict:
    return {"account_id": merchant.account_id, "data_source_id": merchant.data_source_id, **more}


async def test_products_page_by_token_and_refusals(merchant):
    merchant.seed(230)
    call = api_call(merchant, "google-merchant", config(merchant))
    first = await api.read_page(call, PRODUCTS, 1)
    sent = merchant.requests("/products")[-1]
    assert sent.path == f"/products/v1/accounts/{merchant.account_id}/products" and sent.query == {"pageSize": "100"}
    second = await api.read_page(call, PRODUCTS, 2, after=first.next_cursor)
    assert merchant.requests("/products")[-1].query["pageToken"] == first.next_cursor
    last = await api.read_page(call, STATUSES, 3, after=second.next_cursor)
    assert last.next_cursor is None and len(last.objects) == 30
    assert [o["id"] for o in first.objects + second.objects + last.objects] == merchant.ids()
    merchant.fail_next(1, 429, retry_after_s=4)
    with pytest.raises(ProviderBusy) as busy:
        await api.read_page(call, PRODUCTS, 1)
    assert busy.value.retry_after_s == 4.0
    with pytest.raises(ProviderRefused, match="PERMISSION_DENIED"):
        await api.read_page(api_call(merchant, "google-merchant", {"account_id": "1"}), PRODUCTS, 1)
    with pytest.raises(ProviderRefused, match="UNAUTHENTICATED"):
        await api.read_page(api_call(merchant, "google-merchant", config(merchant), "ya29.x"), PRODUCTS, 1)


def test_mapping():
    merchant = GoogleMerchant()
    key = merchant.seed(2)[1]
    merchant.disapprove(key)
    obj = {"id": key, **merchant.products[key]}
    product = mapping.product(obj)
    assert (product.sku, product.price_minor, product.currency, product.status) == (
        "SKU-00002",
        5199,
        "USD",
        "in_stock",
    )
    status = mapping.product_status(obj)
    assert not status.approved and status.product_external_id == "en~US~SKU-00002"
    assert [(d.destination, d.status, d.countries) for d in status.destinations] == [
        ("SHOPPING_ADS", "disapproved", ["US"])
    ]
    assert [(i.code, i.severity, i.attribute) for i in status.issues] == [
        ("image_link_broken", "disapproved", "image_link")
    ]


async def test_imports_through_temporal_then_sets_availability(gw, vault, merchant, redis, pool, temporal):
    merchant.seed(120)
    tenant, key, connector = await connect(gw, vault, merchant, "google-merchant", config(merchant))
    async with running(redis, [projector_group(pool, DEFAULT_PARTITIONS)]):
        for resource in ("products", "product_statuses"):
            (run,) = (await temporal_sync(temporal, tenant, connector, resource)).runs
            assert (run.status, run.records) == ("completed", 120), run.error
        held = await wait_for(lambda: counted(gw, key, "product_status", 120), timeout_s=TIMEOUT_S)
        first = merchant.ids()[0]
        assert held[first]["data"]["approved"] and held[first]["provider"] == "google-merchant"
        products = await wait_for(lambda: counted(gw, key, "product", 120), timeout_s=TIMEOUT_S)
        assert products[first]["data"]["price_minor"] == 5099

        # a disapproval and a deletion at Merchant Center: the next full runs see both
        merchant.disapprove(first)
        gone = merchant.ids()[-1]
        merchant.delete(gone)
        for resource in ("products", "product_statuses"):
            (run,) = (await temporal_sync(temporal, tenant, connector, resource, full=True)).runs
            assert (run.status, run.deleted) == ("completed", 1), run.error
        await wait_for(lambda: _approved(gw, key, first), False, TIMEOUT_S)
        await wait_for(lambda: deleted_ids(gw, key, "product_status"), [gone], TIMEOUT_S)

        offer = merchant.products[first]["offerId"]
        values = {"offer_id": offer, "availability": "OUT_OF_STOCK"}
        answer = await run_action(temporal, tenant, connector, "set_availability", values, id=f"action:{uuid.uuid4()}")
        assert answer == {"id": first, "offer_id": offer, "availability": "OUT_OF_STOCK"}
        assert merchant.products[first]["productAttributes"]["availability"] == "OUT_OF_STOCK"


async def _approved(gw, key: str, product: str) -> bool:
    return (await records(gw, key, "product_status"))[product]["data"].get("approved", False)
