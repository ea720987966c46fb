"""A local Snapchat Marketing API (v1) for tests, in the documented shapes (marketingapi.snapchat.com/docs:
"Authentication", "Pagination", "Campaigns", "Ad Squads", "Ads", "Measurement", "Errors").

- `POST /login/oauth2/access_token` (form, client in the form): tests/oauth_server.py's grants.
- `Authorization: Bearer <token>` it issued; anything else 401 `{"request_status": "ERROR", "debug_message":
  "Unauthorized", "error_code": "E0001"}`.
- `GET /v1/adaccounts/{id}`: `{"request_status": "SUCCESS", "adaccounts": [{"sub_request_status": "SUCCESS",
  "adaccount": {id, name, currency, timezone}}]}`; another account 403 (E1002).
- `GET /v1/adaccounts/{id}/campaigns|adsquads|ads?limit=&cursor=`: every object wrapped the same way; `limit` 50-1000
  (else 400 E1008); `paging.next_link` (a full URL with `cursor`) only when more follow.
- `GET /v1/campaigns/{id}`: the campaign, wrapped. `PUT /v1/adaccounts/{id}/campaigns` `{"campaigns": [whole
  campaign]}`: updated (a campaign without its name or start_time 400 E1001, as Snap updates whole objects).
- `GET /v1/campaigns/{id}/stats?granularity=DAY&fields=&start_time=&end_time=`: `{"timeseries_stats":
  [{"sub_request_status", "timeseries_stat": {"id", "type": "CAMPAIGN", "granularity": "DAY", "timeseries":
  [{"start_time", "end_time", "stats": {<fields>}}]}}]}`, one entry per day in the range (zeros included);
  start_time and end_time must be midnights in the account's time zone (else 400 E1008), spend in micro-currency.
- `fail_next(n)`: 429 WITHOUT Retry-After (Snap documents none), or a 5xx; `hits` records when each request came.
Test hooks: `seed`, `day`, `delete`, `log`.
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from oauth_server import CLIENT_ID, CLIENT_SECRET, OAuthServer

VERSION = "v1"
RESOURCES = {"campaigns": "campaign", "adsquads": "adsquad", "ads": "ad"}


def snap_error(status: int, code: str, message: str) -> web.Response:
    body = {"request_status": "ERROR", "request_id": uuid.uuid4().hex, "debug_message": message,
            "display_message": message, "error_code": code}  # fmt: skip
    return web.json_response(body, status=status)


def wrapped(key: str, objects: list[dict[str, Any]], **more: Any) -> web.Response:
    singular = {**RESOURCES, "adaccounts": "adaccount"}[key]
    listed = [{"sub_request_status": "SUCCESS", singular: o} for o in objects]
    return web.json_response({"request_status": "SUCCESS", "request_id": uuid.uuid4().hex, key: listed, **more})


@dataclass
class SnapchatAds:
    ad_account_id: str = "8adc3db7-8148-4fbf-999c-8d2266369d74"
    currency: str = "USD"
    timezone: str = "America/Los_Angeles"
    url: str = ""
    oauth: OAuthServer = field(default_factory=OAuthServer)
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    objects: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: {r: {} for r in RESOURCES})
    days: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (campaign id, day) -> stats
    failures: list[int] = field(default_factory=list)
    log: list[tuple[str, str, dict[str, str], Any, int]] = field(default_factory=list)
    hits: list[tuple[float, int]] = field(default_factory=list)  # (monotonic time, status) of every API request

    def issue_access(self) -> str:
        token = "snap-" + secrets.token_hex(12)
        self.oauth.access_tokens.add(token)
        return token

    def today(self) -> date:
        return datetime.now(ZoneInfo(self.timezone)).date()

    def seed(self, campaigns: int = 0, adsquads: int = 0, ads: int = 0, days: int = 0) -> list[str]:
        made, account = [], self.ad_account_id
        for i in range(campaigns):
            cid = str(uuid.uuid4())
            self.objects["campaigns"][cid] = {
                "id": cid, "updated_at": "2026-03-02T10:00:00.000Z", "created_at": "2026-03-01T10:00:00.000Z",
                "name": f"Snap spring {i}", "ad_account_id": account, "status": "ACTIVE",
                "objective": "WEB_CONVERSION", "start_time": "2026-03-01T08:00:00.000Z",
                "daily_budget_micro": 40_000_000, "buy_model": "AUCTION", "delivery_status": ["VALID"],
            }  # fmt: skip
            made.append(cid)
        for i in range(adsquads):
            if not self.objects["campaigns"]:
                self.seed(campaigns=1)
            sid = str(uuid.uuid4())
            self.objects["adsquads"][sid] = {
                "id": sid, "campaign_id": next(iter(self.objects["campaigns"])), "name": f"Gen Z {i}",
                "status": "ACTIVE", "type": "SNAP_ADS", "billing_event": "IMPRESSION", "bid_micro": 2_500_000,
                "daily_budget_micro": 20_000_000, "optimization_goal": "SWIPES", "ad_account_id": account,
                "updated_at": "2026-03-02T10:00:00.000Z",
            }  # fmt: skip
            made.append(sid)
        for i in range(ads):
            if not self.objects["adsquads"]:
                self.seed(adsquads=1)
            aid = str(uuid.uuid4())
            self.objects["ads"][aid] = {
                "id": aid, "ad_squad_id": next(iter(self.objects["adsquads"])), "creative_id": str(uuid.uuid4()),
                "name": f"Sneaker drop {i}", "type": "SNAP_AD", "status": "ACTIVE", "review_status": "APPROVED",
                "ad_account_id": account, "updated_at": "2026-03-02T10:00:00.000Z",
            }  # fmt: skip
            made.append(aid)
        for n in range(days):
            day = (self.today() - timedelta(days=days - 1 - n)).isoformat()
            for cid in self.objects["campaigns"]:
                self.day(cid, day, impressions=700 + n, swipes=21, spend=5_432_100)
        return made

    def day(self, campaign_id: str, day: str, **stats: Any) -> None:
        row = {"impressions": 0, "swipes": 0, "spend": 0, "conversion_purchases": 1,
               "conversion_purchases_value": 45_000_000}  # fmt: skip
        self.days[(campaign_id, day)] = row | stats

    def delete(self, resource: str, object_id: str) -> None:
        del self.objects[resource][object_id]

    def ids(self, resource: str) -> list[str]:
        if resource in RESOURCES:
            return list(self.objects[resource])
        return [
            f"campaign:{c}:{d}"
            for (c, d), v in self.days.items()
            if c in self.objects["campaigns"] and v["impressions"]
        ]

    def fail_next(self, count: int = 1, status: int = 429) -> None:
        self.failures.extend([status] * count)

    # --- the API ----------------------------------------------------------------------------------------------

    def app(self) -> web.Application:
        @web.middleware
        async def checked(request: web.Request, handler):
            if request.path == "/login/oauth2/access_token":
                return await handler(request)
            body = await request.json() if request.can_read_body else None
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            if scheme != "Bearer" or token not in self.oauth.access_tokens:
                response = snap_error(401, "E0001", "Unauthorized")
            elif self.failures:
                status = self.failures.pop(0)
                response = snap_error(status, "E3003" if status == 429 else "E0000", "Too many requests")
            elif "account" in request.match_info and request.match_info["account"] != self.ad_account_id:
                response = snap_error(403, "E1002", "Not authorized to access this ad account")
            else:
                response = await handler(request)
            self.hits.append((time.monotonic(), response.status))
            self.log.append((request.method, request.path, dict(request.query), body, response.status))
            return response

        self.oauth.url = self.url
        app = web.Application(middlewares=[checked])
        app.router.add_post("/login/oauth2/access_token", self.oauth.token)
        app.router.add_get(f"/{VERSION}/adaccounts/{{account}}", self.account)
        app.router.add_get(f"/{VERSION}/adaccounts/{{account}}/{{resource}}", self.listing)
        app.router.add_put(f"/{VERSION}/adaccounts/{{account}}/campaigns", self.update)
        app.router.add_get(f"/{VERSION}/campaigns/{{campaign}}/stats", self.stats)
        app.router.add_get(f"/{VERSION}/campaigns/{{campaign}}", self.campaign)
        return app

    async def account(self, request: web.Request) -> web.Response:
        found = {"id": self.ad_account_id, "name": "Sneakers", "currency": self.currency, "timezone": self.timezone}
        return wrapped("adaccounts", [found])

    async def listing(self, request: web.Request) -> web.Response:
        resource = request.match_info["resource"]
        if resource not in RESOURCES:
            return snap_error(404, "E1003", "Not found")
        limit = int(request.query.get("limit", "50"))
        if not 50 <= limit <= 1000:
            return snap_error(400, "E1008", "limit must be between 50 and 1000")
        start = int(request.query.get("cursor") or 0)
        rows = list(self.objects[resource].values())
        more = {}
        if start + limit < len(rows):
            more["paging"] = {"next_link": f"{self.url}{request.path}?cursor={start + limit}&limit={limit}"}
        return wrapped(resource, rows[start : start + limit], **more)

    async def campaign(self, request: web.Request) -> web.Response:
        found = self.objects["campaigns"].get(request.match_info["campaign"])
        return wrapped("campaigns", [found]) if found else snap_error(404, "E1003", "Campaign not found")

    async def update(self, request: web.Request) -> web.Response:
        changed = []
        for given in (await request.json()).get("campaigns") or []:
            held = self.objects["campaigns"].get(given.get("id"))
            if held is None:
                return snap_error(404, "E1003", "Campaign not found")
            if not given.get("name") or not given.get("start_time") or given.get("status") not in ("ACTIVE", "PAUSED"):
                return snap_error(400, "E1001", "name, start_time and status are required")
            held.update({k: v for k, v in given.items() if k in held})
            changed.append(held)
        return wrapped("campaigns", changed)

    async def stats(self, request: web.Request) -> web.Response:
        cid, q = request.match_info["campaign"], request.query
        if cid not in self.objects["campaigns"]:
            return snap_error(404, "E1003", "Campaign not found")
        tz = ZoneInfo(self.timezone)
        try:
            start, end = (datetime.fromisoformat(q["start_time"]), datetime.fromisoformat(q["end_time"]))
        except (KeyError, ValueError):
            return snap_error(400, "E1008", "start_time and end_time are required")
        local = [t.astimezone(tz) for t in (start, end)]
        if q.get("granularity") != "DAY" or any((t.hour, t.minute) != (0, 0) for t in local):
            return snap_error(
                400, "E1008", "DAY granularity needs start_time and end_time at midnight in the account's time zone"
            )
        fields = q.get("fields", "impressions").split(",")
        series, day = [], local[0].date()
        while day < local[1].date():
            values = self.days.get((cid, day.isoformat()), {})
            midnight = datetime(day.year, day.month, day.day, tzinfo=tz)
            stats = {f: values.get(f, 0) for f in fields}
            series.append(
                {
                    "start_time": midnight.isoformat(),
                    "end_time": (midnight + timedelta(days=1)).isoformat(),
                    "stats": stats,
                }
            )
            day += timedelta(days=1)
        stat = {"id": cid, "type": "CAMPAIGN", "granularity": "DAY", "timeseries": series}
        answer = {
            "request_status": "SUCCESS",
            "timeseries_stats": [{"sub_request_status": "SUCCESS", "timeseries_stat": stat}],
        }
        return web.json_response(answer)
