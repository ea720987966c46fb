"""Erasure: `bizosaas tenant erase` removes a person, or a whole tenant, from every place the platform keeps data,
and nothing comes back through `bizosaas replay` or `bizosaas projections rebuild`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import asyncpg
import msgspec
from agent_helpers import insert_record
from agent_run_events import run_event
from factories import FAST, T0, running, wait_for
from test_cli import bizosaas

from connectors.credentials import VaultSecrets
from consumers.metrics import metrics_group
from consumers.outbound import outbound_group
from consumers.projector import projector_group
from db.erasure import erase_source_rows
from events import codec
from events.commands import StartSync
from events.deliveries import DeliveryRecord
from events.ids import new_id
from events.streams import COMMANDS_STREAM, DELIVERIES_STREAM, rejected_stream, replay_stream, stream_for_tenant
from events.types import AgentRunCompleted, AgentRunStarted, Contact, ContactUpserted, Order, OrderUpserted, Subject
from gateway.rejected import Rejection, log_rejection
from producers.deadletters import move_to_dead
from producers.deliveries import record_fields
from producers.publisher import Publisher

A, B = "tenant-a", "tenant-b"
EMAIL, CUSTOMER = "alice@example.com", "cust-alice-77"


def contact(tenant: str, external_id: str, email: str, minutes: int = 1) -> ContactUpserted:
    when = T0 + timedelta(minutes=minutes)
    return ContactUpserted(
        id=new_id(),
        tenant_id=tenant,
        source="woo-1",
        provider="woocommerce",
        subject=Subject(kind="contact", external_id=external_id),
        occurred_at=when,
        recorded_at=when,
        data=Contact(email=email, first_name=email.split("@")[0]),
    )


def order(tenant: str, number: str, customer: str, email: str) -> OrderUpserted:
    when = T0 + timedelta(minutes=5)
    return OrderUpserted(
        id=new_id(),
        tenant_id=tenant,
        source="woo-1",
        provider="woocommerce",
        subject=Subject(kind="order", external_id=number),
        occurred_at=when,
        recorded_at=when,
        data=Order(number=number, customer_external_id=customer, customer_email=email),
    )


def agent_run(tenant: str, run_id: str, trigger: OrderUpserted, customer: str) -> list:
    """The order-fulfilment agent's run about an order, as the run workflow publishes it (source: the trigger's)."""
    started = run_event(
        AgentRunStarted,
        tenant,
        run_id,
        6,
        trigger_id=trigger.id,
        subject_kind="order",
        subject_external_id=trigger.subject.external_id,
        inputs={"customer": customer},
    )
    completed = run_event(AgentRunCompleted, tenant, run_id, 7, output={"summary": f"ship to {customer}"})
    return [msgspec.structs.replace(e, source="woo-1") for e in (started, completed)]


async def seed_agents(admin, alice: list, others: list) -> None:
    """What the agents keep of Alice and Bob: queued run requests, run traces, a conversation with the personal agent
    (its title and question name Alice, an answer cites her order's record), next to Bob's."""
    queued = ((alice[1], "arq_alice", f"{EMAIL} ordered"), (others[1], "arq_bob", "bob ordered"))
    for trigger, request_id, trace in queued:
        await admin.execute(
            """INSERT INTO agent_run_requests (tenant_id, id, coalescing_key, agent_id, subject_kind,
                                               subject_external_id, source, trigger_ids)
               VALUES ($1, $2, $2, 'order-fulfilment', 'order', $3, 'woo-1', $4)""",
            A,
            request_id,
            trigger.subject.external_id,
            [trigger.id],
        )
        await admin.execute(
            "INSERT INTO agent_run_traces (tenant_id, run_id, agent_id, trace) VALUES ($1, $2, 'order-fulfilment', $3)",
            A,
            request_id.replace("arq_", "run_"),
            json.dumps({"steps": [{"tool": "read_records", "output": trace}]}),
        )
    await admin.execute(
        "INSERT INTO agent_run_traces (tenant_id, run_id, agent_id, trace) VALUES ($1, 'run_other', 'x', $2)",
        A,
        json.dumps({"raw_answer": f"a run about nobody that read {EMAIL}"}),
    )
    alice_order = await admin.fetchval("SELECT id FROM records WHERE tenant_id = $1 AND external_id = '1001'", A)
    await admin.execute(
        "INSERT INTO agent_conversations (tenant_id, id, principal, title) VALUES ($1, 'conv_1', 'k1', $2)",
        A,
        f"what did {EMAIL} buy?",
    )
    messages = [
        ("user", f"what did {EMAIL} buy?", []),
        ("assistant", "Order 1001, 30.00 EUR.", [{"type": "record", "id": alice_order, "kind": "order"}]),
        ("user", "and Bob?", []),
        ("assistant", "Order 1002.", [{"type": "aggregate", "name": "sales_by_day"}]),
    ]
    for seq, (role, content, citations) in enumerate(messages, 1):
        await admin.execute(
            "INSERT INTO agent_messages (tenant_id, conversation_id, seq, role, content, citations) "
            "VALUES ($1, 'conv_1', $2, $3, $4, $5)",
            A,
            seq,
            role,
            content,
            json.dumps(citations),
        )


def delivery(tenant: str, events: list, body: bytes) -> DeliveryRecord:
    return DeliveryRecord(
        id=new_id(),
        receipt_id=new_id(),
        tenant_id=tenant,
        connector_id="woo-1",
        provider="woocommerce",
        delivery_id=new_id(),
        body=body,
        received_at=datetime.now(UTC),
        outcome="published",
        event_ids=[e.id for e in events],
    )


async def seed(redis, pool, admin) -> list:
    """A's Alice (contact, an order by id, a later email change), A's Bob, and B's own Alice, everywhere."""
    await admin.execute("TRUNCATE erasures, rag_entities, rag_chunks")
    for tenant in (A, B):
        await admin.execute("INSERT INTO tenants (id, name) VALUES ($1, $1)", tenant)
    alice = [
        contact(A, CUSTOMER, "Alice@Example.com"),
        order(A, "1001", CUSTOMER, ""),
        contact(A, CUSTOMER, "alice@example.com", minutes=2),
    ]
    others = [
        contact(A, "cust-bob", "bob@example.com"),
        order(A, "1002", "cust-bob", "bob@example.com"),
        contact(B, CUSTOMER, EMAIL),
    ]
    alice += agent_run(A, "run_alice", alice[1], CUSTOMER)  # about her order, its words name her
    others += agent_run(A, "run_bob", others[1], "cust-bob")
    # an outbound webhook subscription of A's to everything: its attempts carry the events as sent
    await admin.execute(
        "INSERT INTO hook_subscriptions (tenant_id, id, target_url, event_types) "
        "VALUES ($1, 'hook_a1', 'https://example.com/hook', '{*}')",
        A,
    )
    await Publisher(redis).publish(alice + others)
    async with running(redis, [projector_group(pool, 8), metrics_group(pool, 8), outbound_group(pool, 8, 0.0)], FAST):
        await wait_for(lambda: admin.fetchval("SELECT count(*) FROM records"), 5)
        await wait_for(lambda: admin.fetchval("SELECT count(*) FROM usage_counts"))
        await wait_for(lambda: admin.fetchval("SELECT count(*) FROM hook_attempts"), 9)  # A's nine events
        await wait_for(lambda: admin.fetchval("SELECT count(*) FROM agent_runs"), 2)
    await seed_agents(admin, alice, others)
    # a dead letter, a replay copy, a command and delivery records naming Alice; chunks of her entities
    stream = stream_for_tenant(A)
    first_id, first_fields = (await redis.xrange(stream, count=1))[0]
    await move_to_dead(redis, "projector", stream, first_id.decode(), first_fields, "ValueError: test", 5)
    await redis.xadd(replay_stream("indexer"), first_fields)
    body = json.dumps({"billing": {"email": "ALICE@example.com"}, "id": 1001}).encode()
    for tenant, events in ((A, alice[1:2]), (A, others[1:2]), (B, others[2:])):
        record = delivery(tenant, events, body if tenant == B or events[0] in alice else b'{"id": 1002}')
        await redis.xadd(DELIVERIES_STREAM, record_fields(record))
        await admin.execute(
            """INSERT INTO deliveries (tenant_id, id, connector_id, provider, delivery_id, body, received_at,
                                       last_received_at, outcome, event_ids)
               VALUES ($1, $2, 'woo-1', 'woocommerce', $3, $4, now(), now(), 'published', $5)""",
            tenant,
            record.id,
            record.delivery_id,
            record.body,
            record.event_ids,
        )
    await admin.execute(
        """INSERT INTO commands (tenant_id, id, type, status, issued_at, body)
           VALUES ($1, 'cmd-1', 'agent.run.v1', 'accepted', now(), $2::jsonb)""",
        A,
        json.dumps({"input": f"write to {EMAIL}"}),
    )
    for kind, external_id in (("contact", CUSTOMER), ("order", "1001"), ("contact", "cust-bob")):
        await admin.execute(
            """INSERT INTO rag_entities (tenant_id, index_id, kind, source, external_id, updated_at, stream_ms,
                                         stream_seq, chunks) VALUES ($1, 1, $2, 'woo-1', $3, now(), 1, 0, 1)""",
            A,
            kind,
            external_id,
        )
        await admin.execute(
            """INSERT INTO rag_chunks (tenant_id, index_id, kind, source, external_id, chunk_no, content_hash,
                                       content, embedding, updated_at)
               VALUES ($1, 1, $2, 'woo-1', $3, 0, '\\x00', $4, $5::text::vector, now())""",
            A,
            kind,
            external_id,
            f"{kind} {external_id}",
            str([0.1] * 384),
        )
    return alice


async def texts_of(admin, tenant: str) -> dict[str, str]:
    """Every row of the tenant in every tenant table, as lower-case text (raw bodies included)."""
    tables = [
        r["table_name"]
        for r in await admin.fetch(
            "SELECT table_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND column_name = 'tenant_id'"
            " AND table_name <> 'erasures'"
        )
    ]
    found = {}
    for table in tables:
        rows = await admin.fetch(f"SELECT row_to_json(t)::text AS row FROM {table} t WHERE tenant_id = $1", tenant)
        found[table] = "\n".join(r["row"] for r in rows).lower()
    bodies = await admin.fetch("SELECT body FROM deliveries WHERE tenant_id = $1", tenant)
    found["deliveries.body"] = b"\n".join(r["body"] for r in bodies).decode().lower()
    return found


async def stream_messages(redis) -> list[tuple[str, dict, bytes]]:
    found = []
    async for key in redis.scan_iter(match="bz:*", _type="stream"):
        for _, fields in await redis.xrange(key):
            raw = fields.get(codec.EVENT_FIELD)
            if not raw:
                continue
            try:
                message = msgspec.json.decode(raw)
            except msgspec.DecodeError:
                message = msgspec.msgpack.decode(raw)
            body = message.get("body") if isinstance(message.get("body"), bytes) else b""
            found.append((key.decode(), message, (raw + body).lower()))
    return found


async def replay_done(redis, group: str) -> bool:
    stream = replay_stream(group)
    last = (await redis.xrevrange(stream, count=1))[0][0]
    info = next(g for g in await redis.xinfo_groups(stream) if g["name"].decode() == group)
    return info["last-delivered-id"] == last and info["pending"] == 0


def mentions_alice(text: str | bytes) -> bool:
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return EMAIL in text or CUSTOMER in text


async def test_erasing_a_person_leaves_nothing_readable_and_nothing_comes_back(redis, pool, admin, migrated):
    alice = await seed(redis, pool, admin)
    assert any(mentions_alice(t) for t in (await texts_of(admin, A)).values())
    env = migrated.env()
    done = await bizosaas(env, "tenant", "erase", A, "--email", "Alice@Example.com", "--by", "dpo@acme", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    counts = json.loads(done.stdout)["counts"]
    assert counts["records"] == 2 and counts["event_log"] == 5 and counts["rag_chunks"] == 2
    assert counts["deliveries"] == 1 and counts["commands"] == 1 and counts["hook_attempts"] == 5
    assert (counts["agent_runs"], counts["agent_run_requests"], counts["agent_run_traces"]) == (1, 1, 2)
    assert counts["agent_messages"] == 2 and counts["agent_conversations"] == 1

    def check_postgres(texts: dict[str, str]) -> None:
        for place, text in texts.items():
            assert not mentions_alice(text), place
            assert not any(e.id.lower() in text for e in alice if place != "deliveries"), place
        assert "bob@example.com" in texts["records"] and "cust-bob" in texts["rag_chunks"]
        assert "run_bob" in texts["agent_runs"] and "arq_bob" in texts["agent_run_requests"]
        assert "run_bob" in texts["agent_run_traces"] and "and bob?" in texts["agent_messages"]

    check_postgres(await texts_of(admin, A))
    assert mentions_alice((await texts_of(admin, B))["records"])  # B's own Alice is B's business
    messages = await stream_messages(redis)
    assert not [(s, m) for s, m, text in messages if m.get("tenant_id") == A and mentions_alice(text)]
    assert any(m.get("tenant_id") == B and mentions_alice(text) for _, m, text in messages)
    assert any(m.get("tenant_id") == A and b"bob@example.com" in text for _, m, text in messages)

    erasure = await admin.fetchrow("SELECT * FROM erasures")
    assert (erasure["tenant_id"], erasure["scope"], erasure["selector"], erasure["requested_by"]) == (
        A,
        "person",
        "email",
        "dpo@acme",
    )
    assert not mentions_alice(json.dumps({k: str(v) for k, v in dict(erasure).items()}).lower())

    # replay every range and rebuild the projection: nothing of Alice reappears
    async with running(redis, [projector_group(pool, 8)], FAST):
        # Bob's contact, order and run (2), B's Alice
        replayed = await bizosaas(env, "replay", "--group", "projector", "--from", T0.isoformat())
        assert replayed.returncode == 0 and "queued 5 event(s)" in replayed.stdout, replayed.stdout + replayed.stderr
        await wait_for(lambda: replay_done(redis, "projector"))
    rebuilt = await bizosaas(env, "projections", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    check_postgres(await texts_of(admin, A))
    assert await admin.fetchval("SELECT count(*) FROM records WHERE tenant_id = $1", A) == 2  # Bob's two


async def test_erasing_a_tenant_removes_it_everywhere_and_keeps_the_record(redis, pool, admin, migrated, vault):
    await seed(redis, pool, admin)
    await admin.execute(
        "INSERT INTO connectors (tenant_id, id, provider, name) VALUES ($1, 'con_a1', 'woocommerce', 'shop')", A
    )
    await admin.execute(
        "INSERT INTO api_keys (tenant_id, id, prefix, hash, role) VALUES ($1, 'k1', 'p', 'h', 'admin')", A
    )
    secrets = VaultSecrets(vault.addr, vault.token)
    await secrets.write(A, "con_a1", {"webhook_secret": "s3cret"})
    hook_secrets = VaultSecrets(vault.addr, vault.token, collection="hooks")
    await hook_secrets.write(A, "hook_a1", {"webhook_secret": "whsec_c2VjcmV0"})
    command = StartSync(id=new_id(), tenant_id=A, issued_at=datetime.now(UTC), connector_id="con_a1")
    await redis.xadd(COMMANDS_STREAM, {codec.EVENT_FIELD: codec.encode(command)})
    rejection = Rejection(
        connector_id="con_a1",
        provider="woocommerce",
        status=401,
        reason="does not verify",
        headers={"x-forwarded-for": "203.0.113.9"},
    )
    await log_rejection(redis, A, rejection, max_len=100)
    await log_rejection(redis, B, rejection, max_len=100)
    env = migrated.env(VAULT_ADDR=vault.addr, VAULT_TOKEN=vault.token)

    refused = await bizosaas(env, "tenant", "erase", A)
    assert refused.returncode == 2 and "--yes" in refused.stdout
    done = await bizosaas(env, "tenant", "erase", A, "--yes", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["counts"]["vault_secrets"] == 2  # the connector's and the hook's

    texts = await texts_of(admin, A)
    assert not any(texts.values()), {k: v[:80] for k, v in texts.items() if v}
    assert await admin.fetchval("SELECT count(*) FROM tenants WHERE id = $1", A) == 0
    assert await VaultSecrets(vault.addr, vault.token).read(A, "con_a1", fresh=True) is None
    assert await hook_secrets.read(A, "hook_a1", fresh=True) is None
    messages = await stream_messages(redis)
    assert not [s for s, m, _ in messages if m.get("tenant_id") == A]
    assert any(m.get("tenant_id") == B for _, m, _ in messages)
    assert not await redis.exists(rejected_stream(A)) and await redis.xlen(rejected_stream(B)) == 1  # client addresses
    assert mentions_alice((await texts_of(admin, B))["records"])
    erasure = await admin.fetchrow("SELECT * FROM erasures")
    assert (erasure["tenant_id"], erasure["scope"], erasure["selector"]) == (A, "tenant", "tenant")
    assert json.loads(erasure["counts"])["records"] == 4

    rebuilt = await bizosaas(env, "projections", "rebuild")
    assert rebuilt.returncode == 0 and await admin.fetchval("SELECT count(*) FROM records WHERE tenant_id = $1", A) == 0


async def test_the_service_role_cannot_read_or_rewrite_erasure_records(pool):
    async with pool.acquire() as conn:
        for statement in ("SELECT * FROM erasures", "UPDATE erasures SET requested_by = 'x'", "DELETE FROM erasures"):
            try:
                await conn.execute(statement)
            except asyncpg.InsufficientPrivilegeError:
                continue
            raise AssertionError(f"{statement} was allowed")


async def test_erasing_a_person_by_provider_id_finds_their_email_too(redis, pool, admin, migrated):
    await seed(redis, pool, admin)
    done = await bizosaas(
        migrated.env(), "tenant", "erase", A, "--external-id", CUSTOMER, "--source", "woo-1", "--json"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["counts"]["records"] == 2
    texts = await texts_of(admin, A)
    assert not [place for place, text in texts.items() if mentions_alice(text)]
    assert "bob@example.com" in texts["records"]
    erasure = await admin.fetchrow("SELECT selector, counts FROM erasures")
    assert erasure["selector"] == "external_id" and not mentions_alice(erasure["counts"])
    nothing = await bizosaas(migrated.env(), "tenant", "erase", A, "--external-id", CUSTOMER, "--source", "other")
    assert nothing.returncode == 0 and "nothing found" in nothing.stdout


async def test_erasing_a_connectors_data_takes_what_the_agents_keep_of_it(pool, admin, migrated):
    """`DELETE /v1/connectors/{id}?erase=true`'s Postgres part (its runner calls erase_source_rows): a run woken by
    the connector's event, its trace, a queued run request and a chat answer citing its record go; the other
    connector's stay, and so does the day's token usage (no record data, it is the budget)."""
    await admin.execute("INSERT INTO tenants (id, name) VALUES ($1, $1)", A)
    gone = await insert_record(admin, A, "order", "1001", "processing", {"email": EMAIL}, source="con_gone")
    kept = await insert_record(admin, A, "order", "1002", "processing", {"email": "bob@example.com"}, source="con_kept")
    for n, connector, record in ((1, "con_gone", gone), (2, "con_kept", kept)):
        run_id = f"run_{n}"
        await admin.execute(
            """INSERT INTO agent_runs (tenant_id, run_id, agent, status, status_rank, status_at, source, output)
               VALUES ($1, $2, 'order-fulfilment', 'completed', 3, now(), $3, $4)""",
            A,
            run_id,
            connector,
            json.dumps({"summary": f"ship {record}"}),
        )
        await admin.execute(
            "INSERT INTO agent_run_traces (tenant_id, run_id, agent_id, trace) VALUES ($1, $2, 'order-fulfilment', $3)",
            A,
            run_id,
            json.dumps({"steps": [{"tool": "read_records", "output": record}]}),
        )
        await admin.execute(
            "INSERT INTO agent_run_usage (tenant_id, run_id, agent_id, tokens) VALUES ($1, $2, 'order-fulfilment', 9)",
            A,
            run_id,
        )
        await admin.execute(
            """INSERT INTO agent_run_requests (tenant_id, id, coalescing_key, agent_id, source, trigger_ids)
               VALUES ($1, $2, $2, 'order-fulfilment', $3, '{evt_1}')""",
            A,
            f"arq_{n}",
            connector,
        )
    await admin.execute("INSERT INTO agent_conversations (tenant_id, id, principal) VALUES ($1, 'conv_1', 'k1')", A)
    for seq, record in enumerate((gone, kept), 1):
        await admin.execute(
            "INSERT INTO agent_messages (tenant_id, conversation_id, seq, role, content, citations) "
            "VALUES ($1, 'conv_1', $2, 'assistant', 'an answer', $3)",
            A,
            seq,
            json.dumps([{"type": "record", "id": record, "kind": "order"}]),
        )

    counts = await erase_source_rows(pool, A, "con_gone")
    assert counts["records"] == 1
    for place in ("agent_runs", "agent_run_traces", "agent_run_requests", "agent_messages"):
        assert counts[place] == 1, place
    texts = await texts_of(admin, A)
    for place, text in texts.items():
        assert "con_gone" not in text and gone.lower() not in text, place
    assert "run_2" in texts["agent_runs"] and "arq_2" in texts["agent_run_requests"]
    assert kept.lower() in texts["agent_run_traces"] and kept.lower() in texts["agent_messages"]
    assert "run_1" in texts["agent_run_usage"]  # the budget keeps its count
