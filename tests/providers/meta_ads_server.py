"""A local Meta Marketing API (Graph API v21.0) for tests, in the documented shapes (developers.facebook.com/docs/
marketing-api: "Ad Campaign", "Ad Set", "Ad", "Insights API", "Rate Limiting"; Graph API "Paginated Results").

- `Authorization: Bearer <token>` with a token `oauth` issued (its token endpoint at `/v21.0/oauth/access_token`, as
  graph.facebook.com's; tests/oauth_server.py) or `issue_access`; anything else 401 code 190 (OAuthException).
- `POST /v21.0/oauth/access_token` with `grant_type=fb_exchange_token`: a long-lived token for a valid one.
- `GET /v21.0/act_{id}?fields=`: the ad account (id, currency); another account 400 code 100.
- `GET /v21.0/act_{id}/campaigns|adsets|ads?fields=&limit=&after=`: the objects with only the fields asked (a nested
  `creative{a,b}` too), DELETED and ARCHIVED ones left out (Meta lists them only under an effective_status filter);
  `{"data", "paging": {"cursors": {"before", "after"}, "next"}}`, `next` only when more follow; a limit above 100
  400 code 100.
- `GET /v21.0/act_{id}/insights?level=&time_increment=1&time_range={"since","until"}&fields=`: one row per object of
  the level and day with impressions (days without impressions are not listed), numbers as strings, spend a decimal
  string, actions/action_values lists; paged like the rest.
- `POST /v21.0/{campaign_id}` (form) `status=PAUSED|ACTIVE`: `{"success": true}`; unknown 400 code 100.
Refusals a test asks for with `fail_next`: Meta's throttling (HTTP 400, code 17 or 80004 and the
X-Business-Use-Case-Usage header naming the minutes to regain access), 429 with Retry-After, or a 5xx.
Test hooks: `seed`, `day`, `delete`, `log`.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from aiohttp import web
from oauth_server import CLIENT_ID, CLIENT_SECRET, OAuthServer

from providers.server_support import logged_app
from providers.whatsapp_server import _cursor, _index, graph_error

VERSION = "v21.0"
RESOURCES = ("campaigns", "adsets", "ads")
LEVEL_OF = {"campaign": "campaigns", "adset": "adsets", "ad": "ads"}
GONE = ("DELETED", "ARCHIVED")
LONG_LIVED_S = 5_183_944  # what Meta answers for a long-lived user token: about 60 days


def _fields(asked: str) -> dict[str, list[str] | None]:
    """`id,name,creative{id,title}` -> {"id": None, "name": None, "creative": ["id", "title"]}."""
    found: dict[str, list[str] | None] = {}
    for name, nested in re.findall(r"(\w+)(?:\{([^}]*)\})?", asked):
        found[name] = nested.split(",") if nested else None
    return found


def _only(obj: dict[str, Any], fields: dict[str, list[str] | None]) -> dict[str, Any]:
    out = {}
    for name, nested in fields.items():
        if name in obj:
            value = obj[name]
            out[name] = {k: value[k] for k in nested if k in value} if nested and isinstance(value, dict) else value
    return out


@dataclass
class MetaAds:
    account_id: str = "1234567890123"
    currency: str = "USD"
    url: str = ""
    oauth: OAuthServer = field(default_factory=OAuthServer)
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    objects: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: {r: {} for r in RESOURCES})
    days: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)  # (level, id, day) -> values
    failures: list[tuple[int, int, dict[str, str]]] = field(default_factory=list)
    log: list[tuple[str, str, dict[str, str], int]] = field(default_factory=list)
    long_lived: set[str] = field(default_factory=set)  # the long-lived tokens fb_exchange_token issued
    _seq: int = 23_850_000_000_000_000

    # --- test hooks -------------------------------------------------------------------------------------------

    def issue_access(self) -> str:
        token = "EAAB" + secrets.token_hex(12)
        self.oauth.access_tokens.add(token)
        return token

    def _id(self) -> str:
        self._seq += 1
        return str(self._seq)

    def seed(self, campaigns: int = 0, adsets: int = 0, ads: int = 0, days: int = 0) -> list[str]:
        """Campaigns, ad sets (in the first campaign), ads (in the first ad set), and `days` days of Insights
        ending today for every campaign, ad set and ad."""
        made, account = [], self.account_id
        for i in range(campaigns):
            cid = self._id()
            self.objects["campaigns"][cid] = {
                "id": cid,
                "account_id": account,
                "name": f"Spring sale {i}",
                "status": ("ACTIVE", "PAUSED")[i % 2],
                "effective_status": ("ACTIVE", "PAUSED")[i % 2],
                "objective": "OUTCOME_SALES",
                "buying_type": "AUCTION",
                "daily_budget": str(5000 + i * 100),
                "start_time": "2026-03-01T00:00:00-0800",
                "updated_time": "2026-03-02T10:00:00+0000",
            }
            made.append(cid)
        for i in range(adsets):
            if not self.objects["campaigns"]:
                self.seed(campaigns=1)
            sid, campaign = self._id(), next(iter(self.objects["campaigns"]))
            self.objects["adsets"][sid] = {
                "id": sid,
                "account_id": account,
                "campaign_id": campaign,
                "name": f"Women 25-44 {i}",
                "status": "ACTIVE",
                "effective_status": "ACTIVE",
                "optimization_goal": "OFFSITE_CONVERSIONS",
                "billing_event": "IMPRESSIONS",
                "bid_amount": 150,
                "daily_budget": "2000",
                "updated_time": "2026-03-02T10:00:00+0000",
            }
            made.append(sid)
        for i in range(ads):
            if not self.objects["adsets"]:
                self.seed(adsets=1)
            aid, adset = self._id(), next(iter(self.objects["adsets"]))
            self.objects["ads"][aid] = {
                "id": aid,
                "account_id": account,
                "campaign_id": self.objects["adsets"][adset]["campaign_id"],
                "adset_id": adset,
                "name": f"Linen shirts {i}",
                "status": "ACTIVE",
                "effective_status": "ACTIVE",
                "updated_time": "2026-03-02T10:00:00+0000",
                "creative": {
                    "id": self._id(),
                    "title": f"Linen shirts {i}",
                    "body": "Breathable linen, free returns.",
                    "object_type": "SHARE",
                    "link_url": "https://shop.example.com/linen",
                },
            }
            made.append(aid)
        for n in range(days):
            day = (date.today() - timedelta(days=days - 1 - n)).isoformat()
            for level, resource in LEVEL_OF.items():
                for oid in self.objects[resource]:
                    self.day(level, oid, day, impressions=1000 + n, clicks=40 + n, spend="12.34")
        return made

    def day(self, level: str, object_id: str, day: str, **values: Any) -> None:
        row = {"impressions": 0, "clicks": 0, "spend": "0", "purchases": 2, "purchase_value": "59.90"}
        self.days[(level, object_id, day)] = row | values

    def delete(self, resource: str, object_id: str) -> None:
        self.objects[resource][object_id]["status"] = "DELETED"

    def ids(self, resource: str) -> list[str]:
        if resource in RESOURCES:
            return [i for i, o in self.objects[resource].items() if o["status"] not in GONE]
        level = {"campaign_insights": "campaign", "adset_insights": "adset", "ad_insights": "ad"}[resource]
        ours = {"adset": "ad_group"}.get(level, level)
        return [f"{ours}:{i}:{d}" for (lv, i, d), v in self.days.items() if lv == level and v["impressions"]]

    def fail_next(self, count: int = 1, status: int = 400, code: int = 17, regain_minutes: int | None = None) -> None:
        headers = {}
        if regain_minutes is not None:
            usage = {"call_count": 100, "total_cputime": 40, "total_time": 60, "type": "ads_management"}
            case = usage | {"estimated_time_to_regain_access": regain_minutes}
            headers["X-Business-Use-Case-Usage"] = json.dumps({"1029384756": [case]})
        self.failures.extend([(status, code, headers)] * count)

    # --- the API ----------------------------------------------------------------------------------------------

    def app(self) -> web.Application:
        self.oauth.url = self.url
        app = logged_app(self.log)
        app.router.add_post(f"/{VERSION}/oauth/access_token", self.token)
        app.router.add_get(f"/{VERSION}/{{account}}/insights", self.insights)
        app.router.add_get(f"/{VERSION}/{{account}}/{{resource}}", self.listing)
        app.router.add_get(f"/{VERSION}/{{account}}", self.account)
        app.router.add_post(f"/{VERSION}/{{object}}", self.update)
        return app

    async def token(self, request: web.Request) -> web.Response:
        """The code exchange (tests/oauth_server.py's), and `grant_type=fb_exchange_token`: a valid token and the app's
        id and secret give a long-lived token (about 60 days) and no refresh token."""
        form = await request.post()
        if form.get("grant_type") != "fb_exchange_token":
            return await self.oauth.token(request)
        self.oauth.token_calls += 1
        if (form.get("client_id"), form.get("client_secret")) != (self.client_id, self.client_secret):
            return graph_error(400, 101, "Error validating application. Invalid application ID.")
        if form.get("fb_exchange_token") not in self.oauth.access_tokens:
            return graph_error(400, 190, "Error validating access token: Session has expired.")
        long_lived = "EAAB-long-" + secrets.token_hex(12)
        self.oauth.access_tokens.add(long_lived)
        self.long_lived.add(long_lived)
        return web.json_response({"access_token": long_lived, "token_type": "bearer", "expires_in": LONG_LIVED_S})

    def _refusal(self, request: web.Request, account: str | None = None) -> web.Response | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or token not in self.oauth.access_tokens:
            return graph_error(401, 190, "Invalid OAuth access token - Cannot parse access token")
        if self.failures:
            status, code, headers = self.failures.pop(0)
            return graph_error(status, code, f"(#{code}) User request limit reached", headers)
        if account is not None and account != f"act_{self.account_id}":
            return graph_error(400, 100, "Unsupported get request", kind="GraphMethodException")
        return None

    def _page(self, request: web.Request, rows: list[dict[str, Any]]) -> web.Response:
        limit = int(request.query.get("limit", "25"))
        if not 1 <= limit <= 100:
            return graph_error(400, 100, "(#100) The limit must be between 1 and 100", kind="OAuthException")
        start = _index(request.query["after"]) + 1 if request.query.get("after") else 0
        chosen = rows[start : start + limit]
        body: dict[str, Any] = {"data": chosen}
        if chosen:
            body["paging"] = {"cursors": {"before": _cursor(start), "after": _cursor(start + len(chosen) - 1)}}
            if start + len(chosen) < len(rows):
                body["paging"]["next"] = (
                    f"{self.url}{request.path}?limit={limit}&after={body['paging']['cursors']['after']}"
                )
        return web.json_response(body)

    async def account(self, request: web.Request) -> web.Response:
        if refused := self._refusal(request, request.match_info["account"]):
            return refused
        found = {"id": f"act_{self.account_id}", "account_id": self.account_id, "currency": self.currency}
        return web.json_response(_only(found, _fields(request.query.get("fields", "id"))))

    async def listing(self, request: web.Request) -> web.Response:
        if refused := self._refusal(request, request.match_info["account"]):
            return refused
        resource = request.match_info["resource"]
        if resource not in RESOURCES:
            return graph_error(400, 100, f"Unknown path components: /{resource}", kind="OAuthException")
        fields = _fields(request.query.get("fields", "id"))
        rows = [_only(o, fields) for o in self.objects[resource].values() if o["status"] not in GONE]
        return self._page(request, rows)

    async def insights(self, request: web.Request) -> web.Response:
        if refused := self._refusal(request, request.match_info["account"]):
            return refused
        q = request.query
        level, span = q.get("level", "account"), json.loads(q.get("time_range") or "{}")
        if level not in LEVEL_OF or q.get("time_increment") != "1" or not span.get("since"):
            return graph_error(400, 100, "(#100) level, time_increment=1 and time_range are needed here")
        fields, resource, rows = _fields(q.get("fields", "")), LEVEL_OF[level], []
        for (lv, oid, day), v in sorted(self.days.items(), key=lambda i: (i[0][2], i[0][1])):
            obj = self.objects[resource].get(oid)
            if lv != level or obj is None or not v["impressions"] or not span["since"] <= day <= span["until"]:
                continue
            row = {
                "account_id": self.account_id,
                "account_currency": self.currency,
                "campaign_id": obj.get("campaign_id", oid),
                "adset_id": obj.get("adset_id", oid),
                "ad_id": oid,
                "date_start": day,
                "date_stop": day,
                "impressions": str(v["impressions"]),
                "clicks": str(v["clicks"]),
                "spend": v["spend"],
                "actions": [
                    {"action_type": "link_click", "value": str(v["clicks"])},
                    {"action_type": "purchase", "value": str(v["purchases"])},
                ],
                "action_values": [{"action_type": "purchase", "value": v["purchase_value"]}],
            }
            rows.append(_only(row, fields))
        return self._page(request, rows)

    async def update(self, request: web.Request) -> web.Response:
        if refused := self._refusal(request):
            return refused
        form = await request.post()
        campaign = self.objects["campaigns"].get(request.match_info["object"])
        if campaign is None:
            return graph_error(400, 100, "Unsupported post request", kind="GraphMethodException")
        if form.get("status") not in ("ACTIVE", "PAUSED"):
            return graph_error(400, 100, "(#100) Param status must be one of {ACTIVE, PAUSED, DELETED, ARCHIVED}")
        campaign["status"] = campaign["effective_status"] = str(form["status"])
        return web.json_response({"success": True})
