"""Zoho CRM notifications (the Notifications API, "watch"): Zoho POSTs to the channel's notify_url a JSON body
`{"server_time", "query_params", "module", "resource_uri", "ids", "affected_fields", "operation", "channel_id",
"token"}` when records of a watched module are inserted, updated or deleted. Registered by the set-up (api.py
`register_webhooks`: one channel, renewed before it expires).

Proof: no signature header; the `token` the channel was enabled with (at most 50 characters, made by the platform and
kept in Vault as the connector's webhook secret) comes back in every notification's body. It is compared in
constant time with each secret; a body without it, or with another, is refused like a bad signature.

Topic `<module>.<operation>` (`Leads.update`). Delivery id: the channel, Zoho's `server_time` and a hash of the
module, operation and ids: a resend of one notification keeps its key. A notification carries ids only:
- `delete`: one `crm.<kind>.deleted` event per id (the record is gone, nothing to read);
- `insert`, `update`: one `connector.change.notified.v1` per id (subject: the record), which the `notifications`
  consumer group turns into a "sync now" of the module (consumers/notifications.py): the normalizer stays pure,
  and ten notifications during a run cost at most one more run (the sync workflow coalesces requests).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from connectors.base import Handshake, IngestContext, NormalizeError, SignatureError, WebhookRequest
from connectors.normalize import EventBuilder, json_object, json_object_or_none, run_mapper, text
from events.types import Event

KINDS = {"Leads": "lead", "Contacts": "contact", "Deals": "deal"}  # the watched modules -> the records' kinds
OPERATIONS = ("insert", "update", "delete")
EVENTS = tuple(f"{module}.all" for module in KINDS)  # what the channel watches (api.py)
TOPICS = frozenset(f"{module}.{operation}" for module in KINDS for operation in OPERATIONS)


def _server_time(payload: dict[str, Any]) -> datetime | None:
    """Zoho's `server_time` (epoch milliseconds) as a time, or None."""
    value = payload.get("server_time")
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return datetime.fromtimestamp(value / 1000, UTC)
    return None


class ZohoCrmProvider:
    provider = "zoho-crm"
    content_types = frozenset({"application/json"})
    content_encodings: frozenset[str] = frozenset()
    delivery_id_unique = True  # derived from what the notification says
    kept_headers: frozenset[str] = frozenset()
    topics = TOPICS

    def verify(self, request: WebhookRequest, secrets: Sequence[str], now_s: float) -> None:
        payload = json_object_or_none(request.body)
        token = payload.get("token") if payload else None
        if not isinstance(token, str) or not token:
            raise SignatureError("zoho-crm notification: no token in the body")
        given = token.encode()
        # every secret is compared: which one matched says nothing about the expected value
        if not any([hmac.compare_digest(given, s.encode()) for s in secrets if s]):  # noqa: C419 - no short cut
            raise SignatureError("zoho-crm notification: the token matches no configured secret")

    def delivery_id(self, request: WebhookRequest) -> str | None:
        payload = json_object_or_none(request.body)
        if payload is None:
            return None
        what = json.dumps([payload.get("module"), payload.get("operation"), payload.get("ids")], sort_keys=True)
        digest = hashlib.sha256(what.encode()).hexdigest()[:32]
        return f"{text(payload.get('channel_id'))}:{text(payload.get('server_time'))}:{digest}"

    def topic(self, request: WebhookRequest) -> str:
        payload = json_object_or_none(request.body) or {}
        return f"{text(payload.get('module'))}.{text(payload.get('operation'))}"

    def handshake(self, request: WebhookRequest) -> Handshake | None:
        return None

    def normalize(self, ctx: IngestContext, topic: str, request: WebhookRequest) -> Sequence[Event]:
        if topic not in TOPICS:
            raise NormalizeError(f"zoho-crm {topic}: not a watched module and operation")
        payload = json_object(request.body, f"zoho-crm {topic}")
        module, operation = topic.split(".")
        ids = payload.get("ids")
        if not isinstance(ids, list) or not ids:
            raise NormalizeError(f"zoho-crm {topic}: no `ids` list")
        kind, when = KINDS[module], _server_time(payload)

        def emit(out: EventBuilder) -> None:
            for rid in ids:
                if operation == "delete":
                    out.delete(kind, rid, when)
                else:
                    out.notify(kind, rid, module, operation)

        return run_mapper(ctx, self.provider, topic, emit)


WEBHOOKS = ZohoCrmProvider()
