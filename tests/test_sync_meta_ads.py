"""Meta Ads against a local Marketing API (tests/providers/meta_ads_server.py): cursor pages with the fields asked,
Insights by level and day over the look-back window, the Graph API's refusals (throttling codes with the wait in
X-Business-Use-Case-Usage, 429, 5xx, a refused token), spend as a decimal string in minor units; campaigns, ad sets,
ads and Insights imported through the real Temporal sync workflow and visible over REST; a deleted campaign becomes a
tombstone; `pause_campaign` through POST /v1/connectors/{id}/actions/{action}; ad account webhooks (the hub.challenge
GET, X-Hub-Signature-256) become hints that ask for a sync."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from factories import local_http_server, running, wait_for
from gateway_helpers import Gateway, finished_command
from google_support import TIMEOUT_S, connect, counted, deleted_ids, records, temporal_sync
from providers.meta_ads_server import VERSION, MetaAds
from webhook_support import fixture, request, vectors

from connectors import oauth
from connectors.base import ApiCall, IngestContext, ProviderBusy, ProviderRefused
from connectors.credentials import VaultSecrets
from connectors.providers.meta_ads import api, mapping
from connectors.registry import get_facts, get_provider
from consumers.commands import RunnerContext, commands_group
from consumers.projector import projector_group
from events.streams import DEFAULT_PARTITIONS
from events.types import ChangeNotified

FACTS = get_facts("meta-ads")
PROVIDER = get_provider("meta-ads")
CAMPAIGNS, ADSET_INSIGHTS = FACTS.resource("campaigns"), FACTS.resource("adset_insights")


@pytest.fixture
async def meta(monkeypatch):
    made = MetaAds()
    async with local_http_server(made.app()) as url:
        made.url = url
        made.oauth.url = url
        monkeypatch.setattr(api, "API_BASE", f"{url}/{VERSION}/")
        yield made


def config(meta: MetaAds, **more) -> dict:
    return {"ad_account_id": f"act_{meta.account_id}", **more}


def call_for(meta: MetaAds, token: str | None = None, **more) -> ApiCall:
    stored = {oauth.ACCESS_TOKEN: token or meta.issue_access(), oauth.EXPIRES_AT: time.time() + 3600}
    return ApiCall(FACTS, config(meta, **more), stored, allow_private=True)


async def test_cursor_pages_insights_and_refusals(meta):
    meta.seed(campaigns=250)
    call = call_for(meta)
    first = await api.read_page(call, CAMPAIGNS, 1)
    method, path, query, _ = next(e for e in meta.log if e[1].endswith("/campaigns"))
    assert (method, path, query["limit"]) == ("GET", f"/{VERSION}/act_{meta.account_id}/campaigns", "100")
    assert "daily_budget" in query["fields"] and "after" not in query
    assert len(first.objects) == 100 and first.next_cursor and first.objects[0]["account_currency"] == "USD"
    assert "stop_time" not in first.objects[0]  # only what the listing holds: no end set
    second = await api.read_page(call, CAMPAIGNS, 2, after=first.next_cursor)
    last = await api.read_page(call, CAMPAIGNS, 3, after=second.next_cursor)
    assert last.next_cursor is None and len(last.objects) == 50
    assert [o["id"] for o in first.objects + second.objects + last.objects] == meta.ids("campaigns")
    # Insights: the level, one row per day, the window lookback_days before today to today
    meta.seed(adsets=2, days=3)
    page = await api.read_page(call_for(meta, lookback_days=7), ADSET_INSIGHTS, 1)
    _, _, query, _ = [e for e in meta.log if e[1].endswith("/insights")][-1]
    today = datetime.now(UTC).date()
    assert (query["level"], query["time_increment"]) == ("adset", "1")
    assert json.loads(query["time_range"]) == {"since": str(today - timedelta(days=7)), "until": str(today)}
    assert sorted(o["id"] for o in page.objects) == sorted(meta.ids("adset_insights")) and len(page.objects) == 6
    # refusals: Meta's throttling (HTTP 400, code 17) waits as X-Business-Use-Case-Usage says; 429 and 5xx are
    # transient; a refused token without a token source, and another ad account, are permanent
    meta.fail_next(1, 400, 17, regain_minutes=5)
    with pytest.raises(ProviderBusy, match="code 17") as busy:
        await api.read_page(call, CAMPAIGNS, 1)
    assert busy.value.retry_after_s == 300.0
    meta.fail_next(1, 400, 80004)
    with pytest.raises(ProviderBusy, match="code 80004"):
        await api.read_page(call, CAMPAIGNS, 1)
    meta.fail_next(1, 503, 2)
    with pytest.raises(ProviderBusy):
        await api.read_page(call, CAMPAIGNS, 1)
    with pytest.raises(ProviderRefused, match=r"access token was refused.*code 190"):
        await api.read_page(call_for(meta, token="EAAB-revoked"), CAMPAIGNS, 1)
    with pytest.raises(ProviderRefused, match="code 100"):
        await api.read_page(call_for(meta, ad_account_id="act_999"), CAMPAIGNS, 1)
    with pytest.raises(ProviderRefused, match="ad_account_id must be"):
        await api.read_page(call_for(meta, ad_account_id="../me"), CAMPAIGNS, 1)


def test_mapping_statuses_money_and_conversions():
    campaign = mapping.campaign(
        {"id": "1", "name": "Sale", "status": "ACTIVE", "objective": "OUTCOME_SALES", "daily_budget": "5000",
         "start_time": "2026-03-01T00:00:00-0800", "account_currency": "usd", "account_id": "42"}
    )  # fmt: skip
    assert (campaign.status, campaign.objective, campaign.daily_budget_minor, campaign.currency) == (
        "enabled",
        "outcome_sales",
        5000,  # budgets are minor units already
        "USD",
    )
    assert campaign.start_date == "2026-03-01" and mapping.campaign({"status": "DELETED"}).status == "removed"
    row = {
        "campaign_id": "1",
        "adset_id": "2",
        "account_id": "42",
        "account_currency": "JPY",
        "date_start": "2026-03-02",
        "impressions": "1200",
        "clicks": "31",
        "spend": "1234.5",
        "actions": [{"action_type": "link_click", "value": "31"}, {"action_type": "purchase", "value": "1.5"},
                    {"action_type": "lead", "value": "2"}],
        "action_values": [{"action_type": "purchase", "value": "3980"}],
    }  # fmt: skip
    day = mapping.performance(row, "ad_group")
    assert (day.level, day.object_external_id, day.campaign_external_id, day.date) == (
        "ad_group",
        "2",
        "1",
        "2026-03-02",
    )
    assert (day.impressions, day.clicks, day.spend_minor, day.currency) == (1200, 31, 1234, "JPY")  # yen: half to even
    assert (day.conversions, day.conversion_value_minor) == (3.5, 3980)
    only_leads = mapping.performance(row, "ad_group", mapping.conversion_types({"conversion_actions": "lead"}))
    assert (only_leads.conversions, only_leads.conversion_value_minor) == (2.0, None)
    assert mapping.row_id("ad_group", row) == "ad_group:2:2026-03-02"


def test_webhooks_are_hints_and_the_check_echoes_only_the_verify_token():
    v = vectors("meta-ads")
    ctx = IngestContext("tenant-meta", "con_meta", "d1", datetime(2026, 1, 1, tzinfo=UTC))
    (hint,) = PROVIDER.normalize(
        ctx, "with_issues_ad_objects", request(fixture("meta-ads", "with_issues_ad_objects.json"))
    )
    assert isinstance(hint, ChangeNotified) and (hint.resource, hint.subject.kind) == ("ads", "ad")
    assert hint.subject.external_id == "23850000000000003"
    body = fixture("meta-ads", "in_process_ad_objects.json")
    assert PROVIDER.topic(request(body)) == "in_process_ad_objects"
    (hint,) = PROVIDER.normalize(ctx, "in_process_ad_objects", request(body))
    assert (hint.resource, hint.subject.kind) == ("campaigns", "ad_campaign")
    check = v["handshake"]
    assert PROVIDER.challenge(check["query"], {"verify_token": check["verify_token"]}).body == b"2093815527"


async def test_imports_through_temporal_and_pauses_through_the_action_route(
    gw: Gateway, vault, meta, redis, pool, temporal
):
    meta.seed(campaigns=120, adsets=3, ads=4, days=3)
    old_day = (date.today() - timedelta(days=90)).isoformat()
    first = meta.ids("campaigns")[0]
    meta.day("campaign", first, old_day, impressions=10, spend="1.00")  # outside the window: never read
    tenant, key, connector = await connect(
        gw, vault, meta, "meta-ads", config(meta), webhook_secret="s", verify_token="v"
    )
    async with running(redis, [projector_group(pool, DEFAULT_PARTITIONS)]):
        for resource in ("campaigns", "adsets", "ads", "campaign_insights", "adset_insights", "ad_insights"):
            (run,) = (await temporal_sync(temporal, tenant, connector, resource)).runs
            assert run.status == "completed", run.error
        assert run.records == 12  # four ads, three days each
        held = await wait_for(lambda: counted(gw, key, "ad_campaign", 120), timeout_s=TIMEOUT_S)
        assert held[first]["provider"] == "meta-ads" and held[first]["data"]["daily_budget_minor"] == 5000
        rows = await wait_for(lambda: counted(gw, key, "ad_performance", (120 + 3 + 4) * 3), timeout_s=TIMEOUT_S)
        today = date.today().isoformat()
        row = rows[f"campaign:{first}:{today}"]["data"]
        assert (row["impressions"], row["spend_minor"], row["currency"], row["conversions"]) == (1002, 1234, "USD", 2.0)
        assert f"campaign:{first}:{old_day}" not in rows
        ads = await records(gw, key, "ad")
        assert len(ads) == 4 and all(
            a["data"]["descriptions"] == ["Breathable linen, free returns."] for a in ads.values()
        )

        # a campaign deleted at Meta: a full run makes it a tombstone; past Insights rows stay
        gone = meta.ids("campaigns")[-1]
        meta.delete("campaigns", gone)
        (run,) = (await temporal_sync(temporal, tenant, connector, "campaigns", full=True)).runs
        assert (run.status, run.deleted) == ("completed", 1)
        (run,) = (await temporal_sync(temporal, tenant, connector, "campaign_insights", full=True)).runs
        assert (run.status, run.deleted) == ("completed", 0)
        await wait_for(lambda: deleted_ids(gw, key, "ad_campaign"), [gone], TIMEOUT_S)

    # the action, through the route: a command, the action workflow, POST /{campaign_id} status=PAUSED
    async with running(redis, [commands_group(RunnerContext(pool, redis, temporal))]):
        route = f"/v1/connectors/{connector}/actions/pause_campaign"
        assert (await gw.post(route, json={"campaign_id": "act_1"}, headers=gw.bearer(key))).status == 422
        resp = await gw.post(route, json={"campaign_id": first}, headers=gw.bearer(key))
        assert resp.status == 202, await resp.text()
        command_id = (await resp.json())["id"]
        answer = await wait_for(lambda: finished_command(gw, key, command_id), timeout_s=TIMEOUT_S)
    assert answer["status"] == "completed", answer
    assert answer["result"] == {"id": first, "campaign_id": first}  # what the action workflow keeps of it
    assert meta.objects["campaigns"][first]["status"] == "PAUSED"


async def test_the_gateway_answers_the_check_and_takes_signed_deliveries(gw: Gateway, meta):
    _, key = await gw.create_tenant()
    v = next(v for v in vectors("meta-ads")["derived_vectors"] if v["body_file"] == "in_process_ad_objects.json")
    secrets = {"client_id": meta.client_id, "client_secret": meta.client_secret, "webhook_secret": v["app_secret"]}
    body = {
        "provider": "meta-ads",
        "name": "ads",
        "config": config(meta),
        "secrets": secrets | {"verify_token": "vt-1"},
    }
    resp = await gw.post("/v1/connectors", json=body, headers=gw.bearer(key))
    assert resp.status == 201, await resp.text()
    hook = f"/v1/webhooks/{(await resp.json())['id']}"
    check = {"hub.mode": "subscribe", "hub.verify_token": "vt-1", "hub.challenge": "2093815527"}
    resp = await gw.get(hook, params=check)
    assert resp.status == 200 and await resp.text() == "2093815527"
    assert (await gw.get(hook, params={**check, "hub.verify_token": "vt-2"})).status == 403
    delivery = fixture("meta-ads", "in_process_ad_objects.json")
    headers = {"X-Hub-Signature-256": v["expected_X-Hub-Signature-256"], "Content-Type": "application/json"}
    resp = await gw.post(hook, data=delivery, headers=headers)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["events"] == 1
    bad = {**headers, "X-Hub-Signature-256": "sha256=" + "0" * 64}
    assert (await gw.post(hook, data=delivery, headers=bad)).status == 401


async def test_the_callback_keeps_a_long_lived_token(make_gateway, vault, meta):
    """Facebook Login: the code is exchanged at the Graph API's token endpoint, then the short-lived token at once
    for a long-lived one (oauth_hooks.finish); Vault keeps only the long-lived token, and no refresh token."""
    gw = await make_gateway(public_url="https://bz.example.com")
    tenant, key = await gw.create_tenant()
    secrets = {"client_id": meta.client_id, "client_secret": meta.client_secret, "webhook_secret": "s"}
    body = {"provider": "meta-ads", "name": "ads", "config": config(meta), "secrets": secrets | {"verify_token": "v"}}
    resp = await gw.post("/v1/connectors", json=body, headers=gw.bearer(key))
    connector = (await resp.json())["id"]
    redirect = await gw.get(
        f"/v1/connectors/{connector}/oauth/authorize", headers=gw.bearer(key), allow_redirects=False
    )
    location = urlsplit(redirect.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == "https://www.facebook.com/v21.0/dialog/oauth"
    params = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert params["scope"] == "ads_read,ads_management,business_management"
    issued = {
        "client_id": meta.client_id,
        "redirect_uri": params["redirect_uri"],
        "challenge": params["code_challenge"],
    }
    meta.oauth.codes["code-1"] = issued  # the user consented at Facebook
    resp = await gw.get(f"/v1/oauth/callback?{urlencode({'code': 'code-1', 'state': params['state']})}")
    assert resp.status == 200, await resp.text()
    values = await VaultSecrets(vault.addr, vault.token, cache_s=0).read(tenant, connector)
    assert values[oauth.ACCESS_TOKEN] in meta.long_lived and oauth.REFRESH_TOKEN not in values
    assert float(values[oauth.EXPIRES_AT]) > time.time() + 50 * 86400
    assert meta.oauth.token_calls == 2  # the code, then the exchange
