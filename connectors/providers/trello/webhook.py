"""Trello webhooks (developer.atlassian.com/cloud/trello/guides/rest-api/webhooks/): the set-up registers one per
board (api.py `register_webhooks`: `POST /1/webhooks` with callbackURL and idModel). Before it creates one, Trello
sends a HEAD request to the callback URL and creates the webhook only if it is answered 200 (the gateway's
`HEAD /v1/webhooks/{connector}`).

Each delivery is a POST of `{"action": {...}, "model": {...}, "webhook": {...}}` signed with `X-Trello-Webhook`:
base64(HMAC-SHA1(key = the application's secret, message = the body's bytes followed by the callback URL exactly as
registered)). The gateway gives the URL it answers as `webhook_url` (`WebhookRequest.url`), which is the one the
set-up registered; the comparison is constant-time over those bytes.

Topic: the action's `type` (`updateCard`). An action carries only the fields it changed, so it is a hint: a card,
list, board or member action becomes a `connector.change.notified.v1` for that object's resource, which the
`notifications` group turns into a sync of it (every Trello sync reads its resource whole, so it also notices what
left); `deleteCard` becomes the task's deletion at once. Delivery id: the webhook's id and the action's id (Trello
resends the same action when a delivery fails).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connectors.base import Handshake, IngestContext, NormalizeError, SignatureError, WebhookRequest
from connectors.normalize import EventBuilder, json_object, json_object_or_none, opt_time, run_mapper, text
from connectors.signatures import b64, header, utf8_keys, verify_hmac
from events.types import Event

SIGNATURE_HEADER = "x-trello-webhook"
CARD = ("task", "cards", "card")
LIST = ("task_list", "lists", "list")
BOARD = ("project", "boards", "board")
MEMBER = ("member", "members", "member")
# action type -> (record kind, the resource a sync reads it from, the key of `action.data` naming the object)
TOPICS: dict[str, tuple[str, str, str]] = {
    **dict.fromkeys(
        (
            "createCard",
            "updateCard",
            "copyCard",
            "moveCardToBoard",
            "moveCardFromBoard",
            "convertToCardFromCheckItem",
            "emailCard",
            "addMemberToCard",
            "removeMemberFromCard",
            "addLabelToCard",
            "removeLabelFromCard",
            "deleteCard",
        ),
        CARD,
    ),
    **dict.fromkeys(("createList", "updateList", "moveListToBoard", "moveListFromBoard"), LIST),
    **dict.fromkeys(("updateBoard",), BOARD),
    **dict.fromkeys(("addMemberToBoard", "makeNormalMemberOfBoard", "makeAdminOfBoard"), MEMBER),
    "removeMemberFromBoard": MEMBER,
}
DELETES = frozenset({"deleteCard"})


def _action(request: WebhookRequest) -> dict[str, Any]:
    payload = json_object_or_none(request.body) or {}
    action = payload.get("action")
    return action if isinstance(action, dict) else {}


def _object_id(action: dict[str, Any], key: str) -> Any:
    data = action.get("data") if isinstance(action.get("data"), dict) else {}
    if key == "member":  # member actions name the member by idMember (or a member object)
        named = data.get("idMember") or (data.get("member") or {}).get("id") or (action.get("member") or {}).get("id")
        return named
    return (data.get(key) or {}).get("id")


class TrelloProvider:
    provider = "trello"
    content_types = frozenset({"application/json"})
    content_encodings: frozenset[str] = frozenset()
    delivery_id_unique = True  # a webhook's action is one payload
    kept_headers: frozenset[str] = frozenset()
    topics = frozenset(TOPICS)

    def verify(self, request: WebhookRequest, secrets: Sequence[str], now_s: float) -> None:
        if not request.url:
            raise SignatureError("X-Trello-Webhook: the callback URL is not known, so nothing can verify")
        signature = header(request.headers, SIGNATURE_HEADER)
        message = request.body + request.url.encode()
        verify_hmac(utf8_keys(secrets), message, [signature] if signature else [], b64, "X-Trello-Webhook", "sha1")

    def delivery_id(self, request: WebhookRequest) -> str | None:
        payload = json_object_or_none(request.body) or {}
        webhook = payload.get("webhook") if isinstance(payload.get("webhook"), dict) else {}
        action_id = text(_action(request).get("id"))
        return f"{text(webhook.get('id'))}:{action_id}" if action_id else None

    def topic(self, request: WebhookRequest) -> str:
        return text(_action(request).get("type"))

    def handshake(self, request: WebhookRequest) -> Handshake | None:
        return None  # Trello's check is a HEAD request: the gateway's HEAD route answers it

    def normalize(self, ctx: IngestContext, topic: str, request: WebhookRequest) -> Sequence[Event]:
        if topic not in TOPICS:
            raise NormalizeError(f"trello action type {topic!r} has no mapping")
        kind, resource, key = TOPICS[topic]
        action = json_object(request.body, f"trello {topic}").get("action")
        if not isinstance(action, dict):
            raise NormalizeError(f"trello {topic}: `action` is not an object")

        def mapper(out: EventBuilder) -> None:
            object_id = _object_id(action, key)
            if topic in DELETES:
                out.delete(kind, object_id, opt_time(action.get("date")))
            else:
                out.notify(kind, object_id, resource, topic)

        return run_mapper(ctx, self.provider, topic, mapper)
