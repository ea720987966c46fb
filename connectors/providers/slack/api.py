"""Slack's Web API as a sync and the actions call it: pages of conversations (conversations.list) and of messages
(conversations.history of each conversation the bot is a member of), and `post_message` (chat.postMessage).

Auth: `Authorization: Bearer <bot token>`, the token the OAuth2 install (oauth.v2.access) left in Vault. Slack's
bot tokens do not expire unless the app turned token rotation on: with a refresh token in Vault the token comes
from the sync's token source (`call.access_token`, refreshed under connectors/oauth.py's lock, and asked again once
when Slack answers `token_expired`); without one, the stored token is used as it is (an hour-long expiry guessed for
an answer without `expires_in` must not mark a non-expiring token needs_reauth).

Paging: `cursor` / `limit`, the next cursor in `response_metadata.next_cursor` (empty at the end). Messages page
across conversations: the position is `<conversation id>:<Slack's cursor>` (empty after the colon: the
conversation's first page); a conversation whose history ends moves the position to the next one the bot is a
member of, in conversations.list's order, so one page never mixes two conversations and an empty one is skipped.
Each message gets `channel` and `id` = `<channel>:<ts>` (the key webhook.py gives it too). Incremental runs send
`oldest`/`latest` (message times).

Failures: HTTP 429 (Retry-After) and 5xx are ProviderBusy; HTTP 200 `{"ok": false, "error"}`: `ratelimited` busy,
`invalid_cursor` PageCursorGone, `not_authed`/`invalid_auth`/`token_revoked`/`account_inactive`/`token_expired`
ProviderRefused naming the fix (install the app again), others ProviderRefused with Slack's code.
"""

from __future__ import annotations

from typing import Any

from connectors.base import ApiCall, Page, PageCursorGone, ProviderBusy, ProviderRefused, retry_after_s
from connectors.facts import Resource, base_url
from connectors.json_api import request_json
from connectors.normalize import utc_time
from connectors.oauth import ACCESS_TOKEN, REFRESH_TOKEN
from connectors.providers.slack.mapping import MAPPERS, message_id

__all__ = ["MAPPERS", "cursor_of", "post_message", "read_page", "reconciles", "test_connection"]

MAX_LIMIT = 100
TYPES = "public_channel,private_channel"
REAUTH = frozenset({"not_authed", "invalid_auth", "token_revoked", "account_inactive", "token_expired"})
REINSTALL = "install the app again: GET /v1/connectors/{id}/oauth/authorize"
# Where the Web API lives when not at provider.toml's base URL: tests set it (never a tenant's setting: the token
# goes there)
API_BASE: str | None = None


def base(call: ApiCall) -> str:
    return (API_BASE.rstrip("/") + "/") if API_BASE else base_url(call.facts, dict(call.config))


async def _token(call: ApiCall, rejected: str | None = None) -> str:
    if call.access_token is not None and call.secrets.get(REFRESH_TOKEN):  # token rotation: expiring tokens
        return await call.access_token(rejected)
    token = str(call.secrets.get(ACCESS_TOKEN) or "")
    if not token:
        raise ProviderRefused(f"Slack: the app is not installed for this connector: {REINSTALL}")
    return token


async def _call(call: ApiCall, method: str, what: str, params: dict[str, str] | None = None, body=None) -> dict:
    """One Web API method (GET with `params`, POST JSON with `body`); the answer's object when `ok`."""
    token = await _token(call)
    for attempt in (1, 2):
        headers = {"Authorization": f"Bearer {token}"}
        verb, extra = ("POST", {"json": body}) if body is not None else ("GET", {"params": params or {}})
        answer = await request_json(call, verb, base(call) + method, f"Slack {what}", headers=headers, **extra)
        error = str(answer.field("error") or "")
        if answer.status < 400 and answer.field("ok") is True:
            return answer.body
        if error == "token_expired" and attempt == 1 and call.secrets.get(REFRESH_TOKEN):
            token = await _token(call, rejected=token)
            continue
        break
    detail = f"HTTP {answer.status}{f' {error}' if error else ''}"
    if answer.status == 429 or answer.status >= 500 or error == "ratelimited":
        header = call.facts.api.retry_after_header if call.facts.api else "Retry-After"
        raise ProviderBusy(f"Slack {what}: {detail}, try later", retry_after_s(answer.headers, header))
    if error == "invalid_cursor":
        raise PageCursorGone(f"Slack {what}: the cursor is no longer valid ({detail})")
    if error in REAUTH or answer.status == 401:
        raise ProviderRefused(f"Slack {what}: the bot token was refused ({detail}): {REINSTALL}")
    raise ProviderRefused(f"Slack {what}: Slack refused the request ({detail})")


def _next(body: dict[str, Any]) -> str | None:
    return str((body.get("response_metadata") or {}).get("next_cursor") or "") or None


async def _conversations(call: ApiCall, cursor: str | None, limit: int) -> tuple[list[dict[str, Any]], str | None]:
    params = {"types": TYPES, "exclude_archived": "false", "limit": str(limit)}
    if cursor:
        params["cursor"] = cursor
    body = await _call(call, "conversations.list", "listing conversations", params)
    listed = body.get("channels")
    if not isinstance(listed, list):
        raise ProviderRefused("Slack conversations.list: the answer has no channels list")
    return [c for c in listed if isinstance(c, dict) and c.get("id")], _next(body)


async def _member_after(call: ApiCall, channel: str | None) -> str | None:
    """The first conversation the bot is a member of after `channel` (None: the first of all), in list order."""
    cursor, passed = None, channel is None
    while True:
        listed, cursor = await _conversations(call, cursor, MAX_LIMIT)
        for c in listed:
            if passed and c.get("is_member") and not c.get("is_archived"):
                return str(c["id"])
            passed = passed or c["id"] == channel
        if cursor is None:
            return None


def _epoch(value: str | None) -> str | None:
    return f"{utc_time(value).timestamp():.6f}" if value else None


async def _history(call, resource, channel, cursor, since, until, limit) -> Page:
    params = {"channel": channel, "limit": str(limit), "inclusive": "true"}
    params |= {k: v for k, v in (("cursor", cursor), ("oldest", _epoch(since)), ("latest", _epoch(until))) if v}
    body = await _call(call, resource.path, f"reading {channel}'s history", params)
    listed = body.get("messages")
    if not isinstance(listed, list):
        raise ProviderRefused(f"Slack conversations.history {channel}: the answer has no messages list")
    objects = [{**m, "channel": channel, "id": message_id(channel, m["ts"])} for m in listed if m.get("ts")]
    following = _next(body) if body.get("has_more") is not False else None
    return Page(objects=objects, next_cursor=f"{channel}:{following}" if following else None)


async def read_page(
    call: ApiCall,
    resource: Resource,
    page: int,
    since: str | None = None,
    until: str | None = None,
    per_page: int | None = None,
    after: str | None = None,
) -> Page:
    """The page of `resource` at the position `after` (None: the first)."""
    limit = min(per_page or resource.page_size, MAX_LIMIT)
    if resource.name == "conversations":
        listed, cursor = await _conversations(call, after, limit)
        return Page(objects=listed, next_cursor=cursor)
    channel, _, cursor = (after or "").partition(":")
    channel = channel or await _member_after(call, None)
    while channel is not None:
        found = await _history(call, resource, channel, cursor or None, since, until, limit)
        if found.next_cursor:
            return found
        following = await _member_after(call, channel)
        if found.objects:
            return Page(objects=found.objects, next_cursor=f"{following}:" if following else None)
        channel, cursor = following, ""
    return Page(objects=[])


async def test_connection(call: ApiCall) -> None:
    """auth.test: ProviderRefused when the app is not installed or its token is refused."""
    await _call(call, "auth.test", "testing the token", {})


def cursor_of(resource: Resource, obj: dict[str, Any]) -> str | None:
    """A message's time (its latest edit's, when edited): the checkpoint and its version; conversations: none."""
    if resource.name != "messages":
        return None
    edited = (obj.get("edited") or {}).get("ts")
    return utc_time(max(str(obj["ts"]), str(edited or ""))).isoformat()


def reconciles(resource: Resource, external_id: str) -> bool:
    """Conversations are listed whole (archived ones too); messages are deleted by webhook only."""
    return resource.name == "conversations"


async def post_message(call: ApiCall, channel: str, text: str, thread_ts: str | None = None) -> dict[str, Any]:
    """The `post_message` action (chat.postMessage): answers the message's key (`<channel>:<ts>`), channel and ts."""
    body: dict[str, Any] = {"channel": channel, "text": text}
    if thread_ts:
        body["thread_ts"] = thread_ts
    sent = await _call(call, "chat.postMessage", f"posting in {channel}", body=body)
    ts = str(sent.get("ts") or "")
    if not ts:
        raise ProviderRefused("Slack chat.postMessage: the answer names no ts")
    return {"id": message_id(str(sent.get("channel") or channel), ts), "channel": channel, "ts": ts}
