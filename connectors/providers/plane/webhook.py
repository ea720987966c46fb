"""Plane webhooks: added by hand in Plane (Workspace settings > Webhooks: the URL, the events; Plane then shows a
secret key once, which the connector is given as its webhook secret). Plane POSTs JSON
`{"event", "action", "webhook_id", "workspace_id", "data", "activity"}` with headers `X-Plane-Delivery` (a UUID),
`X-Plane-Event` (project, issue, cycle, module, issue_comment) and `X-Plane-Signature`: the hex HMAC-SHA256 of the
raw body keyed with the secret (developers.plane.so, "Webhooks"; makeplane/plane, bgtasks/webhook_task.py).

Topic `<event>.<action>` (`issue.update`); Plane's documentation writes the action both as `update` and `updated`,
so the past tense is read as the verb. `data` is the object as the API lists it (mapping.py), or for a delete only
`{"id": ...}`.

Delivery id: none is used. Plane draws a new X-Plane-Delivery UUID on every attempt, its retries included, so the id
cannot recognise a resend; the gateway keys the delivery on the body's hash instead (the same payload resent is one
delivery; two changes differ at least in `updated_at`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connectors.base import Handshake, IngestContext, NormalizeError, WebhookRequest
from connectors.normalize import EventBuilder, json_object, json_object_or_none, opt_time, run_mapper, text
from connectors.providers.plane.mapping import MAPPERS, MODIFIED_FIELD
from connectors.signatures import header, hexdigest, utf8_keys, verify_hmac
from events.types import Event

SIGNATURE_HEADER, EVENT_HEADER, DELIVERY_HEADER = "x-plane-signature", "x-plane-event", "x-plane-delivery"
KINDS = {"project": "project", "issue": "task", "cycle": "cycle"}  # Plane's event -> the record kind
ACTIONS = {"create": "create", "created": "create", "update": "update", "updated": "update"}
ACTIONS |= {"delete": "delete", "deleted": "delete"}
TOPICS = frozenset(f"{event}.{action}" for event in KINDS for action in ("create", "update", "delete"))


class PlaneProvider:
    provider = "plane"
    content_types = frozenset({"application/json"})
    content_encodings: frozenset[str] = frozenset()
    delivery_id_unique = True  # the key is the body's hash (delivery_id answers None): one payload per key
    kept_headers = frozenset({EVENT_HEADER, DELIVERY_HEADER})
    topics = TOPICS

    def verify(self, request: WebhookRequest, secrets: Sequence[str], now_s: float) -> None:
        signature = header(request.headers, SIGNATURE_HEADER)
        verify_hmac(utf8_keys(secrets), request.body, [signature] if signature else [], hexdigest, "X-Plane-Signature")

    def delivery_id(self, request: WebhookRequest) -> str | None:
        return None  # a new UUID per attempt: see the module docstring

    def topic(self, request: WebhookRequest) -> str:
        payload = json_object_or_none(request.body) or {}
        event = header(request.headers, EVENT_HEADER) or text(payload.get("event"))
        action = ACTIONS.get(text(payload.get("action")).lower(), text(payload.get("action")))
        return f"{event}.{action}" if event and action else ""

    def handshake(self, request: WebhookRequest) -> Handshake | None:
        return None  # Plane sends no endpoint check

    def normalize(self, ctx: IngestContext, topic: str, request: WebhookRequest) -> Sequence[Event]:
        if topic not in TOPICS:
            raise NormalizeError(f"plane topic {topic!r} has no mapping")
        event, action = topic.split(".")
        kind = KINDS[event]
        data: Any = json_object(request.body, f"plane {topic}").get("data")
        if not isinstance(data, dict):
            raise NormalizeError(f"plane {topic}: `data` is not an object")

        def mapper(out: EventBuilder) -> None:
            if action == "delete":
                out.delete(kind, data["id"], opt_time(data.get(MODIFIED_FIELD)))
            else:
                MAPPERS[kind](out, data)

        return run_mapper(ctx, self.provider, topic, mapper)
