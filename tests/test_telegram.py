"""Telegram (Bot API): updates mapped to messages and chats, the secret-token check, the Bot API's failures against a
local Bot API (tests/providers/telegram_server.py), and end to end on Temporal, OpenBao, Redis and Postgres: the
set-up registers the webhook with setWebhook and a secret token it keeps in Vault, a delivery carrying that token
becomes a record, `send_message` runs through the action route, a disconnect calls deleteWebhook, and the bot token
(which is in every API path) appears in no workflow history, event, command answer or log line."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest
from factories import local_http_server, running, wait_for
from gateway_helpers import Gateway, finished_command
from providers.telegram_server import TelegramBots
from temporalio.client import Client
from webhook_support import fixture, request

from connectors.base import ApiCall, IngestContext, NormalizeError, ProviderBusy, ProviderRefused, SignatureError
from connectors.config import ConnectorsConfig
from connectors.credentials import VaultSecrets
from connectors.providers.telegram import api
from connectors.registry import get_facts, get_provider
from connectors.sync_deps import SyncDeps
from connectors.temporal.shared import action_workflow_id, connect_workflow_id
from connectors.temporal.worker import build_worker
from consumers.commands import RunnerContext, commands_group
from consumers.deliveries import deliveries_group
from consumers.projector import projector_group
from events import codec
from events.errors import TransientError
from events.streams import DEFAULT_PARTITIONS, stream_for_tenant
from events.types import ConversationUpserted, MessageUpserted
from producers.publisher import Publisher

FACTS = get_facts("telegram")
PROVIDER = get_provider("telegram")
HEADER = "X-Telegram-Bot-Api-Secret-Token"
TIMEOUT_S = 90.0


def our_logs(caplog) -> str:
    """Every captured log line but the local Bot API's own access log (Telegram's side of the wire)."""
    return "\n".join(r.getMessage() for r in caplog.records if r.name != "aiohttp.access")


def ctx() -> IngestContext:
    return IngestContext("tenant-tg", "con_tg", "10000", datetime(2026, 1, 1, tzinfo=UTC))


def test_a_message_update_is_a_message_in_its_chat_and_an_edit_its_new_state():
    delivery = request(fixture("telegram", "message.json"), {HEADER: "s3cret"})
    PROVIDER.verify(delivery, ["s3cret"], 0)
    with pytest.raises(SignatureError):
        PROVIDER.verify(request(delivery.body, {HEADER: "s3cres"}), ["s3cret"], 0)
    with pytest.raises(SignatureError):
        PROVIDER.verify(request(delivery.body), ["s3cret"], 0)
    assert (PROVIDER.topic(delivery), PROVIDER.delivery_id(delivery)) == ("message", "10000")
    message, chat = PROVIDER.normalize(ctx(), "message", delivery)
    assert isinstance(message, MessageUpserted) and isinstance(chat, ConversationUpserted)
    assert message.subject.external_id == "1111111:1365" and message.data.text == "/start"
    assert (message.data.sender, message.data.conversation_external_id) == ("Test", "1111111")
    assert message.data.sent_at == datetime.fromtimestamp(1441645532, UTC)
    assert (chat.subject.external_id, chat.data.name, chat.data.kind) == ("1111111", "Test Test Lastname", "direct")

    edited = request(fixture("telegram", "edited_message.json"))
    again, _ = PROVIDER.normalize(ctx(), PROVIDER.topic(edited), edited)
    assert again.subject.external_id == "1111111:1365" and again.data.text == "Edited text"
    assert again.occurred_at == datetime.fromtimestamp(1441646600, UTC) > message.occurred_at  # the newer state wins

    post = request(fixture("telegram", "channel_post.json"))
    posted, channel = PROVIDER.normalize(ctx(), PROVIDER.topic(post), post)
    assert posted.data.sender == "acme_news" and (channel.data.name, channel.data.kind) == ("Acme News", "channel")
    button = request(fixture("telegram", "callback_query.json"))
    assert PROVIDER.topic(button) == "callback_query"
    with pytest.raises(NormalizeError):  # kept unmapped, re-runnable
        PROVIDER.normalize(ctx(), "callback_query", button)


@pytest.fixture
async def bots(monkeypatch):
    found = TelegramBots()
    async with local_http_server(found.app()) as url:
        found.url = url
        monkeypatch.setattr(api, "API_BASE", url)
        yield found


async def test_bot_api_failures_never_name_the_token(bots, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    call = ApiCall(FACTS, {}, {"bot_token": bots.token}, allow_private=True)
    bots.fail_next(status=429, retry_after=9)
    with pytest.raises(ProviderBusy) as busy:
        await api.send_message(call, "111222333", "hi")
    assert busy.value.retry_after_s == 9
    with pytest.raises(ProviderRefused, match="chat not found"):
        await api.send_message(call, "42", "hi")
    wrong = ApiCall(FACTS, {}, {"bot_token": "7012345678:AAF-revoked"}, allow_private=True)
    with pytest.raises(ProviderRefused, match="bot token") as refused:
        await api.send_message(wrong, "111222333", "hi")
    assert "AAF-revoked" not in str(refused.value)
    monkeypatch.setattr(api, "API_BASE", "http://127.0.0.1:9")  # nothing listens: a connection failure
    with pytest.raises(TransientError) as down:
        await api.send_message(call, "111222333", "hi")
    assert bots.token not in str(down.value) and "AAF" not in repr(down.value)
    assert bots.token not in our_logs(caplog)
    assert bots.sent == []


@pytest.fixture
async def public_worker(temporal_server, pool, redis, vault, gw: Gateway):
    """The connectors' worker with BIZOSAAS_PUBLIC_URL = the test gateway (the bot's webhook points there)."""
    client = await Client.connect(temporal_server.url)
    deps = SyncDeps(pool, Publisher(redis), VaultSecrets(vault.addr, vault.token), allow_private=True)
    public_url = str(gw.make_url("/")).rstrip("/")
    async with build_worker(client, deps, public_url=public_url):
        yield client, public_url


async def _json(gw: Gateway, key: str, path: str, **params) -> dict:
    return await (await gw.get(path, params=params, headers=gw.bearer(key))).json()


async def test_set_up_registers_the_webhook_a_message_arrives_a_reply_is_sent_and_disconnect_deletes_it(
    gw: Gateway, bots, redis, pool, vault, public_worker, caplog
):
    caplog.set_level(logging.DEBUG)
    temporal, public_url = public_worker
    secrets = VaultSecrets(vault.addr, vault.token)
    runner = RunnerContext(pool, redis, temporal, ConnectorsConfig(allow_private_urls=True), DEFAULT_PARTITIONS)
    tenant, key = await gw.create_tenant()
    groups = [commands_group(runner), projector_group(pool, DEFAULT_PARTITIONS), deliveries_group(pool)]
    async with running(redis, groups):
        body = {"provider": "telegram", "name": "bot", "config": {}, "secrets": {"bot_token": bots.token}}
        resp = await gw.post("/v1/connectors", json=body, headers=gw.bearer(key))
        assert resp.status == 201, await resp.text()
        connector_id = (await resp.json())["id"]

        async def connected():
            found = await _json(gw, key, f"/v1/connectors/{connector_id}")
            setup = found["health"]["setup"]
            return found if setup and setup["status"] in ("connected", "failed") else None

        answer = await wait_for(connected, timeout_s=TIMEOUT_S)
        assert answer["health"]["setup"]["status"] == "connected", answer
        assert answer["health"]["webhooks_registered"] == 1
        secret = (await secrets.read(tenant, connector_id, fresh=True))["webhook_secret"]
        assert bots.webhook == {
            "url": f"{public_url}/v1/webhooks/{connector_id}",
            "secret_token": secret,
            "allowed_updates": api.ALLOWED_UPDATES,
        }

        # Telegram delivers with the token it was given
        hook = f"/v1/webhooks/{connector_id}"
        update = fixture("telegram", "message.json")
        headers = {"Content-Type": "application/json"}
        assert (await gw.post(hook, data=update, headers={**headers, HEADER: "not-it"})).status == 401
        resp = await gw.post(hook, data=update, headers={**headers, HEADER: secret})
        assert resp.status == 200 and (await resp.json())["events"] == 2

        async def recorded():
            found = await _json(gw, key, "/v1/records/message", source=connector_id)
            return found["items"] or None

        (record,) = await wait_for(recorded, timeout_s=TIMEOUT_S)
        assert record["external_id"] == "1111111:1365" and record["data"]["text"] == "/start"

        # a reply through the action route
        route = f"/v1/connectors/{connector_id}/actions/send_message"
        resp = await gw.post(route, json={"chat_id": "111222333", "text": "Thanks!"}, headers=gw.bearer(key))
        assert resp.status == 202, await resp.text()
        command_id = (await resp.json())["id"]

        command = await wait_for(lambda: finished_command(gw, key, command_id), timeout_s=TIMEOUT_S)
        assert command["status"] == "completed", command
        assert command["result"] == {"id": "111222333:101", "chat_id": "111222333"}
        assert [m["text"] for m in bots.sent] == ["Thanks!"]

        # the bot token is in no workflow history, event, or answer
        histories = [  # protobuf text: payloads readable (to_json would base64 them, hiding any secret)
            "\n".join(str(e) for e in (await temporal.get_workflow_handle(workflow_id).fetch_history()).events)
            for workflow_id in (connect_workflow_id(connector_id), action_workflow_id(command_id))
        ]
        assert "Thanks!" in histories[1] and connector_id in histories[0]  # the inputs are there, no token
        published = b"".join(f[codec.EVENT_FIELD] for _, f in await redis.xrange(stream_for_tenant(tenant)))
        for text in (*histories, published.decode(), json.dumps(command), json.dumps(answer)):
            assert bots.token not in text and secret not in text

        assert (await gw.delete(f"/v1/connectors/{connector_id}", headers=gw.bearer(key))).status == 204

        async def disconnected():
            found = await _json(gw, key, "/v1/commands", connector_id=connector_id)
            done = [c for c in found["items"] if c["type"] == "connector.disconnect.v1"]
            return done[0] if done and done[0]["status"] in ("completed", "failed") else None

        outcome = await wait_for(disconnected, timeout_s=TIMEOUT_S)
        assert outcome["status"] == "completed", outcome
    assert bots.webhook == {} and ("deleteWebhook", 200) in bots.log
    assert bots.token not in our_logs(caplog)
