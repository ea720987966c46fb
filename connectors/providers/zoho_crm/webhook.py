"""Zoho CRM webhooks: none yet. Zoho CRM's notifications (the watch API) are registered by the set-up workflow that
comes with sync; until then the connector has no webhook secret, so `verify` refuses every delivery (the gateway
answers 401 and logs it), and nothing is ever normalized."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from connectors.base import Handshake, IngestContext, NormalizeError, SignatureError, WebhookRequest
from events.types import Event


@dataclass(frozen=True)
class ZohoCrmProvider:
    provider: ClassVar[str] = "zoho-crm"
    content_types: ClassVar[frozenset[str]] = frozenset({"application/json"})
    content_encodings: ClassVar[frozenset[str]] = frozenset()
    delivery_id_unique: ClassVar[bool] = False
    kept_headers: ClassVar[frozenset[str]] = frozenset()
    topics: ClassVar[frozenset[str]] = frozenset()

    def verify(self, request: WebhookRequest, secrets: Sequence[str], now_s: float) -> None:
        raise SignatureError("zoho-crm: webhooks are not registered yet; no delivery is accepted")

    def delivery_id(self, request: WebhookRequest) -> str | None:
        return None

    def topic(self, request: WebhookRequest) -> str:
        return ""

    def handshake(self, request: WebhookRequest) -> Handshake | None:
        return None

    def normalize(self, ctx: IngestContext, topic: str, request: WebhookRequest) -> Sequence[Event]:
        raise NormalizeError(f"zoho-crm: unmapped topic {topic!r} (webhooks are not registered yet)")
