"""The connector set-up workflow end to end on the real Temporal dev server, OpenBao, Redis, Postgres and a local
WooCommerce: it registers the store's webhooks (delivery URL = BIZOSAAS_PUBLIC_URL + the connector's webhook path,
the secret it made kept in Vault only), a delivery the store signs with it is accepted, a disconnect deletes them at
the store; a set-up that fails shows why on the connector, without retrying a permanent refusal."""

from __future__ import annotations

import pytest
from factories import local_http_server, running, served, wait_for
from gateway_helpers import Gateway, connect_store, disconnect_done, setup_done
from providers.shopify_server import ShopifyShop
from providers.stripe_server import StripeAccount
from providers.woocommerce_server import WooCommerceStore
from temporal_history import history_text
from temporalio.client import Client

from connectors import webhook_setup
from connectors.config import ConnectorsConfig
from connectors.credentials import VaultSecrets
from connectors.providers.shopify.webhook import TOPICS as SHOPIFY_TOPICS
from connectors.providers.stripe import api as stripe_api
from connectors.providers.stripe.webhook import TOPICS as STRIPE_TOPICS
from connectors.providers.woocommerce.webhook import TOPICS
from connectors.sync_deps import SyncDeps
from connectors.temporal.shared import connect_workflow_id
from connectors.temporal.worker import build_worker
from consumers.commands import RunnerContext, commands_group
from consumers.deliveries import deliveries_group
from consumers.projector import projector_group
from events import codec
from events.streams import DEFAULT_PARTITIONS, stream_for_tenant
from producers.publisher import Publisher

TIMEOUT_S = 90.0


@pytest.fixture
async def store():
    async with served(WooCommerceStore()) as shop:
        yield shop


@pytest.fixture
async def stripe(monkeypatch):
    account = StripeAccount()
    async with local_http_server(account.app()) as url:
        account.url = url
        monkeypatch.setattr(stripe_api, "API_BASE", url + "/v1/")
        yield account


@pytest.fixture
async def shop():
    async with served(ShopifyShop()) as made:
        yield made


@pytest.fixture
def secrets(vault) -> VaultSecrets:
    return VaultSecrets(vault.addr, vault.token)


@pytest.fixture
def deps(pool, redis, secrets) -> SyncDeps:
    return SyncDeps(pool, Publisher(redis), secrets, allow_private=True)


@pytest.fixture
async def public_worker(temporal_server, deps, gw: Gateway):
    """The connectors' worker with BIZOSAAS_PUBLIC_URL set to the test gateway's address (so the store can deliver
    to it): a Temporal client and that URL."""
    client = await Client.connect(temporal_server.url)
    public_url = str(gw.make_url("/")).rstrip("/")
    async with build_worker(client, deps, public_url=public_url):
        yield client, public_url


def groups(pool, redis, temporal, secrets):
    config = ConnectorsConfig(allow_private_urls=True)
    runner = RunnerContext(pool, redis, temporal, config, DEFAULT_PARTITIONS)
    return [commands_group(runner), projector_group(pool, DEFAULT_PARTITIONS), deliveries_group(pool)]


async def test_set_up_registers_webhooks_that_deliver_and_disconnect_deletes_them(
    gw: Gateway, store, redis, pool, secrets, deps, public_worker
):
    temporal, public_url = public_worker
    store.seed(orders=3, customers=1)
    tenant, key = await gw.create_tenant()
    async with running(redis, groups(pool, redis, temporal, secrets)):
        connector_id = await connect_store(gw, key, store)
        answer = await wait_for(lambda: setup_done(gw, key, connector_id), timeout_s=TIMEOUT_S)
        assert answer["health"]["setup"]["status"] == "connected", answer
        assert answer["health"]["webhooks_registered"] == len(TOPICS)

        # at the store: one webhook per topic the normalizer maps, to the connector's public webhook URL
        hooks = list(store.webhooks.values())
        assert sorted(h["topic"] for h in hooks) == sorted(TOPICS)
        assert {h["delivery_url"] for h in hooks} == {f"{public_url}/v1/webhooks/{connector_id}"}
        assert answer["webhook_url"] == f"{public_url}/v1/webhooks/{connector_id}"
        # signed with a secret the platform made and keeps in Vault only
        secret = (await secrets.read(tenant, connector_id, fresh=True))["webhook_secret"]
        assert len(secret) >= 32 and {h["secret"] for h in hooks} == {secret}
        history = await history_text(temporal, connect_workflow_id(connector_id))
        assert tenant in history  # the payloads are read (the workflow id does not name the tenant)
        assert secret not in history and store.consumer_secret not in history
        published = b"".join(f[codec.EVENT_FIELD] for _, f in await redis.xrange(stream_for_tenant(tenant)))
        assert b"connector.connected.v1" in published and b"connector.connect.started.v1" in published
        assert secret.encode() not in published and store.consumer_secret.encode() not in published

        # a delivery the store signs with it is accepted, and becomes the record
        order_id = store.ids("orders")[0]
        changed = store.change("orders", order_id, status="completed")
        assert await store.deliver("order.updated", changed) == [200]

        async def delivered():
            resp = await gw.get(f"/v1/records/order?source={connector_id}", headers=gw.bearer(key))
            found = [r for r in (await resp.json())["items"] if r["external_id"] == str(order_id)]
            return found and found[0]["data"]["status"] == "completed"

        await wait_for(delivered, timeout_s=TIMEOUT_S)

        # registering again (a retried activity) makes nothing new at the store
        again = await webhook_setup.register(deps, public_url, tenant, connector_id)
        assert again.webhooks == len(TOPICS) and len(store.webhooks) == len(TOPICS)

        # disconnect: the webhooks are deleted at the store, then the secrets destroyed
        assert (await gw.delete(f"/v1/connectors/{connector_id}", headers=gw.bearer(key))).status == 204
        outcome = await wait_for(lambda: disconnect_done(gw, key, connector_id), timeout_s=TIMEOUT_S)
        assert outcome["status"] == "completed", outcome
        assert f"unregistered {len(TOPICS)} webhook(s)" in outcome["reason"]
    assert store.webhooks == {}
    assert await secrets.read(tenant, connector_id, fresh=True) is None
    one = await (await gw.get(f"/v1/connectors/{connector_id}", headers=gw.bearer(key))).json()
    assert one["health"]["webhooks_registered"] == 0


async def test_a_refused_connection_shows_failed_with_what_to_fix_and_is_not_retried(
    gw: Gateway, store, redis, pool, secrets, public_worker
):
    temporal, _ = public_worker
    store.seed(orders=1)
    _, key = await gw.create_tenant()
    async with running(redis, groups(pool, redis, temporal, secrets)):
        resp = await gw.post(
            "/v1/connectors",
            headers=gw.bearer(key),
            json={
                "provider": "woocommerce",
                "name": "wrong key",
                "config": {"store_url": store.url},
                "secrets": {"consumer_key": store.consumer_key, "consumer_secret": "cs_wrong"},
            },
        )
        connector_id = (await resp.json())["id"]
        answer = await wait_for(lambda: setup_done(gw, key, connector_id), timeout_s=TIMEOUT_S)
    setup = answer["health"]["setup"]
    assert setup["status"] == "failed" and setup["step"] == "test", setup
    assert "HTTP 401" in setup["reason"] and "consumer key" in setup["reason"] and "Read/Write" in setup["reason"]
    assert "cs_wrong" not in str(answer)
    assert len(store.requests("orders")) == 1  # a permanent refusal: asked once, never again
    assert answer["health"]["webhooks_registered"] == 0 and store.webhooks == {}


async def test_a_read_only_key_fails_the_set_up_at_the_webhooks(
    gw: Gateway, store, redis, pool, secrets, public_worker
):
    temporal, _ = public_worker
    store.read_only = True
    _, key = await gw.create_tenant()
    async with running(redis, groups(pool, redis, temporal, secrets)):
        connector_id = await connect_store(gw, key, store)
        answer = await wait_for(lambda: setup_done(gw, key, connector_id), timeout_s=TIMEOUT_S)
    setup = answer["health"]["setup"]
    assert (setup["status"], setup["step"]) == ("failed", "webhooks"), setup
    assert "Read/Write" in setup["reason"] and "creating the" in setup["reason"]


async def test_without_a_public_url_or_with_a_secret_given_nothing_is_registered_and_the_connector_says_why(
    gw: Gateway, store, redis, pool, secrets, temporal
):
    # the `temporal` fixture's worker has no public URL (BIZOSAAS_PUBLIC_URL unset)
    _, key = await gw.create_tenant()
    async with running(redis, groups(pool, redis, temporal, secrets)):
        unset = await connect_store(gw, key, store)
        by_hand = await connect_store(gw, key, store, "whsec-by-hand")
        first = await wait_for(lambda: setup_done(gw, key, unset), timeout_s=TIMEOUT_S)
        second = await wait_for(lambda: setup_done(gw, key, by_hand), timeout_s=TIMEOUT_S)
    assert first["health"]["setup"]["status"] == "connected" and first["health"]["webhooks_registered"] == 0
    assert "BIZOSAAS_PUBLIC_URL is not set" in first["health"]["setup"]["reason"]
    assert second["health"]["setup"]["status"] == "connected"
    assert "added by hand" in second["health"]["setup"]["reason"]
    assert store.webhooks == {}


async def test_stripe_set_up_creates_one_endpoint_and_keeps_the_signing_secret_stripe_answers(
    gw: Gateway, stripe, redis, pool, secrets, deps, public_worker
):
    temporal, public_url = public_worker
    stripe.seed(customers=2)
    tenant, key = await gw.create_tenant()
    async with running(redis, groups(pool, redis, temporal, secrets)):
        resp = await gw.post(
            "/v1/connectors",
            headers=gw.bearer(key),
            json={"provider": "stripe", "name": "billing", "secrets": {"secret_key": stripe.secret_key}},
        )
        assert resp.status == 201, await resp.text()
        connector_id = (await resp.json())["id"]
        answer = await wait_for(lambda: setup_done(gw, key, connector_id), timeout_s=TIMEOUT_S)
        assert answer["health"]["setup"]["status"] == "connected", answer
        assert answer["health"]["webhooks_registered"] == 1
        (endpoint,) = stripe.webhook_endpoints.values()
        assert endpoint["url"] == f"{public_url}/v1/webhooks/{connector_id}"
        assert sorted(endpoint["enabled_events"]) == sorted(STRIPE_TOPICS)
        assert (await secrets.read(tenant, connector_id, fresh=True))["webhook_secret"] == endpoint["secret"]
        history = await history_text(temporal, connect_workflow_id(connector_id))
        assert endpoint["secret"] not in history

        # registering again keeps the endpoint whose secret the connector holds
        await webhook_setup.register(deps, public_url, tenant, connector_id)
        assert list(stripe.webhook_endpoints) == [endpoint["id"]]

        # the change at Stripe, and its event delivered
        customer = stripe.change("customers", stripe.ids("customers")[0], email="renamed@example.com")
        assert await stripe.deliver("customer.updated", customer) == [200]

        # accepted and published (a wrong signature answers 401); not the record: Stripe's event time has whole
        # seconds and a sync's has its read time, so an initial sync in the same second may hold the newer state
        async def delivered():
            resp = await gw.get("/v1/deliveries", params={"connector_id": connector_id}, headers=gw.bearer(key))
            return [d for d in (await resp.json())["items"] if d.get("outcome") == "published"]

        await wait_for(delivered, timeout_s=TIMEOUT_S)

        assert (await gw.delete(f"/v1/connectors/{connector_id}", headers=gw.bearer(key))).status == 204
        outcome = await wait_for(lambda: disconnect_done(gw, key, connector_id), timeout_s=TIMEOUT_S)
        assert "unregistered 1 webhook(s)" in outcome["reason"], outcome
    assert stripe.webhook_endpoints == {}


async def test_shopify_set_up_subscribes_each_topic_and_verifies_with_the_app_secret(
    gw: Gateway, shop, redis, pool, secrets, public_worker
):
    temporal, public_url = public_worker
    shop.seed(orders=2)
    tenant, key = await gw.create_tenant()
    async with running(redis, groups(pool, redis, temporal, secrets)):
        resp = await gw.post(
            "/v1/connectors",
            headers=gw.bearer(key),
            json={
                "provider": "shopify",
                "name": "custom app",
                "config": {"shop": shop.url, "currency": "EUR"},
                "secrets": {"access_token": shop.access_token, "client_secret": shop.client_secret},
            },
        )
        assert resp.status == 201, await resp.text()
        connector_id = (await resp.json())["id"]
        answer = await wait_for(lambda: setup_done(gw, key, connector_id), timeout_s=TIMEOUT_S)
        assert answer["health"]["setup"]["status"] == "connected", answer
        assert answer["health"]["webhooks_registered"] == len(SHOPIFY_TOPICS)
        assert sorted(w["topic"] for w in shop.webhooks.values()) == sorted(SHOPIFY_TOPICS)
        assert {w["address"] for w in shop.webhooks.values()} == {f"{public_url}/v1/webhooks/{connector_id}"}
        assert (await secrets.read(tenant, connector_id, fresh=True))["webhook_secret"] == shop.client_secret

        order = shop.change("orders", shop.ids("orders")[0], tags="vip")
        assert set(await shop.deliver("orders/updated", order)) == {200}

        async def delivered():  # the delivery record, published (a wrong signature would have answered 401)
            resp = await gw.get("/v1/deliveries", params={"connector_id": connector_id}, headers=gw.bearer(key))
            return [d for d in (await resp.json())["items"] if d.get("outcome") == "published"]

        await wait_for(delivered, timeout_s=TIMEOUT_S)

        assert (await gw.delete(f"/v1/connectors/{connector_id}", headers=gw.bearer(key))).status == 204
        outcome = await wait_for(lambda: disconnect_done(gw, key, connector_id), timeout_s=TIMEOUT_S)
        assert f"unregistered {len(SHOPIFY_TOPICS)} webhook(s)" in outcome["reason"], outcome
    assert shop.webhooks == {}
