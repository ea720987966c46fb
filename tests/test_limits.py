"""Production limits against the real servers: Redis's memory limit answers 503 (never 2xx), batch and quota bounds,
and unauthenticated lookups that never reach Postgres."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from urllib.parse import urlsplit

import pytest
import redis.exceptions
from factories import running, wait_for
from gateway_helpers import Gateway
from redis.asyncio import Redis
from webhook_support import JSON, standard_webhooks_headers

from bizosaas.servers import start_redis

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
    resp = await gw.post(
        "/v1/connectors",
        headers=gw.bearer(key),
        json={"provider": "standard-webhooks", "name": "sw", "config": {}, "secrets": {"webhook_secret": SW_SECRET}},
    )
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


class CountingProxy:
    """A TCP forwarder to Postgres that counts the bytes the gateway sends: proof of whether a request queried it."""

    def __init__(self, host: str, port: int) -> None:
        self.target, self.sent = (host, port), 0

    async def __aenter__(self) -> CountingProxy:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()

    async def _serve(self, reader, writer) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)

        async def pump(src, dst, count: bool) -> None:
            try:
                while data := await src.read(65536):
                    if count:
                        self.sent += len(data)
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pump(reader, up_writer, True), pump(up_reader, writer, False))


async def test_malformed_keys_and_connector_ids_never_reach_postgres(make_gateway, servers):
    service = urlsplit(servers.service_url)
    async with CountingProxy(service.hostname, service.port) as proxy:
        url = servers.service_url.replace(f"@{service.hostname}:{service.port}", f"@127.0.0.1:{proxy.port}")
        gw: Gateway = await make_gateway(database_url=url)
        await wait_for_quiet(proxy)
        before = proxy.sent
        for token in ("bz_nope", "bz_" + "x" * 500, "bz_0000000g_" + "a" * 43, "bz_00000000_" + "a" * 42 + "!"):
            assert (await gw.get("/v1/tenant", headers=gw.bearer(token))).status == 401
        for connector_id in ("con_nope", "con_" + "0" * 31, "con_" + "A" * 32, "x" * 200):
            resp = await gw.post(f"/v1/webhooks/{connector_id}", data=b"{}", headers={"Content-Type": JSON})
            assert resp.status == 404, await resp.text()
        assert proxy.sent == before, "a malformed key or connector id was looked up in Postgres"
        # the control: a well-formed unknown key is looked up
        assert (await gw.get("/v1/tenant", headers=gw.bearer("bz_00000000_" + "a" * 43))).status == 401
        assert proxy.sent > before


async def wait_for_quiet(proxy: CountingProxy) -> None:
    """Until the pool's start-up traffic has settled."""
    last = -1
    while proxy.sent != last or proxy.sent == 0:
        last = proxy.sent
        await asyncio.sleep(0.2)


async def test_authentication_failures_are_throttled_per_address_with_retry_after(make_gateway):
    gw: Gateway = await make_gateway(auth_failure_rate_per_s=0.5, auth_failure_burst=3)
    _, key = await gw.create_tenant()
    statuses = [(await gw.get("/v1/tenant", headers=gw.bearer("bz_00000000_" + "b" * 43))).status for _ in range(5)]
    assert statuses[:3] == [401, 401, 401] and statuses[-1] == 429
    resp = await gw.get("/v1/tenant", headers=gw.bearer(key))  # this address is throttled, even with a good key
    assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1
    assert (await resp.json())["type"] == "urn:bizosaas:problem:rate-limited"


def test_caches_evict_the_least_recently_used_entry_when_full():
    from connectors.lru import MISSING, ExpiringLru

    cache: ExpiringLru[str] = ExpiringLru(3)
    for name in ("a", "b", "c"):
        cache.put(name, name.upper(), ttl_s=60)
    assert cache.get("a") == "A"  # recently used
    cache.put("d", "D", ttl_s=60)  # full: the least recently used ("b") goes, not everything
    assert cache.get("b") is MISSING
    assert [cache.get(k) for k in ("a", "c", "d")] == ["A", "C", "D"]
    cache.put("gone", None, ttl_s=0)
    assert cache.get("gone") is MISSING  # expired


async def test_connectors_past_the_tenant_quota_are_refused_naming_the_limit(make_gateway):
    gw: Gateway = await make_gateway(tenant_max_connectors=2)
    _, key = await gw.create_tenant()
    _, other = await gw.create_tenant("other")

    async def create(api_key: str):
        return await gw.post(
            "/v1/connectors",
            headers=gw.bearer(api_key),
            json={
                "provider": "standard-webhooks",
                "name": "sw",
                "config": {},
                "secrets": {"webhook_secret": SW_SECRET},
            },
        )

    assert [(await create(key)).status for _ in range(2)] == [201, 201]
    refused = await create(key)
    assert refused.status == 409, await refused.text()
    problem = await refused.json()
    assert problem["type"] == "urn:bizosaas:problem:quota-exceeded"
    assert "BIZOSAAS_TENANT_MAX_CONNECTORS" in problem["detail"]
    listed = await (await gw.get("/v1/connectors", headers=gw.bearer(key))).json()
    assert len(listed["items"]) == 2  # the refused one left nothing behind
    assert (await create(other)).status == 201  # the quota is per tenant


async def test_knowledge_past_the_tenants_stored_bytes_is_refused(make_gateway, redis, pool):

    from consumers.projector import projector_group

    gw: Gateway = await make_gateway(tenant_max_knowledge_bytes=1000)
    _, key = await gw.create_tenant()
    headers = {**gw.bearer(key), "Content-Type": "text/plain"}
    async with running(redis, [projector_group(pool, 8)]):
        first = await gw.post("/v1/knowledge", data=b"a" * 600, params={"id": "one"}, headers=headers)
        assert first.status == 202, await first.text()
        await _stored(gw, key, 1)
        second = await gw.post("/v1/knowledge", data=b"b" * 600, params={"id": "two"}, headers=headers)
        assert second.status == 409, await second.text()
        assert "BIZOSAAS_TENANT_MAX_KNOWLEDGE_BYTES" in (await second.json())["detail"]
        replaced = await gw.post("/v1/knowledge", data=b"c" * 900, params={"id": "one"}, headers=headers)
        assert replaced.status == 202, await replaced.text()  # replacing a document counts its new size only


async def _stored(gw: Gateway, key: str, n: int) -> None:

    async def listed():
        items = (await (await gw.get("/v1/knowledge", headers=gw.bearer(key))).json())["items"]
        return len(items) == n

    await wait_for(listed)
