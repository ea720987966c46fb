"""REST reads of projected records: filters, sort, keyset pagination and the record shape of DESIGN.md."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from factories import running, wait_for
from gateway_helpers import Gateway

from consumers.projector import projector_group
from events.ids import new_id
from events.types import Order, OrderDeleted, OrderUpserted, Subject
from producers.publisher import Publisher

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def order(tenant: str, n: int, source: str, status: str, minutes: int) -> OrderUpserted:
    at = T0 + timedelta(minutes=minutes)
    return OrderUpserted(
        id=new_id(),
        tenant_id=tenant,
        source=source,
        provider="woocommerce",
        subject=Subject(kind="order", external_id=str(n)),
        occurred_at=at,
        recorded_at=at,
        data=Order(number=f"#{1000 + n}", status=status, total_minor=100 * n, currency="EUR"),
    )


async def test_filters_sort_and_keyset_pages(gw: Gateway, redis, pool):
    tenant, key = await gw.create_tenant()
    events = [
        order(tenant, n, "con_a" if n % 2 else "con_b", "processing" if n < 6 else "completed", n) for n in range(10)
    ]
    gone = OrderDeleted(
        id=new_id(),
        tenant_id=tenant,
        source="con_b",
        provider="woocommerce",
        subject=Subject(kind="order", external_id="0"),
        occurred_at=T0 + timedelta(hours=1),
        recorded_at=T0 + timedelta(hours=1),
    )
    await Publisher(redis).publish([*events, gone])

    async def get(**params) -> dict:
        resp = await gw.get("/v1/records/order", params={k: str(v) for k, v in params.items()}, headers=gw.bearer(key))
        assert resp.status == 200, await resp.text()
        return await resp.json()

    async with running(redis, [projector_group(pool, 8)]):
        await wait_for(lambda: _has(get, 9))
    newest = (await get())["items"]
    assert [r["external_id"] for r in newest] == [str(n) for n in range(9, 0, -1)]  # the deleted one is hidden
    record = newest[0]
    assert set(record) == {
        "id",
        "kind",
        "source",
        "provider",
        "external_id",
        "updated_at",
        "recorded_at",
        "deleted",
        "data",
        "source_status",  # null: con_a is no connector of the tenant here
    }
    assert record["source_status"] is None
    assert record["updated_at"] == "2026-03-01T12:09:00Z" and record["deleted"] is False
    assert record["data"]["number"] == "#1009" and record["data"]["total_minor"] == 900
    assert [r["external_id"] for r in (await get(sort="updated_at"))["items"]][:2] == ["1", "2"]
    assert {r["source"] for r in (await get(source="con_a"))["items"]} == {"con_a"}
    assert {r["data"]["status"] for r in (await get(status="completed"))["items"]} == {"completed"}
    assert [r["external_id"] for r in (await get(updated_since="2026-03-01T12:07:00Z"))["items"]] == ["9", "8", "7"]
    assert [r["external_id"] for r in (await get(q="#1004"))["items"]] == ["4"]
    assert [r["external_id"] for r in (await get(q="4"))["items"]] == ["4"]  # the external id, exactly
    assert (await get(q="100%"))["items"] == []  # LIKE wildcards are literal
    with_deleted = (await get(include_deleted="true"))["items"]
    assert with_deleted[0]["external_id"] == "0" and with_deleted[0]["deleted"] is True

    for sort in ("-updated_at", "updated_at"):
        seen, cursor = [], None
        while True:
            page = await get(limit=4, sort=sort, **({"cursor": cursor} if cursor else {}))
            seen += [r["external_id"] for r in page["items"]]
            if (cursor := page["next"]) is None:
                break
        assert seen == [r["external_id"] for r in (await get(sort=sort, limit=100))["items"]]
        assert len(seen) == 9
    wrong = await gw.get(
        "/v1/records/order",
        params={"cursor": page_cursor(await get(limit=2)), "sort": "updated_at"},
        headers=gw.bearer(key),
    )
    assert wrong.status == 400  # a cursor belongs to one sort order
    assert (await gw.get("/v1/records/spaceship", headers=gw.bearer(key))).status == 404
    assert (await gw.get("/v1/records/order", params={"limit": "0"}, headers=gw.bearer(key))).status == 422
    naive = await gw.get("/v1/records/order", params={"updated_since": "2026-03-01T12:07:00"}, headers=gw.bearer(key))
    assert naive.status == 422  # a time without an offset is ambiguous


def page_cursor(page: dict) -> str:
    assert page["next"]
    return page["next"]


async def _has(get, n: int) -> bool:
    return len((await get(limit=100))["items"]) == n


async def test_a_records_history_lists_its_events_newest_first_and_only_its_tenants(gw: Gateway, redis, pool):
    tenant, key = await gw.create_tenant()
    other, other_key = await gw.create_tenant("other")
    first = order(tenant, 7, "con_h", "pending", 1)
    paid = order(tenant, 7, "con_h", "processing", 2)
    unrelated = [order(tenant, 8, "con_h", "pending", 3), order(tenant, 7, "con_other_shop", "pending", 4)]
    await Publisher(redis).publish([first, paid, *unrelated, order(other, 7, "con_h", "pending", 5)])

    async def get(**params) -> dict:
        resp = await gw.get("/v1/records/order", params={k: str(v) for k, v in params.items()}, headers=gw.bearer(key))
        assert resp.status == 200, await resp.text()
        return await resp.json()

    async with running(redis, [projector_group(pool, 8)]):
        await wait_for(lambda: _has(get, 3))
    (record,) = [r for r in (await get(source="con_h"))["items"] if r["external_id"] == "7"]
    resp = await gw.get(f"/v1/records/order/{record['id']}/history", headers=gw.bearer(key))
    assert resp.status == 200, await resp.text()
    history = await resp.json()
    assert [e["id"] for e in history["items"]] == [paid.id, first.id] and history["truncated"] is False
    assert history["items"][0]["type"] == "commerce.order.upserted.v2"
    assert history["items"][0]["event"]["data"]["status"] == "processing"
    # another tenant learns nothing about it, not even that it exists
    resp = await gw.get(f"/v1/records/order/{record['id']}/history", headers=gw.bearer(other_key))
    assert resp.status == 404
