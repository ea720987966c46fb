"""People of a tenant in a real browser: an admin invites a person (a one-time link) who signs in by OIDC with the
invited role; the admin changes it and it applies at once; a `user` sees the team but cannot change it (not shown,
and 403 when posted); invites, roles and keys are in the audit log; tenant B never sees tenant A's team or log."""

from __future__ import annotations

from portal_helpers import csrf_of


async def new_tenant(portal, provider, subject: str, name: str, business: str):
    """A person who signs in with no tenant and makes one (onboarding's first step): their page."""
    provider.claims = {"sub": subject, "name": name}
    page = await portal.page()
    await page.goto("/portal/oidc/start")
    await page.wait_for_url("**/portal/onboarding")
    await page.get_by_label("Business name").fill(business)
    await page.get_by_label("Your name (optional)").fill(name)
    await page.get_by_role("button", name="Create my business").click()
    await page.wait_for_url("**/portal/onboarding")
    return page


async def test_an_invited_person_gets_the_role_a_user_changes_nothing_and_the_audit_log_shows_it(oidc_portal):
    portal, provider = oidc_portal
    owner = await new_tenant(portal, provider, "ann", "Ann Admin", "Acme")
    await owner.goto("/portal/team")
    await owner.get_by_label("Who it is for (optional)").fill("Uma")
    await owner.get_by_label("Role", exact=True).select_option("user")
    await owner.get_by_role("button", name="Create invite link").click()
    link = await owner.locator("#invite-link").inner_text()
    await owner.goto("/portal/team")
    assert link not in await owner.content()  # shown once
    assert "Uma: user" in await owner.locator("main").inner_text()  # an open invite

    provider.claims = {"sub": "uma", "name": "Uma User"}
    guest = await portal.page()
    await guest.goto(link)
    assert "Acme" in await guest.locator("main").inner_text()
    await guest.get_by_role("button", name="Accept and sign in with single sign-on").click()
    await guest.wait_for_url("**/portal/")
    assert "role user" in await guest.locator("footer").inner_text()
    again = await portal.page()  # the link works once
    resp = await again.goto(link)
    assert resp is not None and resp.status == 404 and "used already" in await again.get_by_role("alert").inner_text()

    # a user sees the team, and no control to change it; posting one anyway is refused
    await guest.goto("/portal/team")
    assert "Ann Admin" in await guest.locator("main").inner_text()
    assert await guest.get_by_role("button", name="Change role").count() == 0
    assert await guest.get_by_role("button", name="Create invite link").count() == 0
    assert await guest.get_by_role("link", name="Audit log").count() == 0
    csrf = await csrf_of(guest)
    resp = await guest.request.post("/portal/team/members", form={"csrf": csrf, "subject": "uma", "role": "admin"})
    assert resp.status == 403
    assert (await guest.request.get("/portal/audit")).status == 403

    # the admin makes Uma a manager: it applies at her next page
    await owner.goto("/portal/team")
    await owner.get_by_label("Role of Uma User").select_option("manager")
    await owner.locator("tr", has_text="Uma User").get_by_role("button", name="Change role").click()
    await owner.wait_for_url("**/portal/team?done=changed")
    await guest.goto("/portal/team")
    assert "role manager" in await guest.locator("footer").inner_text()
    # without the session's CSRF token nothing changes; the last admin cannot demote themselves
    resp = await owner.request.post("/portal/team/members", form={"subject": "uma", "role": "user"})
    assert resp.status == 403
    await owner.get_by_label("Role of Ann Admin").select_option("user")
    await owner.locator("tr", has_text="Ann Admin").get_by_role("button", name="Change role").click()
    assert "at least one admin" in await owner.get_by_role("alert").inner_text()

    # a cancelled invite's link works no more
    await owner.goto("/portal/team")
    await owner.get_by_role("button", name="Create invite link").click()
    cancelled = await owner.locator("#invite-link").inner_text()
    await owner.get_by_role("button", name="Cancel the invite for").click()
    await owner.wait_for_url("**/portal/team?done=cancelled")
    resp = await again.goto(cancelled)
    assert resp is not None and resp.status == 404

    # keys made and revoked are audited too
    await owner.goto("/portal/keys")
    await owner.get_by_label("Name").fill("ci")
    await owner.get_by_role("button", name="Create key").click()
    await owner.get_by_role("button", name="Revoke ci").click()
    await owner.wait_for_url("**?revoked=1")
    await owner.get_by_role("link", name="Audit log").click()
    log = await owner.locator("main").inner_text()
    actions = ("tenant.created", "invite.created", "invite.accepted", "invite.cancelled", "member.role_changed")
    for action in (*actions, "key.created"):
        assert action in log, action
    assert "key.revoked" in log and "jwt:ann" in log and "to: manager; from: user" in log  # jsonb orders keys

    # tenant B sees none of it
    other = await new_tenant(portal, provider, "bob", "Bob B", "Beta")
    await other.goto("/portal/team")
    team = await other.locator("main").inner_text()
    assert "Bob B" in team and "Ann Admin" not in team and "Uma" not in team
    await other.goto("/portal/audit")
    log = await other.locator("main").inner_text()
    assert "tenant.created" in log and "invite." not in log and "jwt:ann" not in log
