"""Onboarding: the seed's six steps as a guided flow that remembers where the tenant stopped (tenant_profiles,
gateway/portal/profiles.py). Account (a signed-in person with no tenant makes one and becomes its admin) → business
profile → connect services (from GET /v1/providers' data) → credentials (the connect form, to Vault through
POST /v1/connectors' function: never shown again) → personal agent → first automations (agents suggested for the
connected data, enabled as PATCH /v1/agents/{agent} would). Each step is a plain form; an admin may go back to a
step already passed (`?step=`) without losing the place.
"""

from __future__ import annotations

from aiohttp import web

from agents.catalog import AgentSpec, catalog
from agents.tenant_settings import enable_agents
from db.pool import tenant_transaction
from gateway.memberships import create_own_tenant
from gateway.pagination import MAX_LIMIT
from gateway.portal.connectors import FormRejected, connect_from_form
from gateway.portal.profiles import (
    GOALS,
    INDUSTRIES,
    STEP_TITLES,
    STEPS,
    Profile,
    load_profile,
    save_profile,
    step_index,
)
from gateway.portal.signin import signed_in
from gateway.portal.web import FORM, form_value, page, redirect, render
from gateway.problems import ProblemError
from gateway.roles import PUBLIC, Principal
from gateway.routes_connectors import ConnectorQuery, connector_page
from gateway.routes_providers import ProviderView, provider_views
from gateway.state import POOL, PRINCIPAL, tenant_of

routes = web.RouteTableDef()
SUGGESTED_AGENTS = 6
NOTICES = {"connected": "Connected. Its credentials are in the vault and are not shown again."}


async def _connected(request: web.Request) -> list:
    listed = await connector_page(request, ConnectorQuery(limit=MAX_LIMIT))
    return [c for c in listed.items if c.status != "disconnected"]


def _views(names: list[str]) -> list[ProviderView]:
    return [p for p in provider_views() if p.provider in names]


async def suggested_agents(request: web.Request) -> list[AgentSpec]:
    """Agents that act on their own (they have triggers) over the record kinds the tenant's connectors bring,
    the ones reading most of them first."""
    kinds = {r.kind for p in _views([c.provider for c in await _connected(request)]) for r in p.resources}
    fitting = [s for s in catalog().values() if s.triggers and kinds & set(s.reads.records)]
    fitting.sort(key=lambda s: (-len(kinds & set(s.reads.records)), s.id))
    return fitting[:SUGGESTED_AGENTS]


async def _step_page(request: web.Request, profile: Profile, step: str, status: int = 200, **extra) -> web.Response:
    context: dict = {}
    if step == "services":
        context["providers"] = provider_views()
    elif step == "credentials":
        connected = await _connected(request)
        done = {c.provider for c in connected}
        pending = [p for p in _views(profile.providers) if p.provider not in done]
        asked = request.query.get("provider", "")
        current = next((p for p in pending if p.provider == asked), pending[0] if pending else None)
        context |= {"connected": connected, "pending": pending, "provider": current, "values": {}}
    elif step == "automations":
        context["suggestions"] = await suggested_agents(request)
    return render(
        request,
        "onboarding.html",
        status=status,
        step=step,
        reached=profile.onboarding_step,
        steps=STEPS,
        titles=STEP_TITLES,
        step_index=step_index,
        profile=profile,
        industries=INDUSTRIES,
        goals=GOALS,
        notice=NOTICES.get(request.query.get("done", "")),
        error="",
        errors=[],
        **{**context, **extra},
    )


@routes.get("/portal/onboarding")
@page(PUBLIC)
async def onboarding(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    if principal.tenant_id is None:
        if principal.operator:
            return redirect("/console/")
        return await _step_page(request, Profile(onboarding_step="account"), "account")
    profile = await load_profile(request.app[POOL], principal.tenant_id)
    asked, step = request.query.get("step", ""), profile.onboarding_step
    if asked in STEPS[1:] and step_index(asked) <= step_index(step):
        step = asked  # back to a step already passed; the tenant's place stays where it was
    return await _step_page(request, profile, step)


@routes.post("/portal/onboarding/account")
@page(PUBLIC)
async def account(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    if principal.tenant_id is not None or principal.operator or principal.via != "jwt":
        raise ProblemError("conflict", "you belong to a tenant already")
    name = form_value(request, "name")
    person = str(request[FORM].get("person", "")).strip()[:200]
    tenant_id = await create_own_tenant(request.app[POOL], name, principal.subject, person)
    admin = Principal(principal.subject, tenant_id, "admin", via="jwt")
    # a new session (its id rotates) now that the person holds a role in a tenant
    return await signed_in(request, "oidc", principal.subject, admin, membership=True, to="/portal/onboarding")


@routes.post("/portal/onboarding/profile")
@page("tenant:manage")
async def profile(request: web.Request) -> web.Response:
    form = request[FORM]
    industry, details = str(form.get("industry", "")), str(form.get("details", "")).strip()
    if industry not in INDUSTRIES:
        raise ProblemError("validation", "industry: choose one of the list", errors=["industry"])
    if len(details) > 2000:
        raise ProblemError("validation", "details: at most 2000 characters", errors=["details"])
    goals = [g for g in GOALS if form.get(f"goal.{g}") == "on"]
    await save_profile(
        request.app[POOL], tenant_of(request), "profile", details=details, industry=industry, goals=goals
    )
    return redirect("/portal/onboarding")


@routes.post("/portal/onboarding/services")
@page("tenant:manage")
async def services(request: web.Request) -> web.Response:
    chosen = [p.provider for p in provider_views() if request[FORM].get(f"provider.{p.provider}") == "on"]
    # choosing none skips the credentials step too
    await save_profile(request.app[POOL], tenant_of(request), "services" if chosen else "credentials", providers=chosen)
    return redirect("/portal/onboarding")


@routes.post("/portal/onboarding/credentials")
@page("tenant:manage")
async def credentials(request: web.Request) -> web.Response:
    pool, tenant = request.app[POOL], tenant_of(request)
    if request[FORM].get("skip") == "true":
        await save_profile(pool, tenant, "credentials")
        return redirect("/portal/onboarding")
    provider, created = await connect_from_form(request)
    current = await load_profile(pool, tenant)
    if isinstance(created, FormRejected):
        return await _step_page(
            request,
            current,
            "credentials",
            status=created.status,
            error=created.detail,
            errors=created.errors,
            values=created.values,
            provider=provider,
        )
    done = {c.provider for c in await _connected(request)}
    if all(p in done for p in current.providers):
        await save_profile(pool, tenant, "credentials")
        return redirect("/portal/onboarding?done=connected")
    return redirect("/portal/onboarding?step=credentials&done=connected")


@routes.post("/portal/onboarding/agent")
@page("tenant:manage")
async def personal_agent(request: web.Request) -> web.Response:
    activate = request[FORM].get("activate") == "true"
    await save_profile(request.app[POOL], tenant_of(request), "agent", personal_agent=activate)
    return redirect("/portal/onboarding")


@routes.post("/portal/onboarding/automations")
@page("tenant:manage")
async def automations(request: web.Request) -> web.Response:
    chosen = [agent_id for agent_id in sorted(catalog()) if request[FORM].get(f"agent.{agent_id}") == "on"]
    pool, tenant = request.app[POOL], tenant_of(request)
    async with tenant_transaction(pool, tenant) as conn:
        await enable_agents(conn, tenant, chosen)
    await save_profile(pool, tenant, "automations")
    return redirect("/portal/onboarding")
