"""Stripe, Slack and Standard Webhooks: topics, delivery ids, handshakes, and payloads normalized to real values."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from webhook_support import FORM, SIGNERS, ctx, fixture, request, round_trips, vectors

from connectors.base import NormalizeError, delivery_record_id
from connectors.registry import get_provider
from events import codec
from events.types import (
    ContactDeleted,
    ContactUpserted,
    InvoiceUpserted,
    MessageDeleted,
    MessageUpserted,
    OrderDeleted,
    OrderUpserted,
    PaymentUpserted,
    ProductDeleted,
    ProductUpserted,
    SubscriptionUpserted,
)

stripe = get_provider("stripe")
slack = get_provider("slack")
sw = get_provider("standard-webhooks")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def stripe_event(name: str, **changes) -> bytes:
    event = json.loads(fixture("stripe", name))
    event.update(changes)
    return json.dumps(event).encode()


# --- Stripe -------------------------------------------------------------------------------------------------------


def test_stripe_payment_intent_succeeded():
    delivery = request(fixture("stripe", "payment_intent.succeeded.json"))
    assert stripe.topic(delivery) == "payment_intent.succeeded"
    assert stripe.delivery_id(delivery) == "evt_000000000000000000000000"  # zeroed by the fixture generator
    (event,) = stripe.normalize(ctx("st-1"), "payment_intent.succeeded", delivery)
    assert isinstance(event, PaymentUpserted) and event.subject.external_id == "pi_000000000000000000000000"
    data = event.data
    assert (data.status, data.amount_minor, data.currency, data.method) == ("succeeded", 2000, "USD", "card")
    assert data.customer_external_id is None and data.provider_data["amount_received"] == 2000
    assert event.occurred_at == utc(2022, 3, 26, 18, 40, 33)  # `created` 1648320033
    assert "client_secret" not in codec.encode(event).decode()  # a payment capability, never copied
    assert round_trips([event])


def test_stripe_subscription_updated():
    delivery = request(fixture("stripe", "customer.subscription.updated.json"))
    (event,) = stripe.normalize(ctx("st-2"), stripe.topic(delivery), delivery)
    assert isinstance(event, SubscriptionUpserted) and event.subject.external_id == "sub_000000000000000000000000"
    data = event.data
    assert (data.status, data.amount_minor, data.currency, data.interval) == ("active", 1500, "USD", "month")
    assert (data.customer_external_id, data.plan) == ("cus_00000000000000", "price_000000000000000000000000")
    assert data.current_period_end == utc(2022, 4, 26, 18, 41, 45) and data.cancel_at_period_end is False
    assert data.provider_data["product"] == "prod_00000000000000"
    assert event.occurred_at == utc(2022, 3, 26, 18, 41, 46)
    assert round_trips([event])


def test_stripe_checkout_session_completed_is_an_order():
    delivery = request(fixture("stripe", "checkout.session.completed.json"))
    (event,) = stripe.normalize(ctx("st-3"), stripe.topic(delivery), delivery)
    assert isinstance(event, OrderUpserted)
    data = event.data
    assert (data.status, data.total_minor, data.subtotal_minor, data.currency) == ("complete", 3000, 3000, "USD")
    assert (data.customer_external_id, data.customer_email) == ("cus_00000000000000", "stripe@example.com")
    assert data.provider_data["payment_status"] == "paid"
    assert data.provider_data["payment_intent"] == "pi_000000000000000000000000"


def test_stripe_three_fixtures_share_an_event_id_but_get_their_own_delivery_identity():
    names = ["payment_intent.succeeded.json", "customer.subscription.updated.json", "checkout.session.completed.json"]
    ids = {stripe.delivery_id(request(fixture("stripe", n))) for n in names}
    assert ids == {"evt_000000000000000000000000"}
    events = [
        stripe.normalize(
            ctx(f"replay-{i}"), stripe.topic(request(fixture("stripe", n))), request(fixture("stripe", n))
        )[0]
        for i, n in enumerate(names)
    ]
    assert len({e.id for e in events}) == 3


def test_stripe_deletions_and_cancellation():
    customer = {"id": "cus_1", "object": "customer", "email": "jenny@example.com", "name": "Jenny Rosen"}
    body = json.dumps(
        {"id": "evt_1", "type": "customer.deleted", "created": 1700000000, "data": {"object": customer}}
    ).encode()
    (deleted,) = stripe.normalize(ctx(), "customer.deleted", request(body))
    assert isinstance(deleted, ContactDeleted) and deleted.subject.external_id == "cus_1"
    (upserted,) = stripe.normalize(ctx(), "customer.updated", request(body.replace(b"customer.deleted", b"x")))
    assert isinstance(upserted, ContactUpserted)
    assert (upserted.data.first_name, upserted.data.last_name, upserted.data.email) == (
        "Jenny",
        "Rosen",
        "jenny@example.com",
    )
    # a "deleted" subscription is a cancelled one: its record stays
    sub = json.loads(fixture("stripe", "customer.subscription.updated.json"))
    sub["type"] = "customer.subscription.deleted"
    sub["data"]["object"]["status"] = "canceled"
    (cancelled,) = stripe.normalize(ctx(), "customer.subscription.deleted", request(json.dumps(sub).encode()))
    assert isinstance(cancelled, SubscriptionUpserted) and cancelled.data.status == "canceled"
    product = {"id": "prod_1", "object": "product", "name": "Gold plan", "active": False}
    body = json.dumps(
        {"id": "evt_3", "type": "product.deleted", "created": 1700000000, "data": {"object": product}}
    ).encode()
    (gone,) = stripe.normalize(ctx(), "product.deleted", request(body))
    assert isinstance(gone, ProductDeleted) and gone.subject.external_id == "prod_1"
    (archived,) = stripe.normalize(ctx(), "product.updated", request(body))
    assert isinstance(archived, ProductUpserted)
    assert (archived.data.name, archived.data.status) == ("Gold plan", "archived")


def test_stripe_invoice():
    invoice = {
        "id": "in_1",
        "object": "invoice",
        "number": "A-0001",
        "status": "paid",
        "currency": "eur",
        "total": 1500,
        "amount_due": 1500,
        "amount_paid": 1500,
        "customer": "cus_1",
        "subscription": "sub_1",
        "due_date": None,
        "period_start": 1700000000,
    }
    body = json.dumps(
        {"id": "evt_2", "type": "invoice.paid", "created": 1700000100, "data": {"object": invoice}}
    ).encode()
    (event,) = stripe.normalize(ctx(), "invoice.paid", request(body))
    assert isinstance(event, InvoiceUpserted)
    assert (event.data.number, event.data.status, event.data.currency, event.data.amount_paid_minor) == (
        "A-0001",
        "paid",
        "EUR",
        1500,
    )
    assert event.data.subscription_external_id == "sub_1"
    assert event.data.provider_data["period_start"] == "2023-11-14T22:13:20Z"
    assert round_trips([event])


def test_stripe_unmappable_events():
    charge = stripe_event("payment_intent.succeeded.json", type="charge.succeeded")
    event = json.loads(charge)
    event["data"]["object"] = event["data"]["object"]["charges"]["data"][0]
    with pytest.raises(NormalizeError, match=r"'charge' have no mapping"):
        stripe.normalize(ctx(), "charge.succeeded", request(json.dumps(event).encode()))
    with pytest.raises(NormalizeError, match="not JSON"):
        stripe.normalize(ctx(), "x", request(b"{not json"))
    assert stripe.topic(request(b"{not json")) == "" and stripe.delivery_id(request(b"{not json")) is None
    with pytest.raises(NormalizeError, match=r"no data\.object"):
        stripe.normalize(ctx(), "x", request(b'{"type": "x", "data": {}}'))
    no_created = json.loads(fixture("stripe", "payment_intent.succeeded.json"))
    del no_created["created"]
    with pytest.raises(NormalizeError, match="no field 'created'"):
        stripe.normalize(ctx(), "payment_intent.succeeded", request(json.dumps(no_created).encode()))
    bad_amount = json.loads(fixture("stripe", "payment_intent.succeeded.json"))
    bad_amount["data"]["object"]["amount"] = "20.00"
    with pytest.raises(NormalizeError, match="minor units"):
        stripe.normalize(ctx(), "payment_intent.succeeded", request(json.dumps(bad_amount).encode()))


# --- Slack --------------------------------------------------------------------------------------------------------


def slack_envelope(inner: dict, event_id: str = "Ev0001") -> bytes:
    """The event_callback envelope Slack wraps an inner event in (the fixture holds the inner event only)."""
    return json.dumps(
        {
            "token": "verification-token-never-copied",
            "team_id": "T123ABC456",
            "api_app_id": "A1",
            "event": inner,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": 1355517523,
        }
    ).encode()


def inner_message() -> dict:
    return json.loads(fixture("slack", "message.inner_event.json"))


def test_slack_message_event():
    delivery = request(slack_envelope(inner_message()), {"X-Slack-Retry-Num": "1"})
    assert (slack.topic(delivery), slack.delivery_id(delivery)) == ("message", "Ev0001")
    assert slack.handshake(delivery) is None
    (event,) = slack.normalize(ctx("Ev0001"), "message", delivery)
    assert isinstance(event, MessageUpserted) and event.subject.external_id == "C123ABC456:1355517523.000005"
    data = event.data
    assert (data.text, data.sender, data.channel, data.conversation_external_id) == (
        "Hello world",
        "U123ABC456",
        "slack",
        "C123ABC456",
    )
    assert data.sent_at == event.occurred_at == datetime.fromtimestamp(1355517523.000005, UTC)
    assert data.provider_data == {"team_id": "T123ABC456", "event_type": "message"}
    assert "verification-token" not in codec.encode(event).decode()
    assert round_trips([event])


def test_slack_message_edited_threaded_and_deleted():
    edited = {
        "type": "message",
        "subtype": "message_changed",
        "channel": "C123ABC456",
        "ts": "1355517600.000001",
        "event_ts": "1355517600.000001",
        "message": {
            **inner_message(),
            "text": "Hello again",
            "thread_ts": "1355517000.000001",
            "edited": {"user": "U123ABC456", "ts": "1355517600.000000"},
        },
    }
    (event,) = slack.normalize(ctx(), "message", request(slack_envelope(edited)))
    assert event.subject.external_id == "C123ABC456:1355517523.000005"  # the edited message, not the edit event
    assert event.data.text == "Hello again"
    assert event.data.thread_external_id == "C123ABC456:1355517000.000001"
    assert event.occurred_at == datetime.fromtimestamp(1355517600.000001, UTC)
    deleted = {
        "type": "message",
        "subtype": "message_deleted",
        "channel": "C123ABC456",
        "deleted_ts": "1355517523.000005",
        "ts": "1355517700.000001",
    }
    (gone,) = slack.normalize(ctx(), "message", request(slack_envelope(deleted)))
    assert isinstance(gone, MessageDeleted) and gone.subject.external_id == "C123ABC456:1355517523.000005"


def test_slack_url_verification_handshake():
    body = fixture("slack", "url_verification.json")
    answer = slack.handshake(request(body))
    assert answer is not None and answer.requires_signature  # Slack signs it like any request
    assert (answer.status, answer.content_type) == (200, "text/plain")
    assert answer.body == b"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    secret = SIGNERS["slack"][1]
    now = int(time.time())
    slack.verify(request(body, SIGNERS["slack"][0](body, secret, now)), [secret], now)
    assert slack.topic(request(body)) == "url_verification"
    with pytest.raises(NormalizeError, match="url_verification"):
        slack.normalize(ctx(), "url_verification", request(body))


def test_slack_slash_command_is_a_message():
    vector = vectors("slack")["vectors"][0]
    body = vector["body"].encode()
    delivery = request(
        body,
        {
            "X-Slack-Request-Timestamp": vector["X-Slack-Request-Timestamp"],
            "X-Slack-Signature": vector["expected_X-Slack-Signature"],
        },
        FORM,
    )
    assert (slack.topic(delivery), slack.delivery_id(delivery), slack.handshake(delivery)) == (
        "slash_command",
        None,
        None,
    )
    (event,) = slack.normalize(ctx(), "slash_command", delivery)
    assert isinstance(event, MessageUpserted)
    assert event.subject.external_id == "command:398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    data = event.data
    assert (data.text, data.sender, data.conversation_external_id) == ("/webhook-collect", "U2CERLKJA", "G8PSS9T3V")
    assert data.provider_data["user_name"] == "roadrunner"
    assert event.occurred_at == utc(2018, 7, 12, 18, 36, 58)  # X-Slack-Request-Timestamp 1531420618
    encoded = codec.encode(event).decode()
    assert "xyzz0WbapA4vBCDEFasx0q6G" not in encoded and "hooks.slack.com" not in encoded  # token, response_url


def test_slack_interactivity_payload_is_accepted_but_unmapped():
    payload = {
        "type": "block_actions",
        "user": {"id": "U1"},
        "trigger_id": "t.1",
        "actions": [{"action_id": "approve", "value": "order-727"}],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    secret = SIGNERS["slack"][1]
    now = int(time.time())
    delivery = request(body, SIGNERS["slack"][0](body, secret, now), FORM)
    slack.verify(delivery, [secret], now)
    assert (slack.topic(delivery), slack.delivery_id(delivery), slack.handshake(delivery)) == (
        "block_actions",
        None,
        None,
    )
    with pytest.raises(NormalizeError, match="block_actions"):
        slack.normalize(ctx(), "block_actions", delivery)


def test_slack_unmappable_events():
    reaction = {"type": "reaction_added", "user": "U1", "reaction": "thumbsup", "event_ts": "1360782804.083113"}
    delivery = request(slack_envelope(reaction))
    assert slack.topic(delivery) == "reaction_added"
    with pytest.raises(NormalizeError, match="reaction_added"):
        slack.normalize(ctx(), "reaction_added", delivery)
    with pytest.raises(NormalizeError, match="no field 'ts'"):
        slack.normalize(ctx(), "message", request(slack_envelope({"type": "message", "channel": "C1"})))
    with pytest.raises(NormalizeError, match="event_callback"):
        slack.normalize(ctx(), "message", request(b'{"type": "event_callback"}'))


# --- Standard Webhooks --------------------------------------------------------------------------------------------


def sw_delivery(payload: dict, msg_id: str = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"):
    body = json.dumps(payload).encode()
    now = int(time.time())
    return request(body, SIGNERS["standard-webhooks"][0](body, SIGNERS["standard-webhooks"][1], now, msg_id)), now


def test_standard_webhooks_upsert_signed_end_to_end():
    payload = {
        "type": "contact.upserted",
        "timestamp": "2022-11-03T20:26:10.344522Z",
        "data": {
            "id": "1f81eb52",
            "email": "john@example.com",
            "first_name": "John",
            "tags": ["vip"],
            "occupation": "Engineer, ACME",
        },
    }
    delivery, now = sw_delivery(payload)
    sw.verify(delivery, [SIGNERS["standard-webhooks"][1]], now)
    assert (sw.delivery_id(delivery), sw.topic(delivery)) == ("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", "contact.upserted")
    (event,) = sw.normalize(ctx(sw.delivery_id(delivery)), "contact.upserted", delivery)
    assert isinstance(event, ContactUpserted) and event.subject.external_id == "1f81eb52"
    assert (event.data.email, event.data.first_name, event.data.tags) == ("john@example.com", "John", ["vip"])
    assert event.data.provider_data == {"occupation": "Engineer, ACME"}  # what the entity has no field for
    assert event.occurred_at == datetime(2022, 11, 3, 20, 26, 10, 344522, tzinfo=UTC)
    assert event.provider == "standard-webhooks"
    assert event.raw_ref == delivery_record_id("conn-1", "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W")  # dlv_..., not the msg id
    assert round_trips([event])


def test_standard_webhooks_created_deleted_and_hierarchical_types():
    (created,) = sw.normalize(
        ctx(),
        "billing.invoice.created",
        sw_delivery(
            {
                "type": "billing.invoice.created",
                "timestamp": "2024-05-01T00:00:00Z",
                "data": {"id": 42, "number": "INV-42", "total_minor": 9900, "currency": "EUR"},
            }
        )[0],
    )
    assert isinstance(created, InvoiceUpserted) and created.subject.external_id == "42"
    assert (created.data.total_minor, created.data.currency) == (9900, "EUR")
    delivery, now = sw_delivery({"type": "order.deleted", "data": {"id": "o-1"}})
    (deleted,) = sw.normalize(ctx(), "order.deleted", delivery)
    assert isinstance(deleted, OrderDeleted) and deleted.subject.external_id == "o-1"
    assert deleted.occurred_at == datetime.fromtimestamp(now, UTC)  # no payload time: the attempt's


def test_standard_webhooks_unmappable_payloads():
    with pytest.raises(NormalizeError, match=r"example\.event"):
        sw.normalize(ctx(), "example.event", sw_delivery({"type": "example.event", "data": {"foo": "bar"}})[0])
    with pytest.raises(NormalizeError, match="no field 'id'"):
        sw.normalize(ctx(), "contact.created", sw_delivery({"type": "contact.created", "data": {"email": "x"}})[0])
    with pytest.raises(NormalizeError, match="total_minor"):
        sw.normalize(
            ctx(),
            "order.upserted",
            sw_delivery({"type": "order.upserted", "data": {"id": "o-1", "total_minor": "12.50"}})[0],
        )
    with pytest.raises(NormalizeError, match="data is not an object"):
        sw.normalize(ctx(), "order.upserted", sw_delivery({"type": "order.upserted", "data": [1]})[0])
    assert sw.handshake(sw_delivery({"type": "x"})[0]) is None
