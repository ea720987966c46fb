"""A local Google Analytics 4 for tests: the Data API's runReport and the Admin API's key events in the documented
shape (developers.google.com/analytics: "Method: properties.runReport", "API Dimensions & Metrics",
"properties.keyEvents.create"), on tests/providers/google_server.py's shared Google OAuth2 and errors.

- `POST /v1beta/properties/{id}:runReport`: `dateRanges` (YYYY-MM-DD, `today`, `NdaysAgo`), `dimensions` and
  `metrics` by API name (an unknown name is 400 INVALID_ARGUMENT "Field X is not a valid dimension"), `limit` (1 to
  250,000; default 10,000) and `offset` (int64 as strings or numbers), `orderBys` by dimension. Rows come from the
  seeded sessions aggregated by the asked dimensions, ordered by them; `rowCount` is the total (absent, with `rows`,
  when nothing matches, as proto3 JSON leaves zero values out). Dates answer as YYYYMMDD, metric values as strings.
- `POST /v1beta/properties/{id}/keyEvents` `{"eventName", "countingMethod"}`: the KeyEvent (`name`
  properties/{id}/keyEvents/{n}, `createTime`, `deletable`, `custom`); one existing is 409 ALREADY_EXISTS.
Another property id is 403 PERMISSION_DENIED. Test hooks: `seed` (visits per day and channel), GoogleApi's.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp import web

from providers.google_server import GoogleApi, google_error

DIMENSIONS = ("date", "sessionDefaultChannelGroup", "country", "deviceCategory")
METRICS = {
    "sessions": "TYPE_INTEGER",
    "totalUsers": "TYPE_INTEGER",
    "keyEvents": "TYPE_FLOAT",
    "newUsers": "TYPE_INTEGER",
}
CHANNELS = ("Organic Search", "Direct", "Paid Search", "Email", "Referral", "Organic Social")
DAYS_AGO = re.compile(r"^(\d+)daysAgo$")


def _day(value: str) -> date:
    if value == "today":
        return datetime.now(UTC).date()
    if value == "yesterday":
        return datetime.now(UTC).date() - timedelta(days=1)
    if found := DAYS_AGO.match(value):
        return datetime.now(UTC).date() - timedelta(days=int(found[1]))
    return date.fromisoformat(value)


@dataclass
class GoogleAnalytics(GoogleApi):
    property_id: str = "312345678"
    visits: list[dict[str, Any]] = field(default_factory=list)  # one per day x channel x country x device
    key_events: dict[str, dict[str, Any]] = field(default_factory=dict)  # event name -> KeyEvent

    def seed(self, days: int, channels: int = len(CHANNELS), countries: tuple[str, ...] = ("DE",)) -> None:
        """Visits on each of the last `days` days (today included) from `channels` channels and these countries."""
        today = datetime.now(UTC).date()
        for n in range(days):
            for c, channel in enumerate(CHANNELS[:channels]):
                for country in countries:
                    self.visits.append(
                        {
                            "date": (today - timedelta(days=n)).strftime("%Y%m%d"),
                            "sessionDefaultChannelGroup": channel,
                            "country": country,
                            "deviceCategory": "desktop",
                            "sessions": 100 + n + c,
                            "totalUsers": 80 + n,
                            "keyEvents": 2.5 + c,
                            "newUsers": 10,
                        }
                    )

    def rows(self, dimensions: list[str], metrics: list[str], first: date, last: date) -> list[dict[str, Any]]:
        totals: dict[tuple, dict[str, float]] = defaultdict(lambda: dict.fromkeys(metrics, 0))
        for visit in self.visits:
            if first <= date.fromisoformat(iso(visit["date"])) <= last:
                key = tuple(visit[d] for d in dimensions)
                for m in metrics:
                    totals[key][m] += visit[m]
        return [{"key": key, "metrics": totals[key]} for key in sorted(totals)]

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1beta/properties/{property}:runReport", self.run_report)
        app.router.add_post("/v1beta/properties/{property}/keyEvents", self.create_key_event)

    async def run_report(self, request: web.Request) -> web.Response:
        if request.match_info["property"] != self.property_id:
            return google_error(403, "User does not have sufficient permissions for this property.")
        body = await request.json()
        dimensions = [d.get("name") for d in body.get("dimensions") or []]
        metrics = [m.get("name") for m in body.get("metrics") or []]
        for name in dimensions:
            if name not in DIMENSIONS:
                return google_error(400, f"Field {name} is not a valid dimension.")
        for name in metrics:
            if name not in METRICS:
                return google_error(400, f"Field {name} is not a valid metric.")
        if not metrics:
            return google_error(400, "At least one metric is required.")
        try:
            limit, offset = int(body.get("limit", 10_000)), int(body.get("offset", 0))
            (span,) = body.get("dateRanges") or [{}]
            first, last = _day(span["startDate"]), _day(span["endDate"])
        except (KeyError, ValueError, TypeError):
            return google_error(400, "dateRanges, limit or offset is invalid.")
        if not 1 <= limit <= 250_000 or offset < 0:
            return google_error(400, "limit must be between 1 and 250000.")
        found = self.rows(dimensions, metrics, first, last)
        answer: dict[str, Any] = {
            "dimensionHeaders": [{"name": d} for d in dimensions],
            "metricHeaders": [{"name": m, "type": METRICS[m]} for m in metrics],
            "metadata": {"currencyCode": "EUR", "timeZone": "Europe/Berlin"},
            "kind": "analyticsData#runReport",
        }
        if found:
            answer["rowCount"] = len(found)
            answer["rows"] = [
                {
                    "dimensionValues": [{"value": v} for v in row["key"]],
                    "metricValues": [{"value": _number(row["metrics"][m])} for m in metrics],
                }
                for row in found[offset : offset + limit]
            ]
        return web.json_response(answer)

    async def create_key_event(self, request: web.Request) -> web.Response:
        if request.match_info["property"] != self.property_id:
            return google_error(403, "User does not have sufficient permissions for this property.")
        body = await request.json()
        name = str(body.get("eventName") or "")
        if not name:
            return google_error(400, "eventName is required.")
        if name in self.key_events:
            return google_error(409, f"A key event with event name {name} already exists.")
        made = {
            "name": f"properties/{self.property_id}/keyEvents/{len(self.key_events) + 1}",
            "eventName": name,
            "createTime": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "deletable": True,
            "custom": True,
            "countingMethod": body.get("countingMethod") or "ONCE_PER_EVENT",
        }
        self.key_events[name] = made
        return web.json_response(made)


def iso(value: str) -> str:
    return f"{value[:4]}-{value[4:6]}-{value[6:]}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
