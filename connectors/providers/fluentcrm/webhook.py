"""FluentCRM webhooks: none. Its outgoing webhooks document no signature scheme (which header carries the "secret
key", how a delivery is signed), so the connector has no webhook secret and `verify` refuses every delivery (the
gateway answers 401 and logs it); contacts arrive by sync only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from connectors.base import Handshake, IngestContext, NormalizeError, SignatureError, WebhookRequest
from events.types import Event


@dataclass(frozen=True)
class FluentCrmProvider:
    provider: ClassVar[str] = "fluentcrm"
    content_types: ClassVar[frozenset[str]] = frozenset({"application/json"})
    content_encodings: ClassVar[frozenset[str]] = frozenset()
    delivery_id_unique: ClassVar[bool] = False
    kept_headers: ClassVar[frozenset[str]] = frozenset()
    topics: ClassVar[frozenset[str]] = frozenset()

    def verify(self, request: WebhookRequest, secrets: Sequence[str], now_s: float) -> None:
        raise SignatureError("fluentcrm: webhooks are not supported (no documented signature); no delivery is accepted")

    def delivery_id(self, request: WebhookRequest) -> str | None:
        return None

    def topic(self, request: WebhookRequest) -> str:
        return ""

    def handshake(self, request: WebhookRequest) -> Handshake | None:
        return None

    def normalize(self, ctx: IngestContext, topic: str, request: WebhookRequest) -> Sequence[Event]:
        raise NormalizeError(f"fluentcrm: unmapped topic {topic!r} (webhooks are not supported)")
