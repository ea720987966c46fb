"""events.errors.is_transient against errors raised by the real clients: `events` recognises client errors by the
qualified names of their classes, so a class a client renames or moves makes these tests fail instead of turning
the error silently permanent (dead letters and failed commands for an outage)."""

import asyncio

import aiohttp
import asyncpg
import hvac
import pytest
from aiohttp import web
from factories import local_http_server
from redis.asyncio import Redis

from bizosaas.servers import free_port
from events.codec import EventDecodeError, decode_event
from events.errors import PermanentError, TransientError, is_transient
from rag.indexes import NoIndexForModel


async def raised(awaitable) -> BaseException:
    try:
        await awaitable
    except BaseException as exc:  # noqa: BLE001 - the test inspects whatever was raised
        return exc
    raise AssertionError("nothing was raised")


async def test_redis_unreachable_is_transient():
    client = Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=2)
    try:
        exc = await raised(client.ping())
    finally:
        await client.aclose()
    assert type(exc).__module__.startswith("redis.") and not isinstance(exc, OSError), repr(exc)  # by its name
    assert is_transient(exc)


async def test_postgres_unreachable_is_transient():
    exc = await raised(asyncpg.connect(host="127.0.0.1", port=free_port(), user="x", database="x", timeout=5))
    assert is_transient(exc), repr(exc)


async def test_a_closed_postgres_connection_is_transient(migrated):
    conn = await asyncpg.connect(migrated.admin_url)
    await conn.close()
    exc = await raised(conn.fetchval("SELECT 1"))
    assert isinstance(exc, asyncpg.InterfaceError) and not hasattr(exc, "sqlstate"), repr(exc)  # by its name
    assert is_transient(exc)


@pytest.mark.parametrize(
    ("sqlstate", "transient"),
    [("40P01", True), ("40001", True), ("53300", True), ("57P01", True), ("23514", False), ("42601", False)],
)
async def test_postgres_errors_are_classified_by_sqlstate(migrated, sqlstate, transient):
    conn = await asyncpg.connect(migrated.admin_url)
    try:
        exc = await raised(conn.execute(f"DO $$ BEGIN RAISE EXCEPTION 'probe' USING ERRCODE = '{sqlstate}'; END $$"))
    finally:
        await conn.close()
    assert isinstance(exc, asyncpg.PostgresError) and exc.sqlstate == sqlstate
    assert is_transient(exc) is transient


def test_a_deadlock_instance_is_transient():
    assert is_transient(asyncpg.exceptions.DeadlockDetectedError("deadlock detected"))


async def test_a_sealed_vault_is_transient():
    async def sealed(request: web.Request) -> web.Response:
        return web.json_response({"errors": ["Vault is sealed"]}, status=503)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", sealed)
    async with local_http_server(app) as base:
        client = hvac.Client(url=base, token="t", timeout=5)
        exc = await raised(
            asyncio.to_thread(client.secrets.kv.v2.read_secret_version, path="x", raise_on_deleted_version=True)
        )
    assert isinstance(exc, hvac.exceptions.VaultDown), repr(exc)
    assert is_transient(exc)


async def test_http_connection_refused_and_disconnected_are_transient():
    async with aiohttp.ClientSession() as session:
        refused = await raised(session.get(f"http://127.0.0.1:{free_port()}/"))
        assert isinstance(refused, aiohttp.ClientConnectionError), repr(refused)
        assert is_transient(refused)

        async def hang_up(reader, writer):  # a server that reads the request and closes without answering
            await reader.readuntil(b"\r\n\r\n")
            writer.close()

        server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            gone = await raised(session.get(f"http://127.0.0.1:{port}/"))
        finally:
            server.close()
            await server.wait_closed()
    assert isinstance(gone, aiohttp.ServerDisconnectedError) and not isinstance(gone, OSError), repr(gone)
    assert is_transient(gone)


def test_the_platforms_own_errors():
    assert is_transient(TransientError("later"))
    assert is_transient(NoIndexForModel("no live index"))
    assert is_transient(TimeoutError())
    assert not is_transient(PermanentError("never"))


def test_bad_input_is_permanent():
    assert not is_transient(ValueError("bad"))
    with pytest.raises(EventDecodeError) as decode_error:
        decode_event(b'{"type": "nope"')
    assert not is_transient(decode_error.value)
    assert not is_transient(KeyError("x"))
