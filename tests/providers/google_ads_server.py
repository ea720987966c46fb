"""A local Google Ads API (REST v26) for tests, in the documented shape (developers.google.com/google-ads/api:
"GoogleAdsService.Search", "Google Ads Query Language", "Mutate campaigns"), on tests/providers/google_server.py's
shared Google OAuth2 and errors.

- Headers: `developer-token` must be `developer_token` (else 403 PERMISSION_DENIED, DEVELOPER_TOKEN_NOT_APPROVED);
  `login-customer-id`, when `manager_id` is set, must name it (else 403 USER_PERMISSION_DENIED).
- `POST /v26/customers/{id}/googleAds:search` `{"query", "pageToken"}`: a GAQL subset parsed for real — `SELECT`
  fields of the FROM resource, `customer.*`, `campaign.*` (of an ad group), `campaign_budget.*`, `ad_group.id` (of an
  ad), `ad_group_ad.*`, `segments.date`, `metrics.*`; `FROM customer | campaign | ad_group | ad_group_ad`; `WHERE
  segments.date BETWEEN 'a' AND 'b'`; ORDER BY is read and rows come ordered by date then id. A field outside the
  resource's is 400 INVALID_ARGUMENT (queryError UNRECOGNIZED_FIELD); `pageSize` in the body is 400
  PAGE_SIZE_NOT_SUPPORTED. Segmenting by date lists one row per day with metrics (days without impressions are not
  listed). Rows hold only the fields asked, nested and in
  camelCase at every level (`ad_group_ad.ad.final_urls` -> `{"adGroupAd": {"ad": {"finalUrls": ...}}}`), int64 values
  as strings. Pages hold `rows_per_page` rows (10,000 as Google fixes it); `nextPageToken` continues the query it was
  issued for, and another query with it is 400 (INVALID_PAGE_TOKEN).
- `POST /v26/customers/{id}/campaigns:mutate` `{"operations": [{"update": {"resourceName", "status"},
  "updateMask": "status"}]}`: `{"results": [{"resourceName"}]}`; an unknown campaign is 400 (mutateError
  RESOURCE_NOT_FOUND).
Test hooks: `seed`, `change`, `delete`, `day` (a day's metrics), and GoogleApi's.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from aiohttp import web

from providers.google_server import GoogleApi, google_error

VERSION = "v26"
GAQL = re.compile(
    r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<resource>\w+)"
    r"(?:\s+WHERE\s+segments\.date\s+BETWEEN\s+'(?P<since>[\d-]+)'\s+AND\s+'(?P<until>[\d-]+)')?"
    r"(?:\s+ORDER\s+BY\s+[\w.,\s]+?)?\s*$",
    re.I | re.S,
)
PREFIXES = {  # what a FROM resource may select
    "customer": ("customer.",),
    "campaign": ("customer.", "campaign.", "campaign_budget.", "segments.date", "metrics."),
    "ad_group": ("customer.", "campaign.id", "ad_group.", "segments.date", "metrics."),
    "ad_group_ad": ("customer.", "campaign.id", "ad_group.id", "ad_group_ad."),
}
METRICS = ("impressions", "clicks", "cost_micros", "conversions", "conversions_value")


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(p.capitalize() for p in rest)


def _failure(message: str, **error_code: str) -> web.Response:
    detail = {
        "@type": f"type.googleapis.com/google.ads.googleads.{VERSION}.errors.GoogleAdsFailure",
        "errors": [{"errorCode": error_code, "message": message}],
    }
    return google_error(400, "Request contains an invalid argument.", details=[detail])


@dataclass
class GoogleAds(GoogleApi):
    customer_id: str = "1234567890"
    currency: str = "EUR"
    developer_token: str = "dev-token-test"
    manager_id: str | None = None
    rows_per_page: int = 10_000
    campaigns: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> GAQL field -> value
    ad_groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    ads: dict[str, dict[str, Any]] = field(default_factory=dict)
    metrics: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)  # (level, id, day) -> values
    page_tokens: dict[str, tuple[str, int]] = field(default_factory=dict)  # token -> (query, offset)
    _next_id: int = 20_000_000_000

    # --- test hooks -------------------------------------------------------------------------------------------

    def _id(self) -> str:
        self._next_id += 1
        return str(self._next_id)

    def seed(
        self, campaigns: int = 0, ad_groups: int = 0, days: int = 0, first_day: date | None = None, ads: int = 0
    ) -> list[str]:
        """Campaigns, ad groups (in the first campaign, made if none), ads (responsive search ads in the first ad
        group), and `days` days of metrics for every campaign and ad group, ending `first_day + days - 1` (default:
        ending today)."""
        made = []
        for i in range(campaigns):
            cid = self._id()
            self.campaigns[cid] = {
                "campaign.id": cid,
                "campaign.resource_name": f"customers/{self.customer_id}/campaigns/{cid}",
                "campaign.name": f"Brand search {i}",
                "campaign.status": ("ENABLED", "PAUSED")[i % 2],
                "campaign.advertising_channel_type": ("SEARCH", "DISPLAY", "PERFORMANCE_MAX")[i % 3],
                "campaign.bidding_strategy_type": "MAXIMIZE_CONVERSIONS",
                "campaign.start_date": "2026-01-01",
                "campaign.end_date": "2037-12-30",
                "campaign_budget.resource_name": f"customers/{self.customer_id}/campaignBudgets/{cid}",
                "campaign_budget.amount_micros": str(50_000_000 + i * 1_250_000),
            }
            made.append(cid)
        for i in range(ad_groups):
            if not self.campaigns:
                self.seed(campaigns=1)
            gid, campaign = self._id(), next(iter(self.campaigns))
            self.ad_groups[gid] = {
                "campaign.id": campaign,
                "ad_group.id": gid,
                "ad_group.resource_name": f"customers/{self.customer_id}/adGroups/{gid}",
                "ad_group.name": f"Ad group {i}",
                "ad_group.status": "ENABLED",
                "ad_group.type": "SEARCH_STANDARD",
                "ad_group.cpc_bid_micros": "1250000",
            }
            made.append(gid)
        for i in range(ads):
            if not self.ad_groups:
                self.seed(ad_groups=1)
            aid, group = self._id(), next(iter(self.ad_groups))
            self.ads[aid] = {
                "campaign.id": self.ad_groups[group]["campaign.id"],
                "ad_group.id": group,
                "ad_group_ad.status": "ENABLED",
                "ad_group_ad.ad.id": aid,
                "ad_group_ad.ad.name": "",
                "ad_group_ad.ad.type": "RESPONSIVE_SEARCH_AD",
                "ad_group_ad.ad.final_urls": ["https://shop.example.com/sweaters"],
                "ad_group_ad.ad.responsive_search_ad.headlines": [
                    {"text": f"Merino sweaters {i}"},
                    {"text": "Free delivery over 50 EUR", "pinnedField": "HEADLINE_1"},
                ],
                "ad_group_ad.ad.responsive_search_ad.descriptions": [{"text": "Warm, soft, made in Portugal."}],
            }
            made.append(aid)
        start = first_day or date.today() - timedelta(days=max(days - 1, 0))
        for n in range(days):
            day = (start + timedelta(days=n)).isoformat()
            for cid in self.campaigns:
                self.day("campaign", cid, day, impressions=1000 + n, clicks=50 + n, cost_micros=12_345_678 + n)
            for gid in self.ad_groups:
                self.day("ad_group", gid, day, impressions=500 + n, clicks=20, cost_micros=6_000_000)
        return made

    def day(self, level: str, object_id: str, day: str, **values: Any) -> None:
        row = {"impressions": 0, "clicks": 0, "cost_micros": 0, "conversions": 2.5, "conversions_value": 99.9}
        self.metrics[(level, object_id, day)] = row | values

    def change(self, campaign_id: str, **values: Any) -> None:
        self.campaigns[campaign_id].update({f"campaign.{k}": v for k, v in values.items()})

    def delete(self, campaign_id: str) -> None:
        del self.campaigns[campaign_id]

    def ids(self, resource: str) -> list[str]:
        if resource == "campaigns":
            return sorted(self.campaigns, key=int)
        if resource == "ad_groups":
            return sorted(self.ad_groups, key=int)
        if resource == "ads":
            return sorted(self.ads, key=int)
        level = "campaign" if resource == "campaign_performance" else "ad_group"
        return [f"{lv}:{i}:{d}" for (lv, i, d) in self.metrics if lv == level]

    # --- the API ----------------------------------------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        app.router.add_post(f"/{VERSION}/customers/{{customer}}/googleAds:search", self.search)
        app.router.add_post(f"/{VERSION}/customers/{{customer}}/campaigns:mutate", self.mutate)

    def _refused(self, request: web.Request) -> web.Response | None:
        if request.headers.get("developer-token") != self.developer_token:
            return google_error(
                403,
                "The developer token is not approved.",
                details=[{"errorCode": {"authorizationError": "DEVELOPER_TOKEN_NOT_APPROVED"}}],
            )
        if self.manager_id and request.headers.get("login-customer-id") != self.manager_id:
            return google_error(403, "User doesn't have permission to access customer.")
        if request.match_info["customer"] != self.customer_id:
            return google_error(403, "User doesn't have permission to access customer.")
        return None

    def _rows(self, resource: str, fields: list[str], since: str | None, until: str | None) -> list[dict[str, Any]]:
        customer = {"customer.id": self.customer_id, "customer.currency_code": self.currency}
        if resource == "customer":
            return [customer]
        entities = {"campaign": self.campaigns, "ad_group": self.ad_groups, "ad_group_ad": self.ads}[resource]
        if not any(f == "segments.date" or f.startswith("metrics.") for f in fields):
            return [customer | entities[k] for k in sorted(entities, key=int)]
        rows = []
        for (level, object_id, day), values in sorted(self.metrics.items(), key=lambda i: (i[0][2], int(i[0][1]))):
            if level != resource or object_id not in entities or (since and not since <= day <= (until or day)):
                continue
            if values["impressions"] == 0:
                continue
            metrics = {f"metrics.{k}": (str(v) if isinstance(v, int) else v) for k, v in values.items()}
            rows.append(customer | entities[object_id] | {"segments.date": day} | metrics)
        return rows

    async def search(self, request: web.Request) -> web.Response:
        if refused := self._refused(request):
            return refused
        body = await request.json()
        if "pageSize" in body:
            return _failure("Setting the page size is not supported.", requestError="PAGE_SIZE_NOT_SUPPORTED")
        query = str(body.get("query") or "")
        parsed = GAQL.match(query)
        if not parsed or parsed["resource"] not in PREFIXES:
            return _failure(f"Error in query: {query[:80]}", queryError="UNEXPECTED_INPUT")
        fields = [f.strip() for f in parsed["fields"].split(",")]
        allowed = PREFIXES[parsed["resource"]]
        if unknown := [f for f in fields if not f.startswith(allowed)]:
            return _failure(f"Unrecognized field in the query: '{unknown[0]}'.", queryError="UNRECOGNIZED_FIELD")
        offset = 0
        if token := body.get("pageToken"):
            issued = self.page_tokens.get(token)
            if issued is None or issued[0] != query:
                return _failure("Page token is invalid.", requestError="INVALID_PAGE_TOKEN")
            offset = issued[1]
        rows = self._rows(parsed["resource"], fields, parsed["since"], parsed["until"])
        chosen = rows[offset : offset + self.rows_per_page]
        answer: dict[str, Any] = {"results": [self._nested(r, fields) for r in chosen], "fieldMask": ",".join(fields)}
        if offset + self.rows_per_page < len(rows):
            token = secrets.token_urlsafe(16)
            self.page_tokens[token] = (query, offset + self.rows_per_page)
            answer["nextPageToken"] = token
        return web.json_response(answer)

    @staticmethod
    def _nested(row: dict[str, Any], fields: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in fields:
            if name in row:
                *path, last = [_camel(part) for part in name.split(".")]
                node = out
                for part in path:
                    node = node.setdefault(part, {})
                node[last] = row[name]
        return out

    async def mutate(self, request: web.Request) -> web.Response:
        if refused := self._refused(request):
            return refused
        body = await request.json()
        results = []
        for operation in body.get("operations") or []:
            update = operation.get("update") or {}
            cid = str(update.get("resourceName", "")).rsplit("/", 1)[-1]
            if cid not in self.campaigns or operation.get("updateMask") != "status":
                return _failure("Resource was not found.", mutateError="RESOURCE_NOT_FOUND")
            self.campaigns[cid]["campaign.status"] = update.get("status")
            results.append({"resourceName": update["resourceName"]})
        return web.json_response({"results": results})
