"""Zoho CRM notifications end to end on the real Temporal dev server, OpenBao, Redis, Postgres, the gateway and a
local Zoho CRM (tests/providers/zoho_server.py, which speaks the watch API and sends notifications): the set-up's
registration enables one channel at our webhook URL with a token kept in Vault, an `update` notification makes the
platform sync the module (the `notifications` group) so the lead's new state shows over REST, a `delete` one makes a
tombstone, a wrong token is refused and publishes nothing, renewal updates a channel about to expire, and a
disconnect disables the channel. The connector is made as tests/test_sync_zoho_crm.py makes one (tokens of the local
OAuth server in Vault); the rest goes through the set-up workflow, the schedule's workflow and the disconnect
command."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from factories import running, served, wait_for
from gateway_helpers import Gateway, setup_done
from providers.zoho_server import ZohoCrm
from sync_support import add_connector, oauth_secrets, published
from temporalio.client import Client

from connectors import oauth
from connectors.config import ConnectorsConfig
from connectors.credentials import VaultSecrets
from connectors.providers.zoho_crm.webhook import EVENTS
from connectors.sync_deps import SyncDeps
from connectors.temporal.client import start_connect
from connectors.temporal.shared import SCHEDULED_SYNC_WORKFLOW, TASK_QUEUE, SyncAllInput
from connectors.temporal.worker import build_worker
from consumers.commands import RunnerContext, commands_group
from consumers.notifications import notifications_group
from consumers.projector import projector_group
from events.streams import DEFAULT_PARTITIONS
from producers.publisher import Publisher

TIMEOUT_S = 90.0


@pytest.fixture
async def crm():
    async with served(ZohoCrm()) as made:
        made.oauth.url = made.url
        yield made


@pytest.fixture
def secrets(vault) -> VaultSecrets:
    return VaultSecrets(vault.addr, vault.token, cache_s=0)


@pytest.fixture
def deps(pool, redis, secrets) -> SyncDeps:
    tokens = oauth.TokenSource(redis, pool, secrets, allow_private=True)
    return SyncDeps(pool, Publisher(redis), secrets, allow_private=True, tokens=tokens)


@pytest.fixture
async def worker(temporal_server, deps, gw: Gateway):
    client = await Client.connect(temporal_server.url)
    public_url = str(gw.make_url("/")).rstrip("/")
    async with build_worker(client, deps, public_url=public_url):
        yield client, public_url


async def connect_by_setup(
    gw: Gateway, admin, secrets: VaultSecrets, provider: str, config: dict, server, token_url: str
) -> tuple[str, str, str]:
    """A connector of `provider` holding OAuth2 tokens of the local `server` (as tests/test_sync_zoho_crm.py makes
    one), created without a webhook secret: its set-up registers the notifications. Answers (tenant, key, id)."""
    tenant, key = await gw.create_tenant()
    connector = "con_" + uuid.uuid4().hex
    await add_connector(admin, tenant, connector, provider, config, webhooks_by_setup=True)
    await secrets.write(tenant, connector, oauth_secrets(server, token_url))
    return tenant, key, connector


async def lead(gw: Gateway, key: str, external_id: str) -> dict | None:
    params = {"limit": "200", "include_deleted": "true"}
    resp = await gw.get("/v1/records/lead", params=params, headers=gw.bearer(key))
    assert resp.status == 200, await resp.text()
    return next((r for r in (await resp.json())["items"] if r["external_id"] == external_id), None)


def groups(pool, redis, temporal, secrets) -> list:
    runner = RunnerContext(pool, redis, temporal, ConnectorsConfig(allow_private_urls=True), DEFAULT_PARTITIONS)
    return [
        commands_group(runner),
        projector_group(pool, DEFAULT_PARTITIONS),
        notifications_group(DEFAULT_PARTITIONS, temporal),
    ]


async def test_notifications_register_sync_delete_refuse_renew_and_disconnect(
    gw: Gateway, crm, redis, pool, admin, secrets, worker
):
    temporal, public_url = worker
    first, second = crm.seed(Leads=2)
    tenant, key, connector = await connect_by_setup(
        gw, admin, secrets, "zoho-crm", {"api_domain": crm.url}, crm, crm.url + "/oauth/v2/token"
    )
    url = f"{public_url}/v1/webhooks/{connector}"

    async with running(redis, groups(pool, redis, temporal, secrets)):
        # the set-up workflow: initial syncs, then one channel at our URL watching the three modules
        await start_connect(temporal, tenant, connector)
        answer = await wait_for(lambda: setup_done(gw, key, connector), timeout_s=TIMEOUT_S)
        assert answer["health"]["setup"]["status"] == "connected", answer
        assert answer["health"]["webhooks_registered"] == 1
        (channel,) = crm.channels.values()
        assert channel["notify_url"] == url and channel["events"] == list(EVENTS)
        token = (await secrets.read(tenant, connector, fresh=True))["webhook_secret"]
        assert channel["token"] == token and len(token) <= 50
        expiry = datetime.fromisoformat(channel["channel_expiry"])
        assert timedelta(days=5) < expiry - datetime.now(UTC) <= timedelta(days=7)
        await wait_for(lambda: lead(gw, key, second), timeout_s=TIMEOUT_S)  # the initial import

        # a wrong token: refused like a bad signature, nothing published
        refused = await crm.notify("Leads", "update", [first], token="not-the-token")
        assert [status for status, _ in refused] == [401], refused[0][1]["answer"]
        assert [e for e in await published(redis, tenant) if e.raw_ref] == []  # nothing from a delivery

        # an update carries only the id: the platform syncs Leads and the lead's new state shows over REST
        # (Zoho notifies after the change; times have whole seconds, and a sync's window ends at its start second)
        crm.change("Leads", first, when=datetime.now(UTC) - timedelta(seconds=2), Lead_Status="Qualified")
        assert [status for status, _ in await crm.notify("Leads", "update", [first])] == [200]

        async def updated():
            held = await lead(gw, key, first)
            return held if held and held["data"].get("status") == "Qualified" else None

        await wait_for(updated, timeout_s=TIMEOUT_S)
        notified = [e for e in await published(redis, tenant) if e.type == "connector.change.notified.v1"]
        assert [(e.subject.kind, e.subject.external_id, e.resource, e.operation) for e in notified] == [
            ("lead", first, "Leads", "update")
        ]

        # a delete: the record becomes a tombstone
        crm.delete("Leads", second)
        assert [status for status, _ in await crm.notify("Leads", "delete", [second])] == [200]

        async def tombstone():
            held = await lead(gw, key, second)
            return held if held and held["deleted"] else None

        await wait_for(tombstone, timeout_s=TIMEOUT_S)

        # a schedule's tick keeps a channel that lives on, and renews one expiring within a day
        tick = SyncAllInput(tenant, connector)
        kwargs = dict(task_queue=TASK_QUEUE, execution_timeout=timedelta(seconds=TIMEOUT_S))
        await temporal.execute_workflow(SCHEDULED_SYNC_WORKFLOW, tick, id=f"tick-1-{connector}", **kwargs)
        assert crm.channels == {str(channel["channel_id"]): channel}
        soon = (datetime.now(UTC) + timedelta(hours=3)).isoformat(timespec="seconds")
        crm.channels[str(channel["channel_id"])]["channel_expiry"] = soon
        await temporal.execute_workflow(SCHEDULED_SYNC_WORKFLOW, tick, id=f"tick-2-{connector}", **kwargs)
        (renewed,) = crm.channels.values()
        assert datetime.fromisoformat(renewed["channel_expiry"]) - datetime.now(UTC) > timedelta(days=5)
        assert (renewed["channel_id"], renewed["token"], renewed["notify_url"]) == (channel["channel_id"], token, url)

        # disconnect: the channel is disabled at Zoho
        assert (await gw.delete(f"/v1/connectors/{connector}", headers=gw.bearer(key))).status == 204

        async def disabled():
            return crm.channels == {} or None

        await wait_for(disabled, timeout_s=TIMEOUT_S)
    assert [r.method for r in crm.log if r.path.endswith("/actions/watch")][-1] == "DELETE"


def test_normalizer_one_event_per_id_and_a_resend_keeps_its_key():
    from connectors.base import IngestContext, SignatureError, WebhookRequest
    from connectors.providers.zoho_crm.webhook import WEBHOOKS

    def delivery(**fields) -> WebhookRequest:
        body = {"server_time": 1767225600000, "module": "Deals", "operation": "delete", "channel_id": 7, "token": "t"}
        return WebhookRequest({}, json.dumps(body | fields).encode(), "application/json")

    deleted = delivery(ids=["11", "12"])
    ctx = IngestContext("tenant-1", "con_x", WEBHOOKS.delivery_id(deleted), datetime.now(UTC))
    events = WEBHOOKS.normalize(ctx, WEBHOOKS.topic(deleted), deleted)
    assert [(e.type, e.subject.external_id) for e in events] == [
        ("crm.deal.deleted.v1", "11"),
        ("crm.deal.deleted.v1", "12"),
    ]
    assert events[0].occurred_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert WEBHOOKS.delivery_id(delivery(ids=["11", "12"])) == ctx.delivery_id  # a resend: the same key
    assert WEBHOOKS.delivery_id(delivery(ids=["11"])) != ctx.delivery_id
    inserted = delivery(module="Contacts", operation="insert", ids=["13"])
    (notified,) = WEBHOOKS.normalize(ctx, WEBHOOKS.topic(inserted), inserted)
    assert (notified.type, notified.subject.kind, notified.resource, notified.operation) == (
        "connector.change.notified.v1",
        "contact",
        "Contacts",
        "insert",
    )
    WEBHOOKS.verify(deleted, ["other", "t"], 0)  # any current secret (rotation)
    for refused in (delivery(token=""), delivery(token="u"), WebhookRequest({}, b"not json", "application/json")):
        with pytest.raises(SignatureError):
            WEBHOOKS.verify(refused, ["t"], 0)
