"""FluentCRM's REST API against a local FluentCRM (tests/providers/fluentcrm_server.py), and connectors/sync.py on the
real Redis, Postgres and OpenBao, without Temporal: pages from the body, errors, contacts keyed by their state (a
tag attached publishes again), deletions by full reconciliation, and the add_tag action."""

from __future__ import annotations

import pytest
from factories import running, served, wait_for
from providers.fluentcrm_server import FluentCrmSite
from sync_support import deleted_ids, published, record_count, run_and_publish, sync_deps

from connectors import sync, sync_pages
from connectors.base import ApiCall, ProviderBusy, ProviderRefused
from connectors.providers.fluentcrm import api, mapping
from connectors.registry import get_facts
from consumers.projector import projector_group
from events.streams import DEFAULT_PARTITIONS

TENANT, CONNECTOR = "tenant-fcrm", "con_fcrm_sync_1"
FACTS = get_facts("fluentcrm")


@pytest.fixture
async def site():
    async with served(FluentCrmSite()) as crm:
        yield crm


def call_for(site: FluentCrmSite, **secrets: str) -> ApiCall:
    keys = {"username": site.username, "application_password": site.application_password, **secrets}
    return ApiCall(FACTS, {"site_url": site.url}, keys, allow_private=True)


async def test_pages_come_from_the_body(site):
    site.seed(subscribers=250)
    subscribers = FACTS.resource("subscribers")
    first = await api.read_page(call_for(site), subscribers, 1)
    assert (first.total, first.total_pages, len(first.objects)) == (250, 3, 100)
    assert [o["id"] for o in first.objects] == site.ids()[:100]
    assert site.log[-1][2] == {"page": "1", "per_page": "100", "sort_by": "id", "sort_type": "ASC"}
    third = await api.read_page(call_for(site), subscribers, 3)
    assert [o["id"] for o in third.objects] == site.ids()[200:] and sync_pages.last_page(subscribers, 3, third)
    entity = mapping.contact(first.objects[0])
    assert entity.tags == ["Customer"] and entity.accepts_marketing and entity.provider_data["lists"] == ["Newsletter"]


async def test_refusals_are_permanent_with_a_fix_and_overload_is_transient(site):
    site.seed(subscribers=1)
    subscribers = FACTS.resource("subscribers")
    with pytest.raises(ProviderRefused, match=r"refused the login \(HTTP 401 incorrect_password\)"):
        await api.read_page(call_for(site, application_password="wrong"), subscribers, 1)
    wrong_url = ApiCall(FACTS, {"site_url": site.url + "/nope"}, call_for(site).secrets, allow_private=True)
    with pytest.raises(ProviderRefused, match=r"check the site URL.*FluentCRM is active"):
        await api.read_page(wrong_url, subscribers, 1)
    site.fail_next(1, 429, retry_after_s=4)
    with pytest.raises(ProviderBusy) as busy:
        await api.read_page(call_for(site), subscribers, 1)
    assert busy.value.retry_after_s == 4
    site.fail_next(1, 503)
    with pytest.raises(ProviderBusy, match="HTTP 503"):
        await api.read_page(call_for(site), subscribers, 1)
    await api.test_connection(call_for(site))
    with pytest.raises(Exception, match="not a public address"):
        await api.read_page(ApiCall(FACTS, {"site_url": site.url}, call_for(site).secrets), subscribers, 1)


async def test_add_tag_by_slug_or_id_and_twice_is_harmless(site):
    site.seed(subscribers=2)
    contact_id = str(site.ids()[1])  # has no tag
    tagged = await api.add_tag(call_for(site), contact_id, "vip")
    assert [t["slug"] for t in tagged["tags"]] == ["vip"]
    again = await api.add_tag(call_for(site), contact_id, "3")  # the same tag by id: nothing changes
    assert [t["slug"] for t in again["tags"]] == ["vip"]
    await api.add_tag(call_for(site), contact_id, "1")
    assert {t["slug"] for t in site.subscribers[int(contact_id)]["tags"]} == {"vip", "customer"}
    with pytest.raises(ProviderRefused, match="no such contact"):
        await api.add_tag(call_for(site), "999999", "vip")


# --- connectors/sync.py ----------------------------------------------------------------------------------------


@pytest.fixture
async def deps(pool, redis, vault, admin, site):
    return await sync_deps(
        pool, redis, vault, admin, target(), "fluentcrm", {"site_url": site.url}, call_for(site).secrets
    )


def target() -> sync.Target:
    return sync.Target(TENANT, CONNECTOR, "subscribers")


async def test_a_sync_lists_every_contact_publishes_only_changes_and_reconciles_deletions(
    deps, site, redis, pool, admin
):
    site.seed(subscribers=230)
    async with running(redis, [projector_group(pool, DEFAULT_PARTITIONS)]):
        first = await sync.run(deps, target(), "run-1")
        assert (first.records, first.deleted, first.cursor) == (230, 0, None)
        contacts = [e for e in await published(redis, TENANT) if e.type == "crm.contact.upserted.v1"]
        assert len(contacts) == 230 and all(e.raw_ref is None and e.source == CONNECTOR for e in contacts)
        some = site.ids()[7]
        by_id = {e.subject.external_id: e for e in contacts}
        assert by_id[str(some)].data == mapping.contact(site.subscribers[some])
        await wait_for(lambda: record_count(admin, TENANT, "contact"), 230)

        finished, run_events = await run_and_publish(redis, deps, target(), "run-2")
        assert finished.records == 230
        assert len(run_events) == 2  # started, completed: nothing changed

        # a tag attached (updated_at untouched) publishes that contact again; a deleted one becomes a tombstone
        untagged = site.ids()[1]
        await api.add_tag(call_for(site), str(untagged), "vip")
        gone = site.ids()[100]
        site.delete(gone)
        third, run_events = await run_and_publish(redis, deps, target(), "run-3")
        assert (third.records, third.deleted) == (229, 1)
        fresh = [e for e in run_events if e.type == "crm.contact.upserted.v1"]
        assert [e.subject.external_id for e in fresh] == [str(untagged)] and fresh[0].data.tags == ["VIP"]
        await wait_for(lambda: deleted_ids(admin, TENANT, "contact"), [str(gone)])


# --- tags, lists and campaigns ----------------------------------------------------------------------------------


async def test_tags_lists_and_campaigns_page_and_map(site):
    site.seed(subscribers=4, tags=120, campaigns=5)
    tags = FACTS.resource("tags")
    first = await api.read_page(call_for(site), tags, 1)
    assert (first.total, first.total_pages, len(first.objects)) == (123, 2, 100)
    assert site.log[-1][2] == {
        "page": "1",
        "per_page": "100",
        "sort_by": "id",
        "sort_order": "ASC",
        "exclude_counts": "true",
    }
    assert "totalCount" not in first.objects[0]  # counts move with every contact: not part of a tag's state
    vip = mapping.segment(site.tags[3])
    assert (vip.name, vip.slug, vip.description) == ("VIP", "vip", "Top spenders")
    newsletter = mapping.segment((await api.read_page(call_for(site), FACTS.resource("lists"), 1)).objects[0])
    assert (newsletter.name, newsletter.provider_data["is_public"]) == ("Newsletter", True)
    campaigns = await api.read_page(call_for(site), FACTS.resource("campaigns"), 1)
    assert site.log[-1][2]["sort_type"] == "ASC" and [o["id"] for o in campaigns.objects] == site.ids("campaigns")
    scheduled = mapping.campaign(site.campaigns[2])
    assert (scheduled.name, scheduled.status, scheduled.channel, scheduled.recipients) == (
        "Spring newsletter 1",
        "scheduled",
        "email",
        121,
    )
    assert scheduled.subject == "What's new this spring (1)"
    assert scheduled.provider_data["scheduled_at_local"] == "2026-03-01 09:00:00"
    # the docs' examples answer tags and lists as a bare array: one whole last page
    site.bare_segments = True
    bare = await api.read_page(call_for(site), tags, 1)
    assert len(bare.objects) == 123 and sync_pages.last_page(tags, 1, bare)


async def _kind(admin, kind: str) -> dict[str, bool]:
    rows = await admin.fetch(
        "SELECT external_id, deleted FROM records WHERE tenant_id = $1 AND kind = $2", TENANT, kind
    )
    return {r["external_id"]: r["deleted"] for r in rows}


async def test_tags_lists_and_campaigns_sync_change_and_reconcile(deps, site, redis, pool, admin):
    site.seed(subscribers=30, tags=2, lists=1, campaigns=4)
    resources = ("tags", "lists", "campaigns")
    async with running(redis, [projector_group(pool, DEFAULT_PARTITIONS)]):
        for name in resources:
            await sync.run(deps, sync.Target(TENANT, CONNECTOR, name), f"{name}-1")
        for kind, name in zip(("tag", "list", "campaign"), resources, strict=True):
            wanted = {str(i): False for i in site.ids(name)}
            await wait_for(lambda k=kind: _kind(admin, k), wanted)
        published_types = {e.type for e in await published(redis, TENANT)}
        assert {"crm.tag.upserted.v1", "crm.list.upserted.v1", "marketing.campaign.upserted.v1"} <= published_types

        # a contact joining a tag changes no tag; a renamed tag publishes again; a deleted campaign is a tombstone
        await api.add_tag(call_for(site), str(site.ids()[1]), "vip")
        site.change(3, "tags", title="VIP customers")
        gone = site.ids("campaigns")[0]
        site.delete(gone, "campaigns")
        finished, run_events = await run_and_publish(redis, deps, sync.Target(TENANT, CONNECTOR, "tags"), "tags-2")
        assert finished.records == 5
        fresh = [e for e in run_events if e.type == "crm.tag.upserted.v1"]
        assert [(e.subject.external_id, e.data.name) for e in fresh] == [("3", "VIP customers")]
        finished = await sync.run(deps, sync.Target(TENANT, CONNECTOR, "campaigns"), "campaigns-2")
        assert finished.deleted == 1
        await wait_for(lambda: _kind(admin, "campaign"), {str(i): i == gone for i in [gone, *site.ids("campaigns")]})
        assert (await _kind(admin, "tag"))["3"] is False and len(await _kind(admin, "list")) == 2
