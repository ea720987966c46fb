"""What the local Google APIs (tests/providers/google_*_server.py) share, as Google documents it for every API:

- OAuth2: the token endpoint `POST /token` (Google's is https://oauth2.googleapis.com/token) is tests/oauth_server.py's
  OAuthServer on the same origin (authorization codes with PKCE, refresh tokens that Google does not rotate), so a
  refresh issues tokens the API accepts.
- Auth: `Authorization: Bearer <token>` with a token the endpoint issued (or `issue_access`); otherwise 401
  `{"error": {"code": 401, "message": ..., "status": "UNAUTHENTICATED"}}` (AIP-193 errors).
- Refusals a test asks for with `fail_next`: 429 RESOURCE_EXHAUSTED (with Retry-After when given) or a 5xx
  (INTERNAL / UNAVAILABLE).
Every request is logged (`log`, `requests(path)`) with its query, headers, JSON body and answer status.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from oauth_server import CLIENT_ID, CLIENT_SECRET, OAuthServer

from providers.server_support import QueuedFailures

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def google_error(code: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> web.Response:
    body = {"error": {"code": code, "message": message, "status": STATUS_NAMES.get(code, "UNKNOWN"), **extra}}
    return web.json_response(body, status=code, headers=headers)


@dataclass(frozen=True)
class Logged:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    status: int


@dataclass
class GoogleApi(QueuedFailures):
    failure_status = 429  # rate limited
    url: str = ""
    oauth: OAuthServer = field(default_factory=OAuthServer)
    log: list[Logged] = field(default_factory=list)
    failures: list[tuple[int, float | None]] = field(default_factory=list)
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET

    def issue_access(self) -> str:
        token = "ya29.test-" + secrets.token_hex(8)
        self.oauth.access_tokens.add(token)
        return token

    def revoke_access(self, token: str) -> None:
        self.oauth.access_tokens.discard(token)

    def requests(self, path_end: str) -> list[Logged]:
        return [r for r in self.log if r.path.endswith(path_end)]

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def app(self) -> web.Application:
        @web.middleware
        async def logged(request: web.Request, handler):
            raw = await request.read()
            response = await handler(request)
            try:
                body = json.loads(raw) if raw and request.content_type == "application/json" else None
            except ValueError:
                body = None
            self.log.append(
                Logged(request.method, request.path, dict(request.query), dict(request.headers), body, response.status)
            )
            return response

        @web.middleware
        async def refusals(request: web.Request, handler):
            if request.path == "/token":
                return await handler(request)
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            if scheme != "Bearer" or token not in self.oauth.access_tokens:
                return google_error(401, "Request had invalid authentication credentials.")
            if self.failures:
                status, retry_after = self.failures.pop(0)
                headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else {}
                return google_error(status, "Quota exceeded." if status == 429 else "Internal error.", headers)
            return await handler(request)

        self.oauth.url = self.url
        app = web.Application(middlewares=[logged, refusals])
        app.router.add_post("/token", self.oauth.token)
        self.routes(app)
        return app
