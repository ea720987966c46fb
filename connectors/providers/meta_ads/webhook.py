"""Meta Ads webhooks ("Webhooks for Ad Accounts"): Meta POSTs `{"object": "ad_account", "entry": [{"id": <ad account
id>, "time", "changes": [{"field": "in_process_ad_objects" | "with_issues_ad_objects", "value": {"id": <the ad
object's id>, "level": "CAMPAIGN" | "AD_SET" | "AD", "status_name" or "error_code", "error_summary" ...}}]}]}` to the
app's Callback URL, signed with X-Hub-Signature-256; the Callback URL is checked with the hub.challenge GET. Both are
Meta's, shared with WhatsApp (connectors/providers/meta_common/hub.py).

A notification names an object and what happened to it, not its state: it is a hint. Each change becomes a
`connector.change.notified.v1` for the object's resource (campaigns, adsets, ads), and the notifications group starts
that resource's sync, which reads the object as it is now (Trello's and Zoho's notifications do the same).
Topic: the first change's field. Delivery id: none is sent (the body's hash). Registered by hand (App Dashboard >
Webhooks > Ad Account).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from connectors.base import Handshake, IngestContext, NormalizeError, WebhookRequest
from connectors.normalize import EventBuilder, json_object, run_mapper, text
from connectors.providers.meta_common.hub import connector_challenge, first_field, verify_signature

FIELDS = frozenset({"in_process_ad_objects", "with_issues_ad_objects"})
LEVELS = {"CAMPAIGN": ("ad_campaign", "campaigns"), "AD_SET": ("ad_group", "adsets"), "AD": ("ad", "ads")}


def _hint(out: EventBuilder, value: dict[str, Any]) -> None:
    level = text(value.get("level")).upper()
    if level not in LEVELS:
        raise NormalizeError(f"ad object level {level!r} is not one of {sorted(LEVELS)}")
    kind, resource = LEVELS[level]
    out.notify(kind, value["id"], resource, "update")


class MetaAdsProvider:
    provider: ClassVar[str] = "meta-ads"
    content_types: ClassVar[frozenset[str]] = frozenset({"application/json"})
    content_encodings: ClassVar[frozenset[str]] = frozenset()
    delivery_id_unique: ClassVar[bool] = True
    kept_headers: ClassVar[frozenset[str]] = frozenset()
    topics: ClassVar[frozenset[str]] = FIELDS

    def verify(self, request: WebhookRequest, secrets: Sequence[str], now_s: float) -> None:
        verify_signature(request, secrets)

    def delivery_id(self, request: WebhookRequest) -> str | None:
        return None  # Meta sends none: the body's hash

    def topic(self, request: WebhookRequest) -> str:
        return first_field(request)

    def handshake(self, request: WebhookRequest) -> Handshake | None:
        return None  # the endpoint check is a GET: `challenge`

    def challenge(self, query: Mapping[str, str], secrets: Mapping[str, Any]) -> Handshake | None:
        return connector_challenge(query, secrets, "meta-ads")

    def normalize(self, ctx: IngestContext, topic: str, request: WebhookRequest) -> Sequence[Any]:
        if topic not in FIELDS:
            raise NormalizeError(f"meta-ads topic {topic!r} has no mapping")
        payload = json_object(request.body, f"meta-ads {topic}")
        if payload.get("object") != "ad_account":
            raise NormalizeError(f"meta-ads {topic}: not an ad_account notification")

        def emit(out: EventBuilder) -> None:
            for entry in payload["entry"]:
                for change in entry["changes"]:
                    if change["field"] not in FIELDS:
                        raise NormalizeError(f"field {change['field']!r} has no mapping")
                    _hint(out, change["value"])

        return run_mapper(ctx, self.provider, topic, emit)


WEBHOOKS = MetaAdsProvider()
