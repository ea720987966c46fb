"""The Telegram Bot API as the set-up, a disconnect and the actions call it: `getMe` (test the token),
`setWebhook` / `deleteWebhook` (connectors/webhook_setup.py: registration "by_setup"), and `send_message`
(sendMessage).

Every method is `POST https://api.telegram.org/bot<token>/<method>` with a JSON body, answered `{"ok": true,
"result": ...}` or `{"ok": false, "error_code", "description", "parameters": {"retry_after"}}`. The token is in the
path, so a URL is a secret here: no message this module raises names a URL, connection failures are named by their
type only (connectors/json_api.py), and results carry ids and values the caller gave, never the token.

Failures: 429 (Telegram's flood control; its delay is `parameters.retry_after`, or a Retry-After header) and 5xx are
ProviderBusy; 401 and 404 (Telegram answers 404 for a malformed token) ProviderRefused naming the bot token field
(never its value); other refusals ProviderRefused with Telegram's description.
"""

from __future__ import annotations

from typing import Any

from connectors.base import ApiCall, ProviderBusy, ProviderRefused, Registration, retry_after_s
from connectors.json_api import request_json

__all__ = ["register_webhooks", "send_message", "test_connection", "unregister_webhooks"]

# Where the Bot API lives when not at provider.toml's base URL: tests set it (never a tenant's setting: the token
# goes there)
API_BASE: str | None = None
# the updates the webhook asks for: those webhook.py maps
ALLOWED_UPDATES = ["message", "edited_message", "channel_post", "edited_channel_post"]


def _method_url(call: ApiCall, method: str) -> str:
    token = str(call.secrets.get(call.facts.auth.key_field) or "")
    if not token:
        raise ProviderRefused("Telegram: the connector has no bot token: add secrets.bot_token (from @BotFather)")
    root = API_BASE or (call.facts.api.base_url if call.facts.api else "")
    return f"{root.rstrip('/')}/bot{token}/{method}"


async def _call(call: ApiCall, method: str, body: dict[str, Any] | None = None) -> Any:
    what = f"Telegram {method}"
    answer = await request_json(call, "POST", _method_url(call, method), what, json=body or {})
    if answer.status < 400 and answer.field("ok") is True:
        return answer.field("result")
    code = answer.field("error_code") or answer.status
    description = str(answer.field("description") or "")[:300]
    detail = f"HTTP {answer.status}{f': {description}' if description else ''}"
    if answer.status == 429 or answer.status >= 500:
        parameters = answer.field("parameters") or {}
        delay = parameters.get("retry_after") if isinstance(parameters, dict) else None
        header = call.facts.api.retry_after_header if call.facts.api else "Retry-After"
        delay_s = float(delay) if isinstance(delay, int | float) else retry_after_s(answer.headers, header)
        raise ProviderBusy(f"{what}: {detail}, try later", delay_s)
    if code in (401, 404):
        raise ProviderRefused(
            f"{what}: the bot token was refused ({detail}): copy the bot's current token from @BotFather into "
            "secrets.bot_token (/token shows it; /revoke makes the old one invalid)"
        )
    raise ProviderRefused(f"{what}: Telegram refused the request ({detail})")


async def test_connection(call: ApiCall) -> None:
    """getMe: ProviderRefused when the token is wrong."""
    me = await _call(call, "getMe")
    if not isinstance(me, dict) or not me.get("is_bot"):
        raise ProviderRefused("Telegram getMe: the token is not a bot's")


async def register_webhooks(call: ApiCall, delivery_url: str, secret: str) -> Registration:
    """setWebhook(url, secret_token): a bot has one webhook, so registering again replaces it (idempotent). Its id
    is the bot's id (getMe), what unregistering deletes."""
    me = await _call(call, "getMe")
    body = {"url": delivery_url, "secret_token": secret, "allowed_updates": ALLOWED_UPDATES}
    await _call(call, "setWebhook", body)
    return Registration(webhooks={"*": str(me["id"])}, secret=secret)


async def unregister_webhooks(call: ApiCall, webhook_ids: list[str]) -> None:
    """deleteWebhook (the bot's one webhook); a bot without one answers ok as well."""
    if webhook_ids:
        await _call(call, "deleteWebhook", {"drop_pending_updates": False})


async def send_message(
    call: ApiCall, chat_id: str, text: str, reply_to_message_id: int | None = None, parse_mode: str | None = None
) -> dict[str, Any]:
    """The `send_message` action (sendMessage): answers the sent message's id `<chat id>:<message_id>` (the key its
    record would have) with the chat and the message id."""
    body: dict[str, Any] = {"chat_id": chat_id, "text": text}
    if reply_to_message_id is not None:
        body["reply_parameters"] = {"message_id": reply_to_message_id}
    if parse_mode:
        body["parse_mode"] = parse_mode
    sent = await _call(call, "sendMessage", body)
    if not isinstance(sent, dict) or not isinstance(sent.get("chat"), dict) or "message_id" not in sent:
        raise ProviderRefused("Telegram sendMessage: the answer is not a Message")
    chat = sent["chat"]["id"]
    return {"id": f"{chat}:{sent['message_id']}", "chat_id": str(chat), "message_id": sent["message_id"]}
