"""Google Ads against a local Google Ads API (tests/providers/google_ads_server.py): GAQL pages by nextPageToken with
the developer-token and login-customer-id headers, the documented refusals (401, 429 with Retry-After, 5xx), micros
in minor units; campaigns, ad groups and daily performance imported through the real Temporal sync workflow and
visible over REST; a deleted campaign becomes a tombstone while past days' performance stays; `pause_campaign`
through the action workflow; access tokens refreshed through connectors/oauth.py."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from factories import running, wait_for
from google_support import TIMEOUT_S, api_call, connect, counted, deleted_ids, records, served, temporal_sync
from providers.google_ads_server import GoogleAds

from connectors import oauth, sync
from connectors.base import ProviderBusy, ProviderRefused
from connectors.credentials import VaultSecrets
from connectors.providers.google_ads import api, mapping
from connectors.registry import get_facts
from connectors.temporal.client import run_action
from consumers.indexer import indexer_group
from consumers.projector import projector_group
from events.streams import DEFAULT_PARTITIONS
from producers.publisher import Publisher
from rag.config import RagConfig
from rag.texts import text_of

FACTS = get_facts("google-ads")
CAMPAIGNS, PERFORMANCE = FACTS.resource("campaigns"), FACTS.resource("campaign_performance")


@pytest.fixture
async def ads(monkeypatch):
    async with served(GoogleAds(rows_per_page=100), monkeypatch) as made:
        yield made


def config(ads: GoogleAds, **more) -> dict:
    return {"customer_id": "123-456-7890", **more}


def call_for(ads: GoogleAds, token: str | None = None, **more):
    return api_call(ads, "google-ads", config(ads, **more), token, developer_token=ads.developer_token)


async def test_gaql_pages_headers_and_refusals(ads):
    ads.seed(campaigns=250)
    ads.manager_id = "9876543210"
    call = call_for(ads, login_customer_id="987-654-3210")
    first = await api.read_page(call, CAMPAIGNS, 1)
    sent = ads.requests("googleAds:search")[-1]
    assert sent.path == "/v26/customers/1234567890/googleAds:search"
    assert sent.headers["developer-token"] == ads.developer_token and sent.headers["login-customer-id"] == "9876543210"
    assert sent.headers["Authorization"].startswith("Bearer ya29.") and "pageToken" not in sent.body
    assert "FROM campaign" in sent.body["query"] and len(first.objects) == 100 and first.next_cursor
    second = await api.read_page(call, CAMPAIGNS, 2, after=first.next_cursor)
    assert ads.requests("googleAds:search")[-1].body["pageToken"] == first.next_cursor
    last = await api.read_page(call, CAMPAIGNS, 3, after=second.next_cursor)
    assert last.next_cursor is None
    assert [o["id"] for o in first.objects + second.objects + last.objects] == ads.ids("campaigns")
    # the performance window: lookback_days before today to tomorrow
    await api.read_page(call_for(ads, login_customer_id="9876543210", lookback_days=7), PERFORMANCE, 1)
    today = datetime.now(UTC).date()
    window = f"BETWEEN '{today - timedelta(days=7)}' AND '{today + timedelta(days=1)}'"
    assert window in ads.requests("googleAds:search")[-1].body["query"]
    # refusals: 429 with Retry-After and 5xx are transient; a token Google refuses, without a token source, names
    # the fix; a developer token Google refuses is permanent
    ads.fail_next(1, 429, retry_after_s=7)
    with pytest.raises(ProviderBusy) as busy:
        await api.read_page(call, CAMPAIGNS, 1)
    assert busy.value.retry_after_s == 7.0
    ads.fail_next(1, 503)
    with pytest.raises(ProviderBusy, match="UNAVAILABLE"):
        await api.read_page(call, CAMPAIGNS, 1)
    with pytest.raises(ProviderRefused, match=r"UNAUTHENTICATED.*reconnect"):
        await api.read_page(call_for(ads, token="ya29.revoked", login_customer_id="9876543210"), CAMPAIGNS, 1)
    with pytest.raises(ProviderRefused, match="PERMISSION_DENIED"):
        await api.read_page(call_for(ads), CAMPAIGNS, 1)  # no login-customer-id for a managed account
    with pytest.raises(ProviderRefused, match="customer_id must be digits"):
        await api.read_page(call_for(ads, customer_id="../admin"), CAMPAIGNS, 1)


def test_mapping_micros_and_ids():
    row = {
        "customer": {"id": "1234567890", "currencyCode": "JPY"},
        "campaign": {"id": "42", "name": "Brand", "status": "PAUSED", "advertisingChannelType": "SEARCH"},
        "campaignBudget": {"amountMicros": "50500000"},
    }
    campaign = mapping.campaign(row)
    assert (campaign.status, campaign.objective, campaign.currency, campaign.daily_budget_minor) == (
        "paused",
        "search",
        "JPY",
        50,  # 50.5 yen, half to even: yen have no minor unit
    )
    day = {
        "customer": {"id": "1", "currencyCode": "EUR"},
        "campaign": {"id": "42"},
        "segments": {"date": "2026-01-31"},
        "metrics": {"impressions": "1200", "clicks": "31", "costMicros": "12345678", "conversions": 2.5},
    }
    assert mapping.row_id("campaign_performance", day) == "campaign:42:2026-01-31"
    ads = GoogleAds()
    ads.seed(ads=1)
    (row,) = [
        {
            "customer": {"id": "1", "currencyCode": "EUR"},
            "campaign": {"id": f["campaign.id"]},
            "adGroup": {"id": f["ad_group.id"]},
        }
        | GoogleAds._nested(f, [k for k in f if k.startswith("ad_group_ad.")])
        for f in ads.ads.values()
    ]
    ad = mapping.ad(row)
    assert (ad.format, ad.status, ad.final_url) == (
        "responsive_search_ad",
        "enabled",
        "https://shop.example.com/sweaters",
    )
    assert ad.headlines == ["Merino sweaters 0", "Free delivery over 50 EUR"]
    assert "Free delivery over 50 EUR" in text_of("ad", ad)  # what search embeds of an ad
    performance = mapping.performance(day, "campaign")
    assert (performance.impressions, performance.clicks, performance.spend_minor, performance.conversions) == (
        1200,
        31,
        1235,  # 12.345678 EUR
        2.5,
    )


async def test_imports_through_temporal_then_pauses_a_campaign(gw, vault, ads, redis, pool, temporal):
    ads.seed(campaigns=120, ad_groups=3, days=3, ads=4)
    old_day = (date.today() - timedelta(days=90)).isoformat()
    first = ads.ids("campaigns")[0]
    ads.day("campaign", first, old_day, impressions=10, cost_micros=1_000_000)  # outside the window: never read
    tenant, key, connector = await connect(
        gw, vault, ads, "google-ads", config(ads), developer_token=ads.developer_token
    )
    async with running(redis, [projector_group(pool, DEFAULT_PARTITIONS)]):
        for resource in ("campaigns", "ad_groups", "ads", "campaign_performance", "ad_group_performance"):
            (run,) = (await temporal_sync(temporal, tenant, connector, resource)).runs
            assert run.status == "completed", run.error
        assert run.records == 9  # three ad groups, three days each
        held = await wait_for(lambda: counted(gw, key, "ad_campaign", 120), timeout_s=TIMEOUT_S)
        campaign = held[first]
        assert campaign["provider"] == "google-ads" and campaign["data"]["currency"] == "EUR"
        assert campaign["data"]["daily_budget_minor"] == 5000 and campaign["data"]["objective"] == "search"
        days = await wait_for(lambda: counted(gw, key, "ad_performance", 120 * 3 + 9), timeout_s=TIMEOUT_S)
        today = date.today().isoformat()
        row = days[f"campaign:{first}:{today}"]["data"]
        assert (row["level"], row["date"], row["impressions"], row["spend_minor"]) == ("campaign", today, 1002, 1235)
        assert f"campaign:{first}:{old_day}" not in days
        assert len(await records(gw, key, "ad_group")) == 3
        held_ads = await records(gw, key, "ad")
        assert len(held_ads) == 4 and all(
            a["data"]["headlines"][1] == "Free delivery over 50 EUR" for a in held_ads.values()
        )

        # a deleted campaign: a full run makes it a tombstone; the performance rows of past days stay
        ads.delete(ads.ids("campaigns")[-1])
        gone = next(i for i in (await records(gw, key, "ad_campaign")) if i not in ads.campaigns)
        (run,) = (await temporal_sync(temporal, tenant, connector, "campaigns", full=True)).runs
        assert (run.status, run.deleted) == ("completed", 1)
        (run,) = (await temporal_sync(temporal, tenant, connector, "campaign_performance", full=True)).runs
        assert (run.status, run.deleted) == ("completed", 0)
        await wait_for(lambda: deleted_ids(gw, key, "ad_campaign"), [gone], TIMEOUT_S)

        # the action: campaigns:mutate at the provider, its answer through the action workflow
        answer = await run_action(
            temporal, tenant, connector, "pause_campaign", {"campaign_id": first}, id=f"action:{uuid.uuid4()}"
        )
        assert answer == {"id": first, "campaign_id": first}
        assert ads.campaigns[first]["campaign.status"] == "PAUSED"
        mutate = ads.requests("campaigns:mutate")[-1].body
        assert mutate["operations"][0]["updateMask"] == "status"


async def test_access_tokens_are_refreshed_through_oauth(ads, redis, pool, admin, vault):
    """An expired token is refreshed once at Google's token endpoint (the local one), a refused one once more, and a
    revoked refresh token marks the connector needs_reauth (Google answers invalid_grant)."""
    tenant, connector = "tenant-google-ads", "con_google_ads_1"
    await admin.execute("INSERT INTO tenants (id, name) VALUES ($1, $1) ON CONFLICT DO NOTHING", tenant)
    await admin.execute(
        """INSERT INTO connectors (tenant_id, id, provider, name, config) VALUES ($1, $2, 'google-ads', 'ads', $3)
           ON CONFLICT DO NOTHING""",
        tenant,
        connector,
        '{"customer_id": "1234567890"}',
    )
    secrets = VaultSecrets(vault.addr, vault.token, cache_s=0)
    refresh = ads.oauth.issue_refresh()
    stored = {
        "client_id": ads.client_id,
        "client_secret": ads.client_secret,
        "developer_token": ads.developer_token,
        oauth.ACCESS_TOKEN: "ya29.expired",
        oauth.EXPIRES_AT: time.time() - 10,
        oauth.REFRESH_TOKEN: refresh,
        oauth.TOKEN_URL: ads.url + "/token",
    }
    await secrets.write(tenant, connector, stored)
    tokens = oauth.TokenSource(redis, pool, secrets, allow_private=True)
    deps = sync.SyncDeps(pool, Publisher(redis), secrets, allow_private=True, tokens=tokens)
    ads.seed(campaigns=5)
    target = sync.Target(tenant, connector, "campaigns")
    assert (await sync.run(deps, target, "run-1")).records == 5
    assert ads.oauth.refresh_calls == 1
    refreshed = (await secrets.read(tenant, connector))[oauth.ACCESS_TOKEN]
    assert ads.requests("googleAds:search")[-1].headers["Authorization"] == f"Bearer {refreshed}"
    ads.revoke_access(refreshed)  # Google refuses a token Vault holds as valid: one refresh, and the run goes on
    assert (await sync.run(deps, target, "run-2", full=True)).records == 5
    assert ads.oauth.refresh_calls == 2
    ads.revoke_access((await secrets.read(tenant, connector))[oauth.ACCESS_TOKEN])
    ads.oauth.revoke(refresh)
    with pytest.raises(oauth.NeedsReauth):
        await sync.run(deps, target, "run-3", full=True)
    status = await admin.fetchval("SELECT status FROM connectors WHERE id = $1", connector)
    assert status == "needs_reauth"


async def test_synced_ads_are_found_by_search(gw, vault, ads, redis, pool, temporal, rag_db, embedder):
    """An ad is a searchable kind: its headlines and descriptions are indexed like a product's text."""
    ads.seed(ads=2)
    only = next(iter(ads.ads))
    ads.ads[only]["ad_group_ad.ad.responsive_search_ad.descriptions"] = [{"text": "Alpaca scarves knitted by hand."}]
    tenant, key, connector = await connect(
        gw, vault, ads, "google-ads", config(ads), developer_token=ads.developer_token
    )
    groups = [projector_group(pool, DEFAULT_PARTITIONS), indexer_group(pool, DEFAULT_PARTITIONS, RagConfig(), embedder)]
    async with running(redis, groups):
        (run,) = (await temporal_sync(temporal, tenant, connector, "ads")).runs
        assert (run.status, run.records) == ("completed", 2), run.error
        hits = await wait_for(lambda: _search(gw, key, "alpaca scarves"), timeout_s=TIMEOUT_S)
    assert {(h["kind"], h["external_id"]) for h in hits} == {("ad", only)}
    assert "Alpaca scarves" in hits[0]["text"] and hits[0]["title"] == "Merino sweaters 0"


async def _search(gw, key: str, q: str) -> list[dict]:
    resp = await gw.get("/v1/search", params={"q": q, "kind": "ad", "mode": "keyword"}, headers=gw.bearer(key))
    assert resp.status == 200, await resp.text()
    return (await resp.json())["items"]
