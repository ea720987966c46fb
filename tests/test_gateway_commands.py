"""Commands over HTTP: written to bz:commands, answered 202 with an id, and moved on by the command runner group."""

from __future__ import annotations

import hvac
import hvac.exceptions
import pytest
from factories import running, wait_for
from gateway_helpers import Gateway

from bizosaas.servers import free_port
from connectors.temporal.client import LazyTemporal, TemporalUnavailable
from consumers.commands import RunnerContext, commands_group
from events import codec
from events.streams import COMMANDS_STREAM


async def _connector(gw: Gateway, key: str) -> tuple[str, str]:
    resp = await gw.post(
        "/v1/connectors",
        headers=gw.bearer(key),
        json={
            "provider": "woocommerce",
            "name": "shop",
            "config": {"store_url": "https://shop.example.com", "currency": "EUR"},
            "secrets": {
                "webhook_secret": "s3cret-value",
                "consumer_key": "ck_key",
                "consumer_secret": "cs_very_secret",
            },
        },
    )
    assert resp.status == 201
    body = await resp.json()
    return body["id"], body["command_id"]


async def test_sync_is_a_command_answered_202_and_completed_by_the_runner_starting_its_workflow(
    gw: Gateway, redis, pool, temporal
):
    _, key = await gw.create_tenant()
    connector_id, connect_command = await _connector(gw, key)
    bad = await gw.post(f"/v1/connectors/{connector_id}/sync", json={"resources": ["nope"]}, headers=gw.bearer(key))
    resp = await gw.post(f"/v1/connectors/{connector_id}/sync", json={"resources": ["orders"]}, headers=gw.bearer(key))
    assert resp.status == 202 and bad.status == 202
    command, bad_command = await resp.json(), (await bad.json())["id"]
    assert command["status"] == "accepted" and command["type"] == "connector.sync.v1"
    assert resp.headers["Location"] == f"/v1/commands/{command['id']}"
    entries = await redis.xrange(COMMANDS_STREAM)
    sent = [codec.decode_command(fields[codec.EVENT_FIELD]) for _, fields in entries]
    assert [c.type for c in sent] == ["connector.connect.v1", "connector.sync.v1", "connector.sync.v1"]
    assert sent[0].secrets_path and "secret" not in str(sent[0].config)  # a Vault path, never the secret
    assert "s3cret-value" not in str(entries) and "cs_very_secret" not in str(entries)

    async def finished():
        items = (await (await gw.get("/v1/commands", headers=gw.bearer(key))).json())["items"]
        return items if items and all(c["status"] != "accepted" for c in items) else None

    async with running(redis, [commands_group(RunnerContext(pool, redis, temporal))]):
        items = await wait_for(finished)
    assert {c["id"]: c["status"] for c in items} == {
        command["id"]: "completed",
        connect_command: "completed",
        bad_command: "failed",
    }
    failed = await (await gw.get(f"/v1/commands/{bad_command}", headers=gw.bearer(key))).json()
    assert "woocommerce syncs ['orders', 'products', 'customers']; not ['nope']" in failed["reason"]
    one = await (await gw.get(f"/v1/commands/{command['id']}", headers=gw.bearer(key))).json()
    assert one["reason"] == f"started sync:{connector_id}:orders"  # the workflow's id
    pending = await gw.get("/v1/commands", params={"status": "accepted"}, headers=gw.bearer(key))
    assert (await pending.json())["items"] == []


async def test_without_temporal_a_sync_command_stays_pending(gw: Gateway, redis, pool):
    _, key = await gw.create_tenant()
    connector_id, _ = await _connector(gw, key)
    resp = await gw.post(f"/v1/connectors/{connector_id}/sync", json={}, headers=gw.bearer(key))
    command_id = (await resp.json())["id"]

    class Nowhere(LazyTemporal):
        tries = 0

        async def get(self):
            Nowhere.tries += 1
            return await super().get()

    nowhere = Nowhere(f"127.0.0.1:{free_port()}", timeout_s=2)
    with pytest.raises(TemporalUnavailable, match=r"does not answer at 127\.0\.0\.1"):
        await nowhere.get()
    async with running(redis, [commands_group(RunnerContext(pool, redis, nowhere))]):
        await wait_for(lambda: _at_least(Nowhere, 3))  # the runtime backed off and delivered it again
    one = await (await gw.get(f"/v1/commands/{command_id}", headers=gw.bearer(key))).json()
    assert one["status"] == "accepted"  # transient: left pending, redelivered until Temporal answers


async def _at_least(counter, n: int) -> bool:
    return counter.tries >= n


async def test_commands_for_unknown_connectors_are_404_and_agent_runs_are_commands(gw: Gateway, redis):
    _, key = await gw.create_tenant()
    assert (await gw.post("/v1/connectors/con_nope/sync", json={}, headers=gw.bearer(key))).status == 404
    resp = await gw.post("/v1/agents/seo-writer/runs", json={"prompt": "hello"}, headers=gw.bearer(key))
    assert resp.status == 202 and (await resp.json())["type"] == "agent.run.v1"
    assert (await gw.get("/v1/commands/cmd_nope", headers=gw.bearer(key))).status == 404
    assert await redis.xlen(COMMANDS_STREAM) == 1


async def test_connector_crud_never_shows_secrets(gw: Gateway, redis, vault):
    tenant, key = await gw.create_tenant()
    connector_id, _ = await _connector(gw, key)
    bao = hvac.Client(url=vault.addr, token=vault.token)
    path = f"bizosaas/tenants/{tenant}/connectors/{connector_id}"
    stored = bao.secrets.kv.v2.read_secret_version(path=path, raise_on_deleted_version=True)["data"]["data"]
    assert stored == {"webhook_secret": "s3cret-value", "consumer_key": "ck_key", "consumer_secret": "cs_very_secret"}
    listed = await gw.get("/v1/connectors", headers=gw.bearer(key))
    one = await gw.get(f"/v1/connectors/{connector_id}", headers=gw.bearer(key))
    for resp in (listed, one):
        text = await resp.text()
        assert resp.status == 200 and "s3cret-value" not in text and "cs_very_secret" not in text
    assert (await one.json())["config"] == {"store_url": "https://shop.example.com", "currency": "EUR"}
    patched = await gw.patch(
        f"/v1/connectors/{connector_id}",
        json={"name": "renamed", "config": {"store_url": "https://shop.example.com", "currency": "USD"}},
        headers=gw.bearer(key),
    )
    assert (await patched.json())["name"] == "renamed" and (await patched.json())["secret_rotated_at"] is None
    assert (
        await gw.post("/v1/connectors", json={"provider": "nope", "name": "x"}, headers=gw.bearer(key))
    ).status == 422
    assert (await gw.delete(f"/v1/connectors/{connector_id}", headers=gw.bearer(key))).status == 204
    assert (await gw.delete(f"/v1/connectors/{connector_id}", headers=gw.bearer(key))).status == 204  # idempotent
    assert (await gw.delete("/v1/connectors/con_nope", headers=gw.bearer(key))).status == 404
    with pytest.raises(hvac.exceptions.InvalidPath):
        bao.secrets.kv.v2.read_secret_version(path=path, raise_on_deleted_version=True)
