"""Lago's REST API, as a sync and the actions call it: one page of customers, subscriptions or invoices, and
`record_usage` (POST /api/v1/events).

The API key is a bearer token (`Authorization: Bearer <key>`). Lists answer `{"<resource>": [...], "meta":
{"current_page", "next_page", "prev_page", "total_pages", "total_count"}}` for `page` (from 1) and `per_page`
(getlago.com/docs, "API reference": "List all customers / subscriptions / invoices", and the pagination meta).
Lago lists no "changed since" filter for customers and subscriptions (invoices filter by issuing date, not change),
so every run lists each resource whole (`since_param` empty), deletions come from full reconciliation, and an
object's idempotency version is a hash of its JSON (`sync_pages.version_of`): an unchanged object read again
publishes nothing. `total_count` lets the sync notice a listing that changed between pages. Lago objects carry
`lago_id`, not `id`: each listed object gets `id` = its `lago_id`, the id the sync keys it by (the records' id too).

Subscriptions are listed with every status (`status[]=active,pending,canceled,terminated`; the list's default is
active only), so a terminated subscription stays a record with its status, as the webhook path keeps it.

Failures: 429 and 5xx ProviderBusy (Retry-After when sent), 401 ProviderRefused naming the API key, 404 the API URL,
422 Lago's `error_details`. A connector on a private address needs allow_private (a self-hosted Lago in
development).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from typing import Any

import aiohttp

from connectors.api_http import ResponseContext, api_request, error_body, raise_if_busy
from connectors.base import ApiCall, Page, ProviderRefused
from connectors.facts import Resource, base_url
from connectors.providers.lago.mapping import MAPPERS

__all__ = ["MAPPERS", "cursor_of", "read_page", "reconciles", "record_usage", "test_connection"]

MAX_PER_PAGE = 100
LIST_PARAMS: dict[str, list[tuple[str, str]]] = {
    "subscriptions": [("status[]", s) for s in ("active", "pending", "canceled", "terminated")]
}


def _auth(call: ApiCall) -> dict[str, str]:
    key = str(call.secrets.get(call.facts.auth.key_field) or "")
    if not key:
        raise ProviderRefused("Lago: the connector has no API key: add secrets.api_key (Developers > API keys)")
    return {"Authorization": f"Bearer {key}", "Accept": "application/json"}


class _Refusal(ProviderRefused):
    def __init__(self, message: str, details: Any) -> None:
        super().__init__(message)
        self.details = details


async def _check(response: aiohttp.ClientResponse, call: ApiCall, what: str) -> None:
    status = response.status
    if status < 400:
        return
    body = await error_body(response)
    code, details = str(body.get("code") or body.get("error") or ""), body.get("error_details")
    detail = f"HTTP {status}{f' {code}' if code else ''}{f': {json.dumps(details)[:300]}' if details else ''}"
    raise_if_busy(response, call, "Lago", what, detail)
    if status == 401:
        raise ProviderRefused(
            f"Lago {what}: the API key was refused ({detail}): copy a current key from Developers > API keys into "
            "secrets.api_key"
        )
    if status == 404 and what.startswith("listing"):
        raise ProviderRefused(f"Lago {what}: not found ({detail}): check config.api_url (e.g. https://api.getlago.com)")
    raise _Refusal(f"Lago {what}: Lago refused the request ({detail})", details)


def _request(call: ApiCall, method: str, url: str, **kwargs: Any) -> ResponseContext:
    return api_request(call, method, url, _auth(call), redirects=True, **kwargs)


def _keyed(obj: dict[str, Any]) -> dict[str, Any]:
    return {**obj, "id": obj.get("lago_id")}


async def read_page(
    call: ApiCall,
    resource: Resource,
    page: int,
    since: str | None = None,
    until: str | None = None,
    per_page: int | None = None,
) -> Page:
    """Page `page` (from 1) of `resource`; `since`/`until` are unused (Lago resources sync whole)."""
    params = [("page", str(page)), ("per_page", str(min(per_page or resource.page_size, MAX_PER_PAGE)))]
    params += LIST_PARAMS.get(resource.name, [])
    async with _request(call, "GET", base_url(call.facts, dict(call.config)) + resource.path, params=params) as resp:
        await _check(resp, call, f"listing {resource.name}")
        body = await resp.json(content_type=None)
    listed = body.get(resource.name) if isinstance(body, dict) else None
    meta = body.get("meta") if isinstance(body, dict) else None
    if not isinstance(listed, list) or not isinstance(meta, dict):
        raise ProviderRefused(f"Lago listing {resource.name}: the answer has no {resource.name!r} list and meta")
    objects = [_keyed(o) for o in listed if isinstance(o, dict) and o.get("lago_id")]
    total_pages = meta.get("total_pages") if isinstance(meta.get("total_pages"), int) else None
    if total_pages is not None and meta.get("next_page") is None:
        total_pages = min(total_pages, page)  # next_page null: this is the last page, whatever total_pages says
    total = meta.get("total_count") if isinstance(meta.get("total_count"), int) else None
    return Page(objects=objects, total=total, total_pages=total_pages)


async def test_connection(call: ApiCall) -> None:
    """One customer: raises ProviderRefused when the URL or the API key is wrong."""
    await read_page(call, call.facts.resources[0], 1, per_page=1)


def cursor_of(resource: Resource, obj: dict[str, Any]) -> str | None:
    """None: every run is full (no "changed since" list), so there is no checkpoint."""
    return None


def reconciles(resource: Resource, external_id: str) -> bool:
    """Every Lago record of these kinds is one its list shows while it exists (subscriptions with every status)."""
    return True


async def record_usage(
    call: ApiCall,
    transaction_id: str,
    external_subscription_id: str,
    code: str,
    properties: dict[str, Any] | None = None,
    timestamp: int | float | None = None,
) -> dict[str, Any]:
    """The `record_usage` action: POST /api/v1/events `{"event": {transaction_id, external_subscription_id, code,
    timestamp, properties}}`. Lago takes `transaction_id` as the event's idempotency key: sending it again records
    nothing more (a retried activity, a re-run push); when Lago answers that the transaction id exists, the event
    already recorded is answered. Answers the event (with `id` = its lago_id)."""
    event: dict[str, Any] = {
        "transaction_id": transaction_id,
        "external_subscription_id": external_subscription_id,
        "code": code,
        "properties": properties or {},
    }
    if timestamp is not None:
        event["timestamp"] = timestamp
    root = base_url(call.facts, dict(call.config))
    try:
        async with _request(call, "POST", root + "events", json={"event": event}) as response:
            await _check(response, call, f"recording usage {transaction_id}")
            body = await response.json(content_type=None)
    except _Refusal as exc:
        details = exc.details if isinstance(exc.details, dict) else {}
        if "value_already_exist" not in (details.get("transaction_id") or []):
            raise
        async with _request(call, "GET", root + f"events/{transaction_id}") as response:
            await _check(response, call, f"reading usage event {transaction_id}")
            body = await response.json(content_type=None)
    recorded = body.get("event") if isinstance(body, dict) else None
    if not isinstance(recorded, dict):
        raise ProviderRefused(f"Lago recording usage {transaction_id}: the answer has no event")
    return _keyed(recorded)


def usage_event(
    tenant_id: str, day: date, event_type: str, provider: str, events: int, external_subscription_id: str
) -> dict[str, Any]:
    """`record_usage`'s input for one closed day of a tenant's `usage_counts` row (tenant, day, event type,
    provider, events): the transaction id names the row, so pushing a day twice counts it once in Lago. Push a day
    only once it is closed (a late event can still add to a past day's row: such an increase is not pushed). The
    event's time is the day's last second (UTC): Lago bills it into the period holding that day, whenever it is
    pushed, and a subscription that started during the day still counts it."""
    day_end = datetime.combine(day, time(23, 59, 59), tzinfo=UTC)
    return {
        "transaction_id": f"bizosaas-usage:{tenant_id}:{day.isoformat()}:{event_type}:{provider}",
        "external_subscription_id": external_subscription_id,
        "code": "platform_events",
        "properties": {"events": int(events), "event_type": event_type, "provider": provider},
        "timestamp": int(day_end.timestamp()),
    }
