"""WordPress's REST API against a local WordPress (tests/providers/wordpress_server.py), and connectors/sync.py on
the real Redis, Postgres and OpenBao, without Temporal: every status listed, the UTC window sent in the site's
local time, errors, idempotent re-runs, comments and users keyed by their state, deletions by full reconciliation,
and the draft action."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from factories import running, served, wait_for
from providers.wordpress_server import WordPressSite
from sync_support import deleted_ids, published, record_count, run_and_publish, sync_deps

from connectors import sync, sync_pages
from connectors.base import ApiCall, ProviderBusy, ProviderRefused
from connectors.providers.wordpress import api, mapping
from connectors.registry import get_facts
from consumers.projector import projector_group
from events.streams import DEFAULT_PARTITIONS

TENANT, CONNECTOR = "tenant-wp", "con_wp_sync_1"
FACTS = get_facts("wordpress")


@pytest.fixture
async def site():
    async with served(WordPressSite()) as wp:
        yield wp


def call_for(site: WordPressSite, **secrets: str) -> ApiCall:
    keys = {"username": site.username, "application_password": site.application_password, **secrets}
    return ApiCall(FACTS, {"site_url": site.url}, keys, allow_private=True)


async def test_every_status_is_listed_with_context_edit_and_the_documented_headers(site):
    site.seed(posts=150, comments=6)
    posts = FACTS.resource("posts")
    first = await api.read_page(call_for(site), posts, 1)
    assert (first.total, first.total_pages, len(first.objects)) == (150, 2, 100)
    assert [o["id"] for o in first.objects] == site.ids("posts")[:100]
    assert {o["status"] for o in first.objects} == {"publish", "draft", "pending", "private", "future"}
    query = site.requests("posts")[-1].query
    assert query["context"] == "edit" and query["orderby"] == "id" and query["order"] == "asc"
    assert first.objects[0]["title"]["raw"] == "Hello & welcome " + str(first.objects[0]["id"])
    # comments: approved and held ones, with the author's email
    comments = await api.read_page(call_for(site), FACTS.resource("comments"), 1)
    assert {c["status"] for c in comments.objects} == {"approved", "hold"} and len(comments.objects) == 6
    assert site.requests("comments")[-1].query["status"] == "all"
    assert mapping.comment(comments.objects[0]).author_email.endswith("@example.com")


async def test_the_utc_window_is_sent_in_the_sites_local_time(site):
    site.seed(posts=30)  # modified_gmt a minute apart from 2026-01-01T00:00:00, the site at UTC+2
    posts = FACTS.resource("posts")
    since, until = "2026-01-01T00:09:00", "2026-01-01T00:20:00"
    window = await api.read_page(call_for(site), posts, 1, since, until)
    assert [o["modified_gmt"] for o in window.objects] == [f"2026-01-01T00:{m}:00" for m in range(10, 20)]
    query = site.requests("posts")[-1].query
    assert (query["modified_after"], query["modified_before"]) == ("2026-01-01T02:09:00", "2026-01-01T02:20:00")
    assert site.requests("wp-json")[-1].query["_fields"] == "gmt_offset,timezone_string"
    # a named time zone (daylight saving): these posts were stored in winter (UTC+1), the site is at UTC+2 now;
    # `since` goes an hour earlier so none is missed (extra objects are re-reads: their keys name modified_gmt)
    site.timezone_string, site.gmt_offset = "Europe/Berlin", 1.0
    site.objects["posts"].clear()
    site.seed(posts=30)
    site.gmt_offset = 2.0
    window = await api.read_page(call_for(site), posts, 1, since, until)
    query = site.requests("posts")[-1].query
    assert (query["modified_after"], query["modified_before"]) == ("2026-01-01T01:09:00", "2026-01-01T02:20:00")
    assert [o["modified_gmt"] for o in window.objects][:10] == [f"2026-01-01T00:{m}:00" for m in range(10, 20)]
    # comments and users have no window
    site.seed(users=2)
    await api.read_page(call_for(site), FACTS.resource("users"), 1, since, until)
    assert "modified_after" not in site.requests("users")[-1].query


async def test_refusals_are_permanent_with_a_fix_and_overload_is_transient(site):
    site.seed(posts=1)
    posts = FACTS.resource("posts")
    with pytest.raises(ProviderRefused, match=r"refused the login \(HTTP 401 incorrect_password\).*Application"):
        await api.read_page(call_for(site, application_password="wrong"), posts, 1)
    wrong_url = ApiCall(FACTS, {"site_url": site.url + "/nope"}, call_for(site).secrets, allow_private=True)
    with pytest.raises(ProviderRefused, match="check the site URL"):
        await api.read_page(wrong_url, posts, 1)
    site.fail_next(1, 429, retry_after_s=7)
    with pytest.raises(ProviderBusy) as busy:
        await api.read_page(call_for(site), posts, 1)
    assert busy.value.retry_after_s == 7
    site.fail_next(1, 503)
    with pytest.raises(ProviderBusy, match="HTTP 503"):
        await api.read_page(call_for(site), posts, 1)
    await api.test_connection(call_for(site))
    with pytest.raises(Exception, match="not a public address"):
        await api.read_page(ApiCall(FACTS, {"site_url": site.url}, call_for(site).secrets), posts, 1)


async def test_create_draft_post_makes_a_draft(site):
    made = await api.create_draft_post(call_for(site), "A new idea", content="Words")
    assert site.objects["posts"][made["id"]]["status"] == "draft" and made["title"]["raw"] == "A new idea"
    assert site.requests("posts")[-1].method == "POST"
    with pytest.raises(ProviderRefused, match="refused the login"):
        await api.create_draft_post(call_for(site, username="nobody"), "x")


# --- connectors/sync.py ----------------------------------------------------------------------------------------


@pytest.fixture
async def deps(pool, redis, vault, admin, site):
    return await sync_deps(
        pool, redis, vault, admin, target(), "wordpress", {"site_url": site.url}, call_for(site).secrets
    )


def target(resource: str = "posts") -> sync.Target:
    return sync.Target(TENANT, CONNECTOR, resource)


async def test_posts_import_every_status_then_only_changes_in_a_local_time_window(deps, site, redis, pool, admin):
    site.seed(posts=120)
    async with running(redis, [projector_group(pool, DEFAULT_PARTITIONS)]):
        first = await sync.run(deps, target(), "run-1")
        assert (first.records, first.deleted, first.cursor) == (120, 0, "2026-01-01T01:59:00")
        events = await published(redis, TENANT)
        posts = [e for e in events if e.type == "cms.post.upserted.v1"]
        assert len(posts) == 120 and all(e.raw_ref is None and e.source == CONNECTOR for e in posts)
        assert {e.data.status for e in posts} == {"publish", "draft", "pending", "private", "future"}
        some = site.ids("posts")[0]
        assert next(e for e in posts if e.subject.external_id == str(some)).data == mapping.post(
            site.objects["posts"][some]
        )
        await wait_for(lambda: record_count(admin, TENANT, "post"), 120)

        # a full re-run publishes nothing new but the run's own events
        _, run_events = await run_and_publish(redis, deps, target(), "run-2", full=True)
        assert len(run_events) == 2

        # changes at the site: the incremental run asks in local time (UTC+2) and publishes only those
        changed = site.ids("posts")[:2]
        later = datetime.now(UTC) - timedelta(seconds=5)
        for i, post_id in enumerate(changed):
            site.change("posts", post_id, when=later + timedelta(seconds=i), status="publish")
        third, fresh = await run_and_publish(redis, deps, target(), "run-3")
        assert third.records == 3  # the changed two, and the last one again (the checkpoint's second overlaps)
        query = site.requests("posts")[-1].query
        assert query["modified_after"] == "2026-01-01T03:58:59"  # the checkpoint less a second, at UTC+2
        assert query["modified_before"] > sync_pages.gmt(datetime.now(UTC))  # local: two hours ahead of UTC
        assert sorted(e.subject.external_id for e in fresh if e.type == "cms.post.upserted.v1") == [
            str(i) for i in changed
        ]

        # a trashed post leaves the listing: the next full run deletes it
        trashed = site.ids("posts")[50]
        site.change("posts", trashed, status="trash")
        assert (await sync.run(deps, target(), "run-4", full=True)).deleted == 1
        await wait_for(lambda: deleted_ids(admin, TENANT, "post"), [str(trashed)])


async def test_comments_users_and_pages_sync_whole_keyed_by_their_state(deps, site, redis, pool, admin):
    site.seed(posts=1, pages=3, comments=130, users=4)
    async with running(redis, [projector_group(pool, DEFAULT_PARTITIONS)]):
        first = await sync.run(deps, target("comments"), "run-c1")
        assert (first.records, first.cursor) == (130, None)
        await wait_for(lambda: record_count(admin, TENANT, "comment"), 130)
        # unchanged comments publish nothing; an edited one publishes again; a spammed one is deleted
        finished, run_events = await run_and_publish(redis, deps, target("comments"), "run-c2")
        assert finished.records == 130
        assert len(run_events) == 2
        edited, spammed = site.ids("comments")[3], site.ids("comments")[100]
        site.change("comments", edited, content={"raw": "edited", "rendered": "<p>edited</p>\n"})
        site.change("comments", spammed, status="spam")
        again, run_events = await run_and_publish(redis, deps, target("comments"), "run-c3")
        assert (again.records, again.deleted) == (129, 1)
        fresh = [e for e in run_events if e.type == "cms.comment.upserted.v1"]
        assert [e.subject.external_id for e in fresh] == [str(edited)] and fresh[0].data.content == "<p>edited</p>\n"
        await wait_for(lambda: deleted_ids(admin, TENANT, "comment"), [str(spammed)])

        assert (await sync.run(deps, target("users"), "run-u1")).records == 4
        await wait_for(lambda: record_count(admin, TENANT, "contact"), 4)
        contacts = [e for e in await published(redis, TENANT) if e.type == "crm.contact.upserted.v1"]
        assert {e.data.email for e in contacts} == {f"user{i}@example.com" for i in site.ids("users")}
        assert (await sync.run(deps, target("pages"), "run-p1")).records == 3
        await wait_for(lambda: record_count(admin, TENANT, "page"), 3)
