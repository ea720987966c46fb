"""Issue 8, the webhook ingest path and request bodies: content-keyed dedupe where a provider's id repeats,
compressed deliveries, verification before the abuse limit, bytes that are not UTF-8, truncated bodies, connectors
without a secret, the rejected log, stored headers by allow-list, bounded metric labels, and empty bodies."""

from __future__ import annotations

import asyncio
import gzip
import json
import secrets
import time
import zlib

import pytest
from factories import TIMEOUT_S, running, wait_for
from gateway_helpers import Gateway
from prometheus_client import REGISTRY
from webhook_support import (
    JSON,
    connector_body,
    fixture,
    standard_webhooks_headers,
    stripe_headers,
    woocommerce_headers,
)

from connectors.registry import all_providers, get_facts
from consumers.deliveries import deliveries_group
from events.streams import all_event_streams

WOO_SECRET, STRIPE_SECRET = "wc-secret", "whsec_stripe"
SW_SECRET = "whsec_" + "c3RhbmRhcmQtd2ViaG9va3MtdGVzdC1rZXktMzJieQ=="


async def connector(gw: Gateway, key: str, provider: str, secret: str) -> str:
    resp = await gw.post(
        "/v1/connectors",
        headers=gw.bearer(key),
        json=connector_body(provider, secret, "t"),
    )
    assert resp.status == 201, await resp.text()
    return (await resp.json())["id"]


def woo(body: bytes, topic: str, delivery: str, **extra: str) -> dict:
    return {
        "Content-Type": JSON,
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Delivery-ID": delivery,
        **woocommerce_headers(body, WOO_SECRET, 0),
        **extra,
    }


def order(status: str) -> bytes:
    value = json.loads(fixture("woocommerce", "order.created.json"))
    value["status"], value["date_modified_gmt"] = status, f"2026-01-0{1 + len(status) % 8}T00:00:00"
    return json.dumps(value).encode()


async def stream_length(redis) -> int:
    return sum([await redis.xlen(s) for s in all_event_streams()])


async def listed(gw: Gateway, key: str, n: int, **params) -> list[dict] | None:
    resp = await gw.get("/v1/deliveries", params={"limit": "100", **params}, headers=gw.bearer(key))
    assert resp.status == 200, await resp.text()
    items = (await resp.json())["items"]
    return items if len(items) >= n else None


async def test_woocommerce_bodies_sharing_a_delivery_id_are_both_published_and_kept(gw: Gateway, redis, pool):
    _, key = await gw.create_tenant()
    woo_id = await connector(gw, key, "woocommerce", WOO_SECRET)
    first, second = order("processing"), order("completed")
    answers = [
        await (await gw.post(f"/v1/webhooks/{woo_id}", data=b, headers=woo(b, "order.updated", "same"))).json()
        for b in (first, second)
    ]
    assert [a["duplicate"] for a in answers] == [False, False] and answers[0]["delivery"] != answers[1]["delivery"]
    published = await stream_length(redis)
    assert published == 4  # an order and its buyer, for each body
    again = await (
        await gw.post(f"/v1/webhooks/{woo_id}", data=second, headers=woo(second, "order.updated", "same"))
    ).json()
    assert again["duplicate"] is True and again["delivery"] == answers[1]["delivery"]  # a genuine retry
    assert await stream_length(redis) == published
    async with running(redis, [deliveries_group(pool)]):
        rows = await wait_for(lambda: listed(gw, key, 2))
    bodies = set()
    for row in rows:
        detail = await (await gw.get(f"/v1/deliveries/{row['id']}", headers=gw.bearer(key))).json()
        bodies.add(detail["body"].encode())
        assert detail["headers"]["x-wc-webhook-delivery-id"] == "same"
    assert bodies == {first, second}
    assert sorted(r["receipts"] for r in rows) == [1, 2]


def sw_body(n: int = 1) -> bytes:
    return json.dumps(
        {
            "type": "contact.updated",
            "timestamp": "2026-01-01T00:00:00Z",
            "data": {"id": "c1", "first_name": "Ada", "note": "x" * n},
        }
    ).encode()


async def test_compressed_deliveries_are_decoded_under_the_cap_and_verified_over_the_payload(make_gateway, redis, pool):
    gw = await make_gateway(webhook_max_body_bytes=64 * 1024)
    _, key = await gw.create_tenant()
    sw_id = await connector(gw, key, "standard-webhooks", SW_SECRET)
    woo_id = await connector(gw, key, "woocommerce", WOO_SECRET)
    body = sw_body(20_000)  # compresses far below its length: a reader of Content-Length bytes would cut it
    now = int(time.time())
    for coding, packed in [("gzip", gzip.compress(body)), ("deflate", zlib.compress(body))]:
        headers = {
            "Content-Type": JSON,
            "Content-Encoding": coding,
            **standard_webhooks_headers(body, SW_SECRET, now, msg_id=f"msg_{coding}"),
        }
        resp = await gw.post(f"/v1/webhooks/{sw_id}", data=packed, headers=headers)
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["outcome"] == "published"
    async with running(redis, [deliveries_group(pool)]):
        rows = await wait_for(lambda: listed(gw, key, 2))
    for row in rows:
        detail = await (await gw.get(f"/v1/deliveries/{row['id']}", headers=gw.bearer(key))).json()
        assert detail["body"].encode() == body  # stored whole, decoded
    bomb = gzip.compress(b"0" * (20 * 1024 * 1024))  # ~20 KiB on the wire, 20 MiB decoded
    assert len(bomb) < 64 * 1024
    headers = {
        "Content-Type": JSON,
        "Content-Encoding": "gzip",
        **standard_webhooks_headers(b"{}", SW_SECRET, now, msg_id="msg_bomb"),
    }
    resp = await gw.post(f"/v1/webhooks/{sw_id}", data=bomb, headers=headers)
    assert resp.status == 413 and (await resp.json())["type"] == "urn:bizosaas:problem:payload-too-large"
    for target, coding in [(sw_id, "br"), (sw_id, "x-unknown"), (woo_id, "gzip")]:  # woo declares no coding
        resp = await gw.post(
            f"/v1/webhooks/{target}", data=gzip.compress(body), headers={**headers, "Content-Encoding": coding}
        )
        assert resp.status == 415, (coding, await resp.text())
        assert (await resp.json())["type"] == "urn:bizosaas:problem:unsupported-media-type"


async def test_unsigned_flood_is_throttled_on_its_own_bucket_and_never_blocks_an_authentic_delivery(
    make_gateway, redis
):
    gw = await make_gateway(
        webhook_rate_per_s=0.01, webhook_burst=3, webhook_failed_rate_per_s=0.01, webhook_failed_burst=3
    )
    _, key = await gw.create_tenant()
    woo_id = await connector(gw, key, "woocommerce", WOO_SECRET)
    body = fixture("woocommerce", "customer.created.json")
    unsigned = {"Content-Type": JSON, "X-WC-Webhook-Topic": "customer.created"}
    statuses = [(await gw.post(f"/v1/webhooks/{woo_id}", data=body, headers=unsigned)).status for _ in range(10)]
    assert statuses == [401] * 3 + [429] * 7  # the failure bucket is empty
    signed = await gw.post(f"/v1/webhooks/{woo_id}", data=body, headers=woo(body, "customer.created", "real-1"))
    assert signed.status == 200, await signed.text()


async def test_bytes_that_are_not_utf8_answer_400_on_json_routes_and_signed_webhooks_are_kept(
    gw: Gateway, redis, pool, admin
):
    _, key = await gw.create_tenant()
    resp = await gw.post(
        "/v1/connectors", data=b'{"provider":"stripe","name":"\xff"}', headers={**gw.bearer(key), "Content-Type": JSON}
    )
    assert resp.status == 400 and resp.content_type == "application/problem+json", await resp.text()
    stripe_id = await connector(gw, key, "stripe", STRIPE_SECRET)
    body = (
        b'{"id":"evt_latin1","object":"event","type":"customer.created","created":1767225600,'
        b'"data":{"object":{"object":"customer","id":"cus_1","name":"caf\xe9"}}}'
    )
    resp = await gw.post(
        f"/v1/webhooks/{stripe_id}",
        data=body,
        headers={"Content-Type": JSON, **stripe_headers(body, STRIPE_SECRET, int(time.time()))},
    )
    assert resp.status == 200, await resp.text()
    answer = await resp.json()
    assert answer["outcome"] == "unmapped" and answer["duplicate"] is False
    async with running(redis, [deliveries_group(pool)]):
        rows = await wait_for(lambda: listed(gw, key, 1))
    assert rows[0]["outcome"] == "unmapped" and "utf-8" in rows[0]["error"].lower()
    assert bytes(await admin.fetchval("SELECT body FROM deliveries WHERE id = $1", answer["delivery"])) == body
    retry = await gw.post(f"/v1/deliveries/{answer['delivery']}/retry", headers=gw.bearer(key))
    assert retry.status == 200 and (await retry.json())["outcome"] == "unmapped"


async def _raw_exchange(gw: Gateway, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(gw.server.host, gw.server.port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT_S)  # the connection stays open
    finally:
        writer.close()


def _timeouts() -> float:
    return REGISTRY.get_sample_value("bizosaas_gateway_body_timeouts_total") or 0.0


async def test_a_body_shorter_than_its_content_length_is_answered_408_not_held_open(make_gateway, redis):
    gw = await make_gateway(body_timeout_s=0.5)
    _, key = await gw.create_tenant()
    woo_id = await connector(gw, key, "woocommerce", WOO_SECRET)
    before = _timeouts()
    for path, auth in [(f"/v1/webhooks/{woo_id}", ""), ("/v1/connectors", f"Authorization: Bearer {key}\r\n")]:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n{auth}Content-Length: 100\r\n\r\n"
        ).encode()
        answer = await _raw_exchange(gw, head + b'{"a": "bc"')
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert b"application/problem+json" in answer
    assert _timeouts() == before + 2


async def test_connectors_whose_webhooks_are_registered_by_hand_need_their_secret(gw: Gateway, redis):
    _, key = await gw.create_tenant()
    for provider in sorted(p for p in all_providers() if get_facts(p).webhooks.registration == "by_hand"):
        resp = await gw.post(
            "/v1/connectors",
            headers=gw.bearer(key),
            json={**connector_body(provider, "unused", "no secret"), "secrets": {}},
        )
        assert resp.status == 422, (provider, await resp.text())
        problem = await resp.json()
        assert resp.content_type == "application/problem+json"
        assert any(e.startswith("secrets.webhook_secret: required") for e in problem["errors"]), problem
    listed_now = await (await gw.get("/v1/connectors", headers=gw.bearer(key))).json()
    assert listed_now["items"] == []


async def test_refused_requests_are_listed_to_their_tenant_only_without_body_or_secret_headers(gw: Gateway, redis):
    _, key_a = await gw.create_tenant("a")
    _, key_b = await gw.create_tenant("b")
    woo_a = await connector(gw, key_a, "woocommerce", WOO_SECRET)
    await connector(gw, key_b, "woocommerce", WOO_SECRET)
    body = order("pending-secret-payload")
    forged = {
        **woo(body, "order.updated", "f1"),
        "X-WC-Webhook-Signature": "Zm9yZ2Vk",
        "X-Api-Key": "sk_live_should_not_be_kept",
        "X-Trace": "t-1",
    }
    assert (await gw.post(f"/v1/webhooks/{woo_a}", data=body, headers=forged)).status == 401
    assert (
        await gw.post(f"/v1/webhooks/{woo_a}", data=body, headers={**forged, "Content-Type": "text/xml"})
    ).status == 415
    rows = await listed(gw, key_a, 2, outcome="rejected")
    assert [(r["status"], r["outcome"], r["connector_id"]) for r in rows] == [
        (415, "rejected", woo_a),
        (401, "rejected", woo_a),
    ]
    assert rows[1]["headers"]["x-wc-webhook-topic"] == "order.updated"
    text = json.dumps(rows)
    for absent in ("Zm9yZ2Vk", "sk_live_should_not_be_kept", "pending-secret-payload", "x-trace", WOO_SECRET):
        assert absent not in text
    assert await listed(gw, key_b, 0, outcome="rejected") == []
    one = await listed(gw, key_a, 1, outcome="rejected", limit="1")
    resp = await gw.get("/v1/deliveries", params={"outcome": "rejected", "limit": "1"}, headers=gw.bearer(key_a))
    page = await resp.json()
    nxt = await gw.get(
        "/v1/deliveries", params={"outcome": "rejected", "cursor": page["next"]}, headers=gw.bearer(key_a)
    )
    assert [r["id"] for r in one + (await nxt.json())["items"]] == [r["id"] for r in rows]


async def test_stored_headers_are_an_allow_list(gw: Gateway, redis, pool):
    _, key = await gw.create_tenant()
    woo_id = await connector(gw, key, "woocommerce", WOO_SECRET)
    body = fixture("woocommerce", "customer.created.json")
    headers = woo(
        body,
        "customer.created",
        "h1",
        **{
            "X-Partner-Credential": "pk_live_0123456789abcdef",
            "User-Agent": "WooCommerce/9.0 Hookshot (WordPress/6.5)",
        },
    )
    resp = await gw.post(f"/v1/webhooks/{woo_id}", data=body, headers=headers)
    assert resp.status == 200
    delivery = (await resp.json())["delivery"]
    async with running(redis, [deliveries_group(pool)]):
        await wait_for(lambda: listed(gw, key, 1))
    kept = (await (await gw.get(f"/v1/deliveries/{delivery}", headers=gw.bearer(key))).json())["headers"]
    assert "pk_live_0123456789abcdef" not in json.dumps(kept) and "x-wc-webhook-signature" not in kept
    assert kept["x-wc-webhook-topic"] == "customer.created" and kept["user-agent"].startswith("WooCommerce/")


async def test_the_topic_label_takes_only_known_values(gw: Gateway, redis):
    _, key = await gw.create_tenant()
    woo_id = await connector(gw, key, "woocommerce", WOO_SECRET)
    body = fixture("woocommerce", "customer.created.json")
    for i in range(50):
        topic = f"random.{secrets.token_hex(6)}"
        resp = await gw.post(f"/v1/webhooks/{woo_id}", data=body, headers=woo(body, topic, f"m{i}"))
        assert resp.status == 200
    text = await (await gw.get("/metrics")).text()
    labels = {
        line.split('topic="')[1].split('"')[0]
        for line in text.splitlines()
        if line.startswith("bizosaas_gateway_webhooks_total{") and 'provider="woocommerce"' in line
    }
    assert "other" in labels
    assert labels <= set(all_providers()["woocommerce"].topics) | {"other"}


@pytest.mark.parametrize("send", [None, b"", b"  \n"])
async def test_an_empty_body_on_a_route_whose_fields_are_all_optional_is_an_empty_object(gw: Gateway, redis, send):
    _, key = await gw.create_tenant()
    resp = await gw.post("/v1/deliveries/retry", data=send, headers={**gw.bearer(key), "Content-Type": JSON})
    assert resp.status == 200, await resp.text()
    assert (await resp.json()) == {"items": [], "published": 0, "unmapped": 0}
    resp = await gw.post("/v1/connectors", data=send, headers={**gw.bearer(key), "Content-Type": JSON})
    assert resp.status == 422 and "needs a JSON body" in (await resp.json())["detail"]


async def test_json_bodies_may_be_gzip_and_other_codings_are_415(gw: Gateway, redis):
    _, key = await gw.create_tenant()
    headers = {**gw.bearer(key), "Content-Type": JSON}
    packed = gzip.compress(b'{"limit": 5}')
    resp = await gw.post("/v1/deliveries/retry", data=packed, headers={**headers, "Content-Encoding": "gzip"})
    assert resp.status == 200, await resp.text()
    resp = await gw.post("/v1/deliveries/retry", data=packed, headers={**headers, "Content-Encoding": "br"})
    assert resp.status == 415 and resp.content_type == "application/problem+json"
