"""Snapchat Ads against a local Marketing API (tests/providers/snapchat_server.py): wrapped answers unwrapped,
`next_link` cursors, stats between midnights in the ad account's time zone with micro-currency spend, the refusals
(401, 403, 5xx, and 429 WITHOUT Retry-After, which the real Temporal sync workflow retries with exponential back-off);
campaigns, ad squads, ads and stats imported through Temporal and visible over REST; a deleted campaign becomes a
tombstone; `pause_campaign` (a whole-object PUT) through POST /v1/connectors/{id}/actions/{action}."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from factories import local_http_server, running, wait_for
from gateway_helpers import Gateway, finished_command
from google_support import TIMEOUT_S, counted, deleted_ids, records, temporal_sync
from providers.snapchat_server import VERSION, SnapchatAds

from connectors import oauth
from connectors.base import ApiCall, ProviderBusy, ProviderRefused
from connectors.credentials import VaultSecrets
from connectors.providers.snapchat import api, mapping
from connectors.registry import get_facts
from consumers.commands import RunnerContext, commands_group
from consumers.projector import projector_group
from events.streams import DEFAULT_PARTITIONS

FACTS = get_facts("snapchat")
CAMPAIGNS, STATS = FACTS.resource("campaigns"), FACTS.resource("campaign_stats")


@pytest.fixture
async def snap(monkeypatch):
    made = SnapchatAds()
    async with local_http_server(made.app()) as url:
        made.url = url
        made.oauth.url = url
        monkeypatch.setattr(api, "API_BASE", f"{url}/{VERSION}/")
        yield made


def call_for(server: SnapchatAds, token: str | None = None, **config) -> ApiCall:
    stored = {oauth.ACCESS_TOKEN: token or server.issue_access(), oauth.EXPIRES_AT: time.time() + 3600}
    return ApiCall(FACTS, {"ad_account_id": server.ad_account_id, **config}, stored, allow_private=True)


async def test_wrapped_pages_stats_window_and_refusals(snap):
    snap.seed(campaigns=230)
    call = call_for(snap)
    first = await api.read_page(call, CAMPAIGNS, 1)
    method, path, query, _, _ = next(e for e in snap.log if e[1].endswith("/campaigns"))
    assert (method, path, query["limit"]) == ("GET", f"/{VERSION}/adaccounts/{snap.ad_account_id}/campaigns", "100")
    assert first.next_cursor == "100" and first.objects[0]["name"] == "Snap spring 0"  # out of its envelope
    assert first.objects[0]["account_currency"] == "USD"
    second = await api.read_page(call, CAMPAIGNS, 2, after=first.next_cursor)
    last = await api.read_page(call, CAMPAIGNS, 3, after=second.next_cursor)
    assert last.next_cursor is None and len(last.objects) == 30
    assert [o["id"] for o in first.objects + second.objects + last.objects] == snap.ids("campaigns")
    # stats: midnights in the account's time zone, lookback_days before today to tomorrow; days without
    # impressions are left out and a page holds at most page_size rows, whole campaigns
    snap.seed(days=2)
    page = await api.read_page(call_for(snap, lookback_days=7), STATS, 1)
    _, _, query, _, _ = next(e for e in reversed(snap.log) if e[1].endswith("/stats"))
    tz = ZoneInfo(snap.timezone)
    today = datetime.now(tz).date()
    since, until = (datetime.fromisoformat(query[k]) for k in ("start_time", "end_time"))
    assert (since.astimezone(tz).date(), until.astimezone(tz).date()) == (
        today - timedelta(days=7),
        today + timedelta(1),
    )
    assert since.astimezone(tz).hour == 0 and query["granularity"] == "DAY" and "spend" in query["fields"]
    assert len(page.objects) == 100 and page.next_cursor == "|50"
    seen, after = [o["id"] for o in page.objects], page.next_cursor
    while after is not None:
        page = await api.read_page(call, STATS, 2, after=after)
        assert 0 < len(page.objects) <= 100
        seen, after = seen + [o["id"] for o in page.objects], page.next_cursor
    assert sorted(seen) == sorted(snap.ids("campaign_stats")) and len(seen) == 460
    # refusals: 429 carries no Retry-After, so no delay is named (the retry policy's back-off applies)
    snap.fail_next(1, 429)
    with pytest.raises(ProviderBusy, match="429 E3003") as busy:
        await api.read_page(call, CAMPAIGNS, 1)
    assert busy.value.retry_after_s is None
    snap.fail_next(1, 503)
    with pytest.raises(ProviderBusy):
        await api.read_page(call, CAMPAIGNS, 1)
    with pytest.raises(ProviderRefused, match="HTTP 401 E0001"):
        await api.read_page(call_for(snap, token="snap-revoked"), CAMPAIGNS, 1)
    with pytest.raises(ProviderRefused, match="HTTP 403 E1002"):
        await api.read_page(call_for(snap, ad_account_id="00000000-0000-0000-0000-000000000000"), CAMPAIGNS, 1)
    with pytest.raises(ProviderRefused, match="must be the ad account's id"):
        await api.read_page(call_for(snap, ad_account_id="../me"), CAMPAIGNS, 1)


def test_mapping_micros_and_local_days():
    row = {"campaign_id": "c1", "ad_account_id": "a1", "start_time": "2026-03-01T00:00:00-08:00",
           "stats": {"impressions": 700, "swipes": 21, "spend": 5_432_100, "conversion_purchases": 1,
                     "conversion_purchases_value": 45_000_000}, "account_currency": "usd"}  # fmt: skip
    day = mapping.performance(row)
    assert (day.date, day.impressions, day.clicks, day.spend_minor, day.conversion_value_minor) == (
        "2026-03-01",  # the account's day, not UTC's
        700,
        21,
        543,
        4500,
    )
    assert mapping.row_id(row) == "campaign:c1:2026-03-01"
    squad = mapping.ad_squad(
        {"status": "PAUSED", "type": "SNAP_ADS", "bid_micro": 2_500_000, "account_currency": "EUR"}
    )
    assert (squad.status, squad.type, squad.bid_minor, squad.currency) == ("paused", "snap_ads", 250, "EUR")


async def test_imports_through_temporal_backs_off_on_429_and_pauses(gw: Gateway, vault, snap, redis, pool, temporal):
    snap.seed(campaigns=120, adsquads=2, ads=3, days=3)
    first = snap.ids("campaigns")[0]
    tenant, key = await gw.create_tenant()
    given = {"client_id": snap.client_id, "client_secret": snap.client_secret}
    body = {"provider": "snapchat", "name": "snap", "config": {"ad_account_id": snap.ad_account_id}, "secrets": given}
    resp = await gw.post("/v1/connectors", json=body, headers=gw.bearer(key))
    assert resp.status == 201, await resp.text()
    connector = (await resp.json())["id"]
    store = VaultSecrets(vault.addr, vault.token, cache_s=0)
    tokens = oauth.Tokens(snap.issue_access(), snap.oauth.issue_refresh(), time.time() + 3600)
    url = f"{snap.url}/login/oauth2/access_token"
    await store.write(tenant, connector, oauth.stored(await store.read(tenant, connector), tokens, url))
    async with running(redis, [projector_group(pool, DEFAULT_PARTITIONS)]):
        # two 429s without Retry-After: the activity is retried after Temporal's back-off, 1 s then 2 s
        snap.fail_next(2, 429)
        snap.hits.clear()
        (run,) = (await temporal_sync(temporal, tenant, connector, "campaigns")).runs
        assert (run.status, run.records) == ("completed", 120), run.error
        (t0, s0), (t1, s1), (t2, s2) = snap.hits[:3]
        assert (s0, s1, s2) == (429, 429, 200)
        assert t1 - t0 >= 0.9 and t2 - t1 >= 1.8  # exponential: each wait twice the one before
        for resource in ("adsquads", "ads", "campaign_stats"):
            (run,) = (await temporal_sync(temporal, tenant, connector, resource)).runs
            assert run.status == "completed", run.error
        assert run.records == 360
        held = await wait_for(lambda: counted(gw, key, "ad_campaign", 120), timeout_s=TIMEOUT_S)
        assert held[first]["provider"] == "snapchat" and held[first]["data"]["daily_budget_minor"] == 4000
        rows = await wait_for(lambda: counted(gw, key, "ad_performance", 360), timeout_s=TIMEOUT_S)
        today = datetime.now(ZoneInfo(snap.timezone)).date().isoformat()
        row = rows[f"campaign:{first}:{today}"]["data"]
        assert (row["spend_minor"], row["currency"], row["impressions"], row["clicks"]) == (543, "USD", 702, 21)
        assert len(await records(gw, key, "ad")) == 3 and len(await records(gw, key, "ad_group")) == 2

        gone = snap.ids("campaigns")[-1]
        snap.delete("campaigns", gone)
        (run,) = (await temporal_sync(temporal, tenant, connector, "campaigns", full=True)).runs
        assert (run.status, run.deleted) == ("completed", 1)
        await wait_for(lambda: deleted_ids(gw, key, "ad_campaign"), [gone], TIMEOUT_S)

    async with running(redis, [commands_group(RunnerContext(pool, redis, temporal))]):
        route = f"/v1/connectors/{connector}/actions/pause_campaign"
        assert (await gw.post(route, json={"campaign_id": "1"}, headers=gw.bearer(key))).status == 422
        resp = await gw.post(route, json={"campaign_id": first}, headers=gw.bearer(key))
        assert resp.status == 202, await resp.text()
        command_id = (await resp.json())["id"]
        answer = await wait_for(lambda: finished_command(gw, key, command_id), timeout_s=TIMEOUT_S)
    assert answer["status"] == "completed", answer
    assert answer["result"]["id"] == first and snap.objects["campaigns"][first]["status"] == "PAUSED"
    put = next(e for e in reversed(snap.log) if e[0] == "PUT")[3]["campaigns"][0]
    assert put["name"] == "Snap spring 0" and put["status"] == "PAUSED" and "updated_at" not in put
