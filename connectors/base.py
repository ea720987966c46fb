"""The interface every provider module implements.

A provider module in `connectors/providers/` exposes `PROVIDER`, an object with the attributes and methods of
`Connector`. Webhook handling is pure: bytes and headers in, events out; the gateway does all I/O.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, Protocol

from events.errors import PermanentError, TransientError
from events.ids import opaque_id
from events.types import Event


class SignatureError(Exception):
    """The delivery is not authentic. The message is for logs; the provider only sees a bare 401."""


class NormalizeError(Exception):
    """The payload could not be mapped to events. The delivery is kept with this error and can be re-run."""


def delivery_record_id(connector_id: str, delivery_id: str) -> str:
    """The platform's id of a delivery record (`dlv_...`, GET /v1/deliveries/{id}), derived from the connector and
    the delivery's dedupe key: every receipt and re-run of one delivery names the same record. The events of a
    delivery carry it as `raw_ref` (where their original payload is kept)."""
    return opaque_id("dlv", connector_id, delivery_id)


@dataclass(frozen=True)
class WebhookRequest:
    headers: Mapping[str, str]  # case-insensitive (aiohttp's CIMultiDictProxy, or a dict with lower-case keys)
    body: bytes  # the raw bytes: signatures are computed over them
    content_type: str  # the media type without parameters, lower-case
    # the address the provider delivered to, as it was registered (BIZOSAAS_PUBLIC_URL + the webhook path, or the
    # request's own origin without it) with the request's query: Trello signs it with the body, Google Merchant's
    # carries a token; "" where the caller does not know it
    url: str = ""


@dataclass(frozen=True)
class IngestContext:
    tenant_id: str
    connector_id: str  # the connector instance: the events' `source`
    delivery_id: str  # the provider's delivery id, or a hash of the body where it sends none
    received_at: datetime  # UTC
    # the connector instance's non-secret config; providers read what a payload lacks (`currency`: the store's
    # currency, which WooCommerce and Shopify product payloads do not carry)
    config: Mapping[str, Any] = field(default_factory=dict)

    @cached_property  # a hash, asked for by the builder and the delivery record
    def record_id(self) -> str:
        """The delivery record's id (`dlv_...`): the events' raw_ref."""
        return delivery_record_id(self.connector_id, self.delivery_id)


@dataclass(frozen=True)
class Handshake:
    """A request the provider sends to check the endpoint (Slack url_verification, WooCommerce's ping): answered
    directly, after signature verification where the provider signs it, and never published."""

    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain"
    # False when the provider sends the check unsigned (WooCommerce's creation ping carries no signature header):
    # the gateway answers it without calling verify(). Safe because a handshake is never published.
    requires_signature: bool = True


# headers every delivery record keeps (besides the provider's own `kept_headers`): an allow-list, so a header
# carrying a credential under an unforeseen name is never stored
COMMON_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "content-encoding",
        "user-agent",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "x-real-ip",
        "x-request-id",
    }
)


class Provider(Protocol):
    provider: str  # lower-case, hyphenated: woocommerce, shopify, stripe, slack, standard-webhooks
    content_types: frozenset[str]  # media types the provider sends; anything else is answered 415
    # Content-Encodings the provider may send besides identity (decoded by the gateway before verification);
    # any other is answered 415
    content_encodings: frozenset[str]
    # True when the provider's delivery id names one payload (a retry resends the same bytes under it); False when
    # one id may carry different payloads (WooCommerce): the gateway then dedupes on the id and the body's hash
    delivery_id_unique: bool
    kept_headers: frozenset[str]  # lower-case provider headers a delivery record keeps (topic, ids, retry info)
    # the topics the normalizer maps: the only values of the metrics' topic label (anything else is `other`)
    topics: frozenset[str]

    def verify(self, request: WebhookRequest, secrets: Sequence[str], now_s: float) -> None:
        """Raise SignatureError unless one of the secrets (current, previous during rotation) signed the request.
        Constant-time comparison; timestamp tolerance where the scheme has one."""

    def delivery_id(self, request: WebhookRequest) -> str | None:
        """The provider's id of this delivery, stable across its retries; None when it sends none."""

    def topic(self, request: WebhookRequest) -> str:
        """The provider's event name (`order.created`, `orders/create`, `payment_intent.succeeded` ...)."""

    def handshake(self, request: WebhookRequest) -> Handshake | None:
        """A direct answer for an endpoint check, or None for a normal delivery."""

    def normalize(self, ctx: IngestContext, topic: str, request: WebhookRequest) -> Sequence[Event]:
        """The events this delivery means (an order and its customer, ...). Raise NormalizeError when unmappable."""


# --- the provider API a sync reads (a provider package's `api.py`) ------------------------------------------------


class ProviderBusy(TransientError):
    """The provider answered 429 or 5xx: the same request can succeed later, not before `retry_after_s` when the
    provider named a delay (its Retry-After header)."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def retry_after_s(headers: Mapping[str, str], name: str = "Retry-After") -> float | None:
    """A Retry-After header's delay in seconds; None when absent or an HTTP date (the retry policy's back-off
    applies then: providers send seconds)."""
    value = headers.get(name)
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class ProviderRefused(PermanentError):
    """The provider refused the request for a reason retrying cannot fix (credentials, permissions, a wrong URL);
    the message says what a person should change."""


@dataclass(frozen=True)
class ApiCall:
    """What one call to a provider's API needs: its facts, the connector's config and secrets (read from Vault by
    the caller, never stored or logged), and whether private addresses are allowed (development only)."""

    facts: Any  # connectors.facts.ProviderFacts
    config: Mapping[str, Any]
    secrets: Mapping[str, Any] = field(repr=False, default_factory=dict)
    allow_private: bool = False
    # OAuth2 connectors: answers an access token valid for a while more (connectors/access_tokens.py, over
    # connectors/oauth.py's fresh_access_token); given the token the provider just refused, a new one. None: the
    # caller has no token source (the api uses the access token in `secrets` while it is valid)
    access_token: Callable[[str | None], Awaitable[str]] | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Page:
    """One page of a resource's list, oldest position first as the provider orders it."""

    objects: list[dict[str, Any]]
    total: int | None = None  # objects in the whole listing, when the provider says
    total_pages: int | None = None
    # pagination = "cursor": what the next page starts after (Stripe's `starting_after`: the last object's id);
    # None: this is the last page
    next_cursor: str | None = None


class PageCursorGone(TransientError):
    """The object a cursor page starts after no longer exists (deleted during the run), so the provider cannot
    continue from it: the sync reads the resource's pages again from the first (re-read objects publish nothing)."""


@dataclass(frozen=True)
class NoWebhooks:
    """The Provider of a package that receives no webhooks (provider.toml: registration "none"): every delivery is
    refused (`verify` raises, so the gateway answers 401 and logs it) and nothing is ever normalized; its records
    arrive by sync. `reason` says why, in the refusal."""

    provider: str
    reason: str
    content_types: frozenset[str] = frozenset({"application/json"})
    content_encodings: frozenset[str] = frozenset()
    delivery_id_unique: bool = False
    kept_headers: frozenset[str] = frozenset()
    topics: frozenset[str] = frozenset()

    def verify(self, request: WebhookRequest, secrets: Sequence[str], now_s: float) -> None:
        raise SignatureError(f"{self.provider}: {self.reason}; no delivery is accepted")

    def delivery_id(self, request: WebhookRequest) -> str | None:
        return None

    def topic(self, request: WebhookRequest) -> str:
        return ""

    def handshake(self, request: WebhookRequest) -> Handshake | None:
        return None

    def normalize(self, ctx: IngestContext, topic: str, request: WebhookRequest) -> Sequence[Event]:
        raise NormalizeError(f"{self.provider}: unmapped topic {topic!r} ({self.reason})")


# --- webhook registration by the set-up workflow (provider.toml `webhooks.registration = "by_setup"`) -------------


@dataclass(frozen=True)
class Registration:
    """What an api's `register_webhooks(call, delivery_url, secret)` left at the provider: its webhooks pointing at
    `delivery_url` (made now or found made by an earlier attempt: registering twice makes nothing new), and the secret
    that signs their deliveries (the one given, or the provider's own where it makes one: Stripe)."""

    webhooks: dict[str, str]  # topic ("*": one endpoint for every topic) -> the provider's webhook id
    secret: str = field(repr=False, default="")
