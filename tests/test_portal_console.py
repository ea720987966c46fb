"""The operator console in a real browser: a group's dead letters with their errors, redriven one at a time or
all at once (onto the group's replay stream) and discarded, through the same functions as /v1/admin/dead-letters."""

from __future__ import annotations

from portal_helpers import csrf_of
from test_gateway_admin import order

from events.streams import dead_stream, replay_stream, stream_for_tenant
from producers.deadletters import move_to_dead
from producers.publisher import Publisher


async def test_the_operator_redrives_and_discards_dead_letters(portal, redis):
    await Publisher(redis).publish([order("ten_a", n) for n in (1, 2, 3)])
    stream = stream_for_tenant("ten_a")
    await redis.xgroup_create(stream, "projector", id="0")
    entries = await redis.xreadgroup("projector", "c1", {stream: ">"})
    for entry_id, fields in entries[0][1]:
        await move_to_dead(redis, "projector", stream, entry_id.decode(), fields, "ValueError: bad total", 5)
    dead_ids = [i.decode() for i, _ in await redis.xrange(dead_stream("projector"))]

    page = await portal.operator()
    await page.get_by_role("link", name="projector", exact=True).click()
    assert await page.get_by_role("heading", level=1).inner_text() == "Dead letters of projector"
    table = await page.get_by_role("region", name="Dead letters").inner_text()
    assert table.count("ValueError: bad total") == 3 and "commerce.order.upserted.v2" in table

    await page.get_by_role("button", name=f"Redrive {dead_ids[0]}").click()
    await page.wait_for_url("**?done=redrive:1")
    await page.get_by_role("button", name=f"Discard {dead_ids[1]}").click()
    await page.wait_for_url("**?done=discard:1")
    assert [i.decode() for i, _ in await redis.xrange(dead_stream("projector"))] == [dead_ids[2]]
    assert await redis.xlen(replay_stream("projector")) == 1

    await page.get_by_role("button", name="Redrive all to projector").click()
    await page.wait_for_url("**?done=redrive:1")
    assert "No dead letters" in await page.locator("main").inner_text()
    assert await redis.xlen(dead_stream("projector")) == 0 and await redis.xlen(replay_stream("projector")) == 2


async def test_a_tenant_session_cannot_touch_dead_letters(portal, redis):
    _, key = await portal.gw.create_tenant("Acme")
    page = await portal.sign_in(key)
    resp = await page.request.post("/console/dead-letters/projector", form={"csrf": await csrf_of(page)})
    assert resp.status == 403
    assert (await page.request.get("/console/dead-letters/projector", max_redirects=0)).status == 403
