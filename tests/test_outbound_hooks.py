"""Outbound webhooks end to end: /v1/hooks on a real gateway, the `outbound` group and the dispatcher on the real
servers (Postgres, Redis, OpenBao), delivering to local receivers that answer 2xx, 5xx, 410, redirect or hang.
Every body a receiver gets is verified with the Standard Webhooks verification and the subscription's secret."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from datetime import UTC, datetime
from pathlib import Path

import pytest
from factories import TIMEOUT_S, order, running, start_bizosaas, start_worker, wait_for
from outbound_support import receivers

from connectors.config import ConnectorsConfig
from connectors.credentials import VaultSecrets
from connectors.signatures import new_standard_webhooks_secret, standard_webhooks_signature
from consumers.outbound import outbound_group
from consumers.outbound_dispatch import Dispatcher
from db.pool import tenant_transaction
from events import codec
from events.streams import all_event_streams
from events.types import Contact, ContactUpserted, Subject
from producers.publisher import Publisher

VECTORS = Path(__file__).parent / "fixtures" / "webhooks" / "standard-webhooks" / "vectors.json"
QUICK = {
    "allow_private_urls": True,  # the receivers listen on 127.0.0.1
    "outbound_timeout_s": 2.0,
    "outbound_backoff_initial_s": 0.05,
    "outbound_backoff_max_s": 0.2,
    "outbound_poll_s": 0.05,
    "outbound_endpoint_concurrency": 2,
    "outbound_disable_after_failures": 1000,
    "outbound_disable_after_s": 0,
}


def test_the_signer_reproduces_the_official_vector():
    vector = json.loads(VECTORS.read_text())["vectors"][0]  # the symmetric (v1) one
    signature = standard_webhooks_signature(
        [vector["secret"]], vector["webhook_id"], int(vector["webhook_timestamp"]), vector["body"].encode()
    )
    assert signature == vector["expected_webhook_signature"]
    other = new_standard_webhooks_secret()
    both = standard_webhooks_signature([vector["secret"], other], "msg_1", 1, b"{}").split(" ")
    assert len(both) == 2 and all(s.startswith("v1,") for s in both) and both[0] != both[1]


@contextlib.asynccontextmanager
async def dispatching(pool, redis, vault, **overrides):
    config = ConnectorsConfig(**{**QUICK, **overrides})
    store = VaultSecrets(vault.addr, vault.token, cache_s=0, collection="hooks")
    stopping = asyncio.Event()
    task = asyncio.create_task(Dispatcher(pool, store, Publisher(redis), config).run(stopping))
    try:
        yield
    finally:
        stopping.set()
        await asyncio.wait_for(task, TIMEOUT_S)


@contextlib.asynccontextmanager
async def outbound(pool, redis, vault, **overrides):
    """The outbound group (no subscription cache) and a dispatcher, running."""
    async with running(redis, [outbound_group(pool, 8, 0.0)]), dispatching(pool, redis, vault, **overrides):
        yield


async def subscribe(gw, key, url, types=("commerce.order.*",)) -> dict:
    resp = await gw.post("/v1/hooks", json={"target_url": url, "event_types": list(types)}, headers=gw.bearer(key))
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def publish_orders(redis, tenant: str, n: int, prefix: str = "o") -> list[str]:
    events = [order(tenant, f"{prefix}{i}") for i in range(n)]
    await Publisher(redis).publish(events)
    return [e.id for e in events]


async def received(receiver) -> list:
    return receiver.received


async def statuses(admin, hook_id: str) -> dict[str, int]:
    rows = await admin.fetch("SELECT status, count(*) AS n FROM hook_attempts WHERE hook_id = $1 GROUP BY 1", hook_id)
    return {r["status"]: r["n"] for r in rows}


async def test_subscriptions_are_validated_and_the_secret_is_shown_once(make_gateway, admin, vault):
    gw = await make_gateway(allow_private_urls=False)
    _, key = await gw.create_tenant()
    private = await gw.post(
        "/v1/hooks", json={"target_url": "http://127.0.0.1:9/hook", "event_types": ["*"]}, headers=gw.bearer(key)
    )
    problem = await private.json()
    assert private.status == 422 and problem["errors"][0].startswith("target_url:"), problem
    bad = await gw.post(
        "/v1/hooks",
        json={"target_url": "ftp://example.com/x", "event_types": ["commerce.order.*", "nope.*", "commerce*.x"]},
        headers=gw.bearer(key),
    )
    errors = (await bad.json())["errors"]
    assert bad.status == 422
    assert [e.split(":")[0] for e in errors] == ["target_url", "event_types[1]", "event_types[2]"], errors

    gw_dev = await make_gateway()  # BIZOSAAS_ALLOW_PRIVATE_URLS: a local receiver is admitted
    created = await subscribe(gw_dev, key, "http://127.0.0.1:9/hook", ["commerce.order.*", "crm.contact.upserted.v1"])
    assert created["secret"].startswith("whsec_") and created["enabled"] is True
    shown = await (await gw.get(f"/v1/hooks/{created['id']}", headers=gw.bearer(key))).text()
    listed = await (await gw.get("/v1/hooks", headers=gw.bearer(key))).text()
    assert created["id"] in listed and created["secret"] not in shown + listed
    row = await admin.fetchrow("SELECT * FROM hook_subscriptions WHERE id = $1", created["id"])
    assert created["secret"] not in repr(dict(row))  # Vault only
    store = VaultSecrets(vault.addr, vault.token, collection="hooks")
    assert (await store.read(row["tenant_id"], created["id"]))["webhook_secret"] == created["secret"]

    types = await (await gw.get("/v1/hooks/event-types", headers=gw.bearer(key))).json()
    assert "commerce.order.upserted.v2" in types["items"] and "hook.disabled.v1" in types["items"]


async def test_matching_events_are_delivered_signed(gw, pool, redis, admin, vault):
    tenant, key = await gw.create_tenant()
    async with receivers("ok") as (ok,):
        hook = await subscribe(gw, key, ok.url)
        async with outbound(pool, redis, vault):
            ids = await publish_orders(redis, tenant, 5)
            contact = ContactUpserted(  # matches no pattern: never sent
                id="c-1",
                tenant_id=tenant,
                source="s",
                subject=Subject(kind="contact", external_id="1"),
                occurred_at=datetime.now(UTC),
                recorded_at=datetime.now(UTC),
                data=Contact(email="x@example.com"),
            )
            await Publisher(redis).publish([contact])
            await wait_for(lambda: statuses(admin, hook["id"]), {"delivered": 5})
        assert sorted(ok.ids()) == sorted(ids)
        for got in ok.received:
            assert got.verifies_with(hook["secret"])
            assert not got.verifies_with(new_standard_webhooks_secret())
            assert got.payload["type"] == "commerce.order.upserted.v2" and got.payload["data"]["id"] == got.webhook_id
        log = await (await gw.get(f"/v1/hooks/{hook['id']}/attempts", headers=gw.bearer(key))).json()
        assert len(log["items"]) == 5
        assert {(a["status"], a["last_status_code"]) for a in log["items"]} == {("delivered", 204)}

        # a manual retry sends the same event (the same webhook-id) again
        attempt = log["items"][0]
        retried = await gw.post(f"/v1/hooks/{hook['id']}/attempts/{attempt['id']}/retry", headers=gw.bearer(key))
        assert retried.status == 200 and (await retried.json())["status"] == "pending"
        async with dispatching(pool, redis, vault):
            await wait_for(lambda: statuses(admin, hook["id"]), {"delivered": 5})
        assert len(ok.received) == 6 and ok.ids()[-1] == attempt["event_id"]
        assert ok.received[-1].verifies_with(hook["secret"])


async def test_a_dead_endpoint_does_not_hold_up_a_healthy_one(gw, pool, redis, admin, vault):
    tenant, key = await gw.create_tenant()
    async with receivers("ok", "hang") as (ok, dead):
        healthy_hook = await subscribe(gw, key, ok.url)
        dead_hook = await subscribe(gw, key, dead.url)
        # the dead endpoint's first tries hang for the whole test (the timeout is longer than the wait below): the
        # healthy endpoint must get everything while they are still hanging
        async with outbound(pool, redis, vault, outbound_timeout_s=4 * TIMEOUT_S):
            ids = await publish_orders(redis, tenant, 30)
            await wait_for(lambda: statuses(admin, healthy_hook["id"]), {"delivered": 30})
            dead_now = await statuses(admin, dead_hook["id"])
            hanging = len(dead.received)
            dead.released.set()  # let its hanging requests end, so the dispatcher can stop
    assert sorted(ok.ids()) == sorted(ids)
    assert dead_now == {"pending": 30}  # every one of the dead endpoint's attempts is still waiting
    assert 1 <= hanging <= 2  # no more than its concurrency was ever sent to it


async def test_a_cookie_one_receiver_sets_is_never_sent_again(gw, pool, redis, admin, vault):
    """One session sends every tenant's deliveries: a cookie that tenant A's receiver sets must not reach tenant B's
    endpoint on the same host (nor A's again): a webhook sender keeps no cookies."""
    tenant_a, key_a = await gw.create_tenant()
    tenant_b, key_b = await gw.create_tenant()
    async with receivers("cookie") as (receiver,):
        url = receiver.url.replace("127.0.0.1", "localhost")  # a host name: cookies of IP addresses are not kept
        hook_a, hook_b = await subscribe(gw, key_a, url), await subscribe(gw, key_b, url)
        async with outbound(pool, redis, vault):
            await publish_orders(redis, tenant_a, 1, "a")
            await wait_for(lambda: statuses(admin, hook_a["id"]), {"delivered": 1})
            await publish_orders(redis, tenant_b, 1, "b")
            await publish_orders(redis, tenant_a, 1, "a2")
            await wait_for(lambda: statuses(admin, hook_b["id"]), {"delivered": 1})
            await wait_for(lambda: statuses(admin, hook_a["id"]), {"delivered": 2})
    assert len(receiver.received) == 3
    assert [r.cookie for r in receiver.received] == ["", "", ""]


async def test_failures_back_off_give_up_and_are_recovered_since_t(gw, pool, redis, admin, vault):
    tenant, key = await gw.create_tenant()
    since = datetime.now(UTC)
    async with receivers("fail") as (receiver,):
        hook = await subscribe(gw, key, receiver.url)
        async with outbound(pool, redis, vault, outbound_max_age_s=1):
            await publish_orders(redis, tenant, 3)
            await wait_for(lambda: statuses(admin, hook["id"]), {"failed": 3})
        tries = await admin.fetch("SELECT attempts, last_status_code, last_error FROM hook_attempts")
        assert all(t["attempts"] >= 1 and t["last_status_code"] == 503 for t in tries), tries
        assert len(receiver.received) == sum(t["attempts"] for t in tries)
        failed = await (await gw.get(f"/v1/hooks/{hook['id']}/attempts?status=failed", headers=gw.bearer(key))).json()
        assert len(failed["items"]) == 3

        receiver.mode = "ok"
        resp = await gw.post(
            f"/v1/hooks/{hook['id']}/recover", json={"since": since.isoformat()}, headers=gw.bearer(key)
        )
        assert resp.status == 200 and (await resp.json()) == {"queued": 3}
        async with dispatching(pool, redis, vault):
            await wait_for(lambda: statuses(admin, hook["id"]), {"delivered": 3})
        later = await gw.post(
            f"/v1/hooks/{hook['id']}/recover", json={"since": datetime.now(UTC).isoformat()}, headers=gw.bearer(key)
        )
        assert (await later.json()) == {"queued": 0}


async def test_persistent_failure_disables_the_endpoint_with_an_event(gw, pool, redis, admin, vault):
    tenant, key = await gw.create_tenant()
    async with receivers("fail", "ok") as (failing, watcher):
        hook = await subscribe(gw, key, failing.url)
        watch = await subscribe(gw, key, watcher.url, ["hook.*"])  # another subscription gets the event itself
        async with outbound(pool, redis, vault, outbound_disable_after_failures=3, outbound_disable_after_s=0):
            await publish_orders(redis, tenant, 2)
            await wait_for(lambda: received(watcher))
        shown = await (await gw.get(f"/v1/hooks/{hook['id']}", headers=gw.bearer(key))).json()
    assert shown["enabled"] is False and "3 deliveries failed in a row" in shown["disabled_reason"]
    event = watcher.received[0].payload
    assert event["type"] == "hook.disabled.v1" and event["data"]["subject"]["external_id"] == hook["id"]
    assert watcher.received[0].verifies_with(watch["secret"])
    assert failing.url not in watcher.received[0].body.decode()  # the event never names the target URL
    entries = [e for s in all_event_streams(8) for _, e in await redis.xrange(s)]
    decoded = [codec.decode_entry(fields) for fields in entries]
    disabled = [e for e in decoded if e.type == "hook.disabled.v1"]
    assert len(disabled) == 1 and disabled[0].tenant_id == tenant
    # enabling again clears the failure count; its pending attempts go out
    resp = await gw.patch(f"/v1/hooks/{hook['id']}", json={"enabled": True}, headers=gw.bearer(key))
    assert (await resp.json())["consecutive_failures"] == 0


async def test_gone_removes_the_subscription(gw, pool, redis, admin, vault):
    tenant, key = await gw.create_tenant()
    async with receivers("gone") as (gone,):
        hook = await subscribe(gw, key, gone.url)
        async with outbound(pool, redis, vault):
            await publish_orders(redis, tenant, 1)
            await wait_for(lambda: admin.fetchval("SELECT count(*) FROM hook_subscriptions"), 0)
    assert (await gw.get(f"/v1/hooks/{hook['id']}", headers=gw.bearer(key))).status == 404
    store = VaultSecrets(vault.addr, vault.token, cache_s=0, collection="hooks")
    assert await store.read(tenant, hook["id"]) is None


async def test_redirects_are_not_followed(gw, pool, redis, admin, vault):
    tenant, key = await gw.create_tenant()
    async with receivers("redirect", "ok") as (redirecting, elsewhere):
        redirecting.redirect_to = elsewhere.url
        hook = await subscribe(gw, key, redirecting.url)
        async with outbound(pool, redis, vault, outbound_backoff_initial_s=300.0):
            await publish_orders(redis, tenant, 1)
            await wait_for(lambda: admin.fetchval("SELECT last_status_code FROM hook_attempts"), 302)
    assert elsewhere.received == [] and len(redirecting.received) == 1
    assert await statuses(admin, hook["id"]) == {"pending": 1}


async def test_a_private_target_is_refused_when_sending_without_the_dev_setting(gw, pool, redis, admin, vault):
    tenant, key = await gw.create_tenant()
    async with receivers("ok") as (receiver,):
        hook = await subscribe(gw, key, receiver.url)  # admitted by the gateway's dev setting ...
        async with outbound(pool, redis, vault, allow_private_urls=False, outbound_backoff_initial_s=300.0):
            await publish_orders(redis, tenant, 1)  # ... but this dispatcher only reaches public addresses
            error = await wait_for(lambda: admin.fetchval("SELECT last_error FROM hook_attempts"))
    assert "not a public address" in error and receiver.received == []
    assert await statuses(admin, hook["id"]) == {"pending": 1}


async def test_a_rotated_secret_overlaps_with_the_old_one(gw, pool, redis, admin, vault):
    tenant, key = await gw.create_tenant()
    async with receivers("ok") as (receiver,):
        hook = await subscribe(gw, key, receiver.url)
        resp = await gw.post(f"/v1/hooks/{hook['id']}/rotate-secret", headers=gw.bearer(key))
        new = (await resp.json())["secret"]
        assert resp.status == 200 and new.startswith("whsec_") and new != hook["secret"]
        async with outbound(pool, redis, vault):
            await publish_orders(redis, tenant, 2)
            await wait_for(lambda: statuses(admin, hook["id"]), {"delivered": 2})
    for got in receiver.received:
        assert len(got.signature.split(" ")) == 2
        assert got.verifies_with(hook["secret"]) and got.verifies_with(new)  # either alone verifies
    shown = await (await gw.get(f"/v1/hooks/{hook['id']}", headers=gw.bearer(key))).json()
    assert shown["secret_rotated_at"] is not None


async def test_a_secret_rotated_while_dispatching_signs_the_next_try(gw, pool, redis, admin, vault):
    # the dispatcher keeps each subscription's secrets between tries: a rotation must reach its next try at once
    tenant, key = await gw.create_tenant()
    async with receivers("ok") as (receiver,):
        hook = await subscribe(gw, key, receiver.url)
        async with outbound(pool, redis, vault):
            await publish_orders(redis, tenant, 1)
            await wait_for(lambda: statuses(admin, hook["id"]), {"delivered": 1})
            resp = await gw.post(f"/v1/hooks/{hook['id']}/rotate-secret", headers=gw.bearer(key))
            new = (await resp.json())["secret"]
            await publish_orders(redis, tenant, 1, prefix="after")
            await wait_for(lambda: statuses(admin, hook["id"]), {"delivered": 2})
    before, after = receiver.received
    assert before.verifies_with(hook["secret"]) and not before.verifies_with(new)
    assert len(after.signature.split(" ")) == 2 and after.verifies_with(new) and after.verifies_with(hook["secret"])


async def test_tenant_b_cannot_see_or_touch_tenant_a_hooks(gw, pool, admin):
    tenant_a, key_a = await gw.create_tenant("alpha")
    _, key_b = await gw.create_tenant("bravo")
    hook = await subscribe(gw, key_a, "https://example.com/a")
    for method, path, body in [
        ("GET", f"/v1/hooks/{hook['id']}", None),
        ("GET", f"/v1/hooks/{hook['id']}/attempts", None),
        ("PATCH", f"/v1/hooks/{hook['id']}", {"enabled": False}),
        ("POST", f"/v1/hooks/{hook['id']}/rotate-secret", None),
        ("POST", f"/v1/hooks/{hook['id']}/recover", {"since": "2026-01-01T00:00:00Z"}),
        ("DELETE", f"/v1/hooks/{hook['id']}", None),
    ]:
        resp = await gw.request(method, path, json=body, headers=gw.bearer(key_b))
        assert resp.status == 404, (method, path, await resp.text())
    assert (await (await gw.get("/v1/hooks", headers=gw.bearer(key_b))).json())["items"] == []
    still = await (await gw.get(f"/v1/hooks/{hook['id']}", headers=gw.bearer(key_a))).json()
    assert still["enabled"] is True
    async with pool.acquire() as conn:  # no tenant set: no rows
        assert await conn.fetchval("SELECT count(*) FROM hook_subscriptions") == 0
    async with tenant_transaction(pool, tenant_a) as conn:
        assert await conn.fetchval("SELECT count(*) FROM hook_subscriptions") == 1


@pytest.mark.parametrize("pattern", ["commerce.order.*", "commerce.order.upserted.v2"])
async def test_sample_data_for_a_trigger(gw, pool, redis, pattern):
    from consumers.projector import projector_group

    tenant, key = await gw.create_tenant()
    ids = await publish_orders(redis, tenant, 4)
    async with running(redis, [projector_group(pool, 8)]):
        samples = await wait_for(lambda: _samples(gw, key, pattern))
    assert len(samples["items"]) == 3 and {s["data"]["id"] for s in samples["items"]} <= set(ids)
    assert (samples["schema"] is not None) == (pattern == "commerce.order.upserted.v2")
    bad = await gw.get("/v1/hooks/sample?event_type=nope.*", headers=gw.bearer(key))
    assert bad.status == 422


async def _samples(gw, key, pattern):
    body = await (await gw.get(f"/v1/hooks/sample?event_type={pattern}", headers=gw.bearer(key))).json()
    return body if len(body["items"]) == 3 else None


def command_env(migrated, vault) -> dict[str, str]:
    """The environment of a `bizosaas` process that queues and sends to local receivers."""
    return migrated.env(
        VAULT_ADDR=vault.addr,
        VAULT_TOKEN=vault.token,
        BIZOSAAS_ALLOW_PRIVATE_URLS="true",
        BIZOSAAS_METRICS_PORT="0",  # a free port each
        BIZOSAAS_OUTBOUND_SUBSCRIPTION_CACHE_S="0",
    )


async def test_bizosaas_worker_outbound_runs_the_dispatcher(gw, redis, admin, vault, migrated, tmp_path):
    tenant, key = await gw.create_tenant()
    env = command_env(migrated, vault)
    async with receivers("ok") as (ok,):
        hook = await subscribe(gw, key, ok.url)
        worker = start_worker(env, tmp_path / "worker.log", "outbound")
        try:
            ids = await publish_orders(redis, tenant, 3)
            await wait_for(lambda: statuses(admin, hook["id"]), {"delivered": 3}, timeout_s=60)
        finally:
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(TIMEOUT_S) == 0, (tmp_path / "worker.log").read_text()[-2000:]
    assert sorted(ok.ids()) == sorted(ids) and all(r.verifies_with(hook["secret"]) for r in ok.received)


async def test_the_dispatcher_runs_apart_from_the_group(gw, redis, admin, vault, migrated, tmp_path):
    """`bizosaas worker outbound --no-dispatcher` only queues; `bizosaas dispatcher`, another process, sends."""
    tenant, key = await gw.create_tenant()
    env = command_env(migrated, vault)
    async with receivers("ok") as (ok,):
        hook = await subscribe(gw, key, ok.url)
        processes = {"worker": start_bizosaas(env, tmp_path / "worker.log", "worker", "outbound", "--no-dispatcher")}
        try:
            ids = await publish_orders(redis, tenant, 3)
            await wait_for(lambda: statuses(admin, hook["id"]), {"pending": 3}, timeout_s=60)
            assert await admin.fetchval("SELECT max(attempts) FROM hook_attempts") == 0 and not ok.received
            processes["dispatcher"] = start_bizosaas(env, tmp_path / "dispatcher.log", "dispatcher")
            await wait_for(lambda: statuses(admin, hook["id"]), {"delivered": 3}, timeout_s=60)
        finally:
            for process in processes.values():
                process.send_signal(signal.SIGTERM)
            for name, process in processes.items():
                assert process.wait(TIMEOUT_S) == 0, (tmp_path / f"{name}.log").read_text()[-2000:]
    assert sorted(ok.ids()) == sorted(ids) and all(r.verifies_with(hook["secret"]) for r in ok.received)
