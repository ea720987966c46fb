"""Webhook ingestion through the gateway with the real provider fixtures, signed per provider at test time, against
real Redis, Postgres, OpenBao and the consumer groups that persist deliveries and project records."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import pytest
from factories import running, wait_for
from gateway_helpers import Gateway
from webhook_support import (
    FORM,
    JSON,
    connector_body,
    fixture,
    shopify_headers,
    slack_headers,
    standard_webhooks_headers,
    stripe_headers,
    vectors,
    woocommerce_headers,
)

import connectors.providers.standard_webhooks.webhook as standard_webhooks
from connectors.providers.slack import SlackProvider
from connectors.providers.standard_webhooks import StandardWebhooksProvider
from connectors.providers.stripe import StripeProvider
from connectors.registry import all_providers
from consumers.deliveries import deliveries_group
from consumers.projector import projector_group
from events import codec
from events.streams import DELIVERIES_STREAM, all_event_streams

WOO_SECRET, SHOP_SECRET, STRIPE_SECRET, SLACK_SECRET = "wc-secret", "shop-secret", "whsec_stripe", "slack-secret"
SW_SECRET = "whsec_" + base64.b64encode(b"standard-webhooks-test-key-32by").decode()


async def make_connector(gw: Gateway, key: str, provider: str, secret: str, **config) -> str:
    resp = await gw.post(
        "/v1/connectors",
        headers=gw.bearer(key),
        json=connector_body(provider, secret, f"{provider} test", **config),
    )
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert body["webhook_url"].endswith(f"/v1/webhooks/{body['id']}")
    return body["id"]


async def deliver(gw: Gateway, connector_id: str, body: bytes, headers: dict, content_type: str = JSON):
    return await gw.post(f"/v1/webhooks/{connector_id}", data=body, headers={"Content-Type": content_type, **headers})


def woo(body: bytes, topic: str, delivery: str, secret: str = WOO_SECRET) -> dict:
    return {
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Delivery-ID": delivery,
        "X-WC-Webhook-Source": "http://example.com/",
        **woocommerce_headers(body, secret, 0),
    }


def shopify(body: bytes, topic: str, delivery: str) -> dict:
    return {
        "X-Shopify-Topic": topic,
        "X-Shopify-Webhook-Id": delivery,
        "X-Shopify-Shop-Domain": "t.myshopify.com",
        "X-Shopify-API-Version": "2024-01",
        **shopify_headers(body, SHOP_SECRET, 0),
    }


def stripe_body(name: str, event_id: str) -> bytes:
    # the fixtures' ids are all zeroed: give each delivery its own event id (and sign the changed bytes)
    return fixture("stripe", name).replace(b'"evt_000000000000000000000000"', f'"{event_id}"'.encode(), 1)


async def stream_length(redis) -> int:
    return sum([await redis.xlen(s) for s in all_event_streams()])


async def read_records(gw: Gateway, key: str, kind: str) -> list[dict]:
    resp = await gw.get(f"/v1/records/{kind}", headers=gw.bearer(key))
    assert resp.status == 200, await resp.text()
    return (await resp.json())["items"]


async def test_every_provider_fixture_is_verified_published_recorded_and_readable(gw: Gateway, redis, pool):
    tenant, key = await gw.create_tenant()
    woo_id = await make_connector(gw, key, "woocommerce", WOO_SECRET, currency="USD")
    shop_id = await make_connector(gw, key, "shopify", SHOP_SECRET)
    stripe_id = await make_connector(gw, key, "stripe", STRIPE_SECRET)
    slack_id = await make_connector(gw, key, "slack", SLACK_SECRET)
    sw_id = await make_connector(gw, key, "standard-webhooks", SW_SECRET)
    now = int(time.time())
    slack_env = json.dumps(
        {
            "type": "event_callback",
            "event_id": "Ev01",
            "team_id": "T1",
            "event": json.loads(fixture("slack", "message.inner_event.json")),
        }
    ).encode()
    sw_body = json.dumps(
        {
            "type": "contact.created",
            "timestamp": "2026-01-01T00:00:00Z",
            "data": {"id": "c-77", "email": "ada@example.com", "first_name": "Ada"},
        }
    ).encode()
    sent = (
        [
            (woo_id, fixture("woocommerce", n), woo(fixture("woocommerce", n), t, f"wc-{i}"))
            for i, (n, t) in enumerate(
                [
                    ("order.created.json", "order.created"),
                    ("product.updated.json", "product.updated"),
                    ("customer.created.json", "customer.created"),
                    ("customer.updated.json", "customer.updated"),
                ]
            )
        ]
        + [
            (shop_id, fixture("shopify", n), shopify(fixture("shopify", n), t, f"sh-{i}"))
            for i, (n, t) in enumerate(
                [
                    ("orders-create.json", "orders/create"),
                    ("customers-create.json", "customers/create"),
                    ("customers-update.json", "customers/update"),
                ]
            )
        ]
        + [
            (stripe_id, b, stripe_headers(b, STRIPE_SECRET, now))
            for i, n in enumerate(
                [
                    "payment_intent.succeeded.json",
                    "customer.subscription.updated.json",
                    "checkout.session.completed.json",
                ]
            )
            for b in [stripe_body(n, f"evt_test_{i}")]
        ]
        + [
            (slack_id, slack_env, slack_headers(slack_env, SLACK_SECRET, now)),
            (sw_id, sw_body, standard_webhooks_headers(sw_body, SW_SECRET, now, msg_id="msg_1")),
        ]
    )
    records = set()
    for connector_id, body, headers in sent:
        resp = await deliver(gw, connector_id, body, headers)
        assert resp.status == 200, await resp.text()
        reply = await resp.json()
        assert reply["outcome"] == "published" and reply["events"] >= 1 and not reply["duplicate"], reply
        records.add(reply["delivery"])
    published = [codec.decode_entry(f) for s in all_event_streams() for _, f in await redis.xrange(s)]
    # every event names the delivery record its payload is kept in (dlv_...), never the provider's delivery id
    assert {e.raw_ref for e in published if e.tenant_id == tenant} == records
    assert all(r.startswith("dlv_") for r in records)
    async with running(redis, [projector_group(pool, 8), deliveries_group(pool)]):
        await wait_for(lambda: _count(gw, key, "order", 3))
        await wait_for(lambda: _count(gw, key, "contact", 5))
        await wait_for(lambda: _deliveries(gw, key, len(sent)))
    assert {r["external_id"] for r in await read_records(gw, key, "product")} == {"794"}
    assert [r["external_id"] for r in await read_records(gw, key, "payment")] == ["pi_000000000000000000000000"]
    assert len(await read_records(gw, key, "subscription")) == 1
    assert len(await read_records(gw, key, "message")) == 1
    contacts = {r["external_id"]: r for r in await read_records(gw, key, "contact")}
    assert contacts["706405506930370084"]["data"]["email"] == "bob2@biller.com"  # the update won the tie
    assert contacts["c-77"]["provider"] == "standard-webhooks" and contacts["c-77"]["source"] == sw_id
    order = next(r for r in await read_records(gw, key, "order") if r["external_id"] == "727")
    assert order["kind"] == "order" and order["provider"] == "woocommerce" and order["updated_at"].endswith("Z")
    one = await gw.get(f"/v1/records/order/{order['id']}", headers=gw.bearer(key))
    assert (await one.json()) == order


async def _count(gw: Gateway, key: str, kind: str, n: int) -> bool:
    return len(await read_records(gw, key, kind)) == n


async def _deliveries(gw: Gateway, key: str, n: int) -> list | None:
    items = (await (await gw.get("/v1/deliveries", params={"limit": "100"}, headers=gw.bearer(key))).json())["items"]
    return items if len(items) == n else None


async def test_official_vectors_and_their_negatives(gw: Gateway, redis, monkeypatch: pytest.MonkeyPatch):
    """The providers' published vectors go through the whole route (old timestamps: tolerance off for Slack)."""
    _, key = await gw.create_tenant()
    slack = vectors("slack")["vectors"][0]
    slack_id = await make_connector(gw, key, "slack", slack["signing_secret"])
    headers = {
        "X-Slack-Request-Timestamp": slack["X-Slack-Request-Timestamp"],
        "X-Slack-Signature": slack["expected_X-Slack-Signature"],
    }
    # the vector's timestamp is from 2018: the registry serves a Slack connector without the 5-minute tolerance
    monkeypatch.setitem(all_providers(), "slack", SlackProvider(tolerance_s=None))
    good = await deliver(gw, slack_id, slack["body"].encode(), headers, FORM)
    bad = await deliver(gw, slack_id, slack["negative"]["body"].encode(), headers, FORM)
    assert good.status == 200, await good.text()
    assert bad.status == 401 and (await bad.json())["type"] == "urn:bizosaas:problem:invalid-signature"
    shop = vectors("shopify")["vectors"][0]
    shop_id = await make_connector(gw, key, "shopify", shop["secret"])
    resp = await deliver(gw, shop_id, shop["body"].encode(), shop["headers"])
    assert resp.status == 200  # products/create of {"foo": "bar"}: authentic, kept as unmapped
    assert (await resp.json())["outcome"] == "unmapped"
    tampered = {**shop["headers"], "X-Shopify-Hmac-Sha256": "A" + shop["headers"]["X-Shopify-Hmac-Sha256"][1:]}
    assert (await deliver(gw, shop_id, shop["body"].encode(), tampered)).status == 401


async def test_every_remaining_vector_through_the_route(gw: Gateway, redis, monkeypatch: pytest.MonkeyPatch):
    """WooCommerce's and Stripe's derived vectors and every Standard Webhooks vector, positive and negative (their
    timestamps are old: the registry serves those connectors without the timestamp tolerance)."""
    monkeypatch.setitem(all_providers(), "stripe", StripeProvider(tolerance_s=None))
    monkeypatch.setitem(all_providers(), "standard-webhooks", StandardWebhooksProvider(tolerance_s=None))
    _, key = await gw.create_tenant()
    for vector in vectors("woocommerce")["derived_vectors"]:
        woo_id = await make_connector(gw, key, "woocommerce", vector["secret"])
        body = fixture("woocommerce", vector["body_file"])
        topic = vector["body_file"].removesuffix(".json")
        headers = {"X-WC-Webhook-Topic": topic, "X-WC-Webhook-Signature": vector["expected_X-WC-Webhook-Signature"]}
        assert (await deliver(gw, woo_id, body, headers)).status == 200, vector["body_file"]
        assert (await deliver(gw, woo_id, body + b" ", headers)).status == 401
    for vector in vectors("stripe")["derived_vectors"]:
        stripe_id = await make_connector(gw, key, "stripe", vector["secret"])
        body = fixture("stripe", vector["body_file"])
        headers = {"Stripe-Signature": vector["expected_Stripe-Signature"]}
        assert (await deliver(gw, stripe_id, body, headers)).status == 200, vector["body_file"]
        forged = {"Stripe-Signature": vector["expected_Stripe-Signature"].replace("t=17", "t=18")}
        assert (await deliver(gw, stripe_id, body, forged)).status == 401
    for vector in vectors("standard-webhooks")["vectors"]:
        sw_id = await make_connector(gw, key, "standard-webhooks", vector["secret"])
        signature = vector.get("expected_webhook_signature") or vector["webhook_signature"]
        valid = vector.get("expected_valid", True) is True and not signature.startswith("v1a,")
        headers = {
            "webhook-id": vector["webhook_id"],
            "webhook-timestamp": vector["webhook_timestamp"],
            "webhook-signature": signature,
        }
        resp = await deliver(gw, sw_id, vector["body"].encode(), headers)
        assert resp.status == (200 if valid else 401), vector["name"]


async def test_bad_signatures_stale_stripe_timestamp_and_wrong_secret_are_401(gw: Gateway, redis):
    _, key = await gw.create_tenant()
    woo_id = await make_connector(gw, key, "woocommerce", WOO_SECRET)
    stripe_id = await make_connector(gw, key, "stripe", STRIPE_SECRET)
    body = fixture("woocommerce", "order.created.json")
    before = await stream_length(redis)
    assert (await deliver(gw, woo_id, body, woo(body, "order.created", "d1", secret="wrong"))).status == 401
    assert (await deliver(gw, woo_id, body, {"X-WC-Webhook-Topic": "order.created"})).status == 401
    stale = stripe_body("payment_intent.succeeded.json", "evt_stale")
    resp = await deliver(gw, stripe_id, stale, stripe_headers(stale, STRIPE_SECRET, int(time.time()) - 3600))
    assert resp.status == 401
    problem = await resp.json()
    assert "tolerance" not in json.dumps(problem) and STRIPE_SECRET not in json.dumps(problem)  # no details
    assert await stream_length(redis) == before


async def test_unknown_connector_404_oversized_413_foreign_content_type_415(make_gateway, redis):
    gw = await make_gateway(webhook_max_body_bytes=4096)
    _, key = await gw.create_tenant()
    woo_id = await make_connector(gw, key, "woocommerce", WOO_SECRET)
    assert (await deliver(gw, "con_" + "0" * 32, b"{}", {})).status == 404
    big = b'{"pad": "' + b"x" * 10_000 + b'"}'
    resp = await deliver(gw, woo_id, big, woo(big, "order.created", "big"))
    assert resp.status == 413 and (await resp.json())["type"] == "urn:bizosaas:problem:payload-too-large"

    async def chunks():  # no Content-Length: the cap applies while reading
        for _ in range(10):
            yield b"x" * 1000

    resp = await gw.post(f"/v1/webhooks/{woo_id}", data=chunks(), headers={"Content-Type": JSON})
    assert resp.status == 413
    resp = await deliver(gw, woo_id, b"hello", woo(b"hello", "order.created", "t"), "text/plain")
    assert resp.status == 415
    # WooCommerce's creation ping is form-encoded and unsigned: accepted, answered, never published
    before = await stream_length(redis)
    resp = await deliver(gw, woo_id, b"webhook_id=42", {}, FORM)
    assert resp.status == 200 and await stream_length(redis) == before


async def test_repeated_delivery_is_acknowledged_and_publishes_nothing(gw: Gateway, redis, pool):
    _, key = await gw.create_tenant()
    woo_id = await make_connector(gw, key, "woocommerce", WOO_SECRET)
    body = fixture("woocommerce", "order.created.json")
    first = await (await deliver(gw, woo_id, body, woo(body, "order.created", "dup-1"))).json()
    length = await stream_length(redis)
    again = await deliver(gw, woo_id, body, woo(body, "order.created", "dup-1"))
    assert again.status == 200 and (await again.json())["duplicate"] is True
    assert await stream_length(redis) == length == first["events"]
    # a provider that sends no delivery id is deduplicated on the body's hash
    sw_id = await make_connector(gw, key, "standard-webhooks", SW_SECRET)
    sw = json.dumps({"type": "contact.updated", "timestamp": "2026-01-01T00:00:00Z", "data": {"id": "7"}}).encode()
    for _ in range(2):
        await deliver(gw, sw_id, sw, standard_webhooks_headers(sw, SW_SECRET, int(time.time()), msg_id="msg_same"))
    assert await stream_length(redis) == length + 1
    async with running(redis, [deliveries_group(pool)]):
        rows = await wait_for(lambda: _deliveries(gw, key, 2))
    receipts = {r["connector_id"]: r["receipts"] for r in rows}
    assert receipts == {woo_id: 2, sw_id: 2}

    async def listed(**params) -> list[str]:
        resp = await gw.get("/v1/deliveries", params=params, headers=gw.bearer(key))
        return [r["connector_id"] for r in (await resp.json())["items"]]

    assert await listed(connector_id=woo_id) == [woo_id]
    assert await listed(since="2099-01-01T00:00:00Z") == [] and await listed(until="2000-01-01T00:00:00Z") == []
    assert sorted(await listed(since="2000-01-01T00:00:00Z", outcome="published")) == sorted([woo_id, sw_id])


async def test_unmapped_delivery_is_kept_published_as_unmapped_and_retried_after_a_fix(
    gw: Gateway, redis, pool, monkeypatch: pytest.MonkeyPatch
):
    _, key = await gw.create_tenant()
    sw_id = await make_connector(gw, key, "standard-webhooks", SW_SECRET)
    now = int(time.time())
    bodies = [
        json.dumps(
            {
                "type": "contact.signed_up",
                "timestamp": "2026-01-01T00:00:00Z",
                "data": {"id": f"u{i}", "email": f"u{i}@example.com"},
            }
        ).encode()
        for i in range(3)
    ]
    for i, body in enumerate(bodies):
        resp = await deliver(gw, sw_id, body, standard_webhooks_headers(body, SW_SECRET, now, msg_id=f"msg_u{i}"))
        assert resp.status == 200 and (await resp.json())["outcome"] == "unmapped"
    entries = [e for s in all_event_streams() for e in await redis.xrange(s)]
    unmapped = [codec.decode_entry(fields) for _, fields in entries]
    assert [e.type for e in unmapped] == ["connector.webhook.unmapped.v1"] * 3
    assert all(e.topic == "contact.signed_up" and "contact.signed_up" in e.error for e in unmapped)
    assert all(e.raw_ref.startswith("dlv_") for e in unmapped)  # the delivery record, as on mapped events
    async with running(redis, [projector_group(pool, 8), deliveries_group(pool)]):
        rows = await wait_for(lambda: _deliveries(gw, key, 3))
        assert {r["outcome"] for r in rows} == {"unmapped"} and all(r["error"] for r in rows)
        detail = await (await gw.get(f"/v1/deliveries/{rows[0]['id']}", headers=gw.bearer(key))).json()
        assert json.loads(detail["body"])["type"] == "contact.signed_up"
        assert "webhook-signature" not in detail["headers"] and detail["headers"]["webhook-id"].startswith("msg_u")
        # still unmapped on a retry before the fix: kept, nothing new published
        retry = await gw.post(f"/v1/deliveries/{rows[0]['id']}/retry", headers=gw.bearer(key))
        assert retry.status == 200 and (await retry.json())["outcome"] == "unmapped"
        # the fix: the normalizer learns the action (a deploy, here a patched table)
        monkeypatch.setitem(standard_webhooks.ACTIONS, "signed_up", standard_webhooks.UPSERT)
        one = await (await gw.post(f"/v1/deliveries/{rows[0]['id']}/retry", headers=gw.bearer(key))).json()
        assert one["outcome"] == "published" and one["events"] == 1 and one["error"] is None
        bulk = await gw.post("/v1/deliveries/retry", json={"connector_id": sw_id}, headers=gw.bearer(key))
        assert bulk.status == 200
        assert (await bulk.json())["published"] == 2 and (await bulk.json())["unmapped"] == 0
        await wait_for(lambda: _count(gw, key, "contact", 3))
    listed = await (await gw.get("/v1/deliveries", params={"outcome": "unmapped"}, headers=gw.bearer(key))).json()
    assert listed["items"] == []


async def test_secret_rotation_keeps_the_previous_secret_for_the_grace_period(make_gateway, redis):
    gw = await make_gateway(secret_cache_s=0.0)
    _, key = await gw.create_tenant()
    woo_id = await make_connector(gw, key, "woocommerce", "old-secret")
    body = fixture("woocommerce", "customer.created.json")
    resp = await gw.patch(
        f"/v1/connectors/{woo_id}", json={"secrets": {"webhook_secret": "new-secret"}}, headers=gw.bearer(key)
    )
    assert resp.status == 200 and (await resp.json())["secret_rotated_at"] is not None
    assert "new-secret" not in await resp.text()
    for i, secret in enumerate(["old-secret", "new-secret"]):
        assert (await deliver(gw, woo_id, body, woo(body, "customer.created", f"r{i}", secret))).status == 200
    assert (await deliver(gw, woo_id, body, woo(body, "customer.created", "r3", "other"))).status == 401
    gw0 = await make_gateway(secret_cache_s=0.0, webhook_secret_grace_s=0)
    await gw0.patch(f"/v1/connectors/{woo_id}", json={"secrets": {"webhook_secret": "newest"}}, headers=gw.bearer(key))
    assert (await deliver(gw0, woo_id, body, woo(body, "customer.created", "r4", "new-secret"))).status == 401
    assert (await deliver(gw0, woo_id, body, woo(body, "customer.created", "r5", "newest"))).status == 200


async def test_per_connector_abuse_limit_answers_429_with_retry_after(make_gateway, redis):
    gw = await make_gateway(webhook_rate_per_s=1.0, webhook_burst=2)
    _, key = await gw.create_tenant()
    woo_id = await make_connector(gw, key, "woocommerce", WOO_SECRET)
    other_id = await make_connector(gw, key, "woocommerce", WOO_SECRET)
    body = fixture("woocommerce", "customer.created.json")
    statuses = [(await deliver(gw, woo_id, body, woo(body, "customer.created", f"l{i}"))).status for i in range(3)]
    assert statuses == [200, 200, 429]
    resp = await deliver(gw, woo_id, body, woo(body, "customer.created", "l9"))
    assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1
    assert (await deliver(gw, other_id, body, woo(body, "customer.created", "l0"))).status == 200


async def test_deleted_connector_stops_receiving(gw: Gateway, redis):
    _, key = await gw.create_tenant()
    woo_id = await make_connector(gw, key, "woocommerce", WOO_SECRET)
    body = fixture("woocommerce", "customer.created.json")
    assert (await deliver(gw, woo_id, body, woo(body, "customer.created", "a"))).status == 200
    assert (await gw.delete(f"/v1/connectors/{woo_id}", headers=gw.bearer(key))).status == 204
    assert (await deliver(gw, woo_id, body, woo(body, "customer.created", "b"))).status == 404
    kept = await gw.get(f"/v1/connectors/{woo_id}", headers=gw.bearer(key))  # kept, disconnected
    assert kept.status == 200 and (await kept.json())["status"] == "disconnected"


async def test_concurrent_deliveries_share_batches_and_each_gets_its_own_answer(gw: Gateway, redis):
    _, key = await gw.create_tenant()
    woo_id = await make_connector(gw, key, "woocommerce", WOO_SECRET)
    body = fixture("woocommerce", "order.created.json")
    sends = [deliver(gw, woo_id, body, woo(body, "order.created", f"c{i % 20}")) for i in range(40)]
    replies = await asyncio.gather(*sends)
    answers = [await r.json() for r in replies]
    assert all(r.status == 200 for r in replies)
    by_delivery: dict[str, list[bool]] = {}
    for answer in answers:
        by_delivery.setdefault(answer["delivery"], []).append(answer["duplicate"])
    assert len(by_delivery) == 20 and all(sorted(flags) == [False, True] for flags in by_delivery.values())
    assert await stream_length(redis) == 20 * 2  # an order and its customer per delivery, once
    assert await redis.xlen(DELIVERIES_STREAM) == 40  # every receipt is recorded
