"""Fixtures of the portal's browser tests: one Chromium for the session (Debian's /usr/bin/chromium driven by
Playwright; never `playwright install`) and a gateway whose portal takes API-key sign-in. Registered for every test
by tests/conftest.py (`pytest_plugins`): use them by name."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import pytest
from aiohttp import web
from factories import local_http_server
from gateway_helpers import ADMIN_TOKEN, Gateway, Issuer
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

CHROMIUM = Path("/usr/bin/chromium")
PHONE_WIDTH = 375


@pytest.fixture(scope="session")
async def browser():
    if not CHROMIUM.exists():  # noqa: ASYNC240 - once per session, before anything runs
        pytest.fail(
            f"{CHROMIUM} is missing: the portal's browser tests drive Debian's chromium; "
            "install it with `apt-get install -y chromium` (.ci/run does)"
        )
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            yield launched
        finally:
            await launched.close()


@dataclass
class Portal:
    gw: Gateway
    base: str
    browser: Browser
    contexts: list[BrowserContext] = field(default_factory=list)

    async def page(self, width: int = 1024) -> Page:
        """A page in a new browser context (its own cookies): one per person in a test."""
        context = await self.browser.new_context(base_url=self.base, viewport={"width": width, "height": 800})
        context.set_default_timeout(30_000)
        self.contexts.append(context)
        return await context.new_page()

    async def sign_in(self, key: str, width: int = 1024) -> Page:
        page = await self.page(width)
        await page.goto("/portal/sign-in")
        await page.get_by_label("API key").fill(key)
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url("**/portal/")
        return page

    async def operator(self, width: int = 1024) -> Page:
        page = await self.page(width)
        await page.goto("/console/sign-in")
        await page.get_by_label("Operator token").fill(ADMIN_TOKEN)
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url("**/console/")
        return page


@pytest.fixture
async def portal(make_gateway, browser: Browser):
    gw = await make_gateway(portal_key_signin=True)
    found = Portal(gw, str(gw.client.make_url("")).rstrip("/"), browser)
    yield found
    for context in found.contexts:
        await context.close()


async def csrf_of(page: Page) -> str:
    """The session's CSRF token, as the page's forms carry it."""
    return await page.locator("input[name=csrf]").first.get_attribute("value") or ""


CLIENT_ID = "bizosaas-portal"


@dataclass
class OidcProvider:
    """An OIDC issuer's authorization and token endpoints as Authentik serves them (RFC 6749 + RFC 7636 S256),
    signing ID tokens with the `issuer` fixture's keys (whose JWKS the gateway reads)."""

    issuer: Issuer
    url: str = ""
    claims: dict = field(default_factory=dict)  # what the next person to sign in is
    wrong_nonce: bool = False
    codes: dict = field(default_factory=dict)  # code -> (challenge, redirect_uri, nonce, claims)
    exchanged: int = 0
    set_cookie: str | None = None  # a Set-Cookie the token endpoint answers with (some issuers' load balancers do)
    cookies_seen: list[dict] = field(default_factory=list)  # the cookies each code exchange came with

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/authorize", self.authorize)
        app.router.add_post("/token", self.token)
        return app

    async def authorize(self, request: web.Request) -> web.Response:
        q = request.query
        assert q["response_type"] == "code" and q["client_id"] == CLIENT_ID and q["code_challenge_method"] == "S256"
        assert "openid" in q["scope"].split()
        code = secrets.token_urlsafe(16)
        self.codes[code] = (q["code_challenge"], q["redirect_uri"], q["nonce"], dict(self.claims))
        # the person is signed in at the issuer already: straight back with the code
        location = f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}"
        return web.Response(status=302, headers={"Location": location})

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        self.cookies_seen.append(dict(request.cookies))
        found = self.codes.pop(str(form.get("code", "")), None)  # a code works once
        if found is None or form.get("grant_type") != "authorization_code" or form.get("client_id") != CLIENT_ID:
            return web.json_response({"error": "invalid_grant"}, status=400)
        challenge, redirect_uri, nonce, claims = found
        verifier = str(form.get("code_verifier", ""))
        computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        if computed != challenge or form.get("redirect_uri") != redirect_uri:
            return web.json_response({"error": "invalid_grant", "error_description": "PKCE"}, status=400)
        self.exchanged += 1
        id_token = self.issuer.token(aud=CLIENT_ID, nonce="other" if self.wrong_nonce else nonce, **claims)
        answer = web.json_response({"access_token": "at", "token_type": "Bearer", "id_token": id_token})
        if self.set_cookie:
            answer.headers["Set-Cookie"] = self.set_cookie
        return answer


@pytest.fixture
async def oidc_portal(make_gateway, browser: Browser, issuer: Issuer):
    """A portal whose only sign-in is OIDC against a local issuer: (Portal, OidcProvider)."""
    provider = OidcProvider(issuer)
    async with local_http_server(provider.app()) as base:
        provider.url = base
        gw = await make_gateway(
            oidc_authorization_url=f"{base}/authorize",
            # by name, not by address: aiohttp keeps no cookie an IP address sets, and a real issuer has a name
            oidc_token_url=f"{base.replace('127.0.0.1', 'localhost')}/token",
            oidc_client_id=CLIENT_ID,
        )
        found = Portal(gw, str(gw.client.make_url("")).rstrip("/"), browser)
        yield found, provider
        for context in found.contexts:
            await context.close()
