"""A local Trello for tests: the REST API 1 endpoints a sync, the set-up and the create_card action use, in the
documented shape (developer.atlassian.com/cloud/trello/rest/ and guides/rest-api/webhooks/).

- Auth: `Authorization: OAuth oauth_consumer_key="<key>", oauth_token="<token>"` (or `key` and `token` query
  parameters); a wrong key answers 401 text `invalid key`, a wrong token 401 `invalid token`.
- `GET /1/members/me` (`fields`); `GET /1/members/me/boards` (`filter`, `fields`; `lists=all` and `members=all` nest
  each board's lists and members), not paged; `GET /1/boards/{id}/cards` (`filter`, `fields`, `limit` 1-1000, else
  400 `invalid value for limit`; `before`: cards whose id is lower), newest first; an unknown board is 404
  `The requested resource was not found.`
- `POST /1/cards` {idList, name, desc, due, pos}: the card; an unknown list is 400 `invalid value for idList`.
- Webhooks: `POST /1/webhooks` {callbackURL, idModel, description} first sends HEAD to callbackURL and answers 400
  `URL (<url>) did not return 200 status code, got <status>` unless it is answered 200; the same callback, model and
  token twice is 400 `A webhook with that callback, model, and token already exists`. `GET /1/tokens/{token}/webhooks`,
  `PUT /1/webhooks/{id}` (active), `DELETE /1/webhooks/{id}` (404 when unknown).

Test hooks: `seed`, `change`, `delete`, `ids`, `fail_next` (429 API_TOKEN_LIMIT_EXCEEDED with Retry-After, or 5xx),
`log`, and `deliver`: an action POSTed to each webhook on its board, signed as Trello signs it (X-Trello-Webhook =
base64 HMAC-SHA1 of the body followed by the callback URL, keyed with the application's secret).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web

from providers.server_support import QueuedFailures, logged_app

T0 = datetime(2026, 1, 1, tzinfo=UTC)
OAUTH = re.compile(r'oauth_consumer_key="([^"]*)".*oauth_token="([^"]*)"')
RESOURCES = ("boards", "lists", "members", "cards")


def trello_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class TrelloAccount(QueuedFailures):
    api_key: str = "0123456789abcdef0123456789abcdef"
    api_token: str = "ATTAlocaltoken0123456789abcdef0123456789abcdef0123456789abcdef01234567"
    api_secret: str = "trello_local_application_secret_0123456789"
    me: dict[str, Any] = field(default_factory=lambda: {"id": "5" * 24, "username": "me", "fullName": "Me Myself"})
    boards: dict[str, dict[str, Any]] = field(default_factory=dict)
    lists: dict[str, dict[str, Any]] = field(default_factory=dict)
    members: dict[str, dict[str, Any]] = field(default_factory=dict)  # besides `me`, who is on every board
    cards: dict[str, dict[str, Any]] = field(default_factory=dict)
    webhooks: dict[str, dict[str, Any]] = field(default_factory=dict)
    log: list[tuple[str, str, dict[str, str], int]] = field(default_factory=list)
    failures: list[tuple[int, float | None]] = field(default_factory=list)
    url: str = ""
    _seq: int = 0

    def _id(self) -> tuple[str, str]:
        self._seq += 1
        return f"{self._seq:024x}", trello_time(T0 + timedelta(seconds=self._seq))

    def _newest(self, resource: str) -> str:
        held = getattr(self, resource)
        if not held:
            self.seed(**{resource: 1})
        return next(reversed(held))

    def seed(self, **counts: int) -> list[str]:
        """`boards=1, lists=2, members=1, cards=5`: lists, members and cards go to the newest board (cards to its
        newest list). Answers the new ids."""
        made = []
        for resource, count in counts.items():
            for _ in range(count):
                made.append(self._add(resource))
        return made

    def _add(self, resource: str) -> str:
        object_id, now = self._id()
        n = self._seq
        if resource == "boards":
            obj = {"id": object_id, "name": f"Board {n}", "desc": "", "closed": False, "idOrganization": None}
            obj |= {"url": f"https://trello.com/b/{n}/board-{n}", "shortUrl": f"https://trello.com/b/{n}"}
            obj |= {"dateLastActivity": now, "member_ids": [self.me["id"]]}
        elif resource == "lists":
            obj = {"id": object_id, "name": f"List {n}", "closed": False, "pos": 16384.0 * n}
            obj |= {"idBoard": self._newest("boards")}
        elif resource == "members":
            obj = {"id": object_id, "fullName": f"Member {n}", "username": f"member{n}", "avatarUrl": None}
            self.boards[self._newest("boards")]["member_ids"].append(object_id)
        else:
            board = self._newest("boards")
            lists = [i for i, x in self.lists.items() if x["idBoard"] == board] or self.seed(lists=1)
            obj = {"id": object_id, "name": f"Card {n}", "desc": f"About {n}", "closed": False, "idBoard": board}
            obj |= {"idList": lists[-1], "idMembers": [self.me["id"]], "due": None, "dueComplete": False}
            obj |= {"dateLastActivity": now, "shortUrl": f"https://trello.com/c/{n}", "idShort": n, "labels": []}
        getattr(self, resource)[object_id] = obj
        return object_id

    def ids(self, resource: str) -> list[str]:
        if resource == "members":
            on_boards = {m for b in self.boards.values() for m in b["member_ids"]}
            return sorted(on_boards)
        return list(getattr(self, resource))

    def change(self, resource: str, object_id: str, **values: Any) -> dict[str, Any]:
        self._seq += 1
        obj = getattr(self, resource)[object_id]
        obj.update(values)
        if "dateLastActivity" in obj:
            obj["dateLastActivity"] = trello_time(T0 + timedelta(seconds=self._seq))
        return obj

    def delete(self, resource: str, object_id: str) -> None:
        del getattr(self, resource)[object_id]

    def app(self) -> web.Application:
        app = logged_app(self.log)
        app.router.add_get("/1/members/me", self.get_me)
        app.router.add_get("/1/members/me/boards", self.list_boards)
        app.router.add_get("/1/boards/{board}/cards", self.list_cards)
        app.router.add_post("/1/cards", self.create_card)
        app.router.add_post("/1/webhooks", self.create_webhook)
        app.router.add_get("/1/tokens/{token}/webhooks", self.list_webhooks)
        app.router.add_put("/1/webhooks/{webhook}", self.update_webhook)
        app.router.add_delete("/1/webhooks/{webhook}", self.delete_webhook)
        return app

    def _refusal(self, request: web.Request) -> web.Response | None:
        found = OAUTH.search(request.headers.get("Authorization", ""))
        key, token = found.groups() if found else (request.query.get("key"), request.query.get("token"))
        if key != self.api_key:
            return web.Response(status=401, text="invalid key")
        if token != self.api_token:
            return web.Response(status=401, text="invalid token")
        if self.failures:
            status, retry_after = self.failures.pop(0)
            headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else {}
            if status == 429:
                body = {"error": "API_TOKEN_LIMIT_EXCEEDED", "message": "Rate limit exceeded"}
                return web.json_response(body, status=429, headers=headers)
            return web.Response(status=status, text="Internal Server Error", headers=headers)
        return None

    async def get_me(self, request: web.Request) -> web.Response:
        return self._refusal(request) or web.json_response({"id": self.me["id"], "username": self.me["username"]})

    def _member(self, member_id: str) -> dict[str, Any]:
        held = self.me if member_id == self.me["id"] else self.members[member_id]
        return {k: held.get(k) for k in ("id", "fullName", "username", "avatarUrl")}

    async def list_boards(self, request: web.Request) -> web.Response:
        refused = self._refusal(request)
        if refused:
            return refused
        answered = []
        for board in self.boards.values():
            shown = {k: v for k, v in board.items() if k != "member_ids"}
            if request.query.get("lists") == "all":
                shown["lists"] = [x for x in self.lists.values() if x["idBoard"] == board["id"]]
            if request.query.get("members") == "all":
                shown["members"] = [
                    self._member(m) for m in board["member_ids"] if m == self.me["id"] or m in self.members
                ]
            answered.append(shown)
        return web.json_response(answered)

    async def list_cards(self, request: web.Request) -> web.Response:
        refused = self._refusal(request)
        if refused:
            return refused
        board = request.match_info["board"]
        if board not in self.boards:
            return web.Response(status=404, text="The requested resource was not found.")
        try:
            limit = int(request.query.get("limit", "1000"))
            if not 1 <= limit <= 1000:
                raise ValueError(limit)
        except ValueError:
            return web.Response(status=400, text="invalid value for limit")
        before = request.query.get("before")
        listed = sorted((c for c in self.cards.values() if c["idBoard"] == board), key=lambda c: c["id"], reverse=True)
        if before:
            listed = [c for c in listed if c["id"] < before]
        return web.json_response(listed[:limit])

    async def create_card(self, request: web.Request) -> web.Response:
        refused = self._refusal(request)
        if refused:
            return refused
        body = await request.json() if request.can_read_body else dict(request.query)
        in_list = self.lists.get(str(body.get("idList")))
        if in_list is None:
            return web.Response(status=400, text="invalid value for idList")
        card_id = self._add("cards")
        values = {k: body[k] for k in ("name", "desc", "due") if k in body}
        return web.json_response(
            self.change("cards", card_id, idBoard=in_list["idBoard"], idList=in_list["id"], **values)
        )

    async def create_webhook(self, request: web.Request) -> web.Response:
        refused = self._refusal(request)
        if refused:
            return refused
        body = await request.json()
        callback, model = str(body.get("callbackURL", "")), str(body.get("idModel", ""))
        if model not in self.boards:
            return web.Response(status=400, text="invalid value for idModel")
        if any(w["callbackURL"] == callback and w["idModel"] == model for w in self.webhooks.values()):
            return web.Response(status=400, text="A webhook with that callback, model, and token already exists")
        async with aiohttp.ClientSession() as session, session.head(callback, allow_redirects=False) as answer:
            if answer.status != 200:
                return web.Response(
                    status=400, text=f"URL ({callback}) did not return 200 status code, got {answer.status}"
                )
        webhook_id, _ = self._id()
        self.webhooks[webhook_id] = {
            "id": webhook_id,
            "description": str(body.get("description", "")),
            "idModel": model,
            "callbackURL": callback,
            "active": True,
            "consecutiveFailures": 0,
            "firstConsecutiveFailDate": None,
        }
        return web.json_response(self.webhooks[webhook_id])

    async def list_webhooks(self, request: web.Request) -> web.Response:
        refused = self._refusal(request)
        if refused:
            return refused
        if request.match_info["token"] != self.api_token:
            return web.Response(status=401, text="invalid token")
        return web.json_response(list(self.webhooks.values()))

    async def update_webhook(self, request: web.Request) -> web.Response:
        refused = self._refusal(request)
        if refused:
            return refused
        webhook = self.webhooks.get(request.match_info["webhook"])
        if webhook is None:
            return web.Response(status=404, text="The requested resource was not found.")
        webhook.update({k: v for k, v in (await request.json()).items() if k in ("active", "description")})
        return web.json_response(webhook)

    async def delete_webhook(self, request: web.Request) -> web.Response:
        refused = self._refusal(request)
        if refused:
            return refused
        if self.webhooks.pop(request.match_info["webhook"], None) is None:
            return web.Response(status=404, text="The requested resource was not found.")
        return web.json_response({"_value": None})

    async def deliver(
        self, action_type: str, data: dict[str, Any], board_id: str, secret: str | None = None
    ) -> list[int]:
        """POST an action to every webhook on `board_id`, signed over the body and that webhook's callback URL."""
        statuses = []
        action_id, now = self._id()
        for webhook in [w for w in self.webhooks.values() if w["idModel"] == board_id]:
            payload = {
                "action": {
                    "id": action_id,
                    "idMemberCreator": self.me["id"],
                    "type": action_type,
                    "date": now,
                    "data": {**data, "board": {"id": board_id, "name": self.boards[board_id]["name"]}},
                    "memberCreator": {"id": self.me["id"], "username": self.me["username"]},
                },
                "model": {"id": board_id, "name": self.boards[board_id]["name"]},
                "webhook": {k: webhook[k] for k in ("id", "description", "idModel", "callbackURL", "active")},
            }
            body = json.dumps(payload).encode()
            key = (secret or self.api_secret).encode()
            signature = base64.b64encode(hmac.new(key, body + webhook["callbackURL"].encode(), hashlib.sha1).digest())
            headers = {"Content-Type": "application/json", "X-Trello-Webhook": signature.decode()}
            url = webhook["callbackURL"]
            async with aiohttp.ClientSession() as session, session.post(url, data=body, headers=headers) as response:
                statuses.append(response.status)
        return statuses
