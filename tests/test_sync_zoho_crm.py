"""Zoho CRM's API v8 against a local Zoho CRM (tests/providers/zoho_server.py), and connectors/sync.py on the real
Redis, Postgres and OpenBao, without Temporal: pages and the documented answers (204, 304, 401 INVALID_TOKEN, 429),
a full import, an incremental run by If-Modified-Since that imports only changes, a deletion by full reconciliation
that becomes a tombstone, and access tokens from connectors/oauth.py (refreshed when expired, refreshed once when
Zoho refuses one)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from factories import running, served, wait_for
from providers.zoho_server import ZohoCrm
from sync_support import (
    access_tokens,
    add_connector,
    deleted_ids,
    oauth_secrets,
    published,
    record_count,
    run_and_publish,
)

from connectors import oauth, sync
from connectors.base import ApiCall, PageCursorGone, ProviderBusy, ProviderRefused
from connectors.credentials import VaultSecrets
from connectors.providers.zoho_crm import api, mapping
from connectors.registry import get_facts
from consumers.projector import projector_group
from events.streams import DEFAULT_PARTITIONS
from producers.publisher import Publisher

TENANT, CONNECTOR = "tenant-zoho", "con_zoho_sync_1"
FACTS = get_facts("zoho-crm")
LEADS, CONTACTS, DEALS = FACTS.resource("Leads"), FACTS.resource("Contacts"), FACTS.resource("Deals")


@pytest.fixture
async def crm():
    async with served(ZohoCrm()) as made:
        made.oauth.url = made.url
        yield made


def call_for(crm: ZohoCrm, token: str | None = None, **kwargs) -> ApiCall:
    stored = access_tokens(crm, token)
    return ApiCall(FACTS, {"api_domain": crm.url}, stored, **{"allow_private": True, **kwargs})


async def test_pages_the_documented_answers_and_errors(crm):
    crm.seed(Leads=250)
    first = await api.read_page(call_for(crm), LEADS, 1)
    assert [o["id"] for o in first.objects] == crm.ids("Leads")[:100] and first.next_cursor
    query, headers = crm.requests("Leads")[-1].query, crm.requests("Leads")[-1].headers
    assert (query["page"], query["per_page"], query["sort_by"], query["sort_order"]) == ("1", "100", "id", "asc")
    assert "Modified_Time" in query["fields"].split(",") and headers["Authorization"].startswith("Zoho-oauthtoken ")
    second = await api.read_page(call_for(crm), LEADS, 2, after=first.next_cursor)
    assert crm.requests("Leads")[-1].query["page_token"] == first.next_cursor
    assert "page" not in crm.requests("Leads")[-1].query  # Zoho refuses page with page_token
    last = await api.read_page(call_for(crm), LEADS, 3, after=second.next_cursor)
    assert len(last.objects) == 50 and last.next_cursor is None
    assert [o["id"] for o in first.objects + second.objects + last.objects] == crm.ids("Leads")
    # If-Modified-Since: the window's lower bound with an offset (records were seeded a minute apart from T0)
    window = await api.read_page(call_for(crm), LEADS, 1, "2026-01-01T04:05:00")
    assert crm.requests("Leads")[-1].headers["If-Modified-Since"] == "2026-01-01T04:05:00+00:00"
    assert [o["id"] for o in window.objects] == crm.ids("Leads")[-4:]
    # 304: nothing modified since; 204: an empty module
    assert (await api.read_page(call_for(crm), LEADS, 1, "2027-01-01T00:00:00")).objects == []
    assert crm.requests("Leads")[-1].status == 304
    empty = await api.read_page(call_for(crm), CONTACTS, 1)
    assert empty.objects == [] and crm.requests("Contacts")[-1].status == 204
    # 429 -> transient with Retry-After; 401 INVALID_TOKEN without a token source -> permanent, naming the fix
    crm.fail_next(1, 429, retry_after_s=7)
    with pytest.raises(ProviderBusy) as busy:
        await api.read_page(call_for(crm), LEADS, 1)
    assert busy.value.retry_after_s == 7.0
    with pytest.raises(ProviderRefused, match=r"INVALID_TOKEN.*reconnect"):
        await api.read_page(call_for(crm, token="1000.access.revoked"), LEADS, 1)
    expired = ApiCall(FACTS, {"api_domain": crm.url}, {oauth.ACCESS_TOKEN: "t", oauth.EXPIRES_AT: 1}, True)
    with pytest.raises(ProviderRefused, match="no valid access token"):
        await api.read_page(expired, LEADS, 1)
    # the token goes only to a documented data centre (a local server needs allow_private)
    with pytest.raises(ProviderRefused, match="api_domain"):
        await api.read_page(call_for(crm, allow_private=False), LEADS, 1)


async def test_page_numbers_stop_at_2000_records_and_page_tokens_go_on(crm):
    """Zoho's `page` reaches the first 2,000 records; the api asks every later page by page_token, so a listing of
    2,100 pages to the end (the old page-number loop was refused at page 21)."""
    crm.seed(Deals=2100)
    headers = {"Authorization": f"Zoho-oauthtoken {crm.issue_access()}"}
    params = {"fields": "Deal_Name", "per_page": "100", "page": "21"}
    url = crm.url + "/crm/v8/Deals"
    async with aiohttp.ClientSession() as http, http.get(url, params=params, headers=headers) as r:
        refused = (r.status, await r.json())
    assert refused[0] == 400 and refused[1]["code"] == "DISCRETE_PAGINATION_LIMIT_EXCEEDED"
    assert refused[1]["details"] == {"limit": 2000}
    seen, after, number = [], None, 0
    while True:
        number += 1
        page = await api.read_page(call_for(crm), DEALS, number, after=after)
        seen += [o["id"] for o in page.objects]
        if page.next_cursor is None:
            break
        after = page.next_cursor
    assert seen == crm.ids("Deals") and number == 21
    assert all(r.status == 200 for r in crm.requests("Deals")[1:])
    # a token past its expiry (a run resumed a day later): the run must read its pages again
    first = await api.read_page(call_for(crm), DEALS, 1)
    crm.expire_page_tokens()
    with pytest.raises(PageCursorGone, match="EXPIRED_VALUE"):
        await api.read_page(call_for(crm), DEALS, 2, after=first.next_cursor)


async def test_update_lead_status(crm):
    (lead_id,) = crm.seed(Leads=1)
    answer = await api.update_lead_status(call_for(crm), lead_id, "Contacted")
    assert answer["id"] == lead_id and crm.records["Leads"][lead_id]["Lead_Status"] == "Contacted"
    with pytest.raises(ProviderRefused, match="INVALID_DATA"):
        await api.update_lead_status(call_for(crm), "1234", "Contacted")


def test_mapping():
    crm = ZohoCrm()
    won, lost = crm.seed(Deals=4)[2:]
    deal = mapping.deal(crm.records["Deals"][won], "eur")
    assert (deal.name, deal.stage, deal.probability, deal.expected_close) == (
        "Zylker renewal 2",
        "Closed Won",
        100,
        "2026-03-31",
    )
    assert (deal.currency, deal.amount_minor, deal.company, deal.contact_external_id) == (
        "EUR",
        102500,
        "Chemel (Sample)",
        "6900000000000000300",
    )
    multi = mapping.deal({**crm.records["Deals"][lost], "Currency": "INR", "Amount": 1037.5}, "EUR")
    assert (multi.currency, multi.amount_minor, multi.contact_external_id) == ("INR", 103750, None)
    lead_id = crm.seed(Leads=1)[0]
    lead = mapping.lead(crm.records["Leads"][lead_id])
    assert (lead.name, lead.company, lead.status, lead.origin) == (
        "Kris Marrier0",
        "King (Sample)",
        "Not Contacted",
        "Trade Show",
    )
    first, second = crm.seed(Contacts=2)
    german = mapping.contact(crm.records["Contacts"][first])
    assert german.company == "Chemel (Sample)" and german.addresses[0].country == ""
    assert german.provider_data["mailing_country"] == "Germany" and german.tags == ["Trade show"]
    assert mapping.contact(crm.records["Contacts"][second]).addresses[0].country == "DE"


# --- connectors/sync.py ----------------------------------------------------------------------------------------


@pytest.fixture
async def secrets(vault):
    return VaultSecrets(vault.addr, vault.token, cache_s=0)


@pytest.fixture
async def deps(pool, redis, admin, crm, secrets):
    await add_connector(admin, TENANT, CONNECTOR, "zoho-crm", {"api_domain": crm.url})
    await admin.execute("TRUNCATE sync_checkpoints, sync_seen")
    await secrets.write(TENANT, CONNECTOR, oauth_secrets(crm, crm.url + "/oauth/v2/token"))
    tokens = oauth.TokenSource(redis, pool, secrets, allow_private=True)
    return sync.SyncDeps(pool, Publisher(redis), secrets, allow_private=True, tokens=tokens)


def target(resource: str = "Leads") -> sync.Target:
    return sync.Target(TENANT, CONNECTOR, resource)


async def records(admin, kind: str) -> dict[str, dict]:
    rows = await admin.fetch(
        "SELECT external_id, deleted, data FROM records WHERE tenant_id = $1 AND kind = $2", TENANT, kind
    )
    return {r["external_id"]: dict(r) for r in rows}


async def test_a_sync_imports_everything_then_only_changes(deps, crm, redis, pool, admin):
    crm.seed(Leads=250)
    async with running(redis, [projector_group(pool, DEFAULT_PARTITIONS)]):
        first = await sync.run(deps, target(), "run-1")
        assert (first.records, first.deleted, first.cursor) == (250, 0, "2026-01-01T09:39:00+05:30")
        assert all("If-Modified-Since" not in r.headers for r in crm.requests("Leads"))  # the first run is full
        events = await published(redis, TENANT)
        leads = [e for e in events if e.type.startswith("crm.lead.upserted")]
        assert len(leads) == 250 and all(e.raw_ref is None and e.source == CONNECTOR for e in leads)
        assert leads[0].occurred_at == datetime(2026, 1, 1, tzinfo=UTC)  # Modified_Time, in UTC
        await wait_for(lambda: record_count(admin, TENANT, "lead"), 250)

        # changes in Zoho: the next run asks If-Modified-Since the checkpoint less a second, and publishes only them
        changed = crm.ids("Leads")[:2]
        later = datetime.now(UTC) - timedelta(seconds=5)
        for i, lead_id in enumerate(changed):
            crm.change("Leads", lead_id, when=later + timedelta(seconds=i), Lead_Status="Qualified")
        second, fresh = await run_and_publish(redis, deps, target(), "run-2")
        assert second.records == 3  # the changed two, and the last one again (the checkpoint's second overlaps)
        assert crm.requests("Leads")[-1].headers["If-Modified-Since"] == "2026-01-01T04:08:59+00:00"
        assert sorted(e.subject.external_id for e in fresh if e.type.startswith("crm.lead.upserted")) == changed
        held = await records(admin, "lead")
        await wait_for(lambda: _statuses(admin, changed), {"Qualified"})
        assert len(held) == 250

        # nothing changed since: Zoho answers 304, the run publishes only its own events
        finished, run_events = await run_and_publish(redis, deps, target(), "run-3")
        assert finished.records == 1  # the overlapping second again
        assert len(run_events) == 2


async def _statuses(admin, ids) -> set:
    held = await records(admin, "lead")
    return {json.loads(held[i]["data"])["status"] for i in ids}


async def test_a_full_sync_turns_a_deleted_contact_into_a_tombstone(deps, crm, redis, pool, admin):
    crm.seed(Contacts=120)
    async with running(redis, [projector_group(pool, DEFAULT_PARTITIONS)]):
        await sync.run(deps, target("Contacts"), "run-1")
        await wait_for(lambda: record_count(admin, TENANT, "contact"), 120)
        gone = crm.ids("Contacts")[5]
        crm.delete("Contacts", gone)
        assert (await sync.run(deps, target("Contacts"), "run-2")).deleted == 0  # incremental: no reconciliation
        finished = await sync.run(deps, target("Contacts"), "run-3", full=True)
        assert finished.deleted == 1
        tombstones = [e for e in await published(redis, TENANT) if e.type.startswith("crm.contact.deleted")]
        assert [e.subject.external_id for e in tombstones] == [gone]
        await wait_for(lambda: deleted_ids(admin, TENANT, "contact"), [gone])


async def test_access_tokens_are_refreshed_through_oauth(deps, crm, redis, secrets):
    crm.seed(Leads=150)
    stored = await secrets.read(TENANT, CONNECTOR)
    # an expired token in Vault: refreshed (once) before the first call, and the new one kept in Vault
    await secrets.write(TENANT, CONNECTOR, {**stored, oauth.EXPIRES_AT: time.time() - 10})
    await sync.run(deps, target(), "run-1")
    assert crm.oauth.refresh_calls == 1
    refreshed = (await secrets.read(TENANT, CONNECTOR))[oauth.ACCESS_TOKEN]
    assert refreshed != stored[oauth.ACCESS_TOKEN] and all(
        r.headers["Authorization"] == f"Zoho-oauthtoken {refreshed}" for r in crm.requests("Leads")[-2:]
    )
    # Zoho refuses a token Vault holds as valid (revoked): one refresh answers INVALID_TOKEN, and the run goes on
    crm.revoke_access(refreshed)
    assert (await sync.run(deps, target(), "run-2", full=True)).records == 150
    assert crm.oauth.refresh_calls == 2
    assert [r.status for r in crm.requests("Leads")[-3:]] == [401, 200, 200]
    # the refresh token revoked too: the connector needs reconnecting, and the run fails permanently
    crm.revoke_access((await secrets.read(TENANT, CONNECTOR))[oauth.ACCESS_TOKEN])
    crm.oauth.revoke(stored[oauth.REFRESH_TOKEN])
    with pytest.raises(oauth.NeedsReauth):
        await sync.run(deps, target(), "run-3", full=True)
    failed = [e for e in await published(redis, TENANT) if e.type == "connector.sync.failed.v1"]
    assert len(failed) == 1 and not failed[0].retryable and "reconnected" in failed[0].error


async def test_deals_past_2000_records_import_completely(deps, crm, redis, pool, admin):
    """A first (full) run of a module over Zoho's 2,000-record page limit lists every deal, by page tokens."""
    crm.seed(Deals=2100)
    async with running(redis, [projector_group(pool, DEFAULT_PARTITIONS)]):
        finished = await sync.run(deps, target("Deals"), "run-1")
        assert (finished.records, finished.deleted) == (2100, 0)
        assert len([r for r in crm.requests("Deals") if "page_token" in r.query]) == 20
        deals = [e for e in await published(redis, TENANT) if e.type == "crm.deal.upserted.v1"]
        assert sorted(e.subject.external_id for e in deals) == crm.ids("Deals")
        await wait_for(lambda: record_count(admin, TENANT, "deal"), 2100, timeout_s=90)
        held = await records(admin, "deal")
        assert json.loads(held[crm.ids("Deals")[2]]["data"])["stage"] == "Closed Won"
