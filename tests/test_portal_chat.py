"""The personal agent's chat page against the local OpenAI-compatible server (tests/llm_server.py): without
JavaScript the posted question comes back as the whole conversation, answer and the records it used linked; with
JavaScript the same form streams the answer (server-sent events from /portal/chat/stream) without leaving the page.
Without a model the page says so and asks nothing."""

from __future__ import annotations

from playwright.async_api import expect
from portal_helpers import PHONE_WIDTH, Portal
from test_portal_flow import insert_order
from test_portal_pages import check
from test_portal_roles import signed_in

from agents.config import NO_MODEL

REPLY_A = "Order 1001 came to 12.50 EUR."
REPLY_B = "Yes, order 1001 is the only one."


async def test_the_chat_answers_without_javascript_and_streams_with_it(make_gateway, browser, llm, admin):
    gw = await make_gateway(portal_key_signin=True, openai_base_url=llm.url, openai_api_key="sk-local")
    portal = Portal(gw, str(gw.client.make_url("")).rstrip("/"), browser)
    try:
        await _converse(portal, llm, admin)
    finally:
        for context in portal.contexts:
            await context.close()


async def _converse(portal: Portal, llm, admin) -> None:
    gw = portal.gw
    tenant_id, key = await gw.create_tenant("Acme Shop")
    record_id = await insert_order(admin, tenant_id, "1001", "Order 1001")
    # the second question's rules first: its turn's history holds the first question too (first match wins)
    for question, reply in (("Is order 1001 alone", REPLY_B), ("How much was order 1001", REPLY_A)):
        llm.rule(question, tool="find_records", arguments={"kind": "order", "text": "1001"}, times=1)
        llm.rule(question, after_tool="find_records", tool_result="Order 1001", text=reply)

    context = await portal.browser.new_context(base_url=portal.base, java_script_enabled=False)
    portal.contexts.append(context)
    plain = await context.new_page()
    await plain.goto("/portal/sign-in")
    await plain.get_by_label("API key").fill(key)
    await plain.get_by_role("button", name="Sign in").click()
    await plain.goto("/portal/chat")
    await plain.get_by_label("Your question").fill("How much was order 1001?")
    await plain.get_by_role("button", name="Ask").click()
    await plain.wait_for_url("**/portal/chat?conversation=*")
    conversation = plain.locator("#conversation")
    assert REPLY_A in await conversation.inner_text()
    cited = conversation.get_by_role("link", name="order Order 1001")
    assert await cited.get_attribute("href") == f"/portal/data/order/{record_id}"

    live = await portal.sign_in(key)
    await live.goto(plain.url.removeprefix(portal.base))  # the same conversation, continued with JavaScript
    await live.get_by_label("Your next question").fill("Is order 1001 alone?")
    await live.evaluate("window.sameDocument = true")  # gone if the page is loaded again (a plain post)
    async with live.expect_response("**/portal/chat/stream") as streamed:
        await live.get_by_role("button", name="Ask").click()
    assert (await streamed.value).headers["content-type"].startswith("text/event-stream")
    await live.locator("#conversation").get_by_text(REPLY_B).wait_for()
    # the answer's text streams before its citations: wait for the second link, do not count at once
    await expect(live.locator("#conversation").get_by_role("link", name="order Order 1001")).to_have_count(2)
    assert await live.evaluate("window.sameDocument === true")  # answered in place: no page was loaded
    # the page with a conversation and its form (tests/test_portal_pages.py sees it without a model)
    await live.reload()
    problems = await check(live, "chat-conversation")
    await live.set_viewport_size({"width": PHONE_WIDTH, "height": 800})
    assert problems + await check(live, "chat-conversation") == []
    titles = await admin.fetchval("SELECT count(*) FROM agent_messages WHERE tenant_id = $1", tenant_id)
    assert titles == 4  # two questions and two answers, in one conversation


async def test_without_a_model_the_chat_page_says_so(portal):
    gw = portal.gw
    _, key = await gw.create_tenant("No model")
    session, csrf = await signed_in(gw, key, "/portal/sign-in")
    try:
        shown = await (await session.get("/portal/chat")).text()
        assert NO_MODEL in shown and 'name="message"' not in shown
        asked = await session.post("/portal/chat", data={"csrf": csrf, "message": "hello"}, allow_redirects=False)
        assert asked.status == 503 and NO_MODEL in await asked.text()
    finally:
        await session.close()


async def test_an_admin_turns_the_personal_agent_off_and_on_and_the_chat_page_follows(
    make_gateway, browser, llm, admin
):
    gw = await make_gateway(portal_key_signin=True, openai_base_url=llm.url, openai_api_key="sk-local")
    portal = Portal(gw, str(gw.client.make_url("")).rstrip("/"), browser)
    tenant_id, key = await gw.create_tenant("Acme Shop")
    done = "INSERT INTO tenant_profiles (tenant_id, personal_agent, onboarding_step) VALUES ($1, true, 'done')"
    await admin.execute(done, tenant_id)  # a tenant that finished onboarding with its personal agent on
    user, user_csrf = await signed_in(gw, await gw.create_key(key, "user"), "/portal/sign-in")
    try:
        page = await portal.sign_in(key)
        await page.goto("/portal/onboarding?step=agent")
        await page.get_by_role("button", name="Not now").click()
        await page.wait_for_url("**/portal/onboarding")
        await page.goto("/portal/chat")
        assert "personal agent is turned off" in await page.get_by_role("alert").inner_text()
        assert await page.get_by_label("Your question").count() == 0
        shown = await (await user.get("/portal/chat")).text()  # a user is told who can turn it on
        assert "A tenant\nadmin turns it on" in shown and 'name="message"' not in shown
        refused = await user.post("/portal/chat", data={"csrf": user_csrf, "message": "hello"}, allow_redirects=False)
        assert refused.status == 409 and "turned its personal agent off" in await refused.text()

        await page.get_by_role("link", name="Turn it on").click()
        assert "Your personal agent is off" in await page.locator("main").inner_text()
        await page.get_by_role("button", name="Activate my personal agent").click()
        await page.wait_for_url("**/portal/onboarding")
        await page.goto("/portal/chat")
        assert await page.get_by_role("alert").count() == 0 and await page.get_by_label("Your question").count() == 1
    finally:
        await user.close()
        for context in portal.contexts:
            await context.close()
    assert llm.requests == []  # nothing above reached the model
