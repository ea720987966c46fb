"""The consumer-group framework (consumers/group.py) does each group's bookkeeping: the types it wants, one
transaction per batch with the tenant set per tenant, the inbox; the command runner tells transient from permanent."""

from __future__ import annotations

from datetime import UTC, datetime

from factories import order, running, wait_for

from consumers.commands import RUNNERS, RunnerContext, commands_group
from consumers.entry import Entry
from consumers.group import Group
from events import codec
from events.commands import RunAgent
from events.errors import PermanentError, TransientError
from events.streams import COMMANDS_STREAM, all_event_streams
from producers.publisher import Publisher


def entries_of(events) -> list[Entry]:
    return [
        Entry("bz:events:{0}", f"{i + 1}-0", codec.encode(e), e, "bz:events:{0}", (i + 1, 0))
        for i, e in enumerate(events)
    ]


async def test_a_group_sees_only_the_types_it_wants_and_the_others_are_acknowledged(redis, pool):
    seen: list[str] = []

    async def handle(conn, tenant, entries, batch):
        seen.extend(e.message.type for e in entries)

    wanted = order("t1", "1").type
    group = Group("probe", all_event_streams(8), handle, pool, types={wanted})
    events = [order("t1", "1"), order("t1", "1", version=2, deleted=True), order("t2", "2")]
    await Publisher(redis).publish(events)
    async with running(redis, [group]):
        await wait_for(lambda: _seen(seen), 2)
        await wait_for(lambda: _pending_or_unread(redis, "probe"), 0)
    assert seen == [wanted, wanted]  # the deletion was not handed over, and not left pending either


async def _seen(seen: list) -> int:
    return len(seen)


async def _pending_or_unread(redis, group: str) -> int:
    left = 0
    for stream in all_event_streams(8):
        if not await redis.exists(stream):
            continue
        for info in await redis.xinfo_groups(stream):
            if info["name"].decode() == group:
                left += info["pending"] + (info.get("lag") or 0)
    return left


async def test_one_transaction_per_batch_and_each_tenant_set_before_its_entries(pool):
    calls = []

    async def handle(conn, tenant, entries, batch):
        calls.append((tenant, await conn.fetchval("SELECT txid_current()"), await conn.fetchval("SHOW app.tenant_id")))
        return len(entries)

    group = Group("probe", all_event_streams(8), handle, pool)
    batch = await group.process(entries_of([order("t2", "1"), order("t1", "2"), order("t2", "3")]))
    assert [tenant for tenant, _, _ in calls] == ["t1", "t2"]  # sorted: one lock order for concurrent batches
    assert len({txid for _, txid, _ in calls}) == 1  # one transaction, not one per tenant
    assert all(tenant == setting for tenant, _, setting in calls)  # row-level security sees each tenant's rows
    assert batch.results == {"t1": 1, "t2": 2}


async def test_the_inbox_hands_over_each_message_once(pool):
    handled: list[str] = []

    async def handle(conn, tenant, entries, batch):
        handled.extend(e.message.id for e in entries)

    group = Group("probe", all_event_streams(8), handle, pool, inbox=lambda message: message.id)
    entries = entries_of([order("t1", "1"), order("t1", "2")])
    await group.process(entries)
    await group.process(entries)  # redelivered: already in group_inbox
    assert handled == [e.message.id for e in entries]


async def test_a_transient_runner_error_leaves_the_command_pending_and_a_permanent_one_fails_it(
    redis, pool, admin, monkeypatch
):
    attempts: list[str] = []

    async def flaky(command, ctx):
        attempts.append(command.agent)
        if command.agent == "permanent":
            raise PermanentError("the agent catalog has no such agent")
        if attempts.count(command.agent) == 1:
            raise TransientError("Temporal is restarting")
        return "started"

    monkeypatch.setitem(RUNNERS, RunAgent.__struct_config__.tag, flaky)
    now = datetime.now(UTC)
    commands = [
        RunAgent(id=f"cmd_{name}", tenant_id="t1", issued_at=now, agent=name) for name in ("flaky", "permanent")
    ]
    for command in commands:
        await Publisher(redis).publish_command(command)
    async with running(redis, [commands_group(RunnerContext(pool, redis))]):
        statuses = await wait_for(lambda: _statuses(admin), {"cmd_flaky": "completed", "cmd_permanent": "failed"})
        await wait_for(
            lambda: redis.xpending(COMMANDS_STREAM, "commands"),
            {"pending": 0, "min": None, "max": None, "consumers": []},
        )
    assert statuses["cmd_flaky"] == "completed" and attempts.count("flaky") == 2  # retried after the back-off
    reason = await admin.fetchval("SELECT reason FROM commands WHERE id = 'cmd_permanent'")
    assert reason == "PermanentError: the agent catalog has no such agent"


async def _statuses(admin) -> dict[str, str]:
    return {r["id"]: r["status"] for r in await admin.fetch("SELECT id, status FROM commands")}
