"""A local Zoho CRM for tests: the API v8 endpoints a sync and the update_lead_status action use, in the documented
shape (zoho.com/crm/developer/docs/api/v8/: "Get Records", "Update Records", "Status Codes"), with Zoho's accounts
token endpoint (tests/oauth_server.py's OAuthServer) on the same origin, so a refresh issues tokens this API accepts
(and its revocation endpoint: a revoked refresh token's access tokens are refused here).

- Auth: `Authorization: Zoho-oauthtoken <token>` with a token the token endpoint issued (or `issue_access`);
  otherwise 401 `{"code": "INVALID_TOKEN", "details": {}, "message": "invalid oauth token", "status": "error"}`.
- `GET /crm/v8/{Leads,Contacts,Deals}`: `fields` required (400 REQUIRED_PARAM_MISSING), `page` (from 1),
  `per_page` (default and at most 200; more is 400 INVALID_DATA), `sort_by` (id, Created_Time, Modified_Time; default
  id), `sort_order` (asc, desc; default desc); the `If-Modified-Since` header (ISO 8601 with an offset) keeps records
  modified after it. Answers `{"data": [...only the fields asked, and id], "info": {"per_page", "count", "page",
  "sort_by", "sort_order", "more_records", "next_page_token", "previous_page_token", "page_token_expiry"}}`; 204
  without a body when nothing is listed, 304 when If-Modified-Since was given and nothing was modified after it.
- The 2,000-record limit of `page`: a page reaching past the 2,000th record is 400 DISCRETE_PAGINATION_LIMIT_EXCEEDED
  (`details.limit` 2000); beyond, `page_token` (the `info.next_page_token` of the previous answer) continues the
  listing the token was issued for (its sort, per_page and If-Modified-Since), after the last record it answered, so
  a record deleted meanwhile shifts nothing. `page` with `page_token` is 400 AMBIGUITY_DURING_PROCESSING; a token past
  its expiry (24 hours, `info.page_token_expiry`; `expire_page_tokens` in tests) is 400 EXPIRED_VALUE, an unknown one
  400 INVALID_DATA.
- `PUT /crm/v8/Leads/{id}` `{"data": [{field: value}]}`: `{"data": [{"code": "SUCCESS", "details": {"id",
  "Modified_Time", ...}, "message": "record updated", "status": "success"}]}`; an unknown id is 400 INVALID_DATA.

- Notifications ("Enable / Disable / Get Notification Details", "Update Details of a Notification"):
  `POST /crm/v8/actions/watch` `{"watch": [{"channel_id", "events": ["Leads.all", ...], "channel_expiry", "token",
  "notify_url"}]}` enables a channel (400 DUPLICATE_DATA when its id exists; an expiry past a week, or a token over
  50 characters, 400 INVALID_DATA), `PUT` replaces an existing one's details, `GET` lists them (`{"watch": [...]}`,
  204 when none), `DELETE ?channel_ids=1,2` disables them. Answers `{"watch": [{"code": "SUCCESS", "details":
  {"events": [...]}, "message": ..., "status": "success"}]}`. Whether GET lists the token is UNVERIFIED (listed here).

Test hooks: `seed`, `change`, `delete`, `fail_next` (429 with Retry-After, or 5xx), `revoke_access`,
`expire_page_tokens`, `log`, `notify` (POST a notification to every channel watching the module, as Zoho does).
"""

from __future__ import annotations

import copy
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from aiohttp import web
from oauth_server import CLIENT_ID, CLIENT_SECRET, OAuthServer

from providers.server_support import QueuedFailures, logged_app

BASE = "/crm/v8"
MODULES = ("Leads", "Contacts", "Deals")
PAGE_LIMIT = 2000  # records `page` reaches; page_token beyond
TOKEN_TTL = timedelta(hours=24)
T0 = datetime(2026, 1, 1, tzinfo=UTC)
IST = timezone(timedelta(hours=5, minutes=30))  # Zoho answers in the account's time zone


def zoho_time(value: datetime) -> str:
    return value.astimezone(IST).isoformat(timespec="seconds")


# sort keys with the id as tie-breaker, so a token's position names one place in the order
SORT_KEYS = {
    "id": lambda r: (int(r["id"]),),
    "Modified_Time": lambda r: (datetime.fromisoformat(r["Modified_Time"]), int(r["id"])),
    "Created_Time": lambda r: (datetime.fromisoformat(r["Created_Time"]), int(r["id"])),
}


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None, **details: Any):
    body = {"code": code, "details": details, "message": message, "status": "error"}
    return web.json_response(body, status=status, headers=headers)


@dataclass(frozen=True)
class Logged:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    status: int


def _logged(request: web.Request, status: int) -> Logged:
    return Logged(request.method, request.path, dict(request.query), dict(request.headers), status)


@dataclass
class ZohoCrm(QueuedFailures):
    failure_status = 429  # rate limited
    url: str = ""
    oauth: OAuthServer = field(default_factory=OAuthServer)
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: {m: {} for m in MODULES})
    log: list[Logged] = field(default_factory=list)
    failures: list[tuple[int, float | None]] = field(default_factory=list)
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    page_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)  # token -> the listing it continues
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)  # channel id -> its details (watch API)
    _next_id: int = 6_900_000_000_000_000_000

    # --- test hooks -------------------------------------------------------------------------------------------

    def issue_access(self) -> str:
        token = "1000.access." + secrets.token_hex(8)
        self.oauth.access_tokens.add(token)
        return token

    def revoke_access(self, token: str) -> None:
        self.oauth.access_tokens.discard(token)

    def seed(self, Leads: int = 0, Contacts: int = 0, Deals: int = 0, when: datetime = T0) -> list[str]:
        made = []
        for module, count in (("Leads", Leads), ("Contacts", Contacts), ("Deals", Deals)):
            for i in range(count):
                self._next_id += 1
                rid = str(self._next_id)
                at = zoho_time(when + timedelta(minutes=len(self.records[module])))
                self.records[module][rid] = self._record(module, rid, i, at)
                made.append(rid)
        return made

    @staticmethod
    def _record(module: str, rid: str, i: int, at: str) -> dict[str, Any]:
        owner = {"name": "Patricia Boyle", "id": "6900000000000000001", "email": "p.boyle@zylker.com"}
        tags = [{"name": "Trade show", "id": "6900000000000000100"}] if i % 3 == 0 else []
        common = {"id": rid, "Owner": owner, "Tag": tags, "Created_Time": at, "Modified_Time": at}
        if module == "Deals":  # the Deals module's standard fields (Amount in the org's currency)
            return common | {
                "Deal_Name": f"Zylker renewal {i}",
                "Amount": round(1000 + i * 12.5, 2),
                "Stage": ("Qualification", "Negotiation/Review", "Closed Won", "Closed Lost")[i % 4],
                "Pipeline": "Standard (Standard)",
                "Probability": (10, 80, 100, 0)[i % 4],
                "Closing_Date": "2026-03-31",
                "Type": "Existing Business",
                "Lead_Source": "Trade Show",
                "Next_Step": "Send the quote" if i % 2 else None,
                "Account_Name": {"name": "Chemel (Sample)", "id": "6900000000000000200"},
                "Contact_Name": {"name": "Kris Marrier0", "id": "6900000000000000300"} if i % 2 == 0 else None,
                "Description": None,
            }
        common |= {
            "First_Name": "Kris",
            "Last_Name": f"Marrier{i}",
            "Full_Name": f"Kris Marrier{i}",
            "Email": f"kris{rid[-6:]}@example.com",
            "Phone": "555-555-5555",
            "Mobile": None,
            "Email_Opt_Out": i % 2 == 0,
            "Lead_Source": "Trade Show",
        }
        if module == "Leads":
            return common | {
                "Company": "King (Sample)",
                "Lead_Status": ("Not Contacted", "Contacted", "Qualified")[i % 3],
                "Industry": "Large Enterprise",
                "Rating": None,
                "Designation": "VP Sales",
                "Website": "https://king.example.com",
            }
        return common | {
            "Account_Name": {"name": "Chemel (Sample)", "id": "6900000000000000200"},
            "Title": "Buyer",
            "Mailing_Street": "1 Main St",
            "Mailing_City": "Berlin",
            "Mailing_State": "",
            "Mailing_Zip": "10115",
            "Mailing_Country": "DE" if i % 2 else "Germany",
        }

    def ids(self, module: str) -> list[str]:
        return sorted(self.records[module], key=int)

    def change(self, module: str, rid: str, when: datetime | None = None, **values: Any) -> dict[str, Any]:
        record = self.records[module][rid]
        record.update(values, Modified_Time=zoho_time(when or datetime.now(UTC)))
        return record

    def delete(self, module: str, rid: str) -> None:
        del self.records[module][rid]

    def expire_page_tokens(self) -> None:
        self.page_tokens = {t: {**q, "expires": T0} for t, q in self.page_tokens.items()}

    def requests(self, module: str) -> list[Logged]:
        return [r for r in self.log if r.path == f"{BASE}/{module}"]

    # --- the API ----------------------------------------------------------------------------------------------

    def app(self) -> web.Application:
        @web.middleware
        async def refusals(request: web.Request, handler):
            if request.path.startswith("/oauth/"):
                return await handler(request)
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            if scheme != "Zoho-oauthtoken" or token not in self.oauth.access_tokens:
                return _error(401, "INVALID_TOKEN", "invalid oauth token")
            if self.failures:
                status, retry_after = self.failures.pop(0)
                headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else {}
                if status == 429:
                    return _error(429, "TOO_MANY_REQUESTS", "too many requests", headers)
                return _error(status, "INTERNAL_ERROR", "Internal Server Error", headers)
            return await handler(request)

        self.oauth.url = self.url
        app = logged_app(self.log, refusals, entry=_logged)
        app.router.add_post("/oauth/v2/token", self.oauth.token)
        app.router.add_post("/oauth/v2/token/revoke", self.oauth.revoke_token)
        app.router.add_get(BASE + "/{module}", self.list_records)
        app.router.add_put(BASE + "/Leads/{id}", self.update_lead)
        app.router.add_get(BASE + "/actions/watch", self.list_channels)
        app.router.add_post(BASE + "/actions/watch", self.enable_channels)
        app.router.add_put(BASE + "/actions/watch", self.enable_channels)
        app.router.add_delete(BASE + "/actions/watch", self.disable_channels)
        return app

    # --- notifications --------------------------------------------------------------------------------------------

    async def notify(
        self, module: str, operation: str, ids: list[str], token: str | None = None
    ) -> list[tuple[int, dict[str, Any]]]:
        """POST a notification to every channel watching `module` (with `token`: instead of the channel's), as Zoho
        does after a change; answers each delivery's status and body."""
        import aiohttp

        sent = []
        for channel in list(self.channels.values()):
            if f"{module}.all" not in channel["events"] and f"{module}.{operation}" not in channel["events"]:
                continue
            body = {
                "server_time": int(datetime.now(UTC).timestamp() * 1000),
                "query_params": {},
                "module": module,
                "resource_uri": f"{self.url}{BASE}/{module}",
                "ids": ids,
                "affected_fields": [],
                "operation": operation,
                "channel_id": int(channel["channel_id"]),
                "token": channel.get("token") if token is None else token,
            }
            async with aiohttp.ClientSession() as http, http.post(channel["notify_url"], json=body) as response:
                sent.append((response.status, body | {"answer": await response.text()}))
        return sent

    async def list_channels(self, request: web.Request) -> web.Response:
        if not self.channels:
            return web.Response(status=204)
        return web.json_response({"watch": [copy.deepcopy(c) for c in self.channels.values()]})

    async def enable_channels(self, request: web.Request) -> web.Response:
        body = await request.json()
        rows = body.get("watch") if isinstance(body, dict) else None
        if not isinstance(rows, list) or not rows:
            return _error(400, "INVALID_DATA", "invalid data", param="watch")
        answered = []
        for row in rows:
            key = str(row.get("channel_id", ""))
            expiry = datetime.fromisoformat(row["channel_expiry"]) if row.get("channel_expiry") else None
            if not key.isdigit() or not row.get("notify_url") or not row.get("events"):
                return _error(400, "MANDATORY_NOT_FOUND", "required field not found", param="channel_id")
            if len(row.get("token") or "") > 50 or (expiry and expiry > datetime.now(UTC) + timedelta(days=7)):
                return _error(400, "INVALID_DATA", "invalid data", param="token or channel_expiry")
            if (request.method == "POST") == (key in self.channels):
                code = "DUPLICATE_DATA" if request.method == "POST" else "INVALID_DATA"
                return _error(400, code, "the channel id exists" if code == "DUPLICATE_DATA" else "no such channel")
            self.channels[key] = {**row, "channel_id": int(key)}
            events = [
                {"channel_expiry": row.get("channel_expiry"), "resource_name": e.split(".")[0], "channel_id": key}
                for e in row["events"]
            ]
            answered.append({"code": "SUCCESS", "details": {"events": events}, "message": "ok", "status": "success"})
        return web.json_response({"watch": answered}, status=201 if request.method == "POST" else 200)

    async def disable_channels(self, request: web.Request) -> web.Response:
        ids = [i for i in request.query.get("channel_ids", "").split(",") if i]
        if not ids:
            return _error(
                400, "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing", param="channel_ids"
            )
        for key in ids:
            self.channels.pop(key, None)
        rows = [{"code": "SUCCESS", "details": {"channel_id": i}, "message": "ok", "status": "success"} for i in ids]
        return web.json_response({"watch": rows})

    async def list_records(self, request: web.Request) -> web.StreamResponse:
        module = request.match_info["module"]
        if module not in self.records:
            return _error(400, "INVALID_MODULE", "the module name given seems to be invalid")
        q = request.query
        if not q.get("fields"):
            return _error(400, "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing", param="fields")
        if "page_token" in q:
            return self._token_page(module, q)
        try:
            page, per_page = int(q.get("page", "1")), int(q.get("per_page", "200"))
        except ValueError:
            return _error(400, "INVALID_DATA", "invalid data", param="page")
        if not 1 <= per_page <= 200 or page < 1:
            return _error(400, "INVALID_DATA", "invalid data", param="per_page")
        if page * per_page > PAGE_LIMIT:
            message = "You can only get the first 2000 records without using page_token param."
            return _error(400, "DISCRETE_PAGINATION_LIMIT_EXCEEDED", message, limit=PAGE_LIMIT)
        listing = {
            "module": module,
            "sort_by": q.get("sort_by", "id"),
            "order": q.get("sort_order", "desc"),
            "since": request.headers.get("If-Modified-Since"),
            "per_page": per_page,
            "page": page,
            "after": None,
        }
        if listing["sort_by"] not in SORT_KEYS or listing["order"] not in ("asc", "desc"):
            return _error(400, "INVALID_DATA", "invalid data", param="sort_by")
        if listing["since"]:
            try:
                bound = datetime.fromisoformat(listing["since"])
            except ValueError:
                return _error(400, "INVALID_DATA", "invalid data", header="If-Modified-Since")
            if bound.tzinfo is None:
                return _error(400, "INVALID_DATA", "the time needs an offset", header="If-Modified-Since")
        return self._answer(listing, q["fields"], skip=(page - 1) * per_page)

    def _token_page(self, module: str, q) -> web.StreamResponse:
        if "page" in q:
            return _error(400, "AMBIGUITY_DURING_PROCESSING", "You cannot use both page and page_token.")
        listing = self.page_tokens.get(q["page_token"])
        if listing is None or listing["module"] != module:
            return _error(400, "INVALID_DATA", "invalid data", param_name="page_token")
        if listing["expires"] <= datetime.now(UTC):
            return _error(400, "EXPIRED_VALUE", "the page token has expired", param_name="page_token")
        return self._answer({**listing, "page": listing["page"] + 1}, q["fields"], skip=0)

    def _answer(self, listing: dict[str, Any], fields: str, skip: int) -> web.StreamResponse:
        """The page of `listing` after its `after` position (the sort key of the last record answered)."""
        key = SORT_KEYS[listing["sort_by"]]
        found = list(self.records[listing["module"]].values())
        if listing["since"]:
            bound = datetime.fromisoformat(listing["since"])
            found = [r for r in found if datetime.fromisoformat(r["Modified_Time"]) > bound]
        descending = listing["order"] == "desc"
        found.sort(key=key, reverse=descending)
        if listing["after"] is not None:
            found = [r for r in found if (key(r) < listing["after"] if descending else key(r) > listing["after"])]
        per_page = listing["per_page"]
        chosen = found[skip : skip + per_page]
        if not chosen:
            return web.Response(status=304 if listing["since"] and not found else 204)
        wanted = {"id", *fields.split(",")}
        data = [{k: copy.deepcopy(v) for k, v in r.items() if k in wanted} for r in chosen]
        more = skip + per_page < len(found)
        token, expires = None, None
        if more:
            token, expires = secrets.token_hex(16), datetime.now(UTC) + TOKEN_TTL
            self.page_tokens[token] = {**listing, "after": key(chosen[-1]), "expires": expires}
        info = {
            "per_page": per_page,
            "count": len(data),
            "page": listing["page"],
            "sort_by": listing["sort_by"],
            "sort_order": listing["order"],
            "more_records": more,
            "next_page_token": token,
            "previous_page_token": None,
            "page_token_expiry": zoho_time(expires) if expires else None,
        }
        return web.json_response({"data": data, "info": info})

    async def update_lead(self, request: web.Request) -> web.Response:
        rid = request.match_info["id"]
        body = await request.json()
        rows = body.get("data") if isinstance(body, dict) else None
        if not isinstance(rows, list) or not rows or not isinstance(rows[0], dict):
            return _error(400, "INVALID_DATA", "invalid data")
        if rid not in self.records["Leads"]:
            row = {"code": "INVALID_DATA", "details": {"id": rid}, "message": "the id given seems to be invalid"}
            return web.json_response({"data": [{**row, "status": "error"}]}, status=400)
        record = self.change("Leads", rid, **{k: v for k, v in rows[0].items() if k != "id"})
        by = {"name": "Patricia Boyle", "id": "6900000000000000001"}
        details = {
            "Modified_Time": record["Modified_Time"],
            "Modified_By": by,
            "Created_Time": record["Created_Time"],
            "id": rid,
            "Created_By": by,
        }
        row = {"code": "SUCCESS", "details": details, "message": "record updated", "status": "success"}
        return web.json_response({"data": [row]})
