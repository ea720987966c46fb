"""Slack completed: the Web API's pages (conversations.list, conversations.history across the bot's channels), its
errors (HTTP 429 with Retry-After, `ok: false` codes) against a local Slack (tests/providers/slack_server.py), and end
to end on Temporal, OpenBao, Redis and Postgres: the OAuth2 install (oauth.v2.access, the bot token to Vault only)
starts the set-up, which imports the channels and their history as records; `post_message` runs through the action
route."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from factories import local_http_server, running, wait_for
from gateway_helpers import Gateway, finished_command
from providers.slack_server import CLIENT_ID, CLIENT_SECRET, SlackWorkspace
from webhook_support import request

from connectors import sync_pages
from connectors.base import ApiCall, IngestContext, PageCursorGone, ProviderBusy, ProviderRefused
from connectors.credentials import VaultSecrets
from connectors.oauth import ACCESS_TOKEN, REFRESH_TOKEN
from connectors.providers.slack import api
from connectors.registry import get_facts, get_provider
from consumers.commands import RunnerContext, commands_group
from consumers.projector import projector_group
from events.streams import DEFAULT_PARTITIONS
from events.types import ChangeNotified, ConversationDeleted

FACTS = get_facts("slack")
CONVERSATIONS, MESSAGES = FACTS.resource("conversations"), FACTS.resource("messages")
PUBLIC_URL = "https://bz.example.com"
TIMEOUT_S = 90.0


@pytest.fixture
async def workspace(monkeypatch):
    found = SlackWorkspace()
    async with local_http_server(found.app()) as url:
        found.url = url
        monkeypatch.setattr(api, "API_BASE", url + "/api/")
        yield found


def call_for(workspace: SlackWorkspace, token: str | None = None) -> ApiCall:
    return ApiCall(FACTS, {}, {ACCESS_TOKEN: token or workspace.token}, allow_private=True)


async def read_all(call: ApiCall, resource, since=None, until=None) -> list[dict]:
    seen, after, number = [], None, 0
    while True:
        number += 1
        page = await sync_pages.read_page(api, call, resource, number, since, until, after)
        seen += page.objects
        if sync_pages.last_page(resource, number, page):
            return seen
        after = page.next_cursor


async def test_history_pages_through_every_channel_the_bot_is_in(workspace):
    workspace.seed(messages=230)
    seen = await read_all(call_for(workspace), MESSAGES)
    assert sorted(m["id"] for m in seen) == sorted(workspace.message_ids()) and len(seen) == 230
    assert {m["channel"] for m in seen} == {
        c for c, v in workspace.channels.items() if v["is_member"] and v["name"] != "quiet"
    }
    asked = [q["channel"] for method, q, _ in workspace.log if method == "conversations.history"]
    assert "not-mine" not in {workspace.channels[c]["name"] for c in asked}  # never a channel the bot is not in
    # an incremental run: only messages inside the window, by message time
    newest = max(workspace.history[c][-1]["ts"] for c in workspace.history if workspace.history[c])
    since = api.cursor_of(MESSAGES, {"ts": newest})[:19]
    assert [m["ts"] for m in await read_all(call_for(workspace), MESSAGES, since)] == [newest]
    assert [q for m, q, _ in workspace.log if m == "conversations.history"][-1]["oldest"].startswith(newest[:10])


async def test_rate_limits_and_refusals_are_classified(workspace):
    workspace.seed(conversations=3)
    workspace.fail_next(retry_after_s=4)
    with pytest.raises(ProviderBusy) as busy:
        await api.read_page(call_for(workspace), CONVERSATIONS, 1)
    assert busy.value.retry_after_s == 4
    with pytest.raises(ProviderRefused, match="invalid_auth"):
        await api.read_page(call_for(workspace, "xoxb-revoked"), CONVERSATIONS, 1)
    with pytest.raises(PageCursorGone):
        await api.read_page(call_for(workspace), CONVERSATIONS, 2, after="not-a-cursor")
    outsider = workspace.channel("outsiders", member=False)
    with pytest.raises(ProviderRefused, match="not_in_channel"):
        await api.post_message(call_for(workspace), outsider, "hello")
    with pytest.raises(ProviderRefused, match="not installed"):
        await api.test_connection(ApiCall(FACTS, {}, {"webhook_secret": "x"}, allow_private=True))
    assert workspace.posted == []


async def test_install_imports_channels_and_history_and_post_message_runs(
    make_gateway, workspace, redis, pool, vault, temporal
):
    general = workspace.channel("general")
    said = [workspace.say(general, f"hello {i}") for i in range(3)]
    workspace.channel("random", member=False)
    gw: Gateway = await make_gateway(public_url=PUBLIC_URL)
    tenant, key = await gw.create_tenant()
    secrets = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "webhook_secret": "signing-secret"}
    resp = await gw.post(
        "/v1/connectors",
        json={"provider": "slack", "name": "acme", "config": {}, "secrets": secrets},
        headers=gw.bearer(key),
    )
    assert resp.status == 201, await resp.text()
    connector_id = (await resp.json())["id"]

    resp = await gw.get(f"/v1/connectors/{connector_id}/oauth/authorize", headers=gw.bearer(key), allow_redirects=False)
    location = urlsplit(resp.headers["Location"])
    params = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert f"{location.scheme}://{location.netloc}{location.path}" == "https://slack.com/oauth/v2/authorize"
    assert params["scope"] == "channels:read,groups:read,channels:history,groups:history,chat:write"
    code = workspace.issue_code(params["redirect_uri"])  # the user approves the install at Slack
    runner = RunnerContext(pool, redis, temporal)
    async with running(redis, [commands_group(runner), projector_group(pool, DEFAULT_PARTITIONS)]):
        resp = await gw.get(f"/v1/oauth/callback?code={code}&state={params['state']}")
        assert resp.status == 200, await resp.text()
        stored = await VaultSecrets(vault.addr, vault.token).read(tenant, connector_id, fresh=True)
        bot_token = stored[ACCESS_TOKEN]
        assert bot_token.startswith("xoxb-") and bot_token in workspace.tokens and bot_token not in await resp.text()

        async def records(kind: str) -> list[dict] | None:
            resp = await gw.get(f"/v1/records/{kind}", params={"source": connector_id}, headers=gw.bearer(key))
            items = (await resp.json())["items"]
            return items if len(items) >= (2 if kind == "conversation" else 3) else None

        channels = await wait_for(lambda: records("conversation"), timeout_s=TIMEOUT_S)
        assert {c["external_id"] for c in channels} == set(workspace.channels)
        messages = await wait_for(lambda: records("message"), timeout_s=TIMEOUT_S)
        assert {m["external_id"] for m in messages} == {f"{general}:{m['ts']}" for m in said}
        assert {m["data"]["text"] for m in messages} == {"hello 0", "hello 1", "hello 2"}

        route = f"/v1/connectors/{connector_id}/actions/post_message"
        body = {"channel": general, "text": "Thanks!", "thread_ts": said[0]["ts"]}
        resp = await gw.post(route, json=body, headers=gw.bearer(key))
        assert resp.status == 202, await resp.text()
        command_id = (await resp.json())["id"]

        command = await wait_for(lambda: finished_command(gw, key, command_id), timeout_s=TIMEOUT_S)
    assert command["status"] == "completed", command
    posted = workspace.history[general][-1]
    assert command["result"] == {"id": f"{general}:{posted['ts']}", "channel": general}
    assert (posted["text"], posted["thread_ts"]) == ("Thanks!", said[0]["ts"])
    assert bot_token not in str(command)


def test_channel_events_ask_for_the_conversations_sync_and_a_deleted_channel_is_a_tombstone():
    """The inner events as api.slack.com/events/channel_created, channel_rename, channel_deleted show them."""
    slack = get_provider("slack")
    ctx = IngestContext("tenant-slack", "con_slack", "Ev1", datetime(2026, 1, 1, tzinfo=UTC))
    created = {"type": "channel_created", "channel": {"id": "C024BE91L", "name": "fun", "created": 1360782804}}
    renamed = {"type": "channel_rename", "channel": {"id": "C02ELGNBH", "name": "new_name", "created": 1360782804}}
    deleted = {"type": "channel_deleted", "channel": "C024BE91L"}
    found = []
    for inner in (created, renamed, deleted):
        body = json.dumps({"type": "event_callback", "event_id": "Ev1", "event_time": 1360782900, "event": inner})
        delivery = request(body.encode())
        (event,) = slack.normalize(ctx, slack.topic(delivery), delivery)
        found.append(event)
    assert [type(e) for e in found] == [ChangeNotified, ChangeNotified, ConversationDeleted]
    assert [(e.subject.kind, e.subject.external_id) for e in found] == [
        ("conversation", "C024BE91L"),
        ("conversation", "C02ELGNBH"),
        ("conversation", "C024BE91L"),
    ]
    assert (found[0].resource, found[1].operation) == ("conversations", "rename")
    assert found[2].occurred_at == datetime.fromtimestamp(1360782900, UTC)


async def test_a_rotating_token_comes_from_the_token_source_and_is_asked_again_once_when_expired(workspace):
    workspace.seed(conversations=2)
    workspace.expired.add("xoxe.xoxb-old")
    asked: list[str | None] = []

    async def source(rejected: str | None = None) -> str:  # the sync's token source, as connectors/access_tokens.py
        asked.append(rejected)
        return "xoxe.xoxb-old" if rejected is None else workspace.token

    rotating = {ACCESS_TOKEN: "xoxe.xoxb-old", REFRESH_TOKEN: "xoxe-1-refresh"}
    call = ApiCall(FACTS, {}, rotating, allow_private=True, access_token=source)
    page = await api.read_page(call, CONVERSATIONS, 1)
    assert len(page.objects) == 2 and asked == [None, "xoxe.xoxb-old"]
    # without a refresh token (rotation off) the stored token is used as it is, and the source is never asked
    asked.clear()
    fixed = ApiCall(FACTS, {}, {ACCESS_TOKEN: workspace.token}, allow_private=True, access_token=source)
    assert len((await api.read_page(fixed, CONVERSATIONS, 1)).objects) == 2 and asked == []
    # a token that stays expired is refused, naming the fix
    stuck = ApiCall(FACTS, {}, rotating, allow_private=True, access_token=lambda rejected=None: _expired())
    with pytest.raises(ProviderRefused, match="token_expired"):
        await api.read_page(stuck, CONVERSATIONS, 1)


async def _expired() -> str:
    return "xoxe.xoxb-old"
