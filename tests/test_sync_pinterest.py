"""Pinterest Ads against a local API v5 (tests/providers/pinterest_server.py): `bookmark` pages, analytics asked per
page of campaigns with the window and micro-currency spend, 429 with Retry-After and 5xx, a refused token; OAuth2 with
HTTP Basic client authentication at the token endpoint (the code exchange, and a refresh through connectors/oauth.py);
campaigns, ad groups, ads, pins and analytics imported through the real Temporal sync workflow and visible over REST;
an archived campaign becomes a tombstone; `pause_campaign` through POST /v1/connectors/{id}/actions/{action}."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from factories import local_http_server, running, wait_for
from gateway_helpers import Gateway, finished_command
from google_support import TIMEOUT_S, counted, deleted_ids, records, temporal_sync
from providers.pinterest_server import VERSION, PinterestAds

from connectors import oauth, sync
from connectors.base import ApiCall, ProviderBusy, ProviderRefused
from connectors.credentials import VaultSecrets
from connectors.oauth import OAuthError
from connectors.providers.pinterest import api, mapping
from connectors.registry import get_facts
from consumers.commands import RunnerContext, commands_group
from consumers.projector import projector_group
from events.streams import DEFAULT_PARTITIONS
from producers.publisher import Publisher

FACTS = get_facts("pinterest")
CAMPAIGNS, ANALYTICS = FACTS.resource("campaigns"), FACTS.resource("campaign_analytics")


@pytest.fixture
async def pins(monkeypatch):
    made = PinterestAds()
    async with local_http_server(made.app()) as url:
        made.url = url
        made.oauth.url = url
        monkeypatch.setattr(api, "API_BASE", f"{url}/{VERSION}/")
        yield made


def call_for(server: PinterestAds, token: str | None = None, **config) -> ApiCall:
    stored = {oauth.ACCESS_TOKEN: token or server.issue_access(), oauth.EXPIRES_AT: time.time() + 3600}
    return ApiCall(FACTS, {"ad_account_id": server.ad_account_id, **config}, stored, allow_private=True)


async def test_bookmark_pages_analytics_and_refusals(pins):
    pins.seed(campaigns=230)
    call = call_for(pins)
    first = await api.read_page(call, CAMPAIGNS, 1)
    method, path, query, _, _ = next(e for e in pins.log if e[1].endswith("/campaigns"))
    assert (method, path, query["page_size"]) == (
        "GET",
        f"/{VERSION}/ad_accounts/{pins.ad_account_id}/campaigns",
        "100",
    )
    assert "bookmark" not in query and first.next_cursor and first.objects[0]["account_currency"] == "EUR"
    second = await api.read_page(call, CAMPAIGNS, 2, after=first.next_cursor)
    last = await api.read_page(call, CAMPAIGNS, 3, after=second.next_cursor)
    assert last.next_cursor is None and len(last.objects) == 30
    assert [o["id"] for o in first.objects + second.objects + last.objects] == pins.ids("campaigns")
    # analytics: the window, the batch's campaign ids, days without impressions left out, never an empty page
    pins.seed(days=2)
    quiet = pins.ids("campaigns")[:100]
    for cid in quiet:  # the whole first batch had no impressions
        pins.days = {k: v for k, v in pins.days.items() if k[0] != cid}
    page = await api.read_page(call_for(pins, lookback_days=7), ANALYTICS, 1)
    asked = [e[2] for e in pins.log if e[1].endswith("/analytics")]
    today = datetime.now(UTC).date()
    assert (asked[-1]["start_date"], asked[-1]["end_date"]) == (str(today - timedelta(days=7)), str(today))
    assert len(asked[-2]["campaign_ids"].split(",")) == 100 and asked[-1]["granularity"] == "DAY"
    assert page.objects and all(o["CAMPAIGN_ID"] not in map(int, quiet) for o in page.objects)
    seen, after = [], None
    while True:
        page = await api.read_page(call, ANALYTICS, 1, after=after)
        seen += [o["id"] for o in page.objects]
        if page.next_cursor is None:
            break
        after = page.next_cursor
    assert sorted(seen) == sorted(pins.ids("campaign_analytics")) and len(seen) == 260
    # refusals
    pins.fail_next(1, 429, retry_after_s=9)
    with pytest.raises(ProviderBusy) as busy:
        await api.read_page(call, CAMPAIGNS, 1)
    assert busy.value.retry_after_s == 9.0
    pins.fail_next(1, 503)
    with pytest.raises(ProviderBusy):
        await api.read_page(call, CAMPAIGNS, 1)
    with pytest.raises(ProviderRefused, match=r"HTTP 401.*reconnect"):
        await api.read_page(call_for(pins, token="pina_revoked"), CAMPAIGNS, 1)
    with pytest.raises(ProviderRefused, match="HTTP 403 code 29"):
        await api.read_page(call_for(pins, ad_account_id="1"), CAMPAIGNS, 1)


def test_mapping_micros_statuses_and_pins():
    campaign = mapping.campaign({"status": "PAUSED", "objective_type": "WEB_CONVERSION", "daily_spend_cap": 25_000_000,
                                 "start_time": 1772323200, "account_currency": "eur"})  # fmt: skip
    assert (campaign.status, campaign.objective, campaign.daily_budget_minor, campaign.start_date) == (
        "paused",
        "web_conversion",
        2500,
        "2026-03-01",
    )
    row = {"CAMPAIGN_ID": 7, "DATE": "2026-03-02", "SPEND_IN_MICRO_DOLLAR": 7_654_321, "IMPRESSION_1": 900,
           "CLICKTHROUGH_1": 30, "TOTAL_CONVERSIONS": 3, "account_currency": "EUR"}  # fmt: skip
    day = mapping.performance(row)
    assert (day.spend_minor, day.impressions, day.clicks, day.conversions, day.date) == (
        765,
        900,
        30,
        3.0,
        "2026-03-02",
    )
    assert mapping.row_id(row) == "campaign:7:2026-03-02"
    pin = mapping.pin(
        {"title": "Chair", "description": "Rattan", "link": "https://x.example", "created_at": "2026-03-01T10:00:00"}
    )
    assert (pin.title, pin.content, pin.url, pin.published_at.isoformat()) == (
        "Chair",
        "Rattan",
        "https://x.example",
        "2026-03-01T10:00:00+00:00",
    )


async def test_the_token_endpoint_takes_the_client_by_http_basic(pins, redis, pool, admin, vault):
    """The code exchange and the refresh send the client in `Authorization: Basic` (the facts' token_auth), which the
    local endpoint requires; the same request with the client in the form is refused."""
    url = f"{pins.url}/{VERSION}/oauth/token"
    verifier, challenge = oauth.pkce_pair()
    for code in ("code-basic", "code-post"):
        pins.oauth.codes[code] = {
            "client_id": pins.client_id,
            "redirect_uri": "https://app.example/cb",
            "challenge": challenge,
        }
    given = dict(client_id=pins.client_id, client_secret=pins.client_secret, redirect_uri="https://app.example/cb")
    with pytest.raises(OAuthError, match="invalid_client"):
        await oauth.exchange_code(url, code="code-post", verifier=verifier, allow_private=True, **given)
    tokens = await oauth.exchange_code(
        url, code="code-basic", verifier=verifier, allow_private=True, token_auth=FACTS.auth.token_auth, **given
    )
    assert tokens.refresh_token
    # a refresh of an expired token, through the sync's token source, with what the callback keeps in Vault
    tenant, connector = "tenant-pinterest", f"con_pinterest_{uuid.uuid4().hex[:8]}"
    await admin.execute("INSERT INTO tenants (id, name) VALUES ($1, $1) ON CONFLICT DO NOTHING", tenant)
    await admin.execute(
        "INSERT INTO connectors (tenant_id, id, provider, name, config) VALUES ($1, $2, 'pinterest', 'p', $3)",
        tenant,
        connector,
        f'{{"ad_account_id": "{pins.ad_account_id}"}}',
    )
    secrets = VaultSecrets(vault.addr, vault.token, cache_s=0)
    expired = oauth.Tokens("pina_expired", tokens.refresh_token, time.time() - 10)
    values = {"client_id": pins.client_id, "client_secret": pins.client_secret}
    await secrets.write(tenant, connector, oauth.stored(values, expired, url, FACTS.auth.token_auth))
    deps = sync.SyncDeps(
        pool, Publisher(redis), secrets, allow_private=True, tokens=oauth.TokenSource(redis, pool, secrets, True)
    )
    pins.seed(campaigns=3)
    assert (await sync.run(deps, sync.Target(tenant, connector, "campaigns"), "run-1")).records == 3
    assert pins.oauth.refresh_calls == 1


async def test_imports_through_temporal_and_pauses_through_the_action_route(
    gw: Gateway, vault, pins, redis, pool, temporal
):
    pins.seed(campaigns=120, ad_groups=2, ads=3, pins=4, days=3)
    old_day = (date.today() - timedelta(days=120)).isoformat()
    first = pins.ids("campaigns")[0]
    pins.day(first, old_day, IMPRESSION_1=5)  # outside the window: never read
    tenant, key = await gw.create_tenant()
    given = {"client_id": pins.client_id, "client_secret": pins.client_secret}
    body = {"provider": "pinterest", "name": "pins", "config": {"ad_account_id": pins.ad_account_id}, "secrets": given}
    resp = await gw.post("/v1/connectors", json=body, headers=gw.bearer(key))
    assert resp.status == 201, await resp.text()
    connector = (await resp.json())["id"]
    store = VaultSecrets(vault.addr, vault.token, cache_s=0)
    tokens = oauth.Tokens(pins.issue_access(), pins.oauth.issue_refresh(), time.time() + 3600)
    url = f"{pins.url}/{VERSION}/oauth/token"
    await store.write(tenant, connector, oauth.stored(await store.read(tenant, connector), tokens, url, "basic"))
    async with running(redis, [projector_group(pool, DEFAULT_PARTITIONS)]):
        for resource in ("campaigns", "ad_groups", "ads", "pins", "campaign_analytics"):
            (run,) = (await temporal_sync(temporal, tenant, connector, resource)).runs
            assert run.status == "completed", run.error
        assert run.records == 360
        held = await wait_for(lambda: counted(gw, key, "ad_campaign", 120), timeout_s=TIMEOUT_S)
        assert held[first]["provider"] == "pinterest" and held[first]["data"]["daily_budget_minor"] == 2500
        rows = await wait_for(lambda: counted(gw, key, "ad_performance", 360), timeout_s=TIMEOUT_S)
        row = rows[f"campaign:{first}:{date.today().isoformat()}"]["data"]
        assert (row["spend_minor"], row["currency"], row["impressions"]) == (765, "EUR", 902)
        assert f"campaign:{first}:{old_day}" not in rows
        posts = await records(gw, key, "post")
        assert len(posts) == 4 and all(
            p["data"]["content"] == "Handwoven rattan for sunny corners." for p in posts.values()
        )
        assert len(await records(gw, key, "ad")) == 3 and len(await records(gw, key, "ad_group")) == 2

        gone = pins.ids("campaigns")[-1]
        pins.archive("campaigns", gone)
        (run,) = (await temporal_sync(temporal, tenant, connector, "campaigns", full=True)).runs
        assert (run.status, run.deleted) == ("completed", 1)
        await wait_for(lambda: deleted_ids(gw, key, "ad_campaign"), [gone], TIMEOUT_S)

    async with running(redis, [commands_group(RunnerContext(pool, redis, temporal))]):
        route = f"/v1/connectors/{connector}/actions/pause_campaign"
        resp = await gw.post(route, json={"campaign_id": first}, headers=gw.bearer(key))
        assert resp.status == 202, await resp.text()
        command_id = (await resp.json())["id"]
        answer = await wait_for(lambda: finished_command(gw, key, command_id), timeout_s=TIMEOUT_S)
    assert answer["status"] == "completed", answer
    assert answer["result"]["id"] == first and pins.objects["campaigns"][first]["status"] == "PAUSED"
    patch = next(e for e in reversed(pins.log) if e[0] == "PATCH")
    assert patch[3] == [{"id": first, "status": "PAUSED"}]
