"""The WhatsApp Cloud API (Meta's Graph API) as a sync and the actions call it: pages of message templates, and
`send_text` / `send_template` (POST /{phone-number-id}/messages).

Auth: `Authorization: Bearer <access token>` (a system user's token). Templates: `GET /{waba-id}/message_templates
?limit=n&fields=..` answers `{"data": [...], "paging": {"cursors": {"before", "after"}, "next": <url>}}`; the next page
is asked with `after=<paging.cursors.after>`, and an answer without `paging.next` is the last (Graph API "Paginated
Results", cursor-based). Templates carry no modification time: each run lists them whole.

Failures (connectors/providers/meta_common/graph.py, shared with Meta Ads): HTTP 429 or 5xx, and the Graph API's
throttling codes (4, 80007, 130429, 131056: Meta answers them with 400 and no Retry-After) are ProviderBusy
(Retry-After honoured when sent); 401 or code 190 ProviderRefused naming the access token; other errors
ProviderRefused with Meta's code and message.
"""

from __future__ import annotations

from typing import Any

from connectors.base import ApiCall, Page, ProviderRefused
from connectors.facts import Resource, base_url
from connectors.json_api import request_json
from connectors.providers.meta_common.graph import checked, cursor_page
from connectors.providers.whatsapp.mapping import MAPPERS

__all__ = ["MAPPERS", "cursor_of", "read_page", "reconciles", "send_template", "send_text", "test_connection"]

MAX_LIMIT = 100
TEMPLATE_FIELDS = "id,name,language,status,category,components,quality_score,parameter_format,rejected_reason"
# Where the Graph API lives when not at provider.toml's base URL: tests set it (never a tenant's setting: the access
# token goes there)
API_BASE: str | None = None


def _base(call: ApiCall) -> str:
    return (API_BASE.rstrip("/") + "/") if API_BASE else base_url(call.facts, dict(call.config))


def _auth(call: ApiCall) -> dict[str, str]:
    token = str(call.secrets.get(call.facts.auth.key_field) or "")
    if not token:
        raise ProviderRefused("WhatsApp: the connector has no access token: add secrets.access_token")
    return {"Authorization": f"Bearer {token}"}


def _config(call: ApiCall, name: str) -> str:
    value = str(call.config.get(name) or "")
    if not value.isdigit():
        raise ProviderRefused(f"WhatsApp: config.{name} must be the numeric id shown on WhatsApp > API Setup")
    return value


_TOKEN_FIX = (
    "generate a system user's token with whatsapp_business_messaging and whatsapp_business_management and put it in "
    "secrets.access_token"
)


async def _call(call: ApiCall, method: str, path: str, what: str, **kwargs: Any) -> dict[str, Any]:
    answer = await request_json(call, method, _base(call) + path, f"WhatsApp {what}", headers=_auth(call), **kwargs)
    return checked(answer, call, "WhatsApp", what, _TOKEN_FIX)


async def read_page(
    call: ApiCall,
    resource: Resource,
    page: int,
    since: str | None = None,
    until: str | None = None,
    per_page: int | None = None,
    after: str | None = None,
) -> Page:
    """The page of templates after the cursor `after` (None: the first); `since`/`until` unused (listed whole)."""
    params = {"limit": str(min(per_page or resource.page_size, MAX_LIMIT)), "fields": TEMPLATE_FIELDS}
    if after:
        params["after"] = after
    path = resource.path.format(waba_id=_config(call, "waba_id"))
    body = await _call(call, "GET", path, f"listing {resource.name}", params=params)
    listed, cursor = cursor_page(body, "WhatsApp", f"listing {resource.name}")
    return Page(objects=[o for o in listed if o.get("id")], next_cursor=cursor)


async def test_connection(call: ApiCall) -> None:
    """The sending phone number, then one template: ProviderRefused when the token or an id is wrong."""
    await _call(call, "GET", _config(call, "phone_number_id"), "reading the phone number", params={"fields": "id"})
    await read_page(call, call.facts.resources[0], 1, per_page=1)


def cursor_of(resource: Resource, obj: dict[str, Any]) -> str | None:
    return None  # no modification time: every run is whole, versions are the object's hash


def reconciles(resource: Resource, external_id: str) -> bool:
    return True  # every template of the account is listed, whatever its status


async def _send(call: ApiCall, to: str, message: dict[str, Any]) -> dict[str, Any]:
    body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, **message}
    path = f"{_config(call, 'phone_number_id')}/messages"
    answer = await _call(call, "POST", path, f"sending a {message['type']} message", json=body)
    sent = answer.get("messages")
    if not isinstance(sent, list) or not sent or not isinstance(sent[0], dict) or not sent[0].get("id"):
        raise ProviderRefused("WhatsApp sending a message: the answer names no message id")
    contacts = answer.get("contacts") or [{}]
    return {"id": sent[0]["id"], "to": to, "wa_id": contacts[0].get("wa_id"), "status": sent[0].get("message_status")}


async def send_text(call: ApiCall, to: str, text: str, preview_url: bool = False) -> dict[str, Any]:
    """The `send_text` action: a text message (only inside the 24-hour window after the customer's last message;
    Meta refuses it otherwise with 131047, answered as ProviderRefused). Answers the message's wamid as `id`."""
    return await _send(call, to, {"type": "text", "text": {"body": text, "preview_url": preview_url}})


async def send_template(
    call: ApiCall, to: str, template: str, language: str, body_parameters: list[str] | None = None
) -> dict[str, Any]:
    """The `send_template` action: an approved template by name and language, its body's {{n}} filled in order."""
    components = []
    if body_parameters:
        parameters = [{"type": "text", "text": value} for value in body_parameters]
        components.append({"type": "body", "parameters": parameters})
    message = {"name": template, "language": {"code": language}, "components": components}
    return {**await _send(call, to, {"type": "template", "template": message}), "template": template}
