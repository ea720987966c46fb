"""A connector's webhook deliveries (the roles that may read deliveries, as GET /v1/deliveries): the list with each
outcome and error, the requests refused at the door, one delivery with its headers and payload, and Retry, which runs
the normalizer again on the stored delivery (POST /v1/deliveries/{id}/retry's function). Also the portal's OAuth2
connect button: the JSON flow's authorization URL, with the callback sending the browser back to the connector."""

from __future__ import annotations

import json

import msgspec
from aiohttp import web

from gateway.portal.web import page, redirect, render
from gateway.problems import ProblemError
from gateway.routes_connectors import connector_detail
from gateway.routes_deliveries import DeliveryQuery, delivery_detail, delivery_page, retry_delivery
from gateway.routes_oauth import authorization_url

routes = web.RouteTableDef()
PAGE_SIZE = 25
OUTCOMES = ("published", "unmapped", "handshake", "rejected")


@routes.get("/portal/connectors/{connector_id}/deliveries")
@page("deliveries:read")
async def deliveries(request: web.Request) -> web.Response:
    connector_id = request.match_info["connector_id"]
    found = await connector_detail(request, connector_id)  # 404 for another tenant's connector
    outcome = request.query.get("outcome") or None
    values = {"limit": PAGE_SIZE, "connector_id": connector_id, "outcome": outcome}
    values["cursor"] = request.query.get("cursor") or None
    try:
        query = msgspec.convert({k: v for k, v in values.items() if v is not None}, DeliveryQuery)
    except msgspec.ValidationError as exc:
        raise ProblemError("validation", str(exc)) from None
    listed = await delivery_page(request, query)
    return render(request, "deliveries.html", connector=found, deliveries=listed, outcome=outcome, outcomes=OUTCOMES)


def _body(text: str, content_type: str) -> str:
    """The payload as stored, indented when it is JSON."""
    if "json" in content_type:
        try:
            return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            pass
    return text


@routes.get("/portal/deliveries/{delivery_id}")
@page("deliveries:read")
async def delivery(request: web.Request) -> web.Response:
    found = await delivery_detail(request, request.match_info["delivery_id"])
    outcome = request.query.get("done", "")
    notice = f"Retried: the delivery is now {outcome}." if outcome in OUTCOMES else None
    return render(request, "delivery.html", delivery=found, body=_body(found.body, found.content_type), notice=notice)


@routes.post("/portal/deliveries/{delivery_id}/retry")
@page("deliveries:retry")
async def retry(request: web.Request) -> web.Response:
    result = await retry_delivery(request, request.match_info["delivery_id"])
    return redirect(f"/portal/deliveries/{result.id}?done={result.outcome}")


@routes.get("/portal/connectors/{connector_id}/oauth")
@page("connectors:write")
async def oauth_connect(request: web.Request) -> web.Response:
    """To the provider's authorization page; its callback (GET /v1/oauth/callback) returns the browser to the
    connector's page. A link, not a form: the page's CSP (form-action 'self') would stop a form's redirect to the
    provider; starting an authorization changes nothing but a one-time state, as the JSON route's GET."""
    connector_id = request.match_info["connector_id"]
    location = await authorization_url(request, connector_id, return_to=f"/portal/connectors/{connector_id}")
    return redirect(location)
