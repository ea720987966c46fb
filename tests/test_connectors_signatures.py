"""Signature verification for every provider: the official (or fixture-computed) vectors, tampering, wrong secrets,
rotation, timestamp tolerance, and log-safe errors."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import importlib
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from webhook_support import FORM, SIGNERS, fixture, request, vectors

from connectors.base import NoWebhooks, Provider, SignatureError
from connectors.registry import UnknownProvider, all_providers, get_facts, get_provider

NOW = int(time.time())


def connector(provider: str, tolerance_s: float | str | None = "default") -> Provider:
    found = get_provider(provider)
    return found if tolerance_s == "default" else dataclasses.replace(found, tolerance_s=tolerance_s)


def test_registry_discovers_the_providers():
    connectors = all_providers()
    assert sorted(connectors) == [
        "email",
        "fluentcrm",
        "google-ads",
        "google-analytics",
        "google-merchant",
        "google-tag-manager",
        "lago",
        "meta-ads",
        "pinterest",
        "plane",
        "shopify",
        "slack",
        "snapchat",
        "standard-webhooks",
        "stripe",
        "telegram",
        "trello",
        "whatsapp",
        "woocommerce",
        "wordpress",
        "zapier",
        "zoho-crm",
    ]
    for name, found in connectors.items():
        assert found.provider == name
        assert "application/json" in found.content_types
    assert FORM in connectors["woocommerce"].content_types and FORM in connectors["slack"].content_types
    with pytest.raises(UnknownProvider):
        get_provider("nope")


def test_every_provider_is_a_package_with_its_webhook_and_its_mapping():
    for name, found in all_providers().items():
        package = importlib.import_module(f"connectors.providers.{name.replace('-', '_')}")
        assert package.PROVIDER is found
        parts = ("webhook", "mapping")
        if isinstance(found, NoWebhooks):  # nothing is pushed by it: a syncing one still maps what it reads
            parts = ("mapping",) if get_facts(name).resources else ()
        for part in parts:
            importlib.import_module(f"{package.__name__}.{part}")


# --- the vectors shipped with the fixtures ------------------------------------------------------------------------


@pytest.mark.parametrize("vector", vectors("woocommerce")["derived_vectors"], ids=lambda v: v["body_file"])
def test_woocommerce_vectors(vector):
    body = fixture("woocommerce", vector["body_file"])
    signed = request(body, {"X-WC-Webhook-Signature": vector["expected_X-WC-Webhook-Signature"]})
    connector("woocommerce").verify(signed, [vector["secret"]], NOW)
    with pytest.raises(SignatureError):
        connector("woocommerce").verify(request(body + b" ", dict(signed.headers)), [vector["secret"]], NOW)


def test_shopify_official_vector():
    vector = vectors("shopify")["vectors"][0]
    signed = request(vector["body"].encode(), vector["headers"])
    assert vector["headers"]["X-Shopify-Hmac-Sha256"] == vector["expected_X-Shopify-Hmac-Sha256"]
    shopify = connector("shopify")
    shopify.verify(signed, [vector["secret"]], NOW)
    assert shopify.delivery_id(signed) == "123456789"
    assert shopify.topic(signed) == "products/create"
    with pytest.raises(SignatureError):
        shopify.verify(signed, ["not_the_secret"], NOW)


@pytest.mark.parametrize("vector", vectors("stripe")["derived_vectors"], ids=lambda v: v["body_file"])
def test_stripe_vectors(vector):
    signed = request(fixture("stripe", vector["body_file"]), {"Stripe-Signature": vector["expected_Stripe-Signature"]})
    connector("stripe", tolerance_s=None).verify(signed, [vector["secret"]], NOW)  # the vector's t is old
    ts = int(vector["timestamp"])
    connector("stripe").verify(signed, [vector["secret"]], ts + 299)
    with pytest.raises(SignatureError, match="300 s tolerance"):
        connector("stripe").verify(signed, [vector["secret"]], ts + 301)
    with pytest.raises(SignatureError, match="in the future"):
        connector("stripe").verify(signed, [vector["secret"]], ts - 301)


def test_slack_official_vector_and_its_negative():
    vector = vectors("slack")["vectors"][0]
    headers = {
        "X-Slack-Request-Timestamp": vector["X-Slack-Request-Timestamp"],
        "X-Slack-Signature": vector["expected_X-Slack-Signature"],
    }
    ts = int(vector["X-Slack-Request-Timestamp"])
    secret = [vector["signing_secret"]]
    slack = connector("slack")
    slack.verify(request(vector["body"].encode(), headers, FORM), secret, ts + 60)
    assert vector["negative"]["expected_valid"] is False
    with pytest.raises(SignatureError):
        slack.verify(request(vector["negative"]["body"].encode(), headers, FORM), secret, ts + 60)
    # five minutes: expired later on, accepted again with the tolerance disabled
    with pytest.raises(SignatureError, match="old"):
        slack.verify(request(vector["body"].encode(), headers, FORM), secret, ts + 301)
    connector("slack", tolerance_s=None).verify(request(vector["body"].encode(), headers, FORM), secret, NOW)


@pytest.mark.parametrize("vector", vectors("standard-webhooks")["vectors"], ids=lambda v: v["name"])
def test_standard_webhooks_vectors(vector):
    signature = vector.get("expected_webhook_signature") or vector["webhook_signature"]
    signed = request(
        vector["body"].encode(),
        {
            "webhook-id": vector["webhook_id"],
            "webhook-timestamp": vector["webhook_timestamp"],
            "webhook-signature": signature,
        },
    )
    untimed = connector("standard-webhooks", tolerance_s=None)
    if signature.startswith("v1a,"):
        # the vector gives the sender's ed25519 private key; a receiver is configured with its public key
        private = Ed25519PrivateKey.from_private_bytes(base64.b64decode(vector["secret"].removeprefix("whsk_")))
        public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        untimed.verify(signed, ["whsec_" + "A" * 32, "whpk_" + base64.b64encode(public).decode()], NOW)
        other = (
            Ed25519PrivateKey.generate()
            .public_key()
            .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        )
        with pytest.raises(SignatureError, match="v1a"):
            untimed.verify(signed, ["whpk_" + base64.b64encode(other).decode()], NOW)
        tampered = request(b'{"test": 2432232315}', dict(signed.headers))
        with pytest.raises(SignatureError):
            untimed.verify(tampered, ["whpk_" + base64.b64encode(public).decode()], NOW)
    elif vector.get("expected_valid", True):
        untimed.verify(signed, [vector["secret"]], NOW)
        with pytest.raises(SignatureError, match="old"):  # the vectors are from 2021: out of the 5 minutes
            connector("standard-webhooks").verify(signed, [vector["secret"]], NOW)
    else:
        with pytest.raises(SignatureError, match="none of"):
            untimed.verify(signed, [vector["secret"]], NOW)


# --- what every scheme must do ------------------------------------------------------------------------------------

BODY = b'{"id": 1, "type": "contact.upserted", "data": {"id": "c1"}}'


def signed(provider: str, body: bytes = BODY, secret: str | None = None, now_s: int = NOW):
    signer, current, _ = SIGNERS[provider]
    return request(body, signer(body, secret or current, now_s))


@pytest.mark.parametrize("provider", sorted(SIGNERS))
def test_valid_signature_passes_and_tampering_fails(provider):
    current = SIGNERS[provider][1]
    c = connector(provider)
    c.verify(signed(provider), [current], NOW)
    tampered = request(BODY.replace(b'"c1"', b'"c2"'), dict(signed(provider).headers))
    with pytest.raises(SignatureError):
        c.verify(tampered, [current], NOW)


@pytest.mark.parametrize("provider", sorted(SIGNERS))
def test_wrong_secret_missing_signature_and_no_secret_fail(provider):
    _, current, previous = SIGNERS[provider]
    c = connector(provider)
    with pytest.raises(SignatureError):
        c.verify(signed(provider), [previous], NOW)
    with pytest.raises(SignatureError):
        c.verify(request(BODY, {}), [current], NOW)
    with pytest.raises(SignatureError):
        c.verify(signed(provider), [], NOW)


@pytest.mark.parametrize("provider", sorted(SIGNERS))
def test_rotation_any_configured_secret_passes(provider):
    _, current, previous = SIGNERS[provider]
    c = connector(provider)
    by_previous = signed(provider, secret=previous)
    c.verify(by_previous, [current, previous], NOW)
    c.verify(by_previous, [previous, current], NOW)
    c.verify(signed(provider), [current, previous], NOW)
    with pytest.raises(SignatureError):
        c.verify(by_previous, [current], NOW)


@pytest.mark.parametrize("provider", ["stripe", "slack", "standard-webhooks"])
def test_expired_timestamps_rejected_unless_tolerance_disabled(provider):
    current = SIGNERS[provider][1]
    old = signed(provider, now_s=NOW - 3600)
    with pytest.raises(SignatureError, match="3600 s old"):
        connector(provider).verify(old, [current], NOW)
    connector(provider, tolerance_s=None).verify(old, [current], NOW)
    connector(provider, tolerance_s=7200).verify(old, [current], NOW)
    future = signed(provider, now_s=NOW + 3600)
    with pytest.raises(SignatureError, match="in the future"):
        connector(provider).verify(future, [current], NOW)


@pytest.mark.parametrize("provider", ["stripe", "slack", "standard-webhooks"])
def test_the_timestamp_is_signed(provider):
    """Moving the timestamp into the window without re-signing must fail: it is part of the signed message."""
    current = SIGNERS[provider][1]
    headers = dict(signed(provider, now_s=NOW - 3600).headers)
    fresh = str(NOW)
    for name in ("X-Slack-Request-Timestamp", "webhook-timestamp"):
        if name in headers:
            headers[name] = fresh
    if "Stripe-Signature" in headers:
        headers["Stripe-Signature"] = headers["Stripe-Signature"].replace(f"t={NOW - 3600}", f"t={fresh}")
    with pytest.raises(SignatureError, match="none of"):
        connector(provider).verify(request(BODY, headers), [current], NOW)


@pytest.mark.parametrize("provider", sorted(SIGNERS))
def test_errors_never_contain_the_secret_or_the_expected_signature(provider):
    signer, current, previous = SIGNERS[provider]
    expected = signer(BODY, current, NOW)  # what a correct sender would have sent
    forged = signed(provider, secret=previous)
    with pytest.raises(SignatureError) as caught:
        connector(provider).verify(forged, [current], NOW)
    message = str(caught.value)
    assert current not in message and current.removeprefix("whsec_") not in message
    for value in expected.values():
        for part in value.replace(",", " ").replace("=", " ").split():
            if len(part) >= 20:  # signature material, not the timestamp or the scheme name
                assert part not in message


def test_stripe_accepts_any_of_several_v1_and_ignores_v0():
    secret = SIGNERS["stripe"][1]
    good = SIGNERS["stripe"][0](BODY, secret, NOW)["Stripe-Signature"].split(",v1=")[1]
    header = f"t={NOW},v1={'0' * 64},v1={good},v0={'1' * 64}"
    connector("stripe").verify(request(BODY, {"Stripe-Signature": header}), [secret], NOW)
    with pytest.raises(SignatureError, match="no signature"):
        connector("stripe").verify(request(BODY, {"Stripe-Signature": f"t={NOW},v0={good}"}), [secret], NOW)
    with pytest.raises(SignatureError, match="timestamp"):
        connector("stripe").verify(request(BODY, {"Stripe-Signature": f"v1={good}"}), [secret], NOW)


def test_standard_webhooks_secret_forms_and_several_signatures():
    raw = b"0123456789abcdef0123456789abcdef"
    with_prefix = "whsec_" + base64.b64encode(raw).decode()
    message = f"msg_1.{NOW}.".encode() + BODY
    good = base64.b64encode(hmac.new(raw, message, hashlib.sha256).digest()).decode()
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(NOW),
        "webhook-signature": f"v1a,{'A' * 86}== v1,{'B' * 43}= v1,{good}",
    }
    sw = connector("standard-webhooks")
    sw.verify(request(BODY, headers), [with_prefix], NOW)
    sw.verify(request(BODY, headers), [with_prefix.removeprefix("whsec_")], NOW)  # the prefix is optional
    sw.verify(request(BODY, headers), ["whsec_not*base64!", with_prefix], NOW)  # a malformed secret is skipped
    with pytest.raises(SignatureError, match="no usable webhook secret"):
        sw.verify(request(BODY, headers), ["whsec_not*base64!"], NOW)
    with pytest.raises(SignatureError, match="webhook-id"):
        sw.verify(request(BODY, {k: v for k, v in headers.items() if k != "webhook-id"}), [with_prefix], NOW)
    with pytest.raises(SignatureError, match="not a unix timestamp"):
        sw.verify(request(BODY, {**headers, "webhook-timestamp": "soon"}), [with_prefix], NOW)


def test_headers_are_case_insensitive_and_a_plain_lower_case_dict_works():
    from connectors.base import WebhookRequest

    secret = SIGNERS["shopify"][1]
    headers = {k.lower(): v for k, v in SIGNERS["shopify"][0](BODY, secret, NOW).items()}
    connector("shopify").verify(
        WebhookRequest(headers=headers, body=BODY, content_type="application/json"), [secret], NOW
    )
    upper = {k.upper(): v for k, v in headers.items()}
    connector("shopify").verify(request(BODY, upper), [secret], NOW)
