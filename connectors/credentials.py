"""Connector secrets in Vault (KV v2, one path per tenant x connector), behind a small interface, cached briefly.

Used by the gateway (webhook signature checks, connector create/update/delete), by `bizosaas tenant erase`, and by
the Temporal activities to come (which must not import the gateway). hvac is synchronous (requests), so its calls run
in a worker thread. Secrets leave this module only for their use (the signature check, an API client); nothing here
logs a value.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Protocol

import hvac
import hvac.exceptions
import requests

from connectors.lru import MISSING, ExpiringLru
from events.errors import TransientError

PREVIOUS = "previous_webhook_secret"
PREVIOUS_UNTIL = "previous_valid_until"  # unix seconds
CURRENT = "webhook_secret"


class SecretStore(Protocol):
    async def read(self, tenant_id: str, connector_id: str, fresh: bool = False) -> dict[str, Any] | None: ...
    async def write(self, tenant_id: str, connector_id: str, values: dict[str, Any]) -> None: ...
    async def delete(self, tenant_id: str, connector_id: str) -> None: ...
    async def ping(self) -> bool: ...
    def path(self, tenant_id: str, connector_id: str) -> str: ...
    def forget(self, tenant_id: str, connector_id: str) -> None: ...  # drop a cached entry (changed elsewhere)
    def forget_all(self) -> None: ...


class SecretsUnavailable(TransientError):
    """Vault cannot be reached, is sealed or refuses the token: the same read or write can succeed later."""


class VaultSecrets:
    def __init__(
        self,
        addr: str,
        token: str,
        mount: str = "secret",
        prefix: str = "bizosaas",
        cache_s: float = 30.0,
        cache_size: int = 100_000,
        collection: str = "connectors",  # or "hooks": outbound webhook signing secrets, one path per subscription
    ) -> None:
        self.client = hvac.Client(url=addr, token=token, timeout=5)
        self.mount, self.prefix, self.cache_s = mount, prefix.strip("/"), cache_s
        self.collection = collection
        self._cache: ExpiringLru[dict[str, Any] | None] = ExpiringLru(cache_size)

    def path(self, tenant_id: str, connector_id: str) -> str:
        return f"{self.prefix}/tenants/{tenant_id}/{self.collection}/{connector_id}"

    async def _call(self, fn, **kwargs):
        try:
            return await asyncio.to_thread(fn, mount_point=self.mount, **kwargs)
        except (
            requests.RequestException,
            hvac.exceptions.VaultDown,
            hvac.exceptions.Forbidden,
            hvac.exceptions.Unauthorized,
            hvac.exceptions.InternalServerError,
        ) as exc:
            raise SecretsUnavailable(f"Vault: {type(exc).__name__}") from None

    async def read(self, tenant_id: str, connector_id: str, fresh: bool = False) -> dict[str, Any] | None:
        """The connector's secrets; `fresh` skips the cache (before a read-modify-write)."""
        key = (tenant_id, connector_id)
        cached = self._cache.get(key)
        if not fresh and cached is not MISSING:
            return cached  # type: ignore[return-value]
        try:
            reply = await self._call(
                self.client.secrets.kv.v2.read_secret_version,
                path=self.path(tenant_id, connector_id),
                raise_on_deleted_version=True,
            )
            values = reply["data"]["data"]
        except hvac.exceptions.InvalidPath:
            values = None
        self._cache.put(key, values, self.cache_s)
        return values

    async def write(self, tenant_id: str, connector_id: str, values: dict[str, Any]) -> None:
        self._cache.pop((tenant_id, connector_id), None)
        await self._call(
            self.client.secrets.kv.v2.create_or_update_secret, path=self.path(tenant_id, connector_id), secret=values
        )

    def forget(self, tenant_id: str, connector_id: str) -> None:
        self._cache.pop((tenant_id, connector_id), None)

    def forget_all(self) -> None:
        self._cache.clear()

    async def delete(self, tenant_id: str, connector_id: str) -> None:
        self._cache.pop((tenant_id, connector_id), None)
        with contextlib.suppress(hvac.exceptions.InvalidPath):  # nothing stored: nothing to delete
            await self._call(
                self.client.secrets.kv.v2.delete_metadata_and_all_versions, path=self.path(tenant_id, connector_id)
            )

    async def ping(self) -> bool:
        try:
            status = await asyncio.to_thread(self.client.sys.read_health_status, method="GET")
        except requests.RequestException:
            return False
        code = getattr(status, "status_code", 200)
        return code == 200 or (isinstance(status, dict) and not status.get("sealed", True))


def webhook_secrets(values: dict[str, Any] | None, now_s: float) -> list[str]:
    """The secrets a delivery may be signed with: the current one, and the previous one during its grace period."""
    if not values:
        return []
    found = [values[CURRENT]] if values.get(CURRENT) else []
    if values.get(PREVIOUS) and float(values.get(PREVIOUS_UNTIL, 0)) > now_s:
        found.append(values[PREVIOUS])
    return found


def rotate(values: dict[str, Any] | None, new: dict[str, Any], now_s: float, grace_s: float) -> dict[str, Any]:
    """Merge new secrets in; a replaced webhook secret stays valid for `grace_s` as the previous one."""
    merged = {k: v for k, v in (values or {}).items() if k not in (PREVIOUS, PREVIOUS_UNTIL)}
    old = merged.get(CURRENT)
    merged.update(new)
    if old and new.get(CURRENT) and new[CURRENT] != old:
        merged[PREVIOUS], merged[PREVIOUS_UNTIL] = old, now_s + grace_s
    elif values and values.get(PREVIOUS):
        merged[PREVIOUS], merged[PREVIOUS_UNTIL] = values[PREVIOUS], values.get(PREVIOUS_UNTIL, 0)
    return merged
