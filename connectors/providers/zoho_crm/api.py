"""Zoho CRM's REST API v8, as a sync and the actions call it: one page of Leads, Contacts or Deals, and
`update_lead_status`.

Where: `{api_domain}/crm/v8/` (provider.toml), the data centre's API domain the connector's config chose; an API
domain that is not one of the documented choices is refused before a token is sent (a local server in tests, with
allow_private, is admitted).

Auth: `Authorization: Zoho-oauthtoken <access token>`. The token comes from `call.access_token` (the sync's token
source: connectors/oauth.py's fresh_access_token bound to the connector, which refreshes it under a lock and keeps it
in Vault); without one, the access token in the connector's secrets while it is valid. A 401 INVALID_TOKEN is
answered by asking the token source for a new token once and repeating the request; a second refusal, or a 401
without a token source, is ProviderRefused naming the fix (reconnect). docs/decisions.md says why.

Listing ("Get Records"): `GET <Module>?fields=..&page=1&per_page=m&sort_by=id&sort_order=asc`, the body
`{"data": [...], "info": {"per_page", "count", "page", "more_records", "next_page_token", ...}}`; 204 (no body) for
an empty module, 304 when nothing changed after If-Modified-Since. `page` reaches only the first 2,000 records
(DISCRETE_PAGINATION_LIMIT_EXCEEDED past them), so every page after the first is asked by `page_token` (the previous
answer's `info.next_page_token`, valid 24 hours) instead of a page number: the resources are `pagination =
"cursor"` and the token is the position the sync saves. An expired token (400 EXPIRED_VALUE: a run resumed a day
later) is PageCursorGone, and the run reads its pages again from the first. Incremental runs send
`If-Modified-Since: <since>+00:00` (the checkpoint less a second); Zoho has no upper bound, so records modified at
or after the run's `until` are left out of the page (the next run reads them: the checkpoint stays below `until`).

Failures: 429 and 5xx are ProviderBusy (transient, with Retry-After when sent), 401 as above, 403
(NO_PERMISSION, OAUTH_SCOPE_MISMATCH) and other 4xx ProviderRefused with Zoho's code and message. Connection errors
stay aiohttp's (transient), a non-public address NotPublicAddress (permanent).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from connectors.access_tokens import RECONNECT, TokenRefused, with_access_token
from connectors.api_http import api_request, error_body, raise_if_busy
from connectors.base import ApiCall, Page, PageCursorGone, ProviderRefused, Registration
from connectors.facts import Resource, base_url
from connectors.normalize import utc_time
from connectors.providers.zoho_crm.mapping import FIELDS, MAPPERS, MODIFIED_FIELD
from connectors.providers.zoho_crm.webhook import EVENTS

__all__ = [
    "MAPPERS",
    "cursor_of",
    "read_page",
    "reconciles",
    "register_webhooks",
    "test_connection",
    "unregister_webhooks",
    "update_lead_status",
]

MAX_PER_PAGE = 200
CHANNEL_LIFETIME = timedelta(days=6)  # Zoho keeps a channel at most a week (channel_expiry)
RENEW_WITHIN = timedelta(days=1)  # a channel expiring sooner is renewed by registering again (the schedule's tick)
REGISTER_EACH_TICK = True  # connectors/webhook_setup.py `renew`: channels expire
WATCH = "actions/watch"


class _Expired(Exception):
    """Zoho answered 400 EXPIRED_VALUE for the page token (it lives 24 hours): the run reads its pages again."""


def _base(call: ApiCall) -> str:
    domain = str(call.config.get("api_domain") or "").rstrip("/")
    field = next((f for f in call.facts.config_fields if f.name == "api_domain"), None)
    documented = {c.rstrip("/") for c in (field.choices if field else [])}
    if domain not in documented and not call.allow_private:
        raise ProviderRefused(
            f"Zoho CRM: config.api_domain {domain!r} is not a Zoho data centre's API domain; choose one of "
            f"{sorted(documented)} (the data centre the Zoho account lives in)"
        )
    return base_url(call.facts, dict(call.config))


async def _error(response: aiohttp.ClientResponse) -> tuple[str, str]:
    body = await error_body(response)
    if isinstance(body.get("data"), list) and body["data"] and isinstance(body["data"][0], dict):
        body = body["data"][0]  # a per-record error
    return str(body.get("code") or ""), str(body.get("message") or "")[:300]


async def _check(response: aiohttp.ClientResponse, call: ApiCall, what: str) -> None:
    status = response.status
    if status < 400:
        return
    code, message = await _error(response)
    detail = f"HTTP {status}{f' {code}' if code else ''}{f': {message}' if message else ''}"
    raise_if_busy(response, call, "Zoho CRM", what, detail)
    if status == 400 and code == "EXPIRED_VALUE":
        raise _Expired(detail)
    if status == 401 and code in ("INVALID_TOKEN", "AUTHENTICATION_FAILURE", ""):
        raise TokenRefused
    if status in (401, 403):  # OAUTH_SCOPE_MISMATCH, NO_PERMISSION
        raise ProviderRefused(
            f"Zoho CRM {what}: refused ({detail}): the Zoho user needs access to the module and the connection the "
            f"scopes ZohoCRM.modules.leads.ALL, .contacts.ALL, .deals.ALL and ZohoCRM.notifications.ALL: {RECONNECT}"
        )
    if status == 404:
        raise ProviderRefused(f"Zoho CRM {what}: not found ({detail}): check config.api_domain (the data centre)")
    raise ProviderRefused(f"Zoho CRM {what}: Zoho refused the request ({detail})")


async def _send(call: ApiCall, method: str, url: str, what: str, **kwargs: Any) -> tuple[int, Any]:
    """One request, repeated once with a new token when Zoho refuses the token. Answers (status, JSON or None)."""
    headers = kwargs.pop("headers", {})

    async def attempt(token: str) -> tuple[int, Any]:
        auth = {"Authorization": f"Zoho-oauthtoken {token}", **headers}
        async with api_request(call, method, url, auth, redirects=True, **kwargs) as response:
            await _check(response, call, what)
            if response.status in (204, 304):
                return response.status, None
            return response.status, await response.json(content_type=None)

    refused = f"Zoho CRM {what}: Zoho refused the access token (HTTP 401 INVALID_TOKEN): "
    return await with_access_token(call, attempt, refused)


def _since_header(since: str) -> str:
    """The sync's window bound (UTC, no offset) as If-Modified-Since takes it: ISO 8601 with an offset."""
    return utc_time(since).strftime("%Y-%m-%dT%H:%M:%S+00:00")


async def read_page(
    call: ApiCall,
    resource: Resource,
    page: int,
    since: str | None = None,
    until: str | None = None,
    per_page: int | None = None,
    after: str | None = None,
) -> Page:
    """The module's first page (`after` None), or the page Zoho's page token `after` continues to, ordered by id
    ascending; with `since`, only records modified after it (If-Modified-Since), and with `until`, those modified
    before it. A page that `until` empties while Zoho has more is followed by the next (an empty page would end the
    run before later pages were read). `page` (the run's count) is not sent: the position is the token."""
    while True:
        objects, token = await _zoho_page(call, resource, since, per_page, after)
        if until:
            bound = utc_time(until)
            objects = [o for o in objects if not o.get(MODIFIED_FIELD) or utc_time(o[MODIFIED_FIELD]) < bound]
        if objects or token is None:
            return Page(objects=objects, next_cursor=token)
        after = token


async def _zoho_page(
    call: ApiCall, resource: Resource, since: str | None, per_page: int | None, token: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """One Zoho page: its records and the token of the next page (None: the last)."""
    params = {
        "fields": ",".join(FIELDS[resource.kind]),
        "per_page": str(min(per_page or resource.page_size, MAX_PER_PAGE)),
        "sort_by": "id",
        "sort_order": "asc",
    }
    params |= {"page_token": token} if token else {"page": "1"}
    headers = {"If-Modified-Since": _since_header(since)} if since and resource.since_param else {}
    what = f"listing {resource.name}"
    try:
        status, body = await _send(call, "GET", _base(call) + resource.path, what, params=params, headers=headers)
    except _Expired as exc:
        raise PageCursorGone(f"Zoho CRM {what}: {exc}") from None
    if body is None:  # 204: an empty module; 304: nothing modified since
        return [], None
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise ProviderRefused(f"Zoho CRM {what}: the answer has no `data` list (HTTP {status})")
    info = body.get("info") if isinstance(body.get("info"), dict) else {}
    objects = [o for o in body["data"] if isinstance(o, dict)]
    more = info.get("more_records") is True and bool(objects)
    following = info.get("next_page_token") if more else None
    if more and not (isinstance(following, str) and following):
        raise ProviderRefused(f"Zoho CRM {what}: more_records without a next_page_token (HTTP {status})")
    return objects, following


async def test_connection(call: ApiCall) -> None:
    """One lead: raises ProviderRefused when the API domain, the token or the scopes are wrong."""
    await read_page(call, call.facts.resources[0], 1, per_page=1)


def cursor_of(resource: Resource, obj: dict[str, Any]) -> str | None:
    """The record's checkpoint value: its Modified_Time (ISO 8601 with the account's offset), or None."""
    value = obj.get(resource.cursor_field or MODIFIED_FIELD)
    return str(value) if value else None


def reconciles(resource: Resource, external_id: str) -> bool:
    """Every lead or contact this connector holds came from the module that lists it while it exists."""
    return True


async def update_lead_status(call: ApiCall, lead_id: str, status: str) -> dict[str, Any]:
    """The `update_lead_status` action: PUT Leads/{id} {"data": [{"Lead_Status": status}]}. Answers the lead's id
    and Zoho's details of the update (`{"id", "code", "details", ...}`)."""
    if not str(lead_id).isdigit() or not str(status).strip():
        raise ProviderRefused("update_lead_status: lead_id must be a Zoho record id (digits) and status non-empty")
    url = _base(call) + f"Leads/{lead_id}"
    what = f"updating lead {lead_id}"
    _, body = await _send(call, "PUT", url, what, json={"data": [{"Lead_Status": str(status)}]})
    row = body.get("data", [None])[0] if isinstance(body, dict) and isinstance(body.get("data"), list) else None
    if not isinstance(row, dict) or row.get("status") != "success":
        code = str(row.get("code", "")) if isinstance(row, dict) else ""
        message = str(row.get("message", ""))[:300] if isinstance(row, dict) else ""
        raise ProviderRefused(f"Zoho CRM {what}: not updated ({code}{f': {message}' if message else ''})")
    details = row.get("details") if isinstance(row.get("details"), dict) else {}
    return {"id": str(details.get("id") or lead_id), "code": row.get("code"), "details": details}


# --- notifications (the watch API): the set-up's webhooks (connectors/webhook_setup.py) ---------------------------


def channel_id(delivery_url: str) -> int:
    """The channel's id: derived from the delivery URL (it names the connector), so a retried registration finds
    the channel an earlier attempt enabled and a renewal updates it."""
    return int(hashlib.sha256(delivery_url.encode()).hexdigest()[:12], 16)


def _expiry(channel: dict[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(str(channel.get("channel_expiry")))
    except ValueError:
        return None


async def register_webhooks(call: ApiCall, delivery_url: str, secret: str) -> Registration:
    """One channel watching Leads, Contacts and Deals, notifying `delivery_url` with `secret` as its token. One found
    (an earlier attempt, or the last registration) that points there and expires more than a day ahead is kept; one
    expiring sooner, or pointing elsewhere, has its details replaced (PUT, a new expiry); none is enabled (POST)."""
    if not 0 < len(secret) <= 50:
        raise ProviderRefused("Zoho CRM notifications: the webhook secret (the channel's token) must be 1-50 chars")
    channel = channel_id(delivery_url)
    _, body = await _send(call, "GET", _base(call) + WATCH, "listing notification channels")
    found = [
        w for w in (body or {}).get("watch") or [] if isinstance(w, dict) and str(w.get("channel_id")) == str(channel)
    ]
    now = datetime.now(UTC)
    if found:
        expiry, held = _expiry(found[0]), found[0]
        if (
            held.get("notify_url") == delivery_url
            and held.get("token") in (None, secret)  # UNVERIFIED whether Zoho lists the token
            and set(EVENTS) <= set(held.get("events") or [])
            and expiry is not None
            and expiry - now > RENEW_WITHIN
        ):
            return Registration({"*": str(channel)}, secret)
    wanted = {
        "channel_id": channel,
        "events": list(EVENTS),
        "channel_expiry": (now + CHANNEL_LIFETIME).isoformat(timespec="seconds"),
        "token": secret,
        "notify_url": delivery_url,
    }
    method, what = ("PUT", "renewing the notification channel") if found else ("POST", "enabling notifications")
    _, answer = await _send(call, method, _base(call) + WATCH, what, json={"watch": [wanted]})
    row = (answer or {}).get("watch", [None])[0] if isinstance(answer, dict) else None
    if not isinstance(row, dict) or row.get("status") != "success":
        code = str(row.get("code", "")) if isinstance(row, dict) else ""
        raise ProviderRefused(f"Zoho CRM {what}: not done ({code}); the connection needs ZohoCRM.notifications.ALL")
    return Registration({"*": str(channel)}, secret)


async def unregister_webhooks(call: ApiCall, webhook_ids: list[str]) -> None:
    """Disable these channels (DELETE actions/watch?channel_ids=..); one already gone counts as disabled."""
    if webhook_ids:
        params = {"channel_ids": ",".join(webhook_ids)}
        await _send(call, "DELETE", _base(call) + WATCH, "disabling notifications", params=params)
