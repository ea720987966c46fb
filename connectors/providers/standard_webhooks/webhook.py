"""Standard Webhooks (standard-webhooks/standard-webhooks, spec/standard-webhooks.md, version 1.0.0).

Headers `webhook-id` (the idempotency key), `webhook-timestamp` (unix seconds) and `webhook-signature`: a
space-separated list of `v1,<base64 HMAC-SHA256>` over `{id}.{timestamp}.{body}`, keyed by the base64 secret behind
`whsec_`, or `v1a,<base64 ed25519 signature>` over the same content, checked with the sender's public key configured
as a secret `whpk_<base64>`. Several signatures support the sender's key rotation; several secrets here support ours.

The payload is generic: `{"type", "timestamp", "data"}`. A type whose last two parts name one of our entity kinds and
an action (`contact.upserted`, `crm.order.deleted`, `invoice.created` ...) maps onto that kind: the fields of `data`
that the entity has are validated into it, the rest go to provider_data. Other types stay unmapped.

Delivery id: unique per payload. The specification: `webhook-id` is "the same when the same webhook is being resent"
and is meant as the idempotency key. Content-Encoding: gzip and deflate accepted. The specification is transport-
level HTTP and names no coding; it is implemented by many senders whose HTTP clients may compress, and the signature
covers the decoded payload. Registered by hand (the sender's endpoint settings show the whsec_ secret).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from connectors.base import Handshake, IngestContext, NormalizeError, SignatureError, WebhookRequest
from connectors.normalize import DELETE, UPSERT, EventBuilder, body_field, json_object, opt_time, run_mapper, utc_time
from connectors.providers.standard_webhooks.mapping import ENTITIES, entity
from connectors.signatures import b64, b64_secret_keys, check_timestamp, header, verify_hmac
from events.types import Event

ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER = "webhook-id", "webhook-timestamp", "webhook-signature"
SECRET_PREFIX, PUBLIC_KEY_PREFIX = "whsec_", "whpk_"
SYMMETRIC, ASYMMETRIC = "v1", "v1a"
ACTIONS = {"upserted": UPSERT, "created": UPSERT, "updated": UPSERT, "deleted": DELETE}


def verify_ed25519(public_keys: Sequence[str], message: bytes, signatures: Sequence[str]) -> bool:
    """True when one signature verifies under one `whpk_` key; malformed keys or signatures simply do not match."""
    for key_text in public_keys:
        try:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(key_text[len(PUBLIC_KEY_PREFIX) :]))
        except ValueError:
            continue
        for signature in signatures:
            try:
                key.verify(base64.b64decode(signature), message)
                return True
            except (InvalidSignature, ValueError):
                continue
    return False


def _kind_and_action(event_type: str) -> tuple[str, str] | None:
    parts = event_type.split(".")
    if len(parts) >= 2 and parts[-2] in ENTITIES and parts[-1] in ACTIONS:
        return parts[-2], ACTIONS[parts[-1]]
    return None


@dataclass(frozen=True)
class StandardWebhooksProvider:
    tolerance_s: float | None = 300.0  # the specification's five minutes, both ways; None disables

    provider: ClassVar[str] = "standard-webhooks"
    content_types: ClassVar[frozenset[str]] = frozenset({"application/json"})
    content_encodings: ClassVar[frozenset[str]] = frozenset({"gzip", "deflate"})
    delivery_id_unique: ClassVar[bool] = True
    kept_headers: ClassVar[frozenset[str]] = frozenset({ID_HEADER, TIMESTAMP_HEADER})  # both needed by a re-run
    # the types that map (`<kind>.<action>`; a prefixed `crm.order.deleted` is counted as `other`)
    topics: ClassVar[frozenset[str]] = frozenset(f"{kind}.{action}" for kind in ENTITIES for action in ACTIONS)

    def verify(self, request: WebhookRequest, secrets: Sequence[str], now_s: float) -> None:
        msg_id = header(request.headers, ID_HEADER)
        if not msg_id:
            raise SignatureError("webhook-id: missing")
        timestamp = header(request.headers, TIMESTAMP_HEADER)
        check_timestamp(timestamp, now_s, self.tolerance_s, "webhook-timestamp")
        entries = [entry.partition(",") for entry in (header(request.headers, SIGNATURE_HEADER) or "").split()]
        symmetric = [sig for version, _, sig in entries if version == SYMMETRIC and sig]
        asymmetric = [sig for version, _, sig in entries if version == ASYMMETRIC and sig]
        message = f"{msg_id}.{timestamp.strip()}.".encode() + request.body
        public_keys = [s for s in secrets if s.startswith(PUBLIC_KEY_PREFIX)]
        if asymmetric and public_keys and verify_ed25519(public_keys, message, asymmetric):
            return
        hmac_secrets = [s for s in secrets if not s.startswith(PUBLIC_KEY_PREFIX)]
        if not symmetric and asymmetric:
            raise SignatureError("webhook-signature v1a: no signature matches a configured whpk_ public key")
        verify_hmac(b64_secret_keys(hmac_secrets, SECRET_PREFIX), message, symmetric, b64, "webhook-signature v1")

    def delivery_id(self, request: WebhookRequest) -> str | None:
        return header(request.headers, ID_HEADER)

    def topic(self, request: WebhookRequest) -> str:
        return body_field(request.body, "type")

    def handshake(self, request: WebhookRequest) -> Handshake | None:
        return None

    def normalize(self, ctx: IngestContext, topic: str, request: WebhookRequest) -> Sequence[Event]:
        mapped = _kind_and_action(topic)
        if mapped is None:
            raise NormalizeError(
                f"standard-webhooks type {topic!r} names none of our entity kinds (expected <kind>.upserted, "
                f".created, .updated or .deleted with kind one of {', '.join(sorted(ENTITIES))})"
            )
        kind, action = mapped
        payload = json_object(request.body, f"standard-webhooks {topic}")
        data = payload.get("data")
        if not isinstance(data, dict):
            raise NormalizeError(f"standard-webhooks {topic}: data is not an object")

        def emit(out: EventBuilder) -> None:
            # the event's own time; the attempt's webhook-timestamp only when the payload has none
            occurred_at = opt_time(payload.get("timestamp")) or utc_time(int(header(request.headers, TIMESTAMP_HEADER)))
            if action == DELETE:
                out.delete(kind, data["id"], occurred_at)
            else:
                out.upsert(kind, data["id"], occurred_at, entity(kind, data))

        return run_mapper(ctx, self.provider, topic, emit)
