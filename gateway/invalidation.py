"""A revoked API key or a changed connector reaches the caches of every gateway process at once, over Redis pub/sub
(events.streams.GATEWAY_INVALIDATION_CHANNEL).

The caches (API keys in auth.py, webhook routing in targets.py, connector secrets in credentials.py) live in each
process; with `bizosaas gateway --processes N`, or several gateway containers, the process that made a change is one
of many. The sender drops the entry from its own caches, publishes the change, and waits until every subscribed
process has pushed its acknowledgement (at most `ack_timeout_s`): once the revoking request is answered, no process
answers from the stale entry. A subscriber clears its caches whenever it (re)subscribes: it may have missed messages
while its connection was down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

from connectors.credentials import SecretStore
from events.streams import GATEWAY_INVALIDATION_ACK, GATEWAY_INVALIDATION_CHANNEL
from gateway.auth import Authenticator
from gateway.targets import Targets

log = logging.getLogger("bizosaas.gateway.invalidation")

ACK_TTL_S = 60  # an acknowledgement list nobody waits for any more (the sender timed out) goes by itself
LISTEN_POLL_S = 1.0  # the longest one wait for a message blocks
STOP_TIMEOUT_S = 5.0  # how long the app's cleanup waits for the listener to end


class Change(msgspec.Struct, omit_defaults=True):
    ack: str  # the list the receivers push to once they applied it
    key_hash: str = ""  # a revoked API key (sha256 hex)
    tenant_id: str = ""
    connector_id: str = ""  # a connector whose routing, config or secrets changed


class Invalidator:
    def __init__(
        self, redis: Redis, auth: Authenticator, targets: Targets, secrets: SecretStore, ack_timeout_s: float = 1.0
    ) -> None:
        self.redis, self.auth, self.targets, self.secrets = redis, auth, targets, secrets
        self.ack_timeout_s = ack_timeout_s
        self.subscribed = asyncio.Event()  # set while this process listens (readiness, tests)

    async def key_revoked(self, key_hash: str) -> None:
        await self._announce(Change(ack="", key_hash=key_hash))

    async def connector_changed(self, tenant_id: str, connector_id: str) -> None:
        await self._announce(Change(ack="", tenant_id=tenant_id, connector_id=connector_id))

    def _apply(self, change: Change) -> None:
        if change.key_hash:
            self.auth.forget(change.key_hash)
        if change.connector_id:
            self.targets.forget(change.connector_id)
            self.secrets.forget(change.tenant_id, change.connector_id)

    def _forget_all(self) -> None:
        self.auth.forget_all()
        self.targets.forget_all()
        self.secrets.forget_all()

    async def _announce(self, change: Change) -> None:
        """Apply here, publish, and wait for every subscriber's acknowledgement. Redis unreachable: the change is in
        Postgres already, the other processes' entries expire within their TTL; logged, never raised."""
        self._apply(change)
        change.ack = GATEWAY_INVALIDATION_ACK % secrets.token_hex(8)
        deadline = time.monotonic() + self.ack_timeout_s
        try:
            receivers = await self.redis.publish(GATEWAY_INVALIDATION_CHANNEL, msgspec.json.encode(change))
            for _ in range(receivers):
                remaining_s = deadline - time.monotonic()
                if remaining_s <= 0 or await self.redis.blpop([change.ack], timeout=remaining_s) is None:
                    log.warning("a gateway process did not acknowledge a cache invalidation in time")
                    break
            await self.redis.delete(change.ack)
        except RedisError as exc:
            log.warning("cache invalidation not published: %s: %s", type(exc).__name__, exc)

    async def listen(self) -> None:
        """Apply every change published on the channel, until cancelled; reconnect after an error."""
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.subscribe(GATEWAY_INVALIDATION_CHANNEL)
                    self._forget_all()
                    self.subscribed.set()
                    while True:  # get_message, not the listen() generator: cancelling that one mid-read could
                        # leave its aclose() "already running" and the app's cleanup waiting on it
                        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=LISTEN_POLL_S)
                        if message is not None and message["type"] == "message":
                            await self._received(message["data"])
            except RedisError as exc:
                self.subscribed.clear()
                log.warning("cache invalidation channel lost: %s: %s", type(exc).__name__, exc)
                await asyncio.sleep(1.0)

    async def _received(self, data: bytes) -> None:
        try:
            change = msgspec.json.decode(data, type=Change)
        except msgspec.DecodeError:
            log.warning("an unreadable message on the cache invalidation channel was ignored")
            return
        self._apply(change)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.rpush(change.ack, b"1")
            pipe.expire(change.ack, ACK_TTL_S)
            await pipe.execute()


@contextlib.asynccontextmanager
async def listening(invalidator: Invalidator) -> AsyncIterator[None]:
    task = asyncio.get_running_loop().create_task(invalidator.listen(), name="bizosaas-cache-invalidation")
    try:
        yield
    finally:
        task.cancel()
        # bounded: the shutdown must not wait on a connection's cleanup (the task is cancelled either way)
        done, _ = await asyncio.wait({task}, timeout=STOP_TIMEOUT_S)
        if not done:
            log.warning("the cache invalidation listener did not stop within %.0f s", STOP_TIMEOUT_S)
