"""A local Pinterest API v5 for tests, in the documented shapes (developers.pinterest.com/docs/api/v5: "OAuth",
"Pagination", campaigns/ad_groups/ads/pins list, campaigns/analytics, campaigns/update, "Errors").

- `POST /v5/oauth/token` (form): tests/oauth_server.py's grants, the client taken ONLY by HTTP Basic (a client id or
  secret in the form is 401 invalid_client, as an unknown client); refresh tokens rotate only when asked.
- `Authorization: Bearer <token>` it issued; anything else 401 `{"code": 2, "message": "Authentication failed."}`.
- `GET /v5/ad_accounts/{id}`: the account (id, name, currency); another account 403 code 29.
- `GET /v5/ad_accounts/{id}/campaigns|ad_groups|ads` and `GET /v5/pins`: `{"items", "bookmark"}`, page_size 1-250
  (else 400 code 1), bookmark opaque and null on the last page; `entity_statuses` filters (default ACTIVE,PAUSED).
- `GET /v5/ad_accounts/{id}/campaigns/analytics?start_date&end_date&campaign_ids&columns&granularity=DAY`: a list of
  rows `{"AD_ACCOUNT_ID", "CAMPAIGN_ID", "DATE", <columns>}` for the days with impressions; campaign_ids required
  (1-250), a range over 90 days 400 code 1.
- `PATCH /v5/ad_accounts/{id}/campaigns` `[{"id", "status"}]`: `{"items": [{"data": <campaign>, "exceptions": []}]}`,
  an unknown id an item with exceptions.
Refusals by `fail_next`: 429 (with Retry-After when given) or a 5xx. Test hooks: `seed`, `day`, `archive`, `log`.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from aiohttp import web
from oauth_server import CLIENT_ID, CLIENT_SECRET, OAuthServer

VERSION = "v5"
RESOURCES = ("campaigns", "ad_groups", "ads", "pins")


def pinterest_error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status, headers=headers)


class BasicClientOAuth(OAuthServer):
    """The token endpoint taking the client by HTTP Basic only (Pinterest: "client_secret_basic")."""

    def client(self, request: web.Request, form) -> tuple[str | None, str | None]:
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Basic" or "client_id" in form or "client_secret" in form:
            return None, None
        user, _, password = base64.b64decode(encoded).decode().partition(":")
        return user, password


@dataclass
class PinterestAds:
    ad_account_id: str = "549755885175"
    currency: str = "EUR"
    url: str = ""
    oauth: OAuthServer = field(default_factory=BasicClientOAuth)
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    objects: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: {r: {} for r in RESOURCES})
    days: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (campaign id, day) -> values
    failures: list[tuple[int, float | None]] = field(default_factory=list)
    log: list[tuple[str, str, dict[str, str], Any, int]] = field(default_factory=list)
    _seq: int = 626_736_533_000

    # --- test hooks -------------------------------------------------------------------------------------------

    def issue_access(self) -> str:
        token = "pina_" + secrets.token_hex(12)
        self.oauth.access_tokens.add(token)
        return token

    def _id(self) -> str:
        self._seq += 1
        return str(self._seq)

    def seed(self, campaigns: int = 0, ad_groups: int = 0, ads: int = 0, pins: int = 0, days: int = 0) -> list[str]:
        made, account = [], self.ad_account_id
        for i in range(campaigns):
            cid = self._id()
            self.objects["campaigns"][cid] = {
                "id": cid, "ad_account_id": account, "name": f"Summer looks {i}", "status": "ACTIVE",
                "objective_type": "WEB_CONVERSION", "daily_spend_cap": 25_000_000, "lifetime_spend_cap": None,
                "start_time": 1772323200, "end_time": None, "created_time": 1772323200, "updated_time": 1772409600,
                "type": "campaign",
            }  # fmt: skip
            made.append(cid)
        for i in range(ad_groups):
            if not self.objects["campaigns"]:
                self.seed(campaigns=1)
            gid, campaign = self._id(), next(iter(self.objects["campaigns"]))
            self.objects["ad_groups"][gid] = {
                "id": gid, "ad_account_id": account, "campaign_id": campaign, "name": f"Home decor {i}",
                "status": "ACTIVE", "budget_in_micro_currency": 10_000_000, "bid_in_micro_currency": 1_500_000,
                "budget_type": "DAILY", "billable_event": "CLICKTHROUGH", "updated_time": 1772409600,
                "type": "adgroup",
            }  # fmt: skip
            made.append(gid)
        for i in range(ads):
            if not self.objects["ad_groups"]:
                self.seed(ad_groups=1)
            aid, group = self._id(), next(iter(self.objects["ad_groups"]))
            self.objects["ads"][aid] = {
                "id": aid, "ad_account_id": account, "ad_group_id": group,
                "campaign_id": self.objects["ad_groups"][group]["campaign_id"], "name": f"Rattan chair {i}",
                "status": "ACTIVE", "creative_type": "REGULAR", "pin_id": self._id(),
                "destination_url": "https://shop.example.com/rattan", "review_status": "APPROVED",
                "updated_time": 1772409600, "type": "pinpromotion",
            }  # fmt: skip
            made.append(aid)
        for i in range(pins):
            pid = self._id()
            self.objects["pins"][pid] = {
                "id": pid, "created_at": "2026-03-01T10:00:00", "link": "https://shop.example.com/rattan",
                "title": f"Rattan chair {i}", "description": "Handwoven rattan for sunny corners.",
                "alt_text": "A rattan chair by a window", "board_id": "549755885176",
                "media": {"media_type": "image"}, "creative_type": "REGULAR",
            }  # fmt: skip
            made.append(pid)
        for n in range(days):
            day = (date.today() - timedelta(days=days - 1 - n)).isoformat()
            for cid in self.objects["campaigns"]:
                self.day(cid, day, IMPRESSION_1=900 + n, CLICKTHROUGH_1=30, SPEND_IN_MICRO_DOLLAR=7_654_321)
        return made

    def day(self, campaign_id: str, day: str, **values: Any) -> None:
        row = {"IMPRESSION_1": 0, "CLICKTHROUGH_1": 0, "SPEND_IN_MICRO_DOLLAR": 0, "TOTAL_CONVERSIONS": 3,
               "TOTAL_CHECKOUT_VALUE_IN_MICRO_DOLLAR": 89_700_000}  # fmt: skip
        self.days[(campaign_id, day)] = row | values

    def archive(self, resource: str, object_id: str) -> None:
        self.objects[resource][object_id]["status"] = "ARCHIVED"

    def ids(self, resource: str) -> list[str]:
        if resource in RESOURCES:
            return [i for i, o in self.objects[resource].items() if o.get("status") != "ARCHIVED"]
        live = set(self.ids("campaigns"))
        return [f"campaign:{c}:{d}" for (c, d), v in self.days.items() if c in live and v["IMPRESSION_1"]]

    def fail_next(self, count: int = 1, status: int = 429, retry_after_s: float | None = None) -> None:
        self.failures.extend([(status, retry_after_s)] * count)

    # --- the API ----------------------------------------------------------------------------------------------

    def app(self) -> web.Application:
        @web.middleware
        async def checked(request: web.Request, handler):
            if request.path == f"/{VERSION}/oauth/token":
                return await handler(request)
            body = await request.json() if request.can_read_body else None
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            if scheme != "Bearer" or token not in self.oauth.access_tokens:
                response = pinterest_error(401, 2, "Authentication failed.")
            elif self.failures:
                status, retry_after = self.failures.pop(0)
                headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else {}
                response = pinterest_error(status, 8 if status == 429 else 3, "Too many requests", headers)
            elif "account" in request.match_info and request.match_info["account"] != self.ad_account_id:
                response = pinterest_error(403, 29, "You are not permitted to access that resource.")
            else:
                response = await handler(request)
            self.log.append((request.method, request.path, dict(request.query), body, response.status))
            return response

        self.oauth.url = self.url
        app = web.Application(middlewares=[checked])
        app.router.add_post(f"/{VERSION}/oauth/token", self.oauth.token)
        app.router.add_get(f"/{VERSION}/ad_accounts/{{account}}", self.account)
        app.router.add_get(f"/{VERSION}/ad_accounts/{{account}}/campaigns/analytics", self.analytics)
        app.router.add_get(f"/{VERSION}/ad_accounts/{{account}}/{{resource}}", self.listing)
        app.router.add_patch(f"/{VERSION}/ad_accounts/{{account}}/campaigns", self.update)
        app.router.add_get(f"/{VERSION}/pins", self.listing)
        return app

    async def account(self, request: web.Request) -> web.Response:
        return web.json_response({"id": self.ad_account_id, "name": "Shop ads", "currency": self.currency})

    async def listing(self, request: web.Request) -> web.Response:
        resource = request.match_info.get("resource", "pins")
        if resource not in RESOURCES:
            return pinterest_error(404, 404, "Not found.")
        size = int(request.query.get("page_size", "25"))
        if not 1 <= size <= 250:
            return pinterest_error(400, 1, "page_size must be between 1 and 250")
        statuses = request.query.get("entity_statuses", "ACTIVE,PAUSED").split(",")
        rows = [o for o in self.objects[resource].values() if resource == "pins" or o["status"] in statuses]
        start = int(base64.b64decode(request.query["bookmark"])) if request.query.get("bookmark") else 0
        chosen = rows[start : start + size]
        more = start + size < len(rows)
        bookmark = base64.b64encode(str(start + size).encode()).decode() if more else None
        return web.json_response({"items": chosen, "bookmark": bookmark})

    async def analytics(self, request: web.Request) -> web.Response:
        q = request.query
        ids = [i for i in q.get("campaign_ids", "").split(",") if i]
        start, end = q.get("start_date", ""), q.get("end_date", "")
        if not 1 <= len(ids) <= 250 or q.get("granularity") != "DAY" or not q.get("columns"):
            return pinterest_error(400, 1, "campaign_ids (1-250), columns and granularity are required")
        if (date.fromisoformat(end) - date.fromisoformat(start)).days > 90:
            return pinterest_error(400, 1, "The date range may not exceed 90 days")
        columns = q["columns"].split(",")
        rows = [
            {"AD_ACCOUNT_ID": self.ad_account_id, "CAMPAIGN_ID": int(c), "DATE": d}
            | {k: v for k, v in values.items() if k in columns}
            for (c, d), values in sorted(self.days.items(), key=lambda i: (i[0][1], i[0][0]))
            if c in ids and start <= d <= end and values["IMPRESSION_1"]
        ]
        return web.json_response(rows)

    async def update(self, request: web.Request) -> web.Response:
        items = []
        for change in await request.json():
            campaign = self.objects["campaigns"].get(str(change.get("id")))
            if campaign is None or change.get("status") not in ("ACTIVE", "PAUSED", "ARCHIVED"):
                items.append({"data": None, "exceptions": [{"code": 2504, "message": "Invalid campaign id."}]})
                continue
            campaign["status"] = change["status"]
            items.append({"data": campaign, "exceptions": []})
        return web.json_response({"items": items, "bookmark": None})
