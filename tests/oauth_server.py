"""A local OAuth2 authorization server speaking the documented shapes (RFC 6749, RFC 7636, Zoho's variant), written
from the specifications, independently of connectors/oauth.py.

- `GET /oauth/v2/auth`: the user consents at once; a code bound to the client, the redirect URI and the PKCE
  challenge is issued, and the user sent back to `redirect_uri?code=..&state=..&location=us&accounts-server=<us>`.
- `POST /oauth/v2/token` (form body):
  - `grant_type=authorization_code`: the code once, for its client and redirect URI, and only with the verifier
    whose S256 hash is the challenge (RFC 7636 4.6); otherwise 400 invalid_grant.
  - `grant_type=refresh_token`: a new access token; a new refresh token only when `rotate_refresh` (Zoho never
    rotates); 400 invalid_grant for a revoked or unknown refresh token.
  `token_calls` counts every request to the token endpoint; `fail_with` answers that status instead.
- `POST /oauth/v2/token/revoke?token=<refresh token>` (Zoho Accounts, "Revoke refresh token"): the refresh token and
  every access token issued with it stop working; 200 `{"status": "success"}`. An unknown or revoked token: 400
  `{"error": "invalid_token"}` (UNVERIFIED: Zoho documents only the success). `revoke_calls` counts the requests;
  `fail_with` answers that status here too (a provider that is down).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlencode

from aiohttp import web

CLIENT_ID = "1000.TESTCLIENT"
CLIENT_SECRET = "test-client-secret"


@dataclass
class OAuthServer:
    url: str = ""
    expires_in: int = 3600
    rotate_refresh: bool = False
    delay_s: float = 0.0  # each token answer takes this long (a slow provider widens every race)
    fail_with: int | None = None
    token_calls: int = 0
    refresh_calls: int = 0
    codes: dict[str, dict] = field(default_factory=dict)  # code -> client_id, redirect_uri, challenge
    refresh_tokens: set[str] = field(default_factory=set)  # the valid ones
    access_tokens: set[str] = field(default_factory=set)
    issued_with: dict[str, str] = field(default_factory=dict)  # access token -> the refresh token it came from
    revoke_calls: int = 0

    def revoke(self, refresh_token: str) -> None:
        self.refresh_tokens.discard(refresh_token)

    def issue_pair(self) -> tuple[str, str]:
        """(access token, refresh token), as a code exchange issues them: revoking the refresh token ends both."""
        refresh = self.issue_refresh()
        access = "1000.access." + secrets.token_hex(8)
        self.access_tokens.add(access)
        self.issued_with[access] = refresh
        return access, refresh

    def issue_refresh(self) -> str:
        token = "1000.refresh." + secrets.token_hex(8)
        self.refresh_tokens.add(token)
        return token

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/oauth/v2/auth", self.authorize)
        app.router.add_post("/oauth/v2/token", self.token)
        app.router.add_post("/oauth/v2/token/revoke", self.revoke_token)
        return app

    async def authorize(self, request: web.Request) -> web.Response:
        q = request.query
        if q.get("response_type") != "code" or q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return web.json_response({"error": "invalid_request"}, status=400)
        code = "1000.code." + secrets.token_hex(8)
        self.codes[code] = {
            "client_id": q["client_id"],
            "redirect_uri": q["redirect_uri"],
            "challenge": q["code_challenge"],
        }
        back = {"code": code, "state": q.get("state", ""), "location": "us", "accounts-server": self.url}
        return web.Response(status=302, headers={"Location": q["redirect_uri"] + "?" + urlencode(back)})

    @staticmethod
    def _refused(error: str) -> web.Response:
        return web.json_response({"error": error}, status=400)

    async def token(self, request: web.Request) -> web.Response:
        self.token_calls += 1
        form = await request.post()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail_with:
            return web.json_response({"error": "server_error"}, status=self.fail_with)
        if self.client(request, form) != (CLIENT_ID, CLIENT_SECRET):
            return web.json_response({"error": "invalid_client"}, status=401)
        grant = form.get("grant_type")
        if grant == "authorization_code":
            issued = self.codes.pop(str(form.get("code", "")), None)  # a code works once
            verifier = str(form.get("code_verifier", ""))
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if (
                issued is None
                or issued["redirect_uri"] != form.get("redirect_uri")
                or issued["challenge"] != challenge
                or not 43 <= len(verifier) <= 128
            ):
                return self._refused("invalid_grant")
            return self._tokens(self.issue_refresh())
        if grant == "refresh_token":
            self.refresh_calls += 1
            if form.get("refresh_token") not in self.refresh_tokens:
                return self._refused("invalid_grant")
            if self.rotate_refresh:
                self.revoke(str(form["refresh_token"]))
                return self._tokens(self.issue_refresh())
            return self._tokens(None, issued_with=str(form["refresh_token"]))
        return self._refused("unsupported_grant_type")

    def client(self, request: web.Request, form) -> tuple[str | None, str | None]:
        """The client's id and secret as this server takes them (client_secret_post: in the form)."""
        return form.get("client_id"), form.get("client_secret")

    async def revoke_token(self, request: web.Request) -> web.Response:
        self.revoke_calls += 1
        if self.fail_with:
            return web.json_response({"error": "server_error"}, status=self.fail_with)
        token = request.query.get("token", "")
        if token in self.refresh_tokens:
            self.revoke(token)
            self.access_tokens -= {a for a, r in self.issued_with.items() if r == token}
        elif token in self.access_tokens:
            self.access_tokens.discard(token)
        else:
            return self._refused("invalid_token")
        return web.json_response({"status": "success"})

    def _tokens(self, refresh_token: str | None, issued_with: str | None = None) -> web.Response:
        access = "1000.access." + secrets.token_hex(8)
        self.access_tokens.add(access)
        if refresh_token or issued_with:
            self.issued_with[access] = str(refresh_token or issued_with)
        body = {
            "access_token": access,
            "api_domain": "https://www.zohoapis.com",
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        }
        if refresh_token:
            body["refresh_token"] = refresh_token
        return web.json_response(body)
