"""Merchant API notifications (PRODUCT_STATUS_CHANGE), received as HINTS only: Google POSTs JSON to the callBackUri
of the subscription the set-up made (api.py `register_webhooks`), and must be answered 2xx.

Proof: Google documents no signature we could verify on these deliveries. So the callBackUri the set-up registers
is our webhook URL with the connector's webhook secret (`bzwh_` + 32 random bytes, made by the platform and kept in
Vault) as the query parameter `hint`; a delivery's URL must carry it (compared in constant time with each current
secret), else it is refused like a bad signature (401, charged to the connector's failure limiter). The token only
proves the sender was given our URL by Google (or read it from our Vault): the body is still untrusted.

So nothing is taken from the body: whatever product or status it claims, a delivery becomes one
`connector.change.notified.v1` for the connector's Merchant Center account (subject: kind product_status, the
account id of the connector's config) asking for a sync of `product_statuses`, which the `notifications` group turns
into a "sync now" (a running sync coalesces it). The sync reads the statuses from the Merchant API, and they win.
Delivery id: none is sent; the body's hash (a resend is one delivery).
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from urllib.parse import parse_qs, urlsplit

from connectors.base import Handshake, IngestContext, SignatureError, WebhookRequest
from connectors.normalize import EventBuilder, run_mapper, text
from events.types import Event

EVENT = "PRODUCT_STATUS_CHANGE"  # the one event the set-up subscribes to (its topic)
HINT_PARAM = "hint"  # the query parameter of the registered callBackUri carrying the connector's token
RESOURCE = "product_statuses"  # what a hint asks to sync
TOPICS = frozenset({EVENT})


def hint_of(url: str) -> str:
    """The token the delivery's URL carries ("" when none, or when given twice)."""
    given = parse_qs(urlsplit(url).query).get(HINT_PARAM, [])
    return given[0] if len(given) == 1 else ""


class GoogleMerchantHints:
    provider = "google-merchant"
    content_types = frozenset({"application/json"})
    content_encodings: frozenset[str] = frozenset()
    delivery_id_unique = False  # no id is sent: the body's hash keys a delivery
    kept_headers: frozenset[str] = frozenset()
    topics = TOPICS

    def verify(self, request: WebhookRequest, secrets: Sequence[str], now_s: float) -> None:
        token = hint_of(request.url)
        if not token:
            raise SignatureError(f"google-merchant notification: no `{HINT_PARAM}` token in the URL")
        given = token.encode()
        # every secret is compared: which one matched says nothing about the expected value
        if not any([hmac.compare_digest(given, s.encode()) for s in secrets if s]):  # noqa: C419 - no short cut
            raise SignatureError("google-merchant notification: the URL's token matches no configured secret")

    def delivery_id(self, request: WebhookRequest) -> str | None:
        return None

    def topic(self, request: WebhookRequest) -> str:
        return EVENT  # the body's own words are not trusted, not even to label it

    def handshake(self, request: WebhookRequest) -> Handshake | None:
        return None

    def normalize(self, ctx: IngestContext, topic: str, request: WebhookRequest) -> Sequence[Event]:
        account = text(ctx.config.get("account_id"))

        def emit(out: EventBuilder) -> None:
            out.notify("product_status", f"accounts/{account}", RESOURCE, "status_change")

        return run_mapper(ctx, self.provider, topic, emit)


WEBHOOKS = GoogleMerchantHints()
