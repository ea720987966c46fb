"""Untrusted payloads: whatever a field holds, normalize either returns events a consumer can decode or raises
NormalizeError (which the gateway keeps as an unmapped delivery). Any other exception would lose the delivery."""

from __future__ import annotations

import json

import pytest
from webhook_support import ctx, fixture, request, round_trips

from connectors.base import NormalizeError
from connectors.registry import get_provider

ODD_VALUES = [
    None,
    "",
    "x",
    [],
    {},
    [1],
    {"a": 1},
    1.5,
    -1,
    True,
    "2017-13-45T99:00:00",
    "1e999999",
    "Infinity",
    10**30,
    1e300,
]

# provider, fixture file, topic (for Slack the fixture is the inner event of an envelope)
CASES = [
    ("woocommerce", "order.created.json", "order.created"),
    ("woocommerce", "product.updated.json", "product.updated"),
    ("woocommerce", "customer.created.json", "customer.created"),
    ("shopify", "orders-create.json", "orders/create"),
    ("shopify", "customers-create.json", "customers/create"),
    ("stripe", "payment_intent.succeeded.json", "payment_intent.succeeded"),
    ("stripe", "customer.subscription.updated.json", "customer.subscription.updated"),
    ("stripe", "checkout.session.completed.json", "checkout.session.completed"),
    ("slack", "message.inner_event.json", "message"),
]


def payload_of(provider: str, name: str) -> dict:
    payload = json.loads(fixture(provider, name))
    return {"type": "event_callback", "event_id": "Ev1", "event": payload} if provider == "slack" else payload


def variants(payload: dict):
    """The payload with one field replaced by an odd value, for every field of the top level and of the object
    that carries the entity (Stripe's data.object, Slack's event)."""
    for key in payload:
        for value in ODD_VALUES:
            yield {**payload, key: value}
    for outer, inner in (("data", "object"), ("event", None)):
        nested = payload.get(outer)
        target = nested.get(inner) if inner and isinstance(nested, dict) else nested
        if not isinstance(target, dict):
            continue
        for key in target:
            for value in ODD_VALUES:
                changed = {**target, key: value}
                yield {**payload, outer: {**nested, inner: changed} if inner else changed}


@pytest.mark.parametrize(("provider", "name", "topic"), CASES, ids=lambda v: str(v))
def test_odd_field_values_map_or_raise_normalize_error(provider, name, topic):
    connector = get_provider(provider)
    mapped = unmapped = 0
    for variant in variants(payload_of(provider, name)):
        try:
            events = connector.normalize(ctx(), topic, request(json.dumps(variant).encode()))
        except NormalizeError:
            unmapped += 1
            continue
        assert round_trips(list(events))
        mapped += 1
    assert mapped and unmapped  # both outcomes occur: the payloads really were tried both ways


GARBAGE = [
    b"",
    b"{",
    b"[]",
    b"null",
    b'"text"',
    b"\xff\xfe",
    b"payload=%7Bnot-json",
    b"payload=[1]",
    b'{"event": 1}',
    b'{"type": "event_callback", "event": []}',
    b'{"data": [1], "type": "x"}',
    b"webhook_id=1&webhook_id=2",
]
TOPICS = {
    "woocommerce": "order.created",
    "shopify": "orders/create",
    "stripe": "payment_intent.succeeded",
    "slack": "message",
    "standard-webhooks": "order.upserted",
}


@pytest.mark.parametrize("provider", sorted(TOPICS))
def test_garbage_bodies_never_raise_from_the_questions_and_are_unmapped(provider):
    connector = get_provider(provider)
    for body in GARBAGE:
        for content_type in ("application/json", "application/x-www-form-urlencoded"):
            delivery = request(body, {}, content_type)
            assert isinstance(connector.topic(delivery), str)
            assert connector.delivery_id(delivery) is None
            connector.handshake(delivery)
            with pytest.raises(NormalizeError):
                connector.normalize(ctx(), TOPICS[provider], delivery)
