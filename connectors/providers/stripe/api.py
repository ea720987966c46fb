"""Stripe's REST API, as a sync and the actions call it: one page of customers, subscriptions, invoices or
PaymentIntents, and `refund_payment`.

The secret key is a bearer token (`Authorization: Bearer sk_...`). A list answers `{"object": "list", "data": [...],
"has_more": bool, "url": ...}`, newest first; the next page is `starting_after=<the last object's id>` (so a page's
position names an object, and a deletion elsewhere shifts nothing). Stripe objects carry no modification time, and
`created[gte]` selects by creation: every run lists the resource whole (see provider.toml). Objects become events
with mapping.py, the functions the webhook path uses; their provider time is when they were read (the state is at
least that new), and their idempotency key names the state by a hash (`sync_pages.version_of`), so a re-read
unchanged object publishes nothing and a changed one does.

Failures: 429 and 5xx are ProviderBusy (transient, with Retry-After when sent), 401 and 403 ProviderRefused
(permanent, naming the key to fix), a `starting_after` whose object is gone PageCursorGone (the run reads its pages
again), other 4xx ProviderRefused with Stripe's message. A connector without `secret_key` receives webhooks only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import aiohttp

from connectors.api_http import ResponseContext, api_request, error_body, raise_if_busy
from connectors.base import ApiCall, Page, PageCursorGone, ProviderRefused, Registration
from connectors.facts import Resource, base_url
from connectors.normalize import EventBuilder
from connectors.providers.stripe.mapping import customer, invoice, payment, subscription
from connectors.providers.stripe.webhook import TOPICS
from events.entities import Entity

__all__ = [
    "MAPPERS",
    "cursor_of",
    "read_page",
    "reconciles",
    "refund_payment",
    "register_webhooks",
    "test_connection",
    "unregister_webhooks",
]

MAX_LIMIT = 100
# Where the API lives when not at provider.toml's base URL: tests and a local stripe-mock set it, as stripe-python's
# `stripe.api_base` (never a tenant's setting: the secret key goes there)
API_BASE: str | None = None
# List parameters a resource needs to list every object a record can be of: subscriptions default to "not canceled"
LIST_PARAMS: dict[str, dict[str, str]] = {"subscriptions": {"status": "all"}}


def _base(call: ApiCall) -> str:
    return (API_BASE.rstrip("/") + "/") if API_BASE else base_url(call.facts, dict(call.config))


def _auth(call: ApiCall) -> dict[str, str]:
    key = str(call.secrets.get(call.facts.auth.key_field) or "")
    if not key:
        raise ProviderRefused(
            "Stripe: the connector has no secret key (webhooks work without it; syncs and actions need it): add "
            "secrets.secret_key, a secret key sk_... or a restricted key rk_... (Dashboard > Developers > API keys)"
        )
    # no Stripe-Version: the account's default version, the one its webhook endpoints usually send (mapping.py reads
    # both the older and the newer subscription shapes)
    return {"Authorization": f"Bearer {key}"}


async def _check(response: aiohttp.ClientResponse, call: ApiCall, what: str) -> None:
    status = response.status
    if status < 400:
        return
    error = (await error_body(response)).get("error")
    error = error if isinstance(error, dict) else {}
    code, message = str(error.get("code") or error.get("type") or ""), str(error.get("message") or "")[:300]
    detail = f"HTTP {status}{f' {code}' if code else ''}"
    raise_if_busy(response, call, "Stripe", what, detail)
    if status == 401:
        raise ProviderRefused(
            f"Stripe {what}: the secret key was refused ({detail}): check secrets.secret_key is a current secret key "
            "(sk_live_... or sk_test_..., not the publishable pk_...) of the right account, not rolled or deleted "
            "(Dashboard > Developers > API keys)"
        )
    if status == 403:
        raise ProviderRefused(
            f"Stripe {what}: the key may not do this ({detail}): give the restricted key (rk_...) read access to "
            "customers, subscriptions, invoices and PaymentIntents, and write access to refunds for refunds"
        )
    if error.get("param") == "starting_after":
        raise PageCursorGone(f"Stripe {what}: the page's starting object is gone ({detail})")
    raise ProviderRefused(f"Stripe {what}: Stripe refused the request ({detail}{f': {message}' if message else ''})")


def _request(call: ApiCall, method: str, url: str, **kwargs: Any) -> ResponseContext:
    headers = {**_auth(call), **kwargs.pop("headers", {})}
    return api_request(call, method, url, headers, redirects=True, **kwargs)


async def read_page(
    call: ApiCall,
    resource: Resource,
    page: int,
    since: str | None = None,
    until: str | None = None,
    per_page: int | None = None,
    after: str | None = None,
) -> Page:
    """The page of `resource` after the object `after` (None: the first page), newest first. `page` counts pages
    for the caller only; `since`/`until` are unused (Stripe resources sync whole)."""
    params = {"limit": str(min(per_page or resource.page_size, MAX_LIMIT)), **LIST_PARAMS.get(resource.name, {})}
    if after:
        params["starting_after"] = after
    async with _request(call, "GET", _base(call) + resource.path, params=params) as response:
        await _check(response, call, f"listing {resource.name}")
        body = await response.json(content_type=None)
    if not isinstance(body, dict) or body.get("object") != "list" or not isinstance(body.get("data"), list):
        raise ProviderRefused(f"Stripe listing {resource.name}: the answer is not a list object")
    objects = [o for o in body["data"] if isinstance(o, dict)]
    more = body.get("has_more") is True and bool(objects)
    return Page(objects=objects, next_cursor=str(objects[-1]["id"]) if more else None)


async def test_connection(call: ApiCall) -> None:
    """One customer: raises ProviderRefused when the key is missing, wrong or may not read customers."""
    await read_page(call, call.facts.resources[0], 1, per_page=1)


def cursor_of(resource: Resource, obj: dict[str, Any]) -> str | None:
    """None: Stripe objects carry no modification time, so there is no checkpoint (every run is full)."""
    return None


def reconciles(resource: Resource, external_id: str) -> bool:
    """Every record of these kinds that came from Stripe is one its list shows while it exists."""
    return True


def _upsert(kind: str, mapper: Callable[[dict[str, Any]], Entity]):
    def emit(out: EventBuilder, obj: dict[str, Any]) -> None:
        out.upsert(kind, obj["id"], None, mapper(obj))  # provider time: when it was read (the builder's received_at)

    return emit


MAPPERS = {
    "contact": _upsert("contact", customer),
    "subscription": _upsert("subscription", subscription),
    "invoice": _upsert("invoice", invoice),
    "payment": _upsert("payment", payment),
}


async def refund_payment(
    call: ApiCall,
    payment_intent: str,
    amount: int | None = None,
    reason: str | None = None,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """The `refund_payment` action: POST /v1/refunds (form-encoded) with `payment_intent`, and `amount` (minor
    units; all that is left when absent) and `reason`. Sent with an Idempotency-Key, the caller's or one derived
    from the input, so a retried activity refunds once (Stripe keeps keys 24 hours). Answers the Refund."""
    if not str(payment_intent).startswith("pi_") or (amount is not None and int(amount) < 1):
        raise ProviderRefused("refund_payment: payment_intent must be a PaymentIntent id (pi_...) and amount >= 1")
    form = {"payment_intent": payment_intent}
    if amount is not None:
        form["amount"] = str(int(amount))
    if reason:
        form["reason"] = reason
    key = idempotency_key or "bizosaas-refund-" + hashlib.sha256(json.dumps(form, sort_keys=True).encode()).hexdigest()
    async with _request(call, "POST", _base(call) + "refunds", data=form, headers={"Idempotency-Key": key}) as response:
        await _check(response, call, f"refunding {payment_intent}")
        return await response.json(content_type=None)


async def _endpoints(call: ApiCall) -> list[dict[str, Any]]:
    """Every webhook endpoint of the account (GET webhook_endpoints, paged by starting_after)."""
    found: list[dict[str, Any]] = []
    params = {"limit": str(MAX_LIMIT)}
    while True:
        async with _request(call, "GET", _base(call) + "webhook_endpoints", params=params) as response:
            await _check(response, call, "listing webhook endpoints")
            body = await response.json(content_type=None)
        page = [e for e in body.get("data", []) if isinstance(e, dict)] if isinstance(body, dict) else []
        found += page
        if not (isinstance(body, dict) and body.get("has_more") is True and page):
            return found
        params["starting_after"] = str(page[-1]["id"])


async def register_webhooks(call: ApiCall, delivery_url: str, secret: str) -> Registration:
    """One webhook endpoint for every event type the normalizer maps (POST webhook_endpoints with `url` and
    `enabled_events`). Stripe makes its signing secret and shows it only in the creation's answer: an endpoint to
    `delivery_url` already there is kept when the connector holds its secret (a `whsec_` one, from an earlier
    attempt), else deleted and made anew (an attempt that created it but failed to keep the secret), so there is
    never a second endpoint and never one whose deliveries cannot be verified."""
    ours = [e for e in await _endpoints(call) if e.get("url") == delivery_url]
    if ours and secret.startswith("whsec_"):
        return Registration({"*": str(ours[0]["id"])}, secret)
    await unregister_webhooks(call, [str(e["id"]) for e in ours])
    form = [("url", delivery_url), ("description", "BizOSaaS")]
    form += [(f"enabled_events[{i}]", topic) for i, topic in enumerate(sorted(TOPICS))]
    async with _request(call, "POST", _base(call) + "webhook_endpoints", data=form) as response:
        await _check(response, call, "creating the webhook endpoint")
        created = await response.json(content_type=None)
    return Registration({"*": str(created["id"])}, str(created["secret"]))


async def unregister_webhooks(call: ApiCall, webhook_ids: list[str]) -> None:
    """DELETE webhook_endpoints/{id}; one already gone (404) is fine."""
    for webhook_id in webhook_ids:
        async with _request(call, "DELETE", _base(call) + f"webhook_endpoints/{webhook_id}") as response:
            if response.status != 404:
                await _check(response, call, f"deleting webhook endpoint {webhook_id}")
