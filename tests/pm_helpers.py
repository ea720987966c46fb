"""What the project-management connector tests (tests/test_sync_plane.py, tests/test_sync_trello.py) share: the gateway
calls they make, and the groups that run a connector's commands."""

from __future__ import annotations

from gateway_helpers import Gateway

from connectors.config import ConnectorsConfig
from consumers.commands import RunnerContext, commands_group
from consumers.deliveries import deliveries_group
from consumers.notifications import notifications_group
from consumers.projector import projector_group
from events.streams import DEFAULT_PARTITIONS

TIMEOUT_S = 90.0  # a workflow's activities, the projector and the command runner in a row, on a slow machine


def groups(pool, redis, temporal) -> list:
    """The command runner, the projector, the deliveries and the notifications groups (a notified change syncs)."""
    runner = RunnerContext(pool, redis, temporal, ConnectorsConfig(allow_private_urls=True), DEFAULT_PARTITIONS)
    return [
        commands_group(runner),
        projector_group(pool, DEFAULT_PARTITIONS),
        deliveries_group(pool),
        notifications_group(DEFAULT_PARTITIONS, temporal),
    ]


async def records(gw: Gateway, key: str, kind: str, deleted: bool = False) -> dict[str, dict]:
    """external id -> record, of one kind."""
    params = {"limit": "200", **({"include_deleted": "true"} if deleted else {})}
    resp = await gw.get(f"/v1/records/{kind}", params=params, headers=gw.bearer(key))
    assert resp.status == 200, await resp.text()
    return {r["external_id"]: r for r in (await resp.json())["items"]}


async def at_least(found, count: int) -> dict | None:
    """The awaited mapping once it holds `count` items, else None (for wait_for)."""
    held = await found
    return held if len(held) >= count else None


async def issue(gw: Gateway, key: str, path: str, body: dict) -> str:
    """POST a command route; its command id."""
    resp = await gw.post(path, json=body, headers=gw.bearer(key))
    assert resp.status == 202, await resp.text()
    return (await resp.json())["id"]


async def command(gw: Gateway, key: str, command_id: str) -> dict:
    return await (await gw.get(f"/v1/commands/{command_id}", headers=gw.bearer(key))).json()


async def done(gw: Gateway, key: str, command_id: str) -> str | None:
    status = (await command(gw, key, command_id))["status"]
    return status if status in ("completed", "failed", "rejected") else None
