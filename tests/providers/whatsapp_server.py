"""A local WhatsApp Cloud API (Meta's Graph API) for tests, in the documented shapes (developers.facebook.com/docs/
whatsapp/cloud-api: "Message templates", "Messages", "Error codes"; Graph API "Paginated Results").

- `Authorization: Bearer <token>`; anything else 401 `{"error": {"message", "type": "OAuthException", "code": 190,
  "fbtrace_id"}}`.
- `GET /v21.0/{waba-id}/message_templates?limit=&after=&fields=`: `{"data": [...], "paging": {"cursors": {"before",
  "after"}, "next": <url>}}`, `next` only when more follow; cursors are opaque (base64). An unknown WABA id: 400 code
  100 (GraphMethodException).
- `GET /v21.0/{phone-number-id}`: the phone number.
- `POST /v21.0/{phone-number-id}/messages` `{"messaging_product": "whatsapp", "to", "type": "text"|"template", ...}`:
  `{"messaging_product", "contacts": [{"input", "wa_id"}], "messages": [{"id": "wamid..."}]}`; a template that is not
  approved in that language 404 code 132001; a text without body 400 code 100.
Test hooks: `seed`, `fail_next` (429 with Retry-After, 503, or Meta's 400 code 80007 throttle), `sent`, `log`.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from providers.server_support import logged_app

VERSION = "v21.0"


def graph_error(status: int, code: int, message: str, headers: dict | None = None, kind: str = "OAuthException"):
    body = {"error": {"message": message, "type": kind, "code": code, "fbtrace_id": "AbCdEf123"}}
    return web.json_response(body, status=status, headers=headers)


def _cursor(index: int) -> str:
    return base64.b64encode(f"cursor:{index}".encode()).decode()


def _index(cursor: str) -> int:
    return int(base64.b64decode(cursor).decode().split(":")[1])


@dataclass
class WhatsAppCloud:
    access_token: str = "EAAG-local-system-user-token"
    waba_id: str = "102290129340398"
    phone_number_id: str = "106540352242922"
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> template
    sent: list[dict[str, Any]] = field(default_factory=list)  # the message requests, as received
    failures: list[tuple[int, int, float | None]] = field(default_factory=list)  # (status, code, retry_after)
    log: list[tuple[str, str, dict[str, str], int]] = field(default_factory=list)
    url: str = ""
    _seq: int = 0

    def seed(self, templates: int = 0, status: str = "APPROVED") -> list[str]:
        made = []
        for _ in range(templates):
            self._seq += 1
            tid = str(900000000000000 + self._seq)
            self.templates[tid] = {
                "name": f"order_update_{self._seq}",
                "parameter_format": "POSITIONAL",
                "components": [
                    {"type": "HEADER", "format": "TEXT", "text": "Order update"},
                    {"type": "BODY", "text": "Hi {{1}}, your order {{2}} has shipped.", "example": {}},
                    {"type": "FOOTER", "text": "Reply STOP to opt out"},
                    {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Thanks"}]},
                ],
                "language": "en_US",
                "status": status,
                "category": "UTILITY",
                "id": tid,
            }
            made.append(tid)
        return made

    def ids(self) -> list[str]:
        return list(self.templates)

    def fail_next(self, count: int = 1, status: int = 503, code: int = 2, retry_after_s: float | None = None) -> None:
        self.failures.extend([(status, code, retry_after_s)] * count)

    def app(self) -> web.Application:
        app = logged_app(self.log)
        app.router.add_get(f"/{VERSION}/{{waba}}/message_templates", self.list_templates)
        app.router.add_post(f"/{VERSION}/{{phone}}/messages", self.send)
        app.router.add_get(f"/{VERSION}/{{phone}}", self.phone)
        return app

    def _refusal(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"Bearer {self.access_token}":
            return graph_error(401, 190, "Invalid OAuth access token - Cannot parse access token")
        if self.failures:
            status, code, retry_after = self.failures.pop(0)
            headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else {}
            message = "(#80007) Rate limit hit" if code == 80007 else "Service unavailable"
            return graph_error(status, code, message, headers)
        return None

    async def phone(self, request: web.Request) -> web.Response:
        if refused := self._refusal(request):
            return refused
        if request.match_info["phone"] != self.phone_number_id:
            return graph_error(400, 100, "Unsupported get request", kind="GraphMethodException")
        return web.json_response({"id": self.phone_number_id, "display_phone_number": "+1 555-010-0199"})

    async def list_templates(self, request: web.Request) -> web.Response:
        if refused := self._refusal(request):
            return refused
        if request.match_info["waba"] != self.waba_id:
            return graph_error(400, 100, "Unsupported get request", kind="GraphMethodException")
        limit = max(1, min(int(request.query.get("limit", "25")), 100))
        start = _index(request.query["after"]) + 1 if request.query.get("after") else 0
        listed = list(self.templates.values())
        chosen = listed[start : start + limit]
        body: dict[str, Any] = {"data": chosen}
        if chosen:
            body["paging"] = {"cursors": {"before": _cursor(start), "after": _cursor(start + len(chosen) - 1)}}
            if start + len(chosen) < len(listed):
                after = body["paging"]["cursors"]["after"]
                path = f"/{VERSION}/{self.waba_id}/message_templates"
                body["paging"]["next"] = f"{self.url}{path}?limit={limit}&after={after}"
        return web.json_response(body)

    async def send(self, request: web.Request) -> web.Response:
        if refused := self._refusal(request):
            return refused
        if request.match_info["phone"] != self.phone_number_id:
            return graph_error(400, 100, "Unsupported post request", kind="GraphMethodException")
        body = await request.json()
        kind = body.get("type")
        if body.get("messaging_product") != "whatsapp" or not str(body.get("to", "")).isdigit():
            return graph_error(400, 100, "(#100) Invalid parameter")
        if kind == "text" and not (body.get("text") or {}).get("body"):
            return graph_error(400, 100, "(#100) The parameter text['body'] is required.")
        if kind == "template":
            wanted = body.get("template") or {}
            code = (wanted.get("language") or {}).get("code")
            if not any(
                t["name"] == wanted.get("name") and t["language"] == code and t["status"] == "APPROVED"
                for t in self.templates.values()
            ):
                return graph_error(404, 132001, "(#132001) Template name does not exist in the translation")
        if kind not in ("text", "template"):
            return graph_error(400, 100, "(#100) Invalid parameter")
        self.sent.append(body)
        wamid = "wamid.HBgLMTU1NTAxMDAxOTkVAgARGBI" + base64.b32encode(str(len(self.sent)).encode()).decode()
        message: dict[str, Any] = {"id": wamid}
        if kind == "template":
            message["message_status"] = "accepted"
        answer = {"messaging_product": "whatsapp", "contacts": [{"input": body["to"], "wa_id": body["to"]}]}
        return web.json_response({**answer, "messages": [message]})
