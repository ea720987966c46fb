"""Local webhook receivers for the outbound webhook tests: aiohttp servers that answer 2xx, 5xx, 410, a redirect, or
hang past the dispatcher's timeout; each verifies every body it gets with the Standard Webhooks verification
(connectors/providers/standard_webhooks, checked against the specification's official vectors)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

import msgspec
from aiohttp import web
from factories import local_http_server

from connectors.base import SignatureError, WebhookRequest
from connectors.providers.standard_webhooks.webhook import StandardWebhooksProvider

VERIFIER = StandardWebhooksProvider()


@dataclass
class Received:
    webhook_id: str
    timestamp: str
    signature: str
    body: bytes
    cookie: str = ""  # the Cookie header, if one was sent

    @property
    def payload(self) -> dict:
        return msgspec.json.decode(self.body)

    def verifies_with(self, secret: str) -> bool:
        headers = {
            "webhook-id": self.webhook_id,
            "webhook-timestamp": self.timestamp,
            "webhook-signature": self.signature,
        }
        try:
            VERIFIER.verify(WebhookRequest(headers, self.body, "application/json"), [secret], time.time())
        except SignatureError:
            return False
        return True


@dataclass
class Receiver:
    """What one local endpoint answers (`mode`, changeable during a test) and everything it was sent."""

    mode: str = "ok"  # ok | fail | gone | hang | redirect | cookie
    redirect_to: str = ""
    url: str = ""
    received: list[Received] = field(default_factory=list)
    released: asyncio.Event = field(default_factory=asyncio.Event)  # ends the hanging requests at teardown

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        h = request.headers
        self.received.append(
            Received(
                h.get("webhook-id", ""),
                h.get("webhook-timestamp", ""),
                h.get("webhook-signature", ""),
                body,
                h.get("Cookie", ""),
            )
        )
        if self.mode == "hang":
            await self.released.wait()
            return web.Response(status=200)
        if self.mode == "redirect":
            raise web.HTTPFound(self.redirect_to)
        if self.mode == "cookie":  # a receiver that hands out a session cookie (its tenant's, say)
            return web.Response(status=204, headers={"Set-Cookie": "session=for-one-tenant-only; Path=/"})
        return web.Response(status={"ok": 204, "fail": 503, "gone": 410}[self.mode])

    def ids(self) -> list[str]:
        return [r.webhook_id for r in self.received]


@contextlib.asynccontextmanager
async def receivers(*modes: str):
    """Start one receiver per mode; yields them (each with its `url`)."""
    started = [Receiver(mode) for mode in modes]
    async with contextlib.AsyncExitStack() as stack:
        for receiver in started:
            app = web.Application()
            app.router.add_post("/hook", receiver.handle)
            receiver.url = await stack.enter_async_context(local_http_server(app)) + "/hook"
        try:
            yield started
        finally:
            for receiver in started:
                receiver.released.set()
