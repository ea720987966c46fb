"""WooCommerce webhooks: the body is the REST API v3 resource, signed with base64(HMAC-SHA256(secret, body)).

Saving a webhook in WooCommerce first sends an unsigned, form-encoded ping `webhook_id=<id>` that must be answered
200 or the webhook is shown as failing (WC_Webhook::deliver_ping sends no signature header).

Delivery id: NOT unique per payload. WC_Webhook::get_new_delivery_id() is `wp_hash($webhook_id . strtotime('now'))`:
two deliveries of one webhook within the same second (a bulk edit) share it. Deduplication therefore keys on the id
and the body's SHA-256; a genuine resend (same id, same bytes) is still a duplicate. Content-Encoding: none (the
WordPress HTTP API sends the body as is). Registered by the set-up (api.py `register_webhooks`), or by hand
(WooCommerce > Settings > Advanced > Webhooks) when the connector is given a webhook secret.
"""

from __future__ import annotations

from collections.abc import Sequence

from connectors.base import Handshake, IngestContext, WebhookRequest
from connectors.normalize import DELETE, UPSERT, form_fields, normalize_resource
from connectors.providers.woocommerce.mapping import MAPPERS, MODIFIED_FIELD
from connectors.signatures import header, verify_body_b64
from events.types import Event

SIGNATURE_HEADER = "x-wc-webhook-signature"
TOPIC_HEADER = "x-wc-webhook-topic"
RESOURCE_HEADER, EVENT_HEADER = "x-wc-webhook-resource", "x-wc-webhook-event"
# current core is believed to send X-WC-Webhook-Delivery-ID, the REST docs say X-WC-Delivery-ID: accept both
DELIVERY_ID_HEADERS = ("x-wc-webhook-delivery-id", "x-wc-delivery-id")

FORM = "application/x-www-form-urlencoded"
TOPICS = {
    "order.created": ("order", UPSERT),
    "order.updated": ("order", UPSERT),
    "order.restored": ("order", UPSERT),
    "order.deleted": ("order", DELETE),
    "customer.created": ("contact", UPSERT),
    "customer.updated": ("contact", UPSERT),
    "customer.deleted": ("contact", DELETE),
    "product.created": ("product", UPSERT),
    "product.updated": ("product", UPSERT),
    "product.restored": ("product", UPSERT),
    "product.deleted": ("product", DELETE),
}


class WooCommerceProvider:
    provider = "woocommerce"
    content_types = frozenset({"application/json", FORM})  # FORM: the creation ping
    content_encodings: frozenset[str] = frozenset()
    delivery_id_unique = False  # wp_hash(webhook id . current second): see the module docstring
    kept_headers = frozenset(
        {TOPIC_HEADER, RESOURCE_HEADER, EVENT_HEADER, "x-wc-webhook-source", "x-wc-webhook-id", *DELIVERY_ID_HEADERS}
    )
    topics = frozenset(TOPICS)

    def verify(self, request: WebhookRequest, secrets: Sequence[str], now_s: float) -> None:
        verify_body_b64(request.headers, request.body, secrets, SIGNATURE_HEADER, "X-WC-Webhook-Signature")

    def delivery_id(self, request: WebhookRequest) -> str | None:
        return next(filter(None, (header(request.headers, name) for name in DELIVERY_ID_HEADERS)), None)

    def topic(self, request: WebhookRequest) -> str:
        topic = header(request.headers, TOPIC_HEADER)
        if topic:
            return topic
        resource, event = header(request.headers, RESOURCE_HEADER), header(request.headers, EVENT_HEADER)
        return f"{resource}.{event}" if resource and event else ""

    def handshake(self, request: WebhookRequest) -> Handshake | None:
        if request.content_type not in (FORM, "") or len(request.body) > 100:
            return None
        fields = form_fields(request.body)
        if list(fields) == ["webhook_id"] and fields["webhook_id"].isdigit():
            return Handshake(requires_signature=False)
        return None

    def normalize(self, ctx: IngestContext, topic: str, request: WebhookRequest) -> Sequence[Event]:
        return normalize_resource(ctx, self.provider, topic, request.body, TOPICS, MAPPERS, MODIFIED_FIELD)
