"""Trello's REST API 1, as a sync, the set-up and the actions call it: pages of boards, lists, members and cards, the
boards' webhooks, and `create_card` (developer.atlassian.com/cloud/trello/rest/).

Auth: the API key and the member's token in the `Authorization: OAuth oauth_consumer_key="…", oauth_token="…"`
header, never in a query string (so no URL that a log or an error could show carries them); listing the token's
webhooks is `GET /1/tokens/{token}/webhooks`, the one path that names it. Redirects are not followed.

What a sync reads: the member's boards (`GET /1/members/me/boards?filter=all`) with their lists and members nested
(`lists=all`, `members=all`) in one answer, which Trello does not page: boards, lists and members are that answer
cut into pages of `page_size` by id (a member's boards are few), the cursor being the last id handed out; members
once each however many boards they are on. Cards are paged by Trello, board by board: `GET /1/boards/{id}/cards`
with `limit` and `before` (the oldest card id of the previous page: ids grow with creation), newest first; the
cursor is `<board id>|<before>`. No listing filters by change, so every run reads its resource whole (deletions by
full reconciliation) and an object's version is a hash of its JSON (`cursor_of` answers None).

Failures: 429 (`API_TOKEN_LIMIT_EXCEEDED`, Retry-After when sent) and 5xx ProviderBusy, 401 ProviderRefused naming
the key and token, 404 the board or list, other 4xx Trello's text.
"""

from __future__ import annotations

import re
from typing import Any

import aiohttp

from connectors.api_http import api_request, error_detail, raise_if_busy
from connectors.base import ApiCall, Page, PageCursorGone, ProviderRefused, Registration
from connectors.facts import Resource, base_url
from connectors.providers.trello.mapping import MAPPERS

__all__ = [
    "MAPPERS",
    "create_card",
    "cursor_of",
    "read_page",
    "reconciles",
    "register_webhooks",
    "test_connection",
    "unregister_webhooks",
]

API_BASE: str | None = None  # tests point it at their local Trello (the facts' base URL otherwise)
REGISTER_EACH_TICK = True  # connectors/webhook_setup.py `renew`: a board made after the set-up gets its webhook
TRELLO_ID = re.compile(r"^[0-9a-f]{24}$")
BOARDS_QUERY = {
    "filter": "all",
    "fields": "name,desc,closed,url,shortUrl,dateLastActivity,idOrganization",
    "lists": "all",
    "list_fields": "name,closed,pos,idBoard",
    "members": "all",
    "member_fields": "fullName,username,avatarUrl",
}
CARD_FIELDS = "name,desc,closed,idBoard,idList,idMembers,due,dueComplete,dateLastActivity,shortUrl,idShort,labels"


def _base(call: ApiCall) -> str:
    return (API_BASE.rstrip("/") + "/") if API_BASE else base_url(call.facts, dict(call.config))


def _secret(call: ApiCall, name: str, where: str) -> str:
    value = str(call.secrets.get(name) or "")
    if not value:
        raise ProviderRefused(f"Trello: the connector has no {name}: add secrets.{name} ({where})")
    return value


def _headers(call: ApiCall) -> dict[str, str]:
    key = _secret(call, "api_key", "the Power-Up's API key, trello.com/power-ups/admin")
    token = _secret(call, "api_token", "the token made for that key by authorizing it")
    return {"Authorization": f'OAuth oauth_consumer_key="{key}", oauth_token="{token}"', "Accept": "application/json"}


async def _check(response: aiohttp.ClientResponse, call: ApiCall, what: str) -> None:
    if response.status < 400:
        return
    detail = await error_detail(response, "message", "error")
    raise_if_busy(response, call, "Trello", what, detail)
    if response.status == 401:
        raise ProviderRefused(
            f"Trello {what}: the key or the token was refused ({detail}): copy the API key and a token authorized "
            "for it with read,write scope into secrets.api_key and secrets.api_token"
        )
    if response.status == 404:
        raise ProviderRefused(f"Trello {what}: not found ({detail})")
    raise ProviderRefused(f"Trello {what}: Trello refused the request ({detail})")


async def _call(call: ApiCall, method: str, path: str, what: str, **kwargs: Any) -> Any:
    async with api_request(call, method, _base(call) + path, _headers(call), **kwargs) as response:
        await _check(response, call, what)
        return await response.json(content_type=None)


async def _boards(call: ApiCall) -> list[dict[str, Any]]:
    """The member's boards, with their lists and members, by id."""
    boards = await _call(call, "GET", "members/me/boards", "listing boards", params=BOARDS_QUERY)
    if not isinstance(boards, list):
        raise ProviderRefused("Trello listing boards: the answer is not a JSON list")
    return sorted((b for b in boards if isinstance(b, dict) and b.get("id")), key=lambda b: str(b["id"]))


def _nested(boards: list[dict[str, Any]], resource: str) -> list[dict[str, Any]]:
    """The objects of `resource` in the boards' answer, each once, by id."""
    if resource == "boards":
        return [{k: v for k, v in b.items() if k not in ("lists", "members")} for b in boards]
    found: dict[str, dict[str, Any]] = {}
    for b in boards:
        for obj in b.get(resource) or []:
            if isinstance(obj, dict) and obj.get("id"):
                held = found.setdefault(str(obj["id"]), {**obj, "board_ids": []})
                held["board_ids"].append(str(b["id"]))
    listed = sorted(found.values(), key=lambda o: str(o["id"]))
    if resource == "lists":
        for obj in listed:
            del obj["board_ids"]  # a list is on one board (idBoard)
    return listed


def _slice(objects: list[dict[str, Any]], after: str | None, size: int) -> Page:
    rest = [o for o in objects if after is None or str(o["id"]) > after]
    chosen = rest[:size]
    return Page(objects=chosen, next_cursor=str(chosen[-1]["id"]) if len(rest) > size else None)


async def _cards(call: ApiCall, board: dict[str, Any], before: str, size: int) -> list[dict[str, Any]]:
    params = {"filter": "all", "fields": CARD_FIELDS, "limit": str(size)}
    if before:
        params["before"] = before
    cards = await _call(
        call, "GET", f"boards/{board['id']}/cards", f"listing cards of board {board['id']}", params=params
    )
    names = {str(x.get("id")): x.get("name") for x in board.get("lists") or [] if isinstance(x, dict)}
    listed = [c for c in cards if isinstance(c, dict)] if isinstance(cards, list) else []
    return [{**c, "list_name": names.get(str(c.get("idList")), "")} for c in listed]


async def read_page(
    call: ApiCall,
    resource: Resource,
    page: int,
    since: str | None = None,
    until: str | None = None,
    after: str | None = None,
) -> Page:
    """The page of `resource` after cursor `after` (None: the first). No listing takes a time window."""
    size = resource.page_size
    boards = await _boards(call)
    if resource.name != "cards":
        return _slice(_nested(boards, resource.name), after, size)
    if not boards:
        return Page(objects=[])
    ids = [str(b["id"]) for b in boards]
    board_id, _, before = (after or f"{ids[0]}|").partition("|")
    if board_id not in ids:
        raise PageCursorGone(f"board {board_id} is no longer the member's")
    while True:  # a board without cards goes on to the next, so an empty page ends the whole listing
        board = boards[ids.index(board_id)]
        cards = await _cards(call, board, before, size)
        following = ids.index(board_id) + 1
        if len(cards) == size:
            next_cursor: str | None = f"{board_id}|{min(str(c['id']) for c in cards)}"
        else:
            next_cursor = f"{ids[following]}|" if following < len(ids) else None
        if cards or next_cursor is None:
            return Page(objects=cards, next_cursor=next_cursor)
        board_id, _, before = next_cursor.partition("|")


async def test_connection(call: ApiCall) -> None:
    """The token's member: raises ProviderRefused when the key or the token is wrong."""
    await _call(call, "GET", "members/me", "reading the token's member", params={"fields": "username"})


def cursor_of(resource: Resource, obj: dict[str, Any]) -> str | None:
    return None  # versions are JSON hashes: a list's or a member's change carries no time (module docstring)


def reconciles(resource: Resource, external_id: str) -> bool:
    return True


def _trello_id(value: str, name: str) -> str:
    if not TRELLO_ID.match(str(value)):
        raise ProviderRefused(f"{name} must be a Trello id (24 hexadecimal characters)")
    return str(value)


async def create_card(
    call: ApiCall, list_id: str, name: str, desc: str | None = None, due: str | None = None, pos: str | None = None
) -> dict[str, Any]:
    """The `create_card` action: POST /1/cards in list `list_id`. Answers the card Trello made."""
    body = {"idList": _trello_id(list_id, "list_id"), "name": name, "desc": desc, "due": due, "pos": pos}
    sent = {k: v for k, v in body.items() if v is not None}
    return await _call(call, "POST", "cards", f"creating a card in list {list_id}", json=sent)


async def register_webhooks(call: ApiCall, delivery_url: str, secret: str) -> Registration:
    """One webhook per open board (`POST /1/webhooks` {callbackURL, idModel, description}; Trello first checks the
    URL with a HEAD request). The token's webhooks already pointing a board at `delivery_url` are kept (made active
    again when Trello deactivated them), so registering twice makes nothing new. Deliveries are signed with the
    application's secret, which is what the connector verifies with (the answer's secret), not `secret`."""
    app_secret = _secret(call, "api_secret", "the Secret shown under the Power-Up's API key: it signs deliveries")
    token = _token(call)
    held = await _call(call, "GET", f"tokens/{token}/webhooks", "listing the token's webhooks")
    ours = {
        str(w.get("idModel")): w for w in held or [] if isinstance(w, dict) and w.get("callbackURL") == delivery_url
    }
    webhooks: dict[str, str] = {}
    for board in await _boards(call):
        if board.get("closed"):
            continue
        existing = ours.get(str(board["id"]))
        if existing is not None:
            if not existing.get("active", True):
                await _call(call, "PUT", f"webhooks/{existing['id']}", "reactivating a webhook", json={"active": True})
            webhooks[f"board:{board['id']}"] = str(existing["id"])
            continue
        body = {
            "callbackURL": delivery_url,
            "idModel": board["id"],
            "description": f"BizOSaaS: {board.get('name', '')}",
        }
        made = await _call(call, "POST", "webhooks", f"creating the webhook of board {board['id']}", json=body)
        webhooks[f"board:{board['id']}"] = str(made["id"])
    return Registration(webhooks, app_secret)


def _token(call: ApiCall) -> str:
    token = _secret(call, "api_token", "the token made for that key by authorizing it")
    if not re.fullmatch(r"[A-Za-z0-9_-]{20,200}", token):
        raise ProviderRefused("Trello: secrets.api_token is not a Trello token")
    return token


async def unregister_webhooks(call: ApiCall, webhook_ids: list[str]) -> None:
    """DELETE /1/webhooks/{id}; one already gone (404) is fine."""
    for webhook_id in webhook_ids:
        url = _base(call) + f"webhooks/{_trello_id(webhook_id, 'webhook id')}"
        async with api_request(call, "DELETE", url, _headers(call)) as response:
            if response.status != 404:
                await _check(response, call, f"deleting webhook {webhook_id}")
