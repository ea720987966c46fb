"""Shared pieces of normalization: reading the body, provider times and money, and building the events.

Payloads are untrusted: every value is coerced to the entity's field type here, a missing or mistyped field becomes a
NormalizeError naming the provider and topic, and every event is checked by a round trip through the event codec
before it leaves (a malformed event must never reach a stream, where every consumer would choke on it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

import msgspec

from connectors.base import IngestContext, NormalizeError
from events import codec
from events.entities import Address, Entity
from events.ids import derived_id
from events.money import to_minor
from events.types import DELETED_BY_KIND, UPSERTED_BY_KIND, ChangeNotified, Event, Subject

UPSERT = "upsert"
DELETE = "delete"
# amounts beyond these are no real payload's; they would also overflow the projections' int8 columns
MAX_MINOR = 2**63 - 1
MAX_AMOUNT_DIGITS = 15


def json_object(body: bytes, what: str) -> dict[str, Any]:
    try:
        value = msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:  # msgspec raises the latter for bytes not UTF-8
        raise NormalizeError(f"{what}: body is not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise NormalizeError(f"{what}: body is a JSON {type(value).__name__}, not an object")
    return value


def json_object_or_none(body: bytes) -> dict[str, Any] | None:
    """For header-like questions asked of the body (topic, delivery id): no answer rather than an error."""
    try:
        value = msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def body_field(body: bytes, name: str) -> str:
    """One top-level field of a JSON body as text; "" when there is none or the body is not a JSON object."""
    payload = json_object_or_none(body)
    return text(payload.get(name)) if payload else ""


def form_fields(body: bytes) -> dict[str, str]:
    """An application/x-www-form-urlencoded body (the last value wins for a repeated name)."""
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def text(value: Any) -> str:
    return "" if value is None else str(value)


def opt_text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def utc_time(value: Any) -> datetime:
    """An ISO 8601 time (an offset is converted; no offset means UTC, as in WooCommerce's *_gmt fields) or epoch
    seconds (Stripe, Slack's "1355517523.000005")."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str) and value.replace(".", "", 1).isdigit():
        return datetime.fromtimestamp(float(value), UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def opt_time(value: Any) -> datetime | None:
    return None if value in (None, "", 0) else utc_time(value)


def opt_iso(value: Any) -> str | None:
    """A provider time for provider_data, as an RFC 3339 UTC string (what it reads back as from a stream)."""
    parsed = opt_time(value)
    return parsed.isoformat().replace("+00:00", "Z") if parsed else None


def minor(amount: Any, currency: str) -> int:
    """A provider's decimal amount in minor units (exactly: via the decimal string, never float arithmetic)."""
    if isinstance(amount, bool):
        raise ValueError(f"not a decimal amount: {amount!r}")
    try:
        magnitude = Decimal(str(amount)).adjusted() if amount not in (None, "") else 0
    except InvalidOperation:
        magnitude = 0  # not a number at all: to_minor says so
    if magnitude > MAX_AMOUNT_DIGITS:
        raise ValueError(f"amount out of range: {str(amount)[:40]!r}")
    return minor_units(to_minor(amount, currency))


def minor_units(value: Any) -> int:
    """An amount a provider already gives in integer minor units (Stripe); None is 0."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"not an amount in minor units: {value!r}")
    if abs(value) > MAX_MINOR:
        raise ValueError(f"amount out of range: {value}")
    return value


def address(values: Any, names: Mapping[str, str]) -> Address | None:
    """An Address from a provider's address object, `names` mapping our field names to the provider's."""
    if not isinstance(values, Mapping):
        return None
    fields = {ours: text(values.get(theirs)) for ours, theirs in names.items()}
    return Address(**fields) if any(fields.values()) else None


def compact(**values: Any) -> dict[str, Any]:
    """provider_data without the empty values (keep it modest)."""
    return {k: v for k, v in values.items() if v not in (None, "", [], {})}


class EventBuilder:
    """Collects the events of one delivery; the i-th event's id derives from (connector, delivery, i), so a
    re-run of the same delivery derives the same ids."""

    def __init__(self, ctx: IngestContext, provider: str, raw_ref: bool = True) -> None:
        self.ctx = ctx
        self.provider = provider
        # the same for every event of the delivery: worked out once (the record id is a hash)
        self._received_ms = int(ctx.received_at.timestamp() * 1000)
        self._raw_ref = ctx.record_id if raw_ref else None  # a sync's events name no record: none keeps the payload
        self._events: list[Event] = []

    def _envelope(self, kind: str, external_id: Any, occurred_at: datetime | None) -> dict[str, Any]:
        ctx = self.ctx
        external = text(external_id)
        if not external:
            raise NormalizeError(f"the {kind} has no id")
        return dict(
            id=derived_id(f"{ctx.connector_id}:{ctx.delivery_id}:{len(self._events)}", self._received_ms),
            tenant_id=ctx.tenant_id,
            source=ctx.connector_id,
            provider=self.provider,
            subject=Subject(kind=kind, external_id=external),
            occurred_at=occurred_at or ctx.received_at,
            recorded_at=ctx.received_at,
            raw_ref=self._raw_ref,  # the delivery record, where the payload is kept
        )

    def upsert(self, kind: str, external_id: Any, occurred_at: datetime | None, data: Entity) -> None:
        self._events.append(UPSERTED_BY_KIND[kind](**self._envelope(kind, external_id, occurred_at), data=data))

    def delete(self, kind: str, external_id: Any, occurred_at: datetime | None = None) -> None:
        self._events.append(DELETED_BY_KIND[kind](**self._envelope(kind, external_id, occurred_at)))

    def notify(self, kind: str, external_id: Any, resource: str, operation: str) -> None:
        """A change the provider named without the record: the platform syncs `resource` to read it."""
        envelope = self._envelope(kind, external_id, None)
        self._events.append(ChangeNotified(**envelope, resource=resource, operation=operation))

    def events(self) -> list[Event]:
        for event in self._events:
            try:
                codec.decode_event(codec.encode(event))
            except (codec.EventDecodeError, TypeError, ValueError) as exc:
                raise NormalizeError(f"a mapped value has the wrong type: {exc}") from None
        return self._events


@contextmanager
def payload_errors(provider: str, topic: str) -> Iterator[None]:
    """Turn the errors a malformed payload causes in a mapper into a NormalizeError that says what was wrong."""
    try:
        yield
    except NormalizeError as exc:
        raise NormalizeError(f"{provider} {topic}: {exc}") from None
    except KeyError as exc:
        raise NormalizeError(f"{provider} {topic}: the payload has no field {exc}") from None
    except (TypeError, ValueError, AttributeError, IndexError, ArithmeticError, OSError) as exc:
        raise NormalizeError(f"{provider} {topic}: malformed payload ({type(exc).__name__}: {exc})") from None


def run_mapper(
    ctx: IngestContext,
    provider: str,
    topic: str,
    mapper: Callable[[EventBuilder], None],
    raw_ref: bool = True,
) -> Sequence[Event]:
    """Run `mapper` against a fresh builder and return its events, with payload errors made readable. `raw_ref`
    False: the events name no delivery record (a sync's, whose payload is not kept)."""
    out = EventBuilder(ctx, provider, raw_ref)
    with payload_errors(provider, topic):
        mapper(out)
        return out.events()


Mapper = Callable[[EventBuilder, dict[str, Any]], None]


def normalize_resource(
    ctx: IngestContext,
    provider: str,
    topic: str,
    body: bytes,
    topics: Mapping[str, tuple[str, str]],
    mappers: Mapping[str, Mapper],
    modified_field: str,
) -> Sequence[Event]:
    """The common shape of resource webhooks (WooCommerce, Shopify): the topic names a kind and an action, the body
    is the resource; an upsert runs the kind's mapper, a delete needs only the id (and a time when there is one)."""
    if topic not in topics:
        raise NormalizeError(f"{provider} topic {topic!r} has no mapping")
    kind, action = topics[topic]
    payload = json_object(body, f"{provider} {topic}")

    def mapper(out: EventBuilder) -> None:
        if action == DELETE:
            out.delete(kind, payload["id"], opt_time(payload.get(modified_field)))
        else:
            mappers[kind](out, payload)

    return run_mapper(ctx, provider, topic, mapper)
