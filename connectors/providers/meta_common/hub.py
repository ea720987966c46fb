"""Meta's webhooks (Graph API "Webhooks", any product: WhatsApp, ad accounts, pages): every POST is signed with
`X-Hub-Signature-256: sha256=hex(HMAC-SHA256(app secret, raw body))`, and when the Callback URL is saved Meta checks
it with `GET <url>?hub.mode=subscribe&hub.verify_token=<the token typed beside it>&hub.challenge=<n>`, answered by
echoing the challenge (the gateway's `GET /v1/webhooks/{connector_id}` calls a provider module's `challenge`).
Meta sends no delivery id: deliveries dedupe on the body's hash (a retry resends the same bytes).

A notification is `{"object": <what was subscribed to>, "entry": [{"id", "changes": [{"field", "value"}]}]}`:
`GraphWebhooks` is the Provider of one product, built from what its package knows (the object, and a mapper per
field)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from connectors.base import Handshake, IngestContext, NormalizeError, SignatureError, WebhookRequest
from connectors.normalize import EventBuilder, json_object, json_object_or_none, run_mapper, text
from connectors.signatures import header, utf8_keys, verify_hmac, verify_token

SIGNATURE_HEADER = "x-hub-signature-256"
VERIFY_TOKEN = "verify_token"  # the credential field the GET check compares with


def _sha256(digest: bytes) -> str:
    return "sha256=" + digest.hex()


def verify_signature(request: WebhookRequest, secrets: Sequence[str]) -> None:
    """SignatureError unless one of the app secrets signed the raw body (constant-time comparison)."""
    signature = header(request.headers, SIGNATURE_HEADER)
    verify_hmac(utf8_keys(secrets), request.body, [signature] if signature else [], _sha256, "X-Hub-Signature-256")


def hub_challenge(query: Mapping[str, str], tokens: Sequence[str], what: str) -> Handshake | None:
    """Meta's GET verification request (any Graph API webhook): the challenge echoed when hub.verify_token is one of
    `tokens`; None when the query is not a subscribe check; SignatureError for a wrong token."""
    if query.get("hub.mode") != "subscribe" or not query.get("hub.challenge"):
        return None
    verify_token(query.get("hub.verify_token"), tokens, f"{what} hub.verify_token")
    return Handshake(body=query["hub.challenge"].encode(), content_type="text/plain")


def connector_challenge(query: Mapping[str, str], secrets: Mapping[str, Any], what: str) -> Handshake | None:
    """The GET verification request against the connector's own verify token (Vault's `verify_token`)."""
    tokens = [str(secrets.get(VERIFY_TOKEN) or "")]
    if not tokens[0]:
        raise SignatureError(f"{what}: the connector has no verify token")
    return hub_challenge(query, tokens, what)


def first_field(request: WebhookRequest) -> str:
    """The topic of a notification: the first change's `field` (`messages`, `in_process_ad_objects` ...)."""
    payload = json_object_or_none(request.body) or {}
    for entry in payload.get("entry") or []:
        for change in (entry.get("changes") if isinstance(entry, dict) else None) or []:
            if isinstance(change, dict):
                return text(change.get("field"))
    return ""


ChangeMapper = Callable[[EventBuilder, dict[str, Any]], None]  # one change's `value` -> events


class GraphWebhooks:
    """The Provider (connectors.base) of one Graph API webhook product: `provider`'s notifications about
    `subscribed` objects (`ad_account`, `whatsapp_business_account`), each change's value mapped by the mapper of
    its field in `mappers` (the topics)."""

    content_types: ClassVar[frozenset[str]] = frozenset({"application/json"})
    content_encodings: ClassVar[frozenset[str]] = frozenset()
    delivery_id_unique: ClassVar[bool] = True
    kept_headers: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, provider: str, subscribed: str, mappers: Mapping[str, ChangeMapper]) -> None:
        self.provider = provider
        self.subscribed = subscribed
        self.mappers = mappers
        self.topics = frozenset(mappers)

    def verify(self, request: WebhookRequest, secrets: Sequence[str], now_s: float) -> None:
        verify_signature(request, secrets)

    def delivery_id(self, request: WebhookRequest) -> str | None:
        return None  # Meta sends none: the body's hash

    def topic(self, request: WebhookRequest) -> str:
        return first_field(request)

    def handshake(self, request: WebhookRequest) -> Handshake | None:
        return None  # the endpoint check is a GET: `challenge`

    def challenge(self, query: Mapping[str, str], secrets: Mapping[str, Any]) -> Handshake | None:
        """The GET verification request, against the connector's verify token."""
        return connector_challenge(query, secrets, self.provider)

    def normalize(self, ctx: IngestContext, topic: str, request: WebhookRequest) -> Sequence[Any]:
        if topic not in self.mappers:
            raise NormalizeError(f"{self.provider} topic {topic!r} has no mapping")
        payload = json_object(request.body, f"{self.provider} {topic}")
        if payload.get("object") != self.subscribed:
            raise NormalizeError(f"{self.provider} {topic}: not a {self.subscribed} notification")

        def emit(out: EventBuilder) -> None:
            for entry in payload["entry"]:
                for change in entry["changes"]:
                    mapper = self.mappers.get(change["field"])
                    if mapper is None:
                        raise NormalizeError(f"field {change['field']!r} has no mapping")
                    mapper(out, change["value"])

        return run_mapper(ctx, self.provider, topic, emit)
