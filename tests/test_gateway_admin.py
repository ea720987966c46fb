"""Operator routes: stream inspection, replay and dead letters over HTTP, with the operator token only."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

from gateway_helpers import ADMIN_TOKEN, Gateway

from events import codec
from events.ids import new_id
from events.streams import COMMANDS_STREAM, all_event_streams, dead_stream, replay_stream, stream_for_tenant
from events.types import Order, OrderUpserted, Subject
from producers.deadletters import move_to_dead
from producers.publisher import Publisher

OPERATOR = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def order(tenant: str, n: int) -> OrderUpserted:
    now = datetime.now(UTC)
    return OrderUpserted(
        id=new_id(),
        tenant_id=tenant,
        source="con_x",
        provider="woocommerce",
        subject=Subject(kind="order", external_id=str(n)),
        occurred_at=now,
        recorded_at=now,
        data=Order(number=str(n), total_minor=n),
    )


def path(stream: str) -> str:
    return f"/v1/admin/streams/{quote(stream, safe='')}/events"


async def test_streams_overview_lists_every_stream_with_groups_and_dead_letters(gw: Gateway, redis):
    await Publisher(redis).publish([order("ten_a", 1)])
    stream = stream_for_tenant("ten_a")
    await redis.xgroup_create(stream, "projector", id="0")
    resp = await gw.get("/v1/admin/streams", headers=OPERATOR)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    names = [s["stream"] for s in body["streams"]]
    assert names[:8] == all_event_streams() and COMMANDS_STREAM in names and "bz:deliveries" in names
    row = next(s for s in body["streams"] if s["stream"] == stream)
    assert row["length"] == 1 and row["groups"][0]["name"] == "projector" and row["groups"][0]["lag"] == 1
    assert body["dead_letters"] == {"projector": 0}


async def test_stream_range_filters_by_tenant_and_type_and_pages(gw: Gateway, redis):
    publisher = Publisher(redis, partitions=1)  # one partition: both tenants' events in one stream
    await publisher.publish([order("ten_a" if i % 2 else "ten_b", i) for i in range(10)])
    stream = all_event_streams(1)[0]
    gateway_one = gw  # bz:events:{0} is a platform stream under any partition count
    resp = await gateway_one.get(path(stream), params={"tenant": "ten_a", "limit": "3"}, headers=OPERATOR)
    assert resp.status == 200, await resp.text()
    page = await resp.json()
    assert [e["event"]["tenant_id"] for e in page["items"]] == ["ten_a"] * 3 and page["next"]
    rest = await (
        await gateway_one.get(path(stream), params={"tenant": "ten_a", "start": page["next"]}, headers=OPERATOR)
    ).json()
    assert len(rest["items"]) == 2 and rest["next"] is None
    assert {e["event"]["data"]["number"] for e in page["items"] + rest["items"]} == {"1", "3", "5", "7", "9"}
    none = await (
        await gateway_one.get(path(stream), params={"type": "crm.contact.upserted.v1"}, headers=OPERATOR)
    ).json()
    assert none["items"] == []
    assert (await gateway_one.get(path("bz:other"), headers=OPERATOR)).status == 404
    assert (await gateway_one.get(path(stream), params={"start": "yesterday"}, headers=OPERATOR)).status == 422


async def test_replay_queues_the_range_for_one_group(gw: Gateway, redis, admin):
    events = [order("ten_a", i) for i in range(4)] + [order("ten_b", 9)]
    await Publisher(redis).publish(events)
    await redis.xgroup_create(stream_for_tenant("ten_a"), "projector", id="0")  # what a worker creates at start
    resp = await gw.post(
        "/v1/admin/replay", json={"group": "projector", "start": "-", "tenant": "ten_a"}, headers=OPERATOR
    )
    assert resp.status == 200, await resp.text()
    assert await resp.json() == {"group": "projector", "stream": "bz:replay:{projector}", "queued": 4}
    copies = await redis.xrange(replay_stream("projector"))
    assert sorted(codec.decode_entry(f).id for _, f in copies) == sorted(e.id for e in events[:4])
    bad = await gw.post("/v1/admin/replay", json={"group": "Projector!", "start": "-"}, headers=OPERATOR)
    assert bad.status == 422
    typo = await gw.post("/v1/admin/replay", json={"group": "projektor", "start": "-"}, headers=OPERATOR)
    assert typo.status == 400 and "known groups: projector" in (await typo.json())["detail"]
    assert not await redis.exists(replay_stream("projektor"))


async def test_dead_letters_list_redrive_and_discard(gw: Gateway, redis):
    await Publisher(redis).publish([order("ten_a", 1), order("ten_a", 2)])
    stream = stream_for_tenant("ten_a")
    await redis.xgroup_create(stream, "projector", id="0")
    entries = await redis.xreadgroup("projector", "c1", {stream: ">"})
    for entry_id, fields in entries[0][1]:
        await move_to_dead(redis, "projector", stream, entry_id.decode(), fields, "ValueError: bad", 5)
    listed = await (await gw.get("/v1/admin/dead-letters/projector", headers=OPERATOR)).json()
    assert [d["error"] for d in listed["items"]] == ["ValueError: bad"] * 2 and listed["next"] is None
    assert listed["items"][0]["event"]["type"] == "commerce.order.upserted.v2"
    first, second = (d["id"] for d in listed["items"])
    redriven = await gw.post("/v1/admin/dead-letters/projector", json={"ids": [first]}, headers=OPERATOR)
    assert await redriven.json() == {"action": "redrive", "count": 1}
    assert await redis.xlen(replay_stream("projector")) == 1
    dropped = await gw.post(
        "/v1/admin/dead-letters/projector", json={"action": "discard", "ids": [second]}, headers=OPERATOR
    )
    assert await dropped.json() == {"action": "discard", "count": 1}
    assert await redis.xlen(dead_stream("projector")) == 0
    assert (
        await gw.post("/v1/admin/dead-letters/projector", json={"action": "discard"}, headers=OPERATOR)
    ).status == 422


async def test_admin_routes_refuse_tenant_keys(gw: Gateway, redis):
    _, key = await gw.create_tenant()
    for method, url in (
        ("GET", "/v1/admin/streams"),
        ("POST", "/v1/admin/replay"),
        ("GET", "/v1/admin/dead-letters/projector"),
    ):
        resp = await gw.request(method, url, headers=gw.bearer(key), json={})
        assert resp.status == 403, (method, url)
