"""Production limits against the real servers: Redis's memory limit answers 503 (never 2xx), batch and quota bounds,
and unauthenticated lookups that never reach Postgres."""

from __future__ import annotations

import json
import time

import pytest
import redis.exceptions
from redis.asyncio import Redis

from bizosaas.servers import start_redis
from gateway_helpers import Gateway, issuer, make_gateway, vault  # noqa: F401 - fixtures
from webhook_support import JSON, standard_webhooks_headers
import base64

SW_SECRET = "whsec_" + base64.b64encode(b"standard-webhooks-test-key-32by").decode()


@pytest.fixture
def private_redis(tmp_path):
    """A Redis of this test alone: its memory limit is changed, which the suite's shared Redis must never see."""
    server = start_redis(tmp_path / "redis")
    yield server
    server.proc.terminate()
    server.proc.wait(10)


async def _fill(client: Redis) -> None:
    """Write until Redis refuses for memory, then hold the limit below what is used (memory that small frees give
    back must not let a write through while the test expects refusals)."""
    used = (await client.info("memory"))["used_memory"]
    await client.config_set("maxmemory", str(used + 2 * 1024 * 1024))
    for n in range(10_000):
        try:
            await client.set(f"filler:{n}", b"x" * 65536)
        except redis.exceptions.ResponseError as exc:
            assert isinstance(exc, redis.exceptions.OutOfMemoryError), exc
            await client.config_set("maxmemory", str(used // 2))
            return
    raise AssertionError("Redis never refused a write: maxmemory is not in effect")


async def test_writes_refused_for_memory_answer_503_with_retry_after_and_succeed_after(make_gateway, private_redis):
    gw: Gateway = await make_gateway(redis_url=private_redis.url)
    _, key = await gw.create_tenant()
    resp = await gw.post("/v1/connectors", headers=gw.bearer(key), json={
        "provider": "standard-webhooks", "name": "sw", "config": {}, "secrets": {"webhook_secret": SW_SECRET}})
    assert resp.status == 201, await resp.text()
    connector_id = (await resp.json())["id"]
    body = json.dumps({"type": "contact.updated", "timestamp": "2026-01-01T00:00:00Z", "data": {"id": "7"}}).encode()

    async def deliver():
        headers = standard_webhooks_headers(body, SW_SECRET, int(time.time()), msg_id="msg_oom")
        return await gw.post(f"/v1/webhooks/{connector_id}", data=body, headers={"Content-Type": JSON, **headers})

    async with Redis.from_url(private_redis.url) as client:
        await _fill(client)
        refused = await deliver()
        assert refused.status == 503, await refused.text()
        assert int(refused.headers["Retry-After"]) >= 1
        assert (await refused.json())["type"] == "urn:bizosaas:problem:storage-full"
        command = await gw.post(f"/v1/connectors/{connector_id}/sync", headers=gw.bearer(key), json={})
        assert command.status == 503 and "Retry-After" in command.headers, await command.text()
        await client.config_set("maxmemory", "0")  # the operator raises the limit: the provider's retry lands
        accepted = await deliver()
        assert accepted.status == 200, await accepted.text()
        assert (await accepted.json()).get("duplicate") is not True  # the refused attempt had left nothing behind
