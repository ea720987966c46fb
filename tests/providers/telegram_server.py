"""A local Telegram Bot API for tests, in the documented shapes (core.telegram.org/bots/api, "Making requests"):
`POST /bot<token>/<method>` with a JSON or form body, answered `{"ok": true, "result": ...}` or `{"ok": false,
"error_code", "description"[, "parameters": {"retry_after"}]}`.

- A token that is not the bot's: 401 "Unauthorized" (Telegram's answer for a wrong token).
- `getMe`, `setWebhook` (url, secret_token: 1-256 of A-Z a-z 0-9 _ -, else 400), `getWebhookInfo`, `deleteWebhook`,
  `sendMessage` (chat_id, text; 400 "chat not found" for an unknown chat, "message text is empty" without text).
Test hooks: `chats`, `webhook` (what setWebhook set), `sent`, `fail_next` (429 with parameters.retry_after, or 5xx),
`log` (the methods called: paths carry the token, so the log keeps the method only).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


def refused(code: int, description: str, retry_after: int | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return web.json_response(body, status=code)


@dataclass
class TelegramBots:
    bot_id: int = 7012345678
    token: str = "7012345678:AAF-local-test-bot-token-kept-secret"
    chats: dict[int, dict[str, Any]] = field(
        default_factory=lambda: {111222333: {"id": 111222333, "first_name": "Ana", "type": "private"}}
    )
    webhook: dict[str, Any] = field(default_factory=dict)
    sent: list[dict[str, Any]] = field(default_factory=list)
    failures: list[tuple[int, int | None]] = field(default_factory=list)
    log: list[tuple[str, int]] = field(default_factory=list)  # (method, status)
    url: str = ""

    def fail_next(self, count: int = 1, status: int = 429, retry_after: int | None = 3) -> None:
        self.failures.extend([(status, retry_after)] * count)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", r"/bot{token}/{method}", self.method)
        return app

    async def method(self, request: web.Request) -> web.Response:
        name = request.match_info["method"]
        response = await self._answer(request, name)
        self.log.append((name, response.status))
        return response

    async def _answer(self, request: web.Request, name: str) -> web.Response:
        if request.match_info["token"] != self.token:
            return refused(401, "Unauthorized")
        if self.failures:
            status, retry_after = self.failures.pop(0)
            if status == 429:
                return refused(429, f"Too Many Requests: retry after {retry_after}", retry_after)
            return refused(status, "Internal Server Error")
        body = (await request.json()) if request.content_type == "application/json" else dict(await request.post())
        handler = getattr(self, f"_{name}", None)
        if handler is None:
            return refused(404, "Not Found")
        return handler(body)

    def _ok(self, result: Any) -> web.Response:
        return web.json_response({"ok": True, "result": result})

    def _getMe(self, body: dict) -> web.Response:
        return self._ok({"id": self.bot_id, "is_bot": True, "first_name": "BizOSaaS", "username": "bizosaas_bot"})

    def _setWebhook(self, body: dict) -> web.Response:
        secret = body.get("secret_token")
        if secret is not None and not SECRET_TOKEN.match(str(secret)):
            return refused(400, "Bad Request: secret token contains unallowed characters")
        # Telegram takes HTTPS only; loopback http is admitted for the tests' gateway
        if not str(body.get("url", "")).startswith(("https://", "http://127.0.0.1:")):
            return refused(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        self.webhook = {"url": body["url"], "secret_token": secret, "allowed_updates": body.get("allowed_updates")}
        return self._ok(True)

    def _getWebhookInfo(self, body: dict) -> web.Response:
        return self._ok(
            {"url": self.webhook.get("url", ""), "has_custom_certificate": False, "pending_update_count": 0}
        )

    def _deleteWebhook(self, body: dict) -> web.Response:
        self.webhook = {}
        return self._ok(True)

    def _sendMessage(self, body: dict) -> web.Response:
        try:
            chat = self.chats[int(body.get("chat_id", 0))]
        except (KeyError, ValueError):
            return refused(400, "Bad Request: chat not found")
        if not body.get("text"):
            return refused(400, "Bad Request: message text is empty")
        self.sent.append(body)
        message = {
            "message_id": len(self.sent) + 100,
            "from": {"id": self.bot_id, "is_bot": True, "first_name": "BizOSaaS", "username": "bizosaas_bot"},
            "chat": chat,
            "date": int(time.time()),
            "text": body["text"],
        }
        return self._ok(message)
