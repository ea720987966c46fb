"""Connectors: the list with status, the providers to connect, the connect form built from a provider's declared
fields (provider.toml through GET /v1/providers' views), a connector's page with its sync history, "sync now",
pause/resume of its schedule and disconnect (optionally erasing what it imported). Each calls the JSON routes' own
functions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from aiohttp import web

from gateway.pagination import MAX_LIMIT
from gateway.portal.web import FORM, form_value, page, redirect, render
from gateway.problems import ProblemError
from gateway.routes_commands import ScheduleRequest, SyncRequest, issue_command, schedule_command, start_sync
from gateway.routes_connectors import (
    ConnectorCreate,
    ConnectorCreated,
    ConnectorQuery,
    connector_detail,
    connector_page,
    create_connector,
    disconnect_connector,
)
from gateway.routes_providers import ProviderView, provider_views
from gateway.routes_syncs import SyncRunQuery, sync_runs

routes = web.RouteTableDef()
# what the connector's page says after an action (?done=...): the redirect after a POST carries only this word
NOTICES = {
    "created": "Connected. Give the provider the webhook URL below if it asks for one.",
    "synced": "A sync was asked for; its run appears below when it starts.",
    "paused": "Scheduled syncs are paused (Sync now still works); the change applies in a moment.",
    "resumed": "Scheduled syncs are resumed; the change applies in a moment.",
    "disconnected": "Disconnected: its webhook URL stops working and its secrets are destroyed; its records stay.",
    "erased": "Disconnected; what came from it is being erased.",
    "oauth": "Signed in at the provider: the tokens are stored and the connector is being set up with them.",
    "oauth-failed": "The provider's sign-in did not complete and nothing was stored; try again.",
}


def provider_named(name: str) -> ProviderView:
    found = next((p for p in provider_views() if p.provider == name), None)
    if found is None:
        raise ProblemError("not-found", f"no provider {name!r}")
    return found


@routes.get("/portal/connectors")
@page("connectors:read")
async def connectors(request: web.Request) -> web.Response:
    cursor = request.query.get("cursor") or None
    listed = await connector_page(request, ConnectorQuery(limit=MAX_LIMIT, cursor=cursor))
    return render(request, "connectors.html", connectors=listed, providers=provider_views())


@routes.get("/portal/connectors/new")
@page("connectors:write")
async def new_connector(request: web.Request) -> web.Response:
    provider = provider_named(request.query.get("provider", ""))
    return render(request, "connector_new.html", provider=provider, values={}, error="", errors=[])


def _field_values(provider: ProviderView, form: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The form's config and credential fields as POST /v1/connectors takes them (numbers as numbers; empty
    optional fields left out, as the JSON API's callers would)."""
    config: dict[str, Any] = {}
    for f in provider.config_fields:
        value = str(form.get(f"config.{f.name}", "")).strip()
        if value and f.kind == "number":
            try:
                config[f.name] = float(value) if "." in value else int(value)
            except ValueError:
                config[f.name] = value  # the shared validation names the field
        elif value:
            config[f.name] = value
    given = [(f.name, str(form.get(f"secrets.{f.name}", ""))) for f in provider.credential_fields]
    secrets = {name: value for name, value in given if value}
    return config, secrets


@dataclass(frozen=True)
class FormRejected:
    """What the connect form shows again after a refusal: never a secret."""

    status: int
    detail: str
    errors: list[str]
    values: dict[str, Any]


async def connect_from_form(request: web.Request) -> tuple[ProviderView, ConnectorCreated | FormRejected]:
    """Create the connector the posted connect form describes (POST /v1/connectors' function and validation); the
    onboarding's credentials step posts the same form."""
    form = request[FORM]
    provider = provider_named(str(form.get("provider", "")))
    config, secrets = _field_values(provider, form)
    try:
        body = msgspec.convert(
            {"provider": provider.provider, "name": form_value(request, "name"), "config": config, "secrets": secrets},
            ConnectorCreate,
        )
        return provider, await create_connector(request, body)
    except (ProblemError, msgspec.ValidationError) as exc:
        errors = exc.errors if isinstance(exc, ProblemError) else [str(exc)]
        detail = exc.detail if isinstance(exc, ProblemError) else str(exc)
        status = exc.status if isinstance(exc, ProblemError) else 422
        values = {k: v for k, v in form.items() if not k.startswith("secrets.") and k != "csrf"}  # never echo secrets
        return provider, FormRejected(status, detail, errors, values)


@routes.post("/portal/connectors")
@page("connectors:write")
async def create(request: web.Request) -> web.Response:
    provider, created = await connect_from_form(request)
    if isinstance(created, FormRejected):
        return render(
            request,
            "connector_new.html",
            status=created.status,
            provider=provider,
            values=created.values,
            error=created.detail,
            errors=created.errors,
        )
    return redirect(f"/portal/connectors/{created.id}?done=created")


@routes.get("/portal/connectors/{connector_id}")
@page("connectors:read")
async def connector(request: web.Request) -> web.Response:
    connector_id = request.match_info["connector_id"]
    found = await connector_detail(request, connector_id)
    runs = await sync_runs(request, connector_id, SyncRunQuery(cursor=request.query.get("cursor") or None))
    return render(
        request,
        "connector.html",
        connector=found,
        runs=runs,
        oauth=provider_named(found.provider).auth == "oauth2",
        notice=NOTICES.get(request.query.get("done", "")),
    )


@routes.post("/portal/connectors/{connector_id}/sync")
@page("commands:write")
async def sync_now(request: web.Request) -> web.Response:
    connector_id = request.match_info["connector_id"]
    await start_sync(request, connector_id, SyncRequest(full=request[FORM].get("full") == "true"))
    return redirect(f"/portal/connectors/{connector_id}?done=synced")


@routes.post("/portal/connectors/{connector_id}/schedule")
@page("connectors:write")
async def schedule(request: web.Request) -> web.Response:
    connector_id = request.match_info["connector_id"]
    paused = request[FORM].get("paused") == "true"
    await issue_command(request, schedule_command(request, connector_id, ScheduleRequest(paused=paused)))
    return redirect(f"/portal/connectors/{connector_id}?done={'paused' if paused else 'resumed'}")


@routes.post("/portal/connectors/{connector_id}/disconnect")
@page("connectors:write")
async def disconnect(request: web.Request) -> web.Response:
    connector_id = request.match_info["connector_id"]
    erase = request[FORM].get("erase") == "true"
    await disconnect_connector(request, connector_id, erase)
    return redirect(f"/portal/connectors/{connector_id}?done={'erased' if erase else 'disconnected'}")
