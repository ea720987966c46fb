"""The dispatcher's copy of each subscription's signing secrets (consumers/outbound_dispatch.py): read from Vault once
per subscription, not once per try, and read again as soon as the secret is rotated.

A claimed attempt carries its subscription's `secret_rotated_at`; the gateway writes the new secret to Vault before
the transaction that sets that stamp commits (gateway/routes_hooks.py), so a stamp that differs from the cached one
means Vault already holds the new secret: the next try reads it fresh (past the store's own cache). `max_age_s`
bounds how long an unchanged copy is kept (a secret written some other way; an expired copy is read again through
the store's cache). Concurrent tries of one subscription share one read, so a dispatcher starting with hundreds of
attempts due asks Vault once per subscription, not once per try.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from connectors.credentials import SecretStore
from connectors.lru import MISSING, ExpiringLru

Values = dict[str, Any] | None


class HookSecrets:
    def __init__(self, store: SecretStore, max_age_s: float = 300.0, max_size: int = 100_000) -> None:
        self.store, self.max_age_s = store, max_age_s
        self._cache: ExpiringLru[tuple[datetime | None, asyncio.Future[Values]]] = ExpiringLru(max_size)

    async def read(self, tenant: str, hook_id: str, rotated_at: datetime | None) -> Values:
        key = (tenant, hook_id)
        cached = self._cache.get(key)
        if cached is not MISSING:
            stamp, future = cached  # type: ignore[misc]
            if stamp == rotated_at:
                if future.done():  # the usual case, every try after the first: no shield to build per try
                    return future.result()
                return await asyncio.shield(future)
        fresh = cached is not MISSING  # a rotation (or an expired copy): past the store's cache too
        future = asyncio.get_running_loop().create_future()
        self._cache.put(key, (rotated_at, future), self.max_age_s)
        try:
            values = await self.store.read(tenant, hook_id, fresh=fresh)
        except BaseException as exc:
            self._cache.pop(key, None)  # the next try asks again
            future.set_exception(exc)
            future.exception()  # retrieved: a failure with no other waiter is not reported as never retrieved
            raise
        future.set_result(values)
        return values

    def forget(self, tenant: str, hook_id: str) -> None:
        self._cache.pop((tenant, hook_id), None)
