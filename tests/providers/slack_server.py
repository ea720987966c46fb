"""A local Slack Web API for tests, in the documented shapes (api.slack.com/web: "Web API basics", "Pagination",
"Rate limits"; the methods conversations.list, conversations.history, chat.postMessage, auth.test, oauth.v2.access).

- `Authorization: Bearer <bot token>`: without one HTTP 200 `{"ok": false, "error": "not_authed"}`, with another
  `invalid_auth`, with an expired rotating token `token_expired`; every error is HTTP 200 with `ok: false` but rate
  limiting: HTTP 429, `Retry-After`, `ratelimited`.
- `conversations.list` (types, exclude_archived, limit, cursor) and `conversations.history` (channel, limit, cursor,
  oldest, latest, inclusive; newest first, `has_more`; `not_in_channel` for a channel the bot is not in): cursors are
  opaque (base64 of an offset), `response_metadata.next_cursor` empty at the end, a cursor not made here
  `invalid_cursor`.
- `chat.postMessage` (JSON body: channel, text, thread_ts): the message with a new `ts`.
- `oauth.v2.access` (form: client_id, client_secret, code, redirect_uri): the bot token once per code issued by
  `issue_code`; `invalid_code` otherwise, `bad_client_secret` for a wrong secret.
Test hooks: `seed`, `fail_next`, `posted`, `log`.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

CLIENT_ID = "1234567890.0987654321"
CLIENT_SECRET = "slack-client-secret"


def _cursor(offset: int) -> str:
    return base64.b64encode(f"offset:{offset}".encode()).decode()


def _offset(cursor: str) -> int | None:
    try:
        kind, value = base64.b64decode(cursor, validate=True).decode().split(":")
        return int(value) if kind == "offset" else None
    except ValueError:
        return None


@dataclass
class SlackWorkspace:
    tokens: set[str] = field(default_factory=lambda: {"xoxb-local-bot-token"})
    expired: set[str] = field(default_factory=set)  # rotated tokens past their 12 hours: `token_expired`
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> conversation, in creation order
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # id -> messages, oldest first
    codes: dict[str, str] = field(default_factory=dict)  # code -> redirect_uri
    posted: list[dict[str, Any]] = field(default_factory=list)
    failures: list[float | None] = field(default_factory=list)  # 429s to answer, with their Retry-After
    log: list[tuple[str, dict[str, str], int]] = field(default_factory=list)
    url: str = ""
    _seq: int = 0

    @property
    def token(self) -> str:
        return next(iter(sorted(self.tokens)))

    def channel(self, name: str, member: bool = True, private: bool = False) -> str:
        self._seq += 1
        cid = f"{'G' if private else 'C'}0{self._seq:08d}"
        self.channels[cid] = {
            "id": cid,
            "name": name,
            "is_channel": not private,
            "is_group": private,
            "is_im": False,
            "is_mpim": False,
            "is_private": private,
            "created": 1700000000 + self._seq,
            "is_archived": False,
            "is_member": member,
            "topic": {"value": f"{name} topic", "creator": "U01", "last_set": 0},
            "purpose": {"value": f"About {name}", "creator": "U01", "last_set": 0},
            "num_members": 3,
        }
        self.history[cid] = []
        return cid

    def say(self, cid: str, text: str, user: str = "U0AAAAAAA", **extra: Any) -> dict[str, Any]:
        self._seq += 1
        msg = {"type": "message", "user": user, "text": text, "ts": f"{1700000000 + self._seq}.{self._seq:06d}"}
        self.history[cid].append({**msg, **extra})
        return self.history[cid][-1]

    def seed(self, conversations: int = 0, messages: int = 0) -> None:
        """`conversations` channels (one in three the bot is not in); `messages` spread over three channels the bot
        is in, with an empty channel between them."""
        for i in range(conversations):
            self.channel(f"team-{self._seq}", member=i % 3 != 2)
        if messages:
            rooms = [self.channel("general"), self.channel("quiet"), self.channel("sales", private=True)]
            self.channel("elsewhere", member=False)
            self.say(self.channel("not-mine", member=False), "never listed")
            for i in range(messages):
                self.say(rooms[0 if i % 2 else 2], f"message {i}")

    def message_ids(self) -> list[str]:
        return [
            f"{cid}:{m['ts']}"
            for cid, c in self.channels.items()
            if c["is_member"] and not c["is_archived"]
            for m in self.history[cid]
        ]

    def issue_code(self, redirect_uri: str) -> str:
        code = "slack-code-" + secrets.token_hex(6)
        self.codes[code] = redirect_uri
        return code

    def fail_next(self, count: int = 1, retry_after_s: float | None = 2) -> None:
        self.failures.extend([retry_after_s] * count)

    def app(self) -> web.Application:
        app = web.Application()
        for method in ("conversations.list", "conversations.history", "chat.postMessage", "auth.test"):
            app.router.add_route("*", f"/api/{method}", self.method)
        app.router.add_post("/api/oauth.v2.access", self.oauth_access)
        return app

    @staticmethod
    def _error(error: str, status: int = 200, headers: dict | None = None) -> web.Response:
        return web.json_response({"ok": False, "error": error}, status=status, headers=headers)

    async def method(self, request: web.Request) -> web.Response:
        name = request.path.rsplit("/", 1)[1]
        response = await self._answer(request, name)
        self.log.append((name, dict(request.query), response.status))
        return response

    async def _answer(self, request: web.Request, name: str) -> web.Response:
        auth = request.headers.get("Authorization", "")
        if not auth:
            return self._error("not_authed")
        if auth.removeprefix("Bearer ") in self.expired:
            return self._error("token_expired")
        if auth.removeprefix("Bearer ") not in self.tokens:
            return self._error("invalid_auth")
        if self.failures:
            delay = self.failures.pop(0)
            headers = {"Retry-After": str(int(delay))} if delay is not None else {}
            return self._error("ratelimited", 429, headers)
        if name == "auth.test":
            return web.json_response({"ok": True, "team": "Acme", "team_id": "T0001", "user_id": "U0BOT"})
        if name == "chat.postMessage":
            return self._post(await request.json())
        query = request.query
        limit = max(1, min(int(query.get("limit", "100")), 1000))
        start = _offset(query["cursor"]) if query.get("cursor") else 0
        if start is None:
            return self._error("invalid_cursor")
        if name == "conversations.list":
            listed = [
                c for c in self.channels.values() if query.get("exclude_archived") != "true" or not c["is_archived"]
            ]
            return self._paged({"channels": listed[start : start + limit]}, start, limit, len(listed))
        return self._history(query, start, limit)

    def _paged(self, body: dict, start: int, limit: int, total: int) -> web.Response:
        more = start + limit < total
        meta = {"next_cursor": _cursor(start + limit) if more else ""}
        return web.json_response({"ok": True, **body, "has_more": more, "response_metadata": meta})

    def _history(self, query, start: int, limit: int) -> web.Response:
        cid = query.get("channel", "")
        if cid not in self.channels:
            return self._error("channel_not_found")
        if not self.channels[cid]["is_member"]:
            return self._error("not_in_channel")
        oldest, latest = float(query.get("oldest", "0")), float(query.get("latest", "inf"))
        listed = [m for m in reversed(self.history[cid]) if oldest <= float(m["ts"]) <= latest]  # newest first
        return self._paged({"messages": listed[start : start + limit]}, start, limit, len(listed))

    def _post(self, body: dict) -> web.Response:
        cid = body.get("channel", "")
        if cid not in self.channels:
            return self._error("channel_not_found")
        if not self.channels[cid]["is_member"]:
            return self._error("not_in_channel")
        if not body.get("text"):
            return self._error("no_text")
        extra = {"thread_ts": body["thread_ts"]} if body.get("thread_ts") else {}
        msg = self.say(cid, body["text"], user="U0BOT", bot_id="B0BOT", **extra)
        self.posted.append(body)
        return web.json_response({"ok": True, "channel": cid, "ts": msg["ts"], "message": msg})

    async def oauth_access(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("client_id") != CLIENT_ID:
            return self._error("invalid_client_id")
        if form.get("client_secret") != CLIENT_SECRET:
            return self._error("bad_client_secret")
        code = str(form.get("code", ""))
        if code not in self.codes or self.codes.pop(code) != form.get("redirect_uri"):
            return self._error("invalid_code")
        token = "xoxb-" + secrets.token_hex(10)
        self.tokens.add(token)
        return web.json_response(
            {
                "ok": True,
                "access_token": token,
                "token_type": "bot",
                "scope": "channels:read,groups:read,channels:history,groups:history,chat:write",
                "bot_user_id": "U0BOT",
                "app_id": "A0APP",
                "team": {"name": "Acme", "id": "T0001"},
                "enterprise": None,
                "authed_user": {"id": "U0AAAAAAA"},
            }
        )
