"""The agent run workflow end to end: Temporal's dev server, Postgres, Redis, the real crew against tests/llm_server.py.
Every run's story is read back from the events it published on the tenant's stream."""

from __future__ import annotations

import contextlib
import uuid

import pytest
from agent_helpers import insert_record, llm_config
from factories import wait_for
from prometheus_client import REGISTRY
from temporalio.client import Client

from agents.allowlist import allowed_without_approval
from agents.budget import charge_turn
from agents.catalog import catalog
from agents.config import NO_MODEL, cost_micro_usd
from agents.runs import RunRequest, run_workflow_id
from agents.temporal.activities import AgentDeps
from agents.temporal.client import RunNotAwaitingApproval, decide_run, request_run
from agents.temporal.worker import build_worker
from db.pool import tenant_transaction
from events import codec
from events.streams import COMMANDS_STREAM, DEFAULT_PARTITIONS, stream_for_tenant
from producers.publisher import Publisher

AGENT = "order-fulfilment"
ANSWER = {"can_ship": True, "summary": "Line 799 is in stock", "blockers": []}
RESTOCK = {"action": "woocommerce.update_stock", "input": {"product_id": "799", "stock_quantity": 11}, "reason": "x"}


@pytest.fixture
async def client(temporal_server):
    return await Client.connect(temporal_server.url)


@contextlib.asynccontextmanager
async def agents_worker(client, pool, redis, llm, **overrides):
    """The agents' worker in this process, its settings pointed at the rule server (short windows for tests)."""
    values = dict(agent_coalesce_s=1.0, agent_defer_retry_s=0.5) | overrides
    deps = AgentDeps(pool, Publisher(redis), llm_config(llm, **values), None)
    async with build_worker(client, deps):
        yield deps.config


async def tenant_with_order(admin, status="processing") -> str:
    tenant = "t" + uuid.uuid4().hex[:10]  # workflow ids name the tenant: a fresh one per test
    await admin.execute("INSERT INTO tenants (id, name) VALUES ($1, $1)", tenant)
    await insert_record(admin, tenant, "order", "727", status, {"number": "727", "status": status})
    await admin.execute(
        "INSERT INTO connectors (tenant_id, id, provider, name) VALUES ($1, $2, 'woocommerce', 'shop')",
        tenant,
        f"con_{tenant}",
    )
    return tenant


def request(tenant: str, trigger: str = "evt_1", **extra) -> RunRequest:
    values = dict(subject_kind="order", subject_external_id="727", source=f"con_{tenant}") | extra
    return RunRequest(tenant_id=tenant, agent=AGENT, trigger_id=trigger, **values)


async def run_events(redis, tenant: str) -> list:
    entries = await redis.xrange(stream_for_tenant(tenant, DEFAULT_PARTITIONS))
    events = [codec.decode_event(fields[codec.EVENT_FIELD]) for _, fields in entries]
    return [e for e in events if e.type.startswith("agent.run.") and e.tenant_id == tenant]


async def ended(redis, tenant: str, count: int = 1) -> list:
    """The run events once `count` runs completed or failed."""

    async def probe():
        found = await run_events(redis, tenant)
        return found if sum(e.type.split(".")[2] in ("completed", "failed") for e in found) >= count else None

    return await wait_for(probe, timeout_s=90)


async def awaiting(redis, tenant: str):
    async def probe():
        return next((e for e in await run_events(redis, tenant) if e.type == "agent.run.awaiting_approval.v1"), None)

    return await wait_for(probe, timeout_s=90)


def kinds(events) -> list[str]:
    return [e.type.split(".")[2] for e in events]


async def commands_on_stream(redis, tenant: str) -> list:
    entries = await redis.xrange(COMMANDS_STREAM)
    found = [codec.decode_command(fields[codec.EVENT_FIELD]) for _, fields in entries]
    return [c for c in found if c.tenant_id == tenant]


async def test_a_burst_of_triggers_becomes_one_run_that_reads_its_record_and_counts_the_models_tokens(
    client, pool, redis, admin, llm
):
    tenant = await tenant_with_order(admin)
    read = llm.rule("order 727", tool="read_records", arguments={"kind": "order", "id": "727"}, usage=(100, 10))
    answer = llm.rule("order 727", after_tool="read_records", tool_result="processing", json=ANSWER, usage=(150, 20))
    answered_before = answered()
    async with agents_worker(client, pool, redis, llm) as config:
        ids = {await request_run(client, request(tenant, f"evt_{n}")) for n in range(5)}
        await request_run(client, request(tenant, "evt_3"))  # a redelivered trigger: counted once
        # a folded request (the agents group's outbox row) redelivered in part: only its new id counts
        await request_run(client, request(tenant, "evt_4", more_trigger_ids=["evt_1", "evt_5", "evt_5"]))
        events = await ended(redis, tenant)
    assert len(ids) == 1
    assert kinds(events) == ["started", "completed"]
    started, completed = events
    assert (started.triggers, started.trigger_id, started.run_id) == (6, "evt_0", completed.run_id)
    assert (started.subject_kind, started.subject_external_id) == ("order", "727")
    assert (completed.output, completed.decision, completed.commands) == (ANSWER, "", [])
    assert completed.tokens_in == 100 * read.used + 150 * answer.used and answer.used == 1
    assert completed.tokens_out == 10 * read.used + 20 * answer.used
    assert completed.cost_micro_usd == cost_micro_usd(config, completed.tokens_in, completed.tokens_out) > 0
    assert {c["record_id"] for c in completed.citations} == {f"rec_{tenant}_order_727"}
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT set_config('app.tenant_id', $1, true)", tenant)
        trace = await conn.fetchval("SELECT trace FROM agent_run_traces WHERE run_id = $1", completed.run_id)
        usage = await conn.fetchrow("SELECT tokens, released_at FROM agent_run_usage WHERE run_id = $1", started.run_id)
    assert '"tool": "read_records"' in trace and "processing" in trace
    assert usage["tokens"] == completed.tokens_in + completed.tokens_out and usage["released_at"] is not None
    assert answered() == answered_before + 1  # per agent, no tenant label


def answered() -> float:
    return REGISTRY.get_sample_value("bizosaas_agent_runs_total", {"agent": AGENT, "outcome": "answered"}) or 0.0


async def test_an_approved_run_issues_its_action_as_a_command_and_a_rejected_one_nothing(
    client, pool, redis, admin, llm
):
    llm.rule("order 727", json=ANSWER | {"actions": [RESTOCK]})
    approved, rejected = await tenant_with_order(admin), await tenant_with_order(admin)
    # the tenant lets the agent act without approval, but a stock change is not on the allow-list: it still waits
    await admin.execute(
        "INSERT INTO agent_settings (tenant_id, agent_id, enabled, act_without_approval) VALUES ($1, $2, true, true)",
        approved,
        AGENT,
    )
    async with agents_worker(client, pool, redis, llm):
        for tenant in (approved, rejected):
            await request_run(client, request(tenant))
        waiting = await awaiting(redis, approved)
        assert waiting.actions == [RESTOCK] and waiting.expires_at is not None
        with pytest.raises(RunNotAwaitingApproval):  # another tenant cannot decide it
            await decide_run(client, rejected, waiting.run_id, True, "key_other")
        await decide_run(client, approved, waiting.run_id, True, "key_owner", "looks right")
        with pytest.raises(RunNotAwaitingApproval):  # decided once
            await decide_run(client, approved, waiting.run_id, False, "key_owner")
        await decide_run(client, rejected, (await awaiting(redis, rejected)).run_id, False, "key_owner", "no")
        done_approved, done_rejected = (await ended(redis, approved))[-1], (await ended(redis, rejected))[-1]
    assert (done_approved.decision, len(done_approved.commands)) == ("approved", 1)
    (command,) = await commands_on_stream(redis, approved)
    assert command.id == done_approved.commands[0] and command.type == "connector.action.v1"
    assert (command.connector_id, command.action, command.input) == (
        f"con_{approved}",
        "update_stock",
        RESTOCK["input"],
    )
    assert command.issued_by == "key_owner"
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT set_config('app.tenant_id', $1, true)", approved)
        assert await conn.fetchval("SELECT status FROM commands WHERE id = $1", command.id) == "accepted"
    assert (done_rejected.decision, done_rejected.commands) == ("rejected", [])
    assert await commands_on_stream(redis, rejected) == []


async def test_an_allow_listed_action_is_issued_at_once_when_the_tenant_lets_the_agent_act(
    client, pool, redis, admin, llm
):
    segmentation = catalog()["customer-segmentation"]
    tag = segmentation.sample_output["actions"][0]  # fluentcrm.add_tag: on the allow-list
    llm.rule("contact 214", json=segmentation.sample_output)
    tenant = await tenant_with_order(admin)
    await admin.execute(
        "INSERT INTO connectors (tenant_id, id, provider, name) VALUES ($1, $2, 'fluentcrm', 'crm')", tenant, "con_crm"
    )
    await admin.execute(
        "INSERT INTO agent_settings (tenant_id, agent_id, enabled, act_without_approval) VALUES ($1, $2, true, true)",
        tenant,
        segmentation.id,
    )
    async with agents_worker(client, pool, redis, llm):
        await request_run(
            client,
            RunRequest(tenant_id=tenant, agent=segmentation.id, trigger_id="evt_c", subject_kind="contact",
                       subject_external_id="214", source="con_crm"),
        )  # fmt: skip
        events = await ended(redis, tenant)
    assert kinds(events) == ["started", "completed"]  # no approval asked
    assert events[-1].decision == "auto" and len(events[-1].commands) == 1
    (command,) = await commands_on_stream(redis, tenant)
    assert (command.connector_id, command.action, command.input) == ("con_crm", "add_tag", tag["input"])
    assert command.issued_by == f"agent:{segmentation.id}"


async def test_a_trigger_arriving_during_a_run_becomes_the_next_run_of_the_same_subject(
    client, pool, redis, admin, llm
):
    llm.rule("order 727", json=ANSWER | {"actions": [RESTOCK]})
    tenant = await tenant_with_order(admin)
    async with agents_worker(client, pool, redis, llm):
        await request_run(client, request(tenant))
        first = await awaiting(redis, tenant)
        await request_run(client, request(tenant, "evt_late"))  # the window closed: kept for the next run
        await decide_run(client, tenant, first.run_id, False, "key_owner")

        async def second_waiting():
            found = [e for e in await run_events(redis, tenant) if e.type == "agent.run.awaiting_approval.v1"]
            return found[1] if len(found) == 2 else None

        second = await wait_for(second_waiting, timeout_s=90)
        await decide_run(client, tenant, second.run_id, False, "key_owner")
        events = await ended(redis, tenant, count=2)
    starts = [e for e in events if e.type == "agent.run.started.v1"]
    assert [(s.trigger_id, s.triggers) for s in starts] == [("evt_1", 1), ("evt_late", 1)]
    assert first.run_id != second.run_id == starts[1].run_id


async def test_an_undecided_run_expires_and_issues_nothing(client, pool, redis, admin, llm):
    llm.rule("order 727", json=ANSWER | {"actions": [RESTOCK]})
    tenant = await tenant_with_order(admin)
    async with agents_worker(client, pool, redis, llm, agent_approval_expiry_s=1.0):
        await request_run(client, request(tenant))
        events = await ended(redis, tenant)
    assert kinds(events) == ["started", "awaiting_approval", "completed"]
    assert (events[-1].decision, events[-1].commands) == ("expired", [])
    assert await commands_on_stream(redis, tenant) == []


async def test_an_answer_invalid_twice_fails_with_the_validation_error(client, pool, redis, admin, llm):
    llm.rule("order 727", text='{"can_ship": "perhaps", "summary": "?"}')
    tenant = await tenant_with_order(admin)
    async with agents_worker(client, pool, redis, llm):
        await request_run(client, request(tenant))
        events = await ended(redis, tenant)
    assert kinds(events) == ["started", "failed"]
    assert "does not satisfy the output schema" in events[-1].error and "can_ship" in events[-1].error
    assert events[-1].tokens_in > 0 and len(llm.requests) == 2  # the answer, then its one repair


async def test_a_model_slower_than_the_run_timeout_fails_the_run_instead_of_hanging(client, pool, redis, admin, llm):
    llm.rule("order 727", json=ANSWER)
    llm.delay_s = 10.0  # five times the run timeout; the server finishes this answer at teardown
    tenant = await tenant_with_order(admin)
    async with agents_worker(client, pool, redis, llm, agent_run_timeout_s=2.0):
        await request_run(client, request(tenant))
        events = await ended(redis, tenant)
    assert kinds(events) == ["started", "failed"]
    assert "timeout" in events[-1].error.lower()


async def test_without_a_language_model_a_run_fails_with_what_to_set(client, pool, redis, admin, llm):
    tenant = await tenant_with_order(admin)
    async with agents_worker(client, pool, redis, llm, openai_base_url="", openai_api_key=""):
        await request_run(client, request(tenant))
        events = await ended(redis, tenant)
    assert kinds(events) == ["started", "failed"]
    assert events[-1].error == NO_MODEL and llm.requests == []


async def test_a_tenant_over_its_token_budget_is_deferred_while_another_tenants_run_completes(
    client, pool, redis, admin, llm
):
    llm.rule("order 727", json=ANSWER)
    over, fine = await tenant_with_order(admin), await tenant_with_order(admin)
    await admin.execute("INSERT INTO agent_limits (tenant_id, daily_token_budget) VALUES ($1, 0)", over)
    async with agents_worker(client, pool, redis, llm):
        await request_run(client, request(over))
        await request_run(client, request(fine))
        done = await ended(redis, fine)

        async def deferred():
            return [e for e in await run_events(redis, over) if e.type == "agent.run.deferred.v1"]

        (deferral,) = await wait_for(deferred)
    assert kinds(done) == ["started", "completed"]
    assert "daily token budget" in deferral.reason
    assert kinds(await run_events(redis, over)) == ["deferred"]  # it waits: no run started, one event per reason


async def test_tokens_the_personal_agent_spent_today_defer_a_tenants_runs(client, pool, redis, admin, llm):
    llm.rule("order 727", json=ANSWER)
    tenant = await tenant_with_order(admin)
    await admin.execute("INSERT INTO agent_limits (tenant_id, daily_token_budget) VALUES ($1, 100)", tenant)
    async with tenant_transaction(pool, tenant) as conn:  # one chat turn as agents/personal.py charges it
        await charge_turn(conn, tenant, "chat_conv_1_1", 100)
    async with agents_worker(client, pool, redis, llm):
        await request_run(client, request(tenant))

        async def deferred():
            return [e for e in await run_events(redis, tenant) if e.type == "agent.run.deferred.v1"]

        (deferral,) = await wait_for(deferred)
    assert "used 100 of its 100 tokens today" in deferral.reason


async def test_at_its_concurrency_limit_a_tenants_next_run_is_deferred_until_a_slot_frees(
    client, pool, redis, admin, llm
):
    llm.rule("order 72[78]", json=ANSWER)
    llm.delay_s = 2.0  # the first crew holds the one slot this long
    tenant = await tenant_with_order(admin)
    await admin.execute("INSERT INTO agent_limits (tenant_id, max_concurrent_runs) VALUES ($1, 1)", tenant)
    async with agents_worker(client, pool, redis, llm):
        await request_run(client, request(tenant))
        await request_run(client, request(tenant, "evt_2", subject_external_id="728"))
        events = await ended(redis, tenant, count=2)
    assert sorted(kinds(events)) == ["completed", "completed", "deferred", "started", "started"]
    (deferral,) = [e for e in events if e.type == "agent.run.deferred.v1"]
    assert "the tenant's limit is 1" in deferral.reason
    runs = {e.run_id for e in events}
    assert len(runs) == 2 and all(e.decision == "" for e in events if e.type == "agent.run.completed.v1")


def test_the_allow_list_takes_no_money_moving_action_and_caps_inputs():
    assert allowed_without_approval({"action": "fluentcrm.add_tag", "input": {"contact_id": "1", "tag": "vip"}})
    assert not allowed_without_approval({"action": "fluentcrm.add_tag", "input": {"contact_id": "1", "tag": "x" * 65}})
    assert not allowed_without_approval({"action": "shopify.update_order_tags", "input": {"tags": ["a"] * 11}})
    assert not allowed_without_approval({"action": "stripe.refund_payment", "input": {"payment_intent": "pi_1"}})
    assert not allowed_without_approval({"action": "lago.record_usage", "input": {}})
    assert not allowed_without_approval(RESTOCK)


def test_a_run_id_names_its_workflow_and_tenant_and_nothing_else_decodes():
    from agents.temporal.shared import run_id_of, workflow_of

    workflow_id = run_workflow_id(request("ten_a", subject_external_id="ORD:7/ü"))
    run_id = run_id_of(workflow_id, "0f1e2d3c-aaaa-bbbb-cccc-123456789abc")
    assert run_id.startswith("run_") and "/" not in run_id and ":" not in run_id
    assert workflow_of(run_id) == ("ten_a", workflow_id, "0f1e2d3c-aaaa-bbbb-cccc-123456789abc")
    for bad in ("run_", "cmd_x.y", "run_%%%.y", "run_abc."):
        with pytest.raises(ValueError):
            workflow_of(bad)


async def test_deciding_an_unknown_run_is_refused(client):
    from agents.temporal.shared import run_id_of

    with pytest.raises(RunNotAwaitingApproval):  # another tenant's id: refused before Temporal is asked
        await decide_run(client, "ten_a", run_id_of("agent-run:ten_b:x:order:1", "0f1e2d3c"), True, "key")
    never_started = run_id_of(run_workflow_id(request("ten_a")), "0f1e2d3c-0000-0000-0000-000000000000")
    with pytest.raises(RunNotAwaitingApproval, match="finished or does not exist"):
        await decide_run(client, "ten_a", never_started, True, "key")
    with pytest.raises(RunNotAwaitingApproval):
        await decide_run(client, "ten_a", "not-a-run-id", True, "key")
