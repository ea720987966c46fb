"""The operator console's stream browser, replay and servers' health in a real browser: a stream filtered by tenant
and type, a range replayed to the projector which re-projects a damaged record, and each server's row as
`bizosaas status` prints it. Operator only."""

from __future__ import annotations

from urllib.parse import quote

from factories import running, wait_for
from portal_helpers import csrf_of
from test_gateway_admin import order

from consumers.projector import projector_group
from events.ids import new_id
from events.streams import replay_stream, stream_for_tenant
from events.types import Contact, ContactUpserted
from producers.publisher import Publisher


def contact(tenant: str, n: int) -> ContactUpserted:
    event = order(tenant, n)
    return ContactUpserted(
        id=new_id(),
        tenant_id=tenant,
        source=event.source,
        provider="woocommerce",
        subject=event.subject.__class__(kind="contact", external_id=f"c{n}"),
        occurred_at=event.occurred_at,
        recorded_at=event.recorded_at,
        data=Contact(email=f"p{n}@example.com"),
    )


async def test_the_operator_browses_a_stream_with_filters(portal, redis):
    stream = stream_for_tenant("ten_a")
    neighbour = next(t for n in range(100) if stream_for_tenant(t := f"ten_{n}") == stream and t != "ten_a")
    await Publisher(redis).publish([order("ten_a", 1), contact("ten_a", 2), order(neighbour, 3), order("ten_a", 4)])

    page = await portal.operator()
    await page.get_by_role("link", name=stream).first.click()
    assert await page.get_by_role("heading", level=1).inner_text() == f"Stream {stream}"
    await page.get_by_label("Tenant").fill("ten_a")
    await page.get_by_label("Event type").fill("commerce.order.upserted.v2")
    await page.get_by_role("button", name="Show").click()
    await page.wait_for_url("**tenant=ten_a**")
    entries = page.get_by_role("region", name="Entries")
    text = await entries.inner_text()
    assert text.count("commerce.order.upserted.v2") == 2 and neighbour not in text and "contact" not in text
    await entries.get_by_text("The event of").first.click()  # the whole event, decoded
    assert '"number": "1"' in await entries.locator("pre").first.inner_text()

    await page.get_by_label("Tenant").fill("ten_nobody")
    await page.get_by_role("button", name="Show").click()
    assert "No entries in this range." in await page.locator("main").inner_text()
    resp = await page.goto(f"/console/streams/{quote(stream, safe='')}?start=yesterday")
    assert resp.status == 422 and "neither a stream id" in await page.locator("main").inner_text()


async def test_the_operator_replays_a_range_and_the_group_reprojects_it(portal, redis, pool, admin):
    tenant, _key = await portal.gw.create_tenant("Acme")
    other, _ = await portal.gw.create_tenant("Other")
    await Publisher(redis).publish([order(tenant, 1), order(tenant, 2), order(other, 3)])
    async with running(redis, [projector_group(pool, 8)]):
        await wait_for(lambda: admin.fetchval("SELECT count(*) FROM records WHERE kind = 'order'"), 3)
        await admin.execute("DELETE FROM records WHERE tenant_id = $1", tenant)  # damage: the projection lost rows

        page = await portal.operator()
        await page.get_by_role("link", name="Replay a range to a group").click()
        await page.get_by_label("Group").select_option("projector")
        await page.get_by_label("Tenant").fill(tenant)
        await page.get_by_role("button", name="Replay").click()
        await page.wait_for_url("**/console/replay?queued=projector%3A2")
        assert "Queued 2 event(s) for projector." in await page.get_by_role("status").inner_text()
        # the projector reads its replay stream and puts the tenant's two orders back
        await wait_for(lambda: admin.fetchval("SELECT count(*) FROM records WHERE tenant_id = $1", tenant), 2)
    assert await redis.xlen(replay_stream("projector")) == 2

    unknown = await page.request.post(
        "/console/replay", form={"csrf": await csrf_of(page), "group": "projektor", "start": "-"}
    )
    assert unknown.status == 400 and "no consumer group &#39;projektor&#39;" in await unknown.text()


async def test_the_health_page_shows_every_server(portal):
    page = await portal.operator()
    await page.get_by_role("link", name="Servers' health").click()
    rows = await page.get_by_role("region", name="Servers").locator("tbody tr").all_inner_texts()
    by_name = {r.split("\t")[0]: r for r in rows}
    assert list(by_name) == ["redis", "postgres", "vault", "temporal", "gateway"]
    assert "ok" in by_name["redis"] and "Redis " in by_name["redis"]
    assert (
        "ok" in by_name["postgres"] and "PostgreSQL 18" in by_name["postgres"] and "pgvector 0" in by_name["postgres"]
    )
    assert "ok" in by_name["vault"] and "unsealed" in by_name["vault"]
    assert "ok" in by_name["gateway"] and "ready (reaches redis, postgres and vault" in by_name["gateway"]
    assert "DOWN" in by_name["temporal"]  # none runs at the configured address in this test: the reason is shown
    assert "@" not in by_name["postgres"] and "secret" not in "".join(rows)  # where it is, never a credential


async def test_a_tenant_session_cannot_open_the_console_pages(portal):
    _, key = await portal.gw.create_tenant("Acme")
    page = await portal.sign_in(key)
    for path in ("/console/streams/bz%3Aevents%3A%7B0%7D", "/console/replay", "/console/health"):
        assert (await page.request.get(path, max_redirects=0)).status == 403
    resp = await page.request.post("/console/replay", form={"csrf": await csrf_of(page), "group": "projector"})
    assert resp.status == 403
