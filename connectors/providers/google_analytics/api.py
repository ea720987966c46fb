"""Google Analytics 4's Data API (v1beta) as a sync reads it, and the Admin API's key events as an action.

Report: `POST {base}properties/{property_id}:runReport` `{"dateRanges": [{"startDate", "endDate"}], "dimensions":
[{"name"}], "metrics": [{"name"}], "limit", "offset", "orderBys": [...dimensions ascending], "keepEmptyRows":
false}` with `Authorization: Bearer` (connectors/providers/google_common/client.py). The answer `{"dimensionHeaders",
"metricHeaders", "rows": [{"dimensionValues": [{"value"}], "metricValues": [{"value"}]}], "rowCount"}` pages by
limit/offset (`pagination = "page"`: page n is offset (n-1)*limit; rowCount gives total and pages). The report is the
connector's config: dimensions and metrics by API name (defaults: sessions, users and key events, GA4's
conversions, by date and channel), over the last `lookback_days` days (default 30) to today, ordered by every
dimension, so pages are stable while GA4's figures are. Rows become objects keyed by the report's name and their
dimension values (mapping.row_id).

Action `create_key_event`: `POST https://analyticsadmin.googleapis.com/v1beta/properties/{id}/keyEvents`
`{"eventName", "countingMethod"}` (409 ALREADY_EXISTS when it is one already: ProviderRefused, with Google's word).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.base import ApiCall, Page, ProviderRefused
from connectors.facts import Resource
from connectors.providers.google_analytics.mapping import MAPPERS, iso_date, row_id
from connectors.providers.google_common.client import api_base, digits, rooted, send

__all__ = ["MAPPERS", "create_key_event", "cursor_of", "read_page", "reconciles", "test_connection"]

ADMIN_BASE = "https://analyticsadmin.googleapis.com/v1beta/"
DEFAULT_DIMENSIONS = "date,sessionDefaultChannelGroup"
DEFAULT_METRICS = "sessions,totalUsers,keyEvents"
DEFAULT_REPORT = "traffic"
DEFAULT_LOOKBACK_DAYS = 30
API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_:]{0,79}$")  # GA4 API names (customEvent:name, ...)


def _names(call: ApiCall, field: str, default: str) -> list[str]:
    names = [n.strip() for n in str(call.config.get(field) or default).split(",") if n.strip()]
    if not names or not all(API_NAME.match(n) for n in names):
        raise ProviderRefused(f"config.{field} must be GA4 API names separated by commas, e.g. {default}")
    return names


def report_request(call: ApiCall, offset: int, limit: int, today: datetime | None = None) -> dict[str, Any]:
    day = (today or datetime.now(UTC)).date()
    lookback = max(1, int(call.config.get("lookback_days") or DEFAULT_LOOKBACK_DAYS))
    dimensions = _names(call, "dimensions", DEFAULT_DIMENSIONS)
    return {
        "dateRanges": [{"startDate": (day - timedelta(days=lookback)).isoformat(), "endDate": "today"}],
        "dimensions": [{"name": n} for n in dimensions],
        "metrics": [{"name": n} for n in _names(call, "metrics", DEFAULT_METRICS)],
        "orderBys": [{"dimension": {"dimensionName": n}} for n in dimensions],
        "limit": str(limit),
        "offset": str(offset),
        "keepEmptyRows": False,
    }


def _property(call: ApiCall) -> str:
    return digits(call.config.get("property_id"), "property_id")


async def run_report(call: ApiCall, offset: int, limit: int) -> dict[str, Any]:
    url = f"{api_base(call)}properties/{_property(call)}:runReport"
    answer = await send(call, "POST", url, "running the report", json=report_request(call, offset, limit))
    if not isinstance(answer, dict) or not isinstance(answer.get("rows", []), list):
        raise ProviderRefused("Google Analytics running the report: the answer has no `rows` list")
    return answer


def _objects(call: ApiCall, answer: dict[str, Any]) -> list[dict[str, Any]]:
    dimension_names = [h["name"] for h in answer.get("dimensionHeaders") or []]
    metric_names = [h["name"] for h in answer.get("metricHeaders") or []]
    report, prop = str(call.config.get("report_name") or DEFAULT_REPORT), _property(call)
    objects = []
    for row in answer.get("rows") or []:
        values = [v.get("value", "") for v in row.get("dimensionValues") or []]
        dimensions = dict(zip(dimension_names, values))
        if "date" in dimensions:
            dimensions["date"] = iso_date(dimensions["date"])
        metrics = dict(zip(metric_names, (v.get("value", "0") for v in row.get("metricValues") or [])))
        objects.append(
            {"id": row_id(report, dimensions), "report": report, "property_id": prop, "dimensions": dimensions}
            | {"metrics": metrics}
        )
    return objects


async def read_page(
    call: ApiCall, resource: Resource, page: int, since: str | None = None, until: str | None = None
) -> Page:
    """Page `page` (from 1) of the report: `limit` = the resource's page size, `offset` the rows before it."""
    answer = await run_report(call, (page - 1) * resource.page_size, resource.page_size)
    total = int(answer.get("rowCount") or 0)
    return Page(_objects(call, answer), total=total, total_pages=max(1, math.ceil(total / resource.page_size)))


async def test_connection(call: ApiCall) -> None:
    """One row of the report: refused when the property, the names, the token or the scopes are wrong."""
    await run_report(call, 0, 1)


def cursor_of(resource: Resource, obj: dict[str, Any]) -> str | None:
    return None  # report rows carry no modification time


def reconciles(resource: Resource, external_id: str) -> bool:
    return False  # a day that left the window keeps its figures


async def create_key_event(call: ApiCall, event_name: str, counting_method: str = "ONCE_PER_EVENT") -> dict[str, Any]:
    """The `create_key_event` action: the event counts as a key event (a conversion) from now on."""
    url = rooted(ADMIN_BASE) + f"properties/{_property(call)}/keyEvents"
    body = {"eventName": event_name, "countingMethod": counting_method}
    made = await send(call, "POST", url, f"creating key event {event_name}", json=body)
    if not isinstance(made, dict) or made.get("eventName") != event_name:
        raise ProviderRefused(f"Google Analytics creating key event {event_name}: the answer names another event")
    return {"id": str(made.get("name", "")), "event_name": event_name, "counting_method": made.get("countingMethod")}
