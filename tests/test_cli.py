"""The operator commands, run as a user runs them: `python -m bizosaas ...` against the real servers."""

import asyncio
import json
import re
import subprocess
import sys
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from factories import FAST, T0, order, running, wait_for

from consumers.metrics import metrics_group
from consumers.projector import projector_group
from events import codec
from events.streams import replay_stream, stream_for_tenant
from producers.publisher import Publisher


async def bizosaas(env, *args) -> subprocess.CompletedProcess:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bizosaas", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def with_database(url: str, database: str, user: str | None = None) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc if user is None else f"{user}@{parts.netloc.split('@')[-1]}"
    return urlunsplit((parts.scheme, netloc, "/" + database, "", ""))


async def test_migrate_creates_the_database_and_role_and_is_idempotent(migrated):
    admin_url = with_database(migrated.admin_url, "bizosaas_cli_check")
    service_url = with_database(migrated.admin_url, "bizosaas_cli_check", "cli_app:cli-secret")
    env = migrated.env(DATABASE_ADMIN_URL=admin_url, DATABASE_URL=service_url)
    first = await bizosaas(env, "migrate")
    assert first.returncode == 0, first.stdout + first.stderr
    assert re.search(r"applied [1-9]\d* migration\(s\): 0001_event_backbone", first.stdout), first.stdout
    second = await bizosaas(env, "migrate")
    assert second.returncode == 0 and "applied 0 migration(s)" in second.stdout
    conn = await asyncpg.connect(service_url)
    try:
        assert await conn.fetchval("SELECT rolbypassrls FROM pg_roles WHERE rolname = current_user") is False
        assert await conn.fetchval("SELECT count(*) FROM records") == 0
    finally:
        await conn.close()


async def test_migrate_refuses_a_service_url_that_would_bypass_rls(migrated):
    env = migrated.env(DATABASE_URL=migrated.admin_url)
    result = await bizosaas(env, "migrate")
    assert result.returncode == 1
    assert "bypasses row-level security" in result.stdout and "DATABASE_URL" in result.stdout


async def test_streams_replay_dead_letters_and_rebuild(redis, pool, admin, migrated):
    env = migrated.env()
    await Publisher(redis).publish([order("t1", str(i)) for i in range(10)] + [order("t2", "x")])
    await redis.xadd(stream_for_tenant("t1"), {codec.EVENT_FIELD: b"{broken"})
    async with running(redis, [projector_group(pool, 8), metrics_group(pool, 8)], FAST):
        await wait_for(lambda: admin.fetchval("SELECT count(*) FROM records"), 11)
        await wait_for(lambda: redis.xlen("bz:dead:{projector}"), 1)
        await wait_for(lambda: redis.xlen("bz:dead:{metrics}"), 1)

    overview = await bizosaas(env, "streams", "--json")
    assert overview.returncode == 0, overview.stderr
    data = json.loads(overview.stdout)
    stream = next(s for s in data["streams"] if s["stream"] == stream_for_tenant("t1"))
    assert stream["length"] == 11 and {g["name"] for g in stream["groups"]} == {"projector", "metrics"}
    assert all(g["pending"] == 0 and g["lag"] == 0 for g in stream["groups"])
    assert data["dead_letters"] == {"metrics": 1, "projector": 1}
    human = await bizosaas(env, "streams")
    assert "bz:events:{" in human.stdout and "projector 0/0" in human.stdout

    listed = await bizosaas(env, "dead-letters", "list", "projector")
    assert "JSON is malformed" in listed.stdout and "1 dead letter(s)" in listed.stdout

    replayed = await bizosaas(env, "replay", "--group", "projector", "--from", T0.isoformat(), "--tenant", "t1")
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "queued 10 event(s)" in replayed.stdout  # t1's ten events; not t2's, not the broken entry
    assert await redis.xlen(replay_stream("projector")) == 10
    assert await redis.xlen(replay_stream("metrics")) == 0

    bad = await bizosaas(env, "replay", "--group", "projector", "--from", "yesterday")
    assert bad.returncode == 2 and "neither a stream id" in bad.stdout

    redriven = await bizosaas(env, "dead-letters", "redrive", "metrics")
    assert "redrove 1 dead letter(s)" in redriven.stdout
    assert await redis.xlen(replay_stream("metrics")) == 1

    rebuilt = await bizosaas(env, "projections", "rebuild")
    assert rebuilt.returncode == 0 and "rebuilt 11 record(s) and 0 agent run(s) from 11 event(s)" in rebuilt.stdout


async def test_worker_names_unknown_groups(migrated):
    result = await bizosaas(migrated.env(), "worker", "projektor")
    assert result.returncode == 2 and "unknown group(s) projektor" in result.stdout


async def test_replay_to_an_unknown_group_is_refused_with_the_real_ones(redis, pool, migrated):
    await Publisher(redis).publish([order("t1", str(i)) for i in range(5)])
    async with running(redis, [projector_group(pool, 8)], FAST):  # the group exists on the event streams
        await wait_for(lambda: _has_projector_group(redis))
    typo = await bizosaas(migrated.env(), "replay", "--group", "projektor", "--from", T0.isoformat())
    assert typo.returncode == 2, typo.stdout + typo.stderr
    assert "projektor" in typo.stdout and "known groups: projector" in typo.stdout
    assert not await redis.exists(replay_stream("projektor"))  # nothing queued, no phantom group


async def _has_projector_group(redis):
    return any(g["name"] == b"projector" for g in await redis.xinfo_groups(stream_for_tenant("t1")))


async def test_migrate_refuses_a_readonly_url_that_may_write(migrated):
    env = migrated.env(BIZOSAAS_DATABASE_READONLY_URL=migrated.service_url)
    result = await bizosaas(env, "migrate")
    assert result.returncode == 1
    assert "BIZOSAAS_DATABASE_READONLY_URL" in result.stdout and "role of its own" in result.stdout


async def test_tenant_erase_names_what_it_needs(migrated):
    whole = await bizosaas(migrated.env(), "tenant", "erase", "ten_x")
    assert whole.returncode == 2 and "--yes" in whole.stdout and "--email" in whole.stdout
    bad = await bizosaas(migrated.env(), "tenant", "erase", "Ten X", "--yes")
    assert bad.returncode == 2 and "not a tenant id" in bad.stdout


def test_a_command_imports_only_its_own_module():
    """`bizosaas migrate` (and every process the tests and `bizosaas dev` start) must not pay for the gateway's and
    the agents' imports: openai and the portal took seconds of CPU per process when every command was registered."""
    probe = (
        "import sys; from bizosaas.cli import build_parser; "
        "args = build_parser(['migrate']).parse_args(['migrate']); "
        "heavy = sorted(m for m in ('gateway.app', 'openai', 'temporalio.client', 'crewai') if m in sys.modules); "
        "print(args.command, heavy)"
    )
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert found.strip() == "migrate []"
    listed = subprocess.run([sys.executable, "-m", "bizosaas", "--help"], capture_output=True, text=True).stdout
    assert all(name in listed for name in ("gateway", "worker", "temporal-worker", "dead-letters", "local-llm"))
