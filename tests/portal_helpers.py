"""Fixtures of the portal's browser tests: one Chromium for the session (Debian's /usr/bin/chromium driven by
Playwright; never `playwright install`) and a gateway whose portal takes API-key sign-in. Registered for every test
by tests/conftest.py (`pytest_plugins`): use them by name."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from gateway_helpers import ADMIN_TOKEN, Gateway
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
