"""Shopify webhooks: the body is the bare resource (no {"order": ...} wrapper), signed with
base64(HMAC-SHA256(app client secret, body)) in X-Shopify-Hmac-Sha256 (mapping.py maps the resource).

Delivery id: unique per payload. X-Shopify-Webhook-Id identifies one webhook delivery and is kept on its retries
(Shopify's "ignore duplicates" guidance, and the official shopify-api-js validation, which requires it).
Content-Encoding: none documented. Registered by the set-up through the Admin API (api.py `register_webhooks`), or by
hand (a custom app's webhook subscription or the admin's Notifications > Webhooks) when the connector is given a
webhook secret.
"""

from __future__ import annotations

from collections.abc import Sequence

from connectors.base import Handshake, IngestContext, WebhookRequest
from connectors.normalize import DELETE, UPSERT, normalize_resource
from connectors.providers.shopify.mapping import MAPPERS, MODIFIED_FIELD
from connectors.signatures import header, verify_body_b64
from events.types import Event

SIGNATURE_HEADER = "x-shopify-hmac-sha256"
TOPIC_HEADER = "x-shopify-topic"
DELIVERY_ID_HEADER = "x-shopify-webhook-id"

TOPICS = {
    "orders/create": ("order", UPSERT),
    "orders/updated": ("order", UPSERT),
    "orders/paid": ("order", UPSERT),
    "orders/cancelled": ("order", UPSERT),
    "orders/fulfilled": ("order", UPSERT),
    "orders/partially_fulfilled": ("order", UPSERT),
    "orders/delete": ("order", DELETE),
    "customers/create": ("contact", UPSERT),
    "customers/update": ("contact", UPSERT),
    "customers/enable": ("contact", UPSERT),
    "customers/disable": ("contact", UPSERT),
    "customers/delete": ("contact", DELETE),
    "products/create": ("product", UPSERT),
    "products/update": ("product", UPSERT),
    "products/delete": ("product", DELETE),
}


class ShopifyProvider:
    provider = "shopify"
    content_types = frozenset({"application/json"})
    content_encodings: frozenset[str] = frozenset()
    delivery_id_unique = True
    kept_headers = frozenset(
        {
            TOPIC_HEADER,
            DELIVERY_ID_HEADER,
            "x-shopify-shop-domain",
            "x-shopify-api-version",
            "x-shopify-triggered-at",
            "x-shopify-event-id",
            "x-shopify-test",
            "x-shopify-sub-topic",
        }
    )
    topics = frozenset(TOPICS)

    def verify(self, request: WebhookRequest, secrets: Sequence[str], now_s: float) -> None:
        verify_body_b64(request.headers, request.body, secrets, SIGNATURE_HEADER, "X-Shopify-Hmac-Sha256")

    def delivery_id(self, request: WebhookRequest) -> str | None:
        return header(request.headers, DELIVERY_ID_HEADER)

    def topic(self, request: WebhookRequest) -> str:
        return header(request.headers, TOPIC_HEADER) or ""

    def handshake(self, request: WebhookRequest) -> Handshake | None:
        return None

    def normalize(self, ctx: IngestContext, topic: str, request: WebhookRequest) -> Sequence[Event]:
        return normalize_resource(ctx, self.provider, topic, request.body, TOPICS, MAPPERS, MODIFIED_FIELD)
