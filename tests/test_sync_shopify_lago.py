"""Shopify's Admin REST API and Lago's API against their local servers (tests/providers/shopify_server.py,
lago_server.py), and connectors/sync.py on the real Redis, Postgres and OpenBao, without Temporal: the documented
request shapes, refusals and overload, incremental and full runs, idempotent re-runs, deletions by full
reconciliation; the shop check and Shopify's OAuth callback hmac; Lago's usage push."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from factories import running, served, wait_for
from providers.lago_server import LagoAccount
from providers.shopify_server import T0, ShopifyShop
from sync_support import add_connector, deleted_ids, published, record_count, run_and_publish

from connectors import sync, sync_pages
from connectors.base import ApiCall, ProviderBusy, ProviderRefused
from connectors.credentials import VaultSecrets
from connectors.providers.lago import api as lago_api
from connectors.providers.shopify import api as shopify_api
from connectors.providers.shopify import mapping as shopify_mapping
from connectors.providers.shopify.shop import ShopRefused, callback_hmac, oauth_endpoints, shop_origin, verify_callback
from connectors.registry import get_facts
from consumers.projector import projector_group
from events.streams import DEFAULT_PARTITIONS
from producers.publisher import Publisher

TENANT = "tenant-shop-lago"
SHOP_CONNECTOR, LAGO_CONNECTOR = "con_shopify_sync_1", "con_lago_sync_1"
SHOPIFY, LAGO = get_facts("shopify"), get_facts("lago")


@pytest.fixture
async def shop():
    async with served(ShopifyShop()) as made:
        yield made


@pytest.fixture
async def lago():
    async with served(LagoAccount()) as made:
        yield made


def shop_call(shop: ShopifyShop, **secrets: str) -> ApiCall:
    return ApiCall(SHOPIFY, {"shop": shop.url}, {"access_token": shop.access_token, **secrets}, allow_private=True)


def lago_call(lago: LagoAccount, key: str | None = None) -> ApiCall:
    return ApiCall(LAGO, {"api_url": lago.url}, {"api_key": key or lago.api_key}, allow_private=True)


# --- Shopify: the shop, the API ------------------------------------------------------------------------------------


def test_the_shop_must_be_a_myshopify_domain_before_anything_is_sent():
    assert shop_origin("https://cool-shop-1.myshopify.com") == "https://cool-shop-1.myshopify.com"
    assert shop_origin("cool-shop-1.myshopify.com/") == "https://cool-shop-1.myshopify.com"
    for bad in (
        "https://shop.example.com",  # a custom domain
        "http://cool-shop.myshopify.com",  # not https
        "https://cool-shop.myshopify.com.evil.com",
        "https://-shop.myshopify.com",
        "https://Cool.myshopify.com",
        "https://cool.myshopify.com/admin",
        "https://user@cool.myshopify.com",
        "https://cool.myshopify.com:8443",
        "http://127.0.0.1:8080",  # loopback only with allow_private
        "",
    ):
        with pytest.raises(ShopRefused):
            shop_origin(bad)
    assert shop_origin("http://127.0.0.1:8080", allow_private=True) == "http://127.0.0.1:8080"
    assert oauth_endpoints({"shop": "https://a.myshopify.com"}) == (
        "https://a.myshopify.com/admin/oauth/authorize",
        "https://a.myshopify.com/admin/oauth/access_token",
    )


def test_the_oauth_callback_hmac_is_shopifys():
    # shopify.dev's "Verify a request" example: the parameters without hmac, sorted, k=v joined with &, hex
    # HMAC-SHA256 with the client secret (the expected value is computed here, the docs show no fixed key)
    query = {"code": "0907a61c0c8d55e99db179b68161bc00", "shop": "a.myshopify.com", "state": "s", "timestamp": "1"}
    signed = {**query, "hmac": callback_hmac(query, "secret")}
    assert callback_hmac(query, "secret") == callback_hmac(dict(reversed(query.items())), "secret")
    verify_callback(signed, "secret", {"shop": "https://a.myshopify.com"})
    with pytest.raises(ShopRefused, match="does not match"):
        verify_callback({**signed, "code": "forged"}, "secret", {"shop": "https://a.myshopify.com"})
    with pytest.raises(ShopRefused, match="not the connector's"):
        verify_callback(signed, "secret", {"shop": "https://b.myshopify.com"})
    with pytest.raises(ShopRefused, match="no hmac"):
        verify_callback(query, "secret", {"shop": "https://a.myshopify.com"})


async def test_shopify_pages_by_link_page_info_and_sends_only_limit_with_it(shop):
    shop.seed(orders=230)
    orders = SHOPIFY.resource("orders")
    first = await shopify_api.read_page(shop_call(shop), orders, 1, "2026-01-01T00:09:00", "2026-02-01T00:00:00")
    sent = shop.log[-1][2]
    assert sent == {
        "limit": "100",
        "status": "any",
        "updated_at_min": "2026-01-01T00:09:00Z",
        "updated_at_max": "2026-02-01T00:00:00Z",
    }
    assert [o["id"] for o in first.objects] == shop.ids("orders")[9:109] and first.next_cursor
    second = await shopify_api.read_page(shop_call(shop), orders, 2, after=first.next_cursor)
    assert set(shop.log[-1][2]) == {"limit", "page_info"}  # nothing else may ride with page_info
    third = await shopify_api.read_page(shop_call(shop), orders, 3, after=second.next_cursor)
    assert len(third.objects) == 21 and third.next_cursor is None
    event_ids = [shopify_api.cursor_of(orders, o) for o in third.objects]
    assert event_ids[-1] == third.objects[-1]["updated_at"]


async def test_shopify_refusals_name_the_fix_and_429_is_transient(shop):
    shop.seed(customers=1)
    customers = SHOPIFY.resource("customers")
    with pytest.raises(ProviderRefused, match=r"access token was refused .*HTTP 401.*shpat_"):
        await shopify_api.read_page(shop_call(shop, access_token="shpat_wrong"), customers, 1)
    with pytest.raises(ProviderRefused, match="no Admin API access token"):
        await shopify_api.test_connection(ApiCall(SHOPIFY, {"shop": shop.url}, {}, allow_private=True))
    # the shop is checked before the token is sent: nothing reaches a non-Shopify host
    before = len(shop.log)
    with pytest.raises(ProviderRefused, match="not a Shopify shop address"):
        await shopify_api.read_page(ApiCall(SHOPIFY, {"shop": shop.url}, {"access_token": "t"}), customers, 1)
    assert len(shop.log) == before
    shop.fail_next(1, 429, retry_after_s=2.0)
    with pytest.raises(ProviderBusy) as busy:
        await shopify_api.read_page(shop_call(shop), customers, 1)
    assert busy.value.retry_after_s == 2.0
    shop.fail_next(1, 503)
    with pytest.raises(ProviderBusy, match="HTTP 503"):
        await shopify_api.read_page(shop_call(shop), customers, 1)
    # an OAuth2 install's token (Vault: oauth_access_token) serves as well as a custom app's
    oauth_call = ApiCall(SHOPIFY, {"shop": shop.url}, {"oauth_access_token": shop.access_token}, allow_private=True)
    assert (await shopify_api.read_page(oauth_call, customers, 1)).objects


async def test_shopify_never_follows_a_redirect_with_its_token(shop):
    """aiohttp drops Authorization on a redirect to another host, not X-Shopify-Access-Token: a shop address that
    redirects must not carry the token anywhere else."""
    from aiohttp import web
    from factories import local_http_server

    seen: list[dict] = []

    async def elsewhere(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.json_response({"products": []})

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently(f"{other}{request.path_qs}")

    redirecting = web.Application()
    redirecting.router.add_get("/{tail:.*}", moved)
    target = web.Application()
    target.router.add_get("/{tail:.*}", elsewhere)
    async with local_http_server(target) as other, local_http_server(redirecting) as shop_url:
        call = ApiCall(SHOPIFY, {"shop": shop_url}, {"access_token": shop.access_token}, allow_private=True)
        with pytest.raises(ProviderRefused, match=r"HTTP 301, a redirect to .* not followed"):
            await shopify_api.test_connection(call)
    assert seen == []


async def test_shopify_order_tags_are_replaced(shop):
    shop.seed(orders=1)
    (order_id,) = shop.ids("orders")
    answer = await shopify_api.update_order_tags(shop_call(shop), str(order_id), ["vip", "wholesale"])
    assert answer["tags"] == "vip, wholesale" == shop.objects["orders"][order_id]["tags"]
    assert shop.log[-1][:2] == ("PUT", f"/admin/api/2025-07/orders/{order_id}.json")
    with pytest.raises(ProviderRefused, match="order_id"):
        await shopify_api.update_order_tags(shop_call(shop), "../shop", ["x"])


# --- Lago: the API and usage ---------------------------------------------------------------------------------------


async def test_lago_pages_by_page_and_meta_and_lists_every_subscription(lago):
    lago.seed(customers=230, subscriptions=3)
    customers = LAGO.resource("customers")
    first = await lago_api.read_page(lago_call(lago), customers, 1)
    assert (len(first.objects), first.total, first.total_pages) == (100, 230, 3)
    assert first.objects[0]["id"] == first.objects[0]["lago_id"]
    last = await lago_api.read_page(lago_call(lago), customers, 3)
    assert len(last.objects) == 30 and sync_pages.last_page(customers, 3, last)
    lago.change("subscriptions", lago.ids("subscriptions")[0], status="terminated")
    subs = await lago_api.read_page(lago_call(lago), LAGO.resource("subscriptions"), 1)
    assert len(subs.objects) == 3 and ("status[]", "terminated") in lago.log[-1][2]
    with pytest.raises(ProviderRefused, match=r"API key was refused .*HTTP 401"):
        await lago_api.read_page(lago_call(lago, "wrong"), customers, 1)
    lago.fail_next(1, 429, retry_after_s=4)
    with pytest.raises(ProviderBusy) as busy:
        await lago_api.read_page(lago_call(lago), customers, 1)
    assert busy.value.retry_after_s == 4


async def test_a_days_usage_is_recorded_once(lago):
    given = lago_api.usage_event(TENANT, date(2026, 1, 1), "commerce.order.upserted.v2", "shopify", 42, "sub-1")
    first = await lago_api.record_usage(lago_call(lago), **given)
    again = await lago_api.record_usage(lago_call(lago), **given)  # a retried activity: Lago answers 422, we read it
    assert first == again and len(lago.events) == 1
    assert lago.events[given["transaction_id"]]["properties"]["events"] == 42


# --- connectors/sync.py ----------------------------------------------------------------------------------------


@pytest.fixture
async def deps(pool, redis, vault, admin, shop, lago):
    await add_connector(admin, TENANT, SHOP_CONNECTOR, "shopify", {"shop": shop.url, "currency": "USD"})
    await add_connector(admin, TENANT, LAGO_CONNECTOR, "lago", {"api_url": lago.url})
    secrets = VaultSecrets(vault.addr, vault.token)
    await secrets.write(TENANT, SHOP_CONNECTOR, {"access_token": shop.access_token, "webhook_secret": "shpss_x"})
    await secrets.write(TENANT, LAGO_CONNECTOR, {"api_key": lago.api_key, "webhook_secret": "x"})
    return sync.SyncDeps(pool, Publisher(redis), secrets, allow_private=True)


async def test_shopify_syncs_full_then_incremental_and_reconciles_deletions(deps, shop, redis, pool, admin):
    shop.seed(orders=120, customers=5, products=3)
    orders = sync.Target(TENANT, SHOP_CONNECTOR, "orders")
    async with running(redis, [projector_group(pool, DEFAULT_PARTITIONS)]):
        first = await sync.run(deps, orders, "run-1")
        assert (first.records, first.deleted) == (120, 0)
        assert first.cursor == shop.objects["orders"][shop.ids("orders")[-1]]["updated_at"]
        events = await published(redis, TENANT)
        upserts = [e for e in events if e.type == "commerce.order.upserted.v2"]
        some = shop.ids("orders")[7]
        by_id = {e.subject.external_id: e for e in upserts}
        assert len(upserts) == 120 and by_id[str(some)].data == shopify_mapping.order(shop.objects["orders"][some])
        await wait_for(lambda: record_count(admin, TENANT, "order", SHOP_CONNECTOR), 120)
        # incremental: only what changed after the checkpoint (less a second) is listed
        shop.change("orders", some, when=T0 + timedelta(days=1), tags="changed")
        second, run_events = await run_and_publish(redis, deps, orders, "run-2")
        assert second.records == 2  # the re-read last second, and the change
        assert shop.log[-1][2]["updated_at_min"].endswith("Z")
        fresh = [e for e in run_events if e.type == "commerce.order.upserted.v2"]
        assert [e.subject.external_id for e in fresh] == [str(some)]  # the re-read one publishes nothing new
        # a full run reconciles: a deleted order becomes a tombstone
        gone = shop.ids("orders")[50]
        shop.delete("orders", gone)
        third = await sync.run(deps, orders, "run-3", full=True)
        assert (third.records, third.deleted) == (119, 1)
        await wait_for(lambda: deleted_ids(admin, TENANT, "order", SHOP_CONNECTOR), [str(gone)])
        for name, count in (("customers", 5), ("products", 3)):
            assert (await sync.run(deps, sync.Target(TENANT, SHOP_CONNECTOR, name), f"run-{name}")).records == count


async def test_lago_syncs_whole_publishes_only_changes_and_reconciles(deps, lago, redis, pool, admin):
    lago.seed(customers=130, subscriptions=3, invoices=2)
    customers = sync.Target(TENANT, LAGO_CONNECTOR, "customers")
    async with running(redis, [projector_group(pool, DEFAULT_PARTITIONS)]):
        first = await sync.run(deps, customers, "run-1")
        assert (first.records, first.deleted, first.cursor) == (130, 0, None)
        await wait_for(lambda: record_count(admin, TENANT, "contact", LAGO_CONNECTOR), 130)
        finished, run_events = await run_and_publish(redis, deps, customers, "run-2")
        assert finished.records == 130
        assert len(run_events) == 2  # started, completed: nothing changed
        changed, gone = lago.ids("customers")[3], lago.ids("customers")[60]
        lago.change("customers", changed, email="new@example.com", updated_at=datetime.now(UTC).isoformat())
        lago.delete("customers", gone)
        third, run_events = await run_and_publish(redis, deps, customers, "run-3")
        assert (third.records, third.deleted) == (129, 1)
        fresh = [e for e in run_events if e.type == "crm.contact.upserted.v1"]
        assert [e.subject.external_id for e in fresh] == [changed]
        await wait_for(lambda: deleted_ids(admin, TENANT, "contact", LAGO_CONNECTOR), [gone])
        lago.change("subscriptions", lago.ids("subscriptions")[0], status="terminated")
        for name, kind, count in (("subscriptions", "subscription", 3), ("invoices", "invoice", 2)):
            assert (await sync.run(deps, sync.Target(TENANT, LAGO_CONNECTOR, name), f"run-{name}")).records == count
            await wait_for(lambda k=kind: record_count(admin, TENANT, k, LAGO_CONNECTOR), count)
