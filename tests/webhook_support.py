"""Helpers for the connector tests: the copied provider fixtures, requests shaped like the gateway's, and signers.

The signers are written here from each provider's documentation, independently of connectors/signatures.py, so a
mistake in the production scheme cannot be mirrored by the test that checks it. The official vectors in
tests/fixtures/webhooks/*/vectors.json pin both.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy

from connectors.base import IngestContext, WebhookRequest
from connectors.registry import get_facts
from events import codec
from events.types import Event

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "webhooks"
RECEIVED_AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


SAMPLE_BY_KIND = {"url": "https://shop.example.com", "email": "owner@example.com", "number": 1}


def connector_body(provider: str, webhook_secret: str, name: str = "test", **config: Any) -> dict[str, Any]:
    """A valid POST /v1/connectors body: provider.toml's required fields filled with samples, the webhook secret."""
    facts = get_facts(provider)
    samples = {f.name: SAMPLE_BY_KIND.get(f.kind, f"{f.name}-sample") for f in facts.config_fields if f.required}
    secrets = {f.name: f"{f.name}-sample" for f in facts.credential_fields if f.required}
    return {
        "provider": provider,
        "name": name,
        "config": {**samples, **config},
        "secrets": {**secrets, "webhook_secret": webhook_secret},
    }


def fixture(provider: str, name: str) -> bytes:
    return (FIXTURES / provider / name).read_bytes()


def vectors(provider: str) -> dict[str, Any]:
    return json.loads(fixture(provider, "vectors.json"))


def request(body: bytes, headers: dict[str, str] | None = None, content_type: str = JSON) -> WebhookRequest:
    """As the gateway builds it: aiohttp's case-insensitive header mapping, headers in the providers' spelling."""
    return WebhookRequest(headers=CIMultiDictProxy(CIMultiDict(headers or {})), body=body, content_type=content_type)


def ctx(delivery_id: str = "delivery-1", **config: Any) -> IngestContext:
    return IngestContext(
        tenant_id="tenant-a", connector_id="conn-1", delivery_id=delivery_id, received_at=RECEIVED_AT, config=config
    )


def round_trips(events: list[Event]) -> bool:
    """Every event survives the stream codec unchanged (what a consumer will decode)."""
    return all(codec.decode_event(codec.encode(e)) == e for e in events)


def _mac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def woocommerce_headers(body: bytes, secret: str, now_s: int) -> dict[str, str]:
    return {"X-WC-Webhook-Signature": base64.b64encode(_mac(secret.encode(), body)).decode()}


def shopify_headers(body: bytes, secret: str, now_s: int) -> dict[str, str]:
    return {"X-Shopify-Hmac-Sha256": base64.b64encode(_mac(secret.encode(), body)).decode()}


def stripe_headers(body: bytes, secret: str, now_s: int) -> dict[str, str]:
    v1 = _mac(secret.encode(), f"{now_s}.".encode() + body).hex()
    return {"Stripe-Signature": f"t={now_s},v1={v1}"}


def slack_headers(body: bytes, secret: str, now_s: int) -> dict[str, str]:
    v0 = _mac(secret.encode(), f"v0:{now_s}:".encode() + body).hex()
    return {"X-Slack-Request-Timestamp": str(now_s), "X-Slack-Signature": f"v0={v0}"}


def standard_webhooks_headers(body: bytes, secret: str, now_s: int, msg_id: str = "msg_test") -> dict[str, str]:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    v1 = base64.b64encode(_mac(key, f"{msg_id}.{now_s}.".encode() + body)).decode()
    return {"webhook-id": msg_id, "webhook-timestamp": str(now_s), "webhook-signature": f"v1,{v1}"}


def plane_headers(body: bytes, secret: str, now_s: int) -> dict[str, str]:
    return {"X-Plane-Signature": _mac(secret.encode(), body).hex(), "X-Plane-Event": "issue"}


# provider -> (signer, a valid secret, another valid secret) for the tests every scheme shares
SIGNERS = {
    "woocommerce": (woocommerce_headers, "wc_secret_current", "wc_secret_previous"),
    "shopify": (shopify_headers, "shpss_current", "shpss_previous"),
    "plane": (plane_headers, "plane_secret_current", "plane_secret_previous"),
    "stripe": (stripe_headers, "whsec_current", "whsec_previous"),
    "slack": (slack_headers, "8f742231b10e8888abcd99yyyzzz85a5", "another_signing_secret"),
    "standard-webhooks": (
        standard_webhooks_headers,
        "whsec_" + base64.b64encode(b"k" * 32).decode(),
        "whsec_" + base64.b64encode(b"p" * 24).decode(),
    ),
}
