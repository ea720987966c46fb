"""Google Merchant Center notifications as hints, end to end on the real Temporal dev server, OpenBao, Redis,
Postgres, the gateway and a local Merchant API (tests/providers/google_merchant_server.py, which keeps notification
subscriptions and sends PRODUCT_STATUS_CHANGE messages): the set-up subscribes with our webhook URL carrying the
connector's token (kept in Vault); a notification whose claimed status differs from the API's makes the platform
sync the statuses (the `notifications` group), and the API's status is the one recorded; a wrong or missing token is
refused and publishes nothing; a disconnect deletes the subscription. The worker, its deps and the consumer groups
are test_zoho_notifications.py's."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from factories import running, wait_for
from gateway_helpers import setup_done
from google_support import api_call, records, served
from providers.google_merchant_server import GoogleMerchant
from sync_support import published
from test_zoho_notifications import (  # noqa: F401 - deps, secrets, worker: fixtures this module's test uses
    TIMEOUT_S,
    connect_by_setup,
    deps,
    groups,
    secrets,
    worker,
)

from connectors.base import IngestContext, SignatureError, WebhookRequest
from connectors.providers.google_merchant import api
from connectors.providers.google_merchant.webhook import WEBHOOKS
from connectors.temporal.client import start_connect


@pytest.fixture
async def merchant(monkeypatch):
    async with served(GoogleMerchant(), monkeypatch) as made:
        yield made


async def test_subscription_hint_resync_refusal_and_disconnect(gw, merchant, redis, pool, admin, secrets, worker):  # noqa: F811
    temporal, public_url = worker
    first, _ = merchant.seed(2)
    tenant, key, connector = await connect_by_setup(
        gw, admin, secrets, "google-merchant", {"account_id": merchant.account_id}, merchant, merchant.url + "/token"
    )
    url = f"{public_url}/v1/webhooks/{connector}"

    async with running(redis, groups(pool, redis, temporal, secrets)):
        # the set-up: initial syncs, then one PRODUCT_STATUS_CHANGE subscription calling back our URL + the token
        await start_connect(temporal, tenant, connector)
        answer = await wait_for(lambda: setup_done(gw, key, connector), timeout_s=TIMEOUT_S)
        assert answer["health"]["setup"]["status"] == "connected", answer
        assert answer["health"]["webhooks_registered"] == 1
        (subscription,) = merchant.subscriptions.values()
        token = (await secrets.read(tenant, connector, fresh=True))["webhook_secret"]
        assert len(token) > 40
        assert subscription["callBackUri"] == f"{url}?hint={token}"
        assert (subscription["registeredEvent"], subscription["targetAccount"]) == (
            "PRODUCT_STATUS_CHANGE",
            f"accounts/{merchant.account_id}",
        )
        held = await wait_for(lambda: _status(gw, key, first), timeout_s=TIMEOUT_S)  # the initial import
        assert held["approved"]

        # a wrong token, no token, a token given twice: refused like a bad signature, nothing published
        for wrong in (f"{url}?hint=bzwh_not-the-token", url, f"{url}?hint={token}&hint=x"):
            refused = await merchant.notify(first, "disapproved", url=wrong)
            assert [status for status, _ in refused] == [401], refused
        assert [e for e in await published(redis, tenant) if e.raw_ref] == []  # nothing from a delivery

        # Google disapproves the product; the notification claims it approved: only a hint, the API's status wins
        merchant.disapprove(first)
        assert [status for status, _ in await merchant.notify(first, "approved")] == [200]

        async def disapproved():
            status = await _status(gw, key, first)
            return status if status and not status.get("approved", False) else None

        status = await wait_for(disapproved, timeout_s=TIMEOUT_S)
        assert [i["code"] for i in status["issues"]] == ["image_link_broken"]
        notified = [e for e in await published(redis, tenant) if e.type == "connector.change.notified.v1"]
        assert [(e.subject.kind, e.subject.external_id, e.resource) for e in notified] == [
            ("product_status", f"accounts/{merchant.account_id}", "product_statuses")
        ]

        # disconnect: the subscription is deleted at Merchant Center
        assert (await gw.delete(f"/v1/connectors/{connector}", headers=gw.bearer(key))).status == 204

        async def unsubscribed():
            return merchant.subscriptions == {} or None

        await wait_for(unsubscribed, timeout_s=TIMEOUT_S)
    assert merchant.requests("/notificationsubscriptions/" + subscription["name"].rsplit("/", 1)[-1])[-1].method == (
        "DELETE"
    )


async def _status(gw, key: str, product: str) -> dict | None:
    held = (await records(gw, key, "product_status")).get(product)
    return held["data"] if held else None


async def test_registering_again_keeps_one_subscription_with_the_current_token(merchant):
    call = api_call(merchant, "google-merchant", {"account_id": merchant.account_id})
    delivery = "https://bizosaas.example.com/v1/webhooks/con_1"
    first = await api.register_webhooks(call, delivery, "bzwh_one")
    assert await api.register_webhooks(call, delivery, "bzwh_one") == first  # found, nothing new made
    assert list(merchant.subscriptions) == list(first.webhooks.values())
    rotated = await api.register_webhooks(call, delivery, "bzwh_two")  # a new secret: the old URI goes
    (held,) = merchant.subscriptions.values()
    assert held["name"] == rotated.webhooks["PRODUCT_STATUS_CHANGE"] != first.webhooks["PRODUCT_STATUS_CHANGE"]
    assert held["callBackUri"] == delivery + "?hint=bzwh_two"
    await api.unregister_webhooks(call, [held["name"], held["name"]])  # the second is already gone: done
    assert merchant.subscriptions == {}


def test_a_hint_carries_nothing_of_the_body_and_needs_the_token():
    def delivery(url: str, **claims) -> WebhookRequest:
        body = {"resourceId": "en~US~SKU-1", "changes": [{"newValue": "approved"}], **claims}
        return WebhookRequest({}, json.dumps(body).encode(), "application/json", url=url)

    hinted = delivery("https://x.example/v1/webhooks/con_1?hint=t")
    WEBHOOKS.verify(hinted, ["other", "t"], 0)  # any current secret (rotation)
    for refused in ("https://x.example/v1/webhooks/con_1", "https://x.example/v1/webhooks/con_1?hint=u"):
        with pytest.raises(SignatureError):
            WEBHOOKS.verify(delivery(refused), ["t"], 0)
    ctx = IngestContext("tenant-1", "con_1", "d1", datetime.now(UTC), {"account_id": "42"})
    (one,) = WEBHOOKS.normalize(ctx, WEBHOOKS.topic(hinted), hinted)
    (other,) = WEBHOOKS.normalize(ctx, WEBHOOKS.topic(hinted), delivery(hinted.url, resourceId="en~US~SKU-2"))
    assert (one.type, one.subject.kind, one.subject.external_id, one.resource) == (
        "connector.change.notified.v1",
        "product_status",
        "accounts/42",
        "product_statuses",
    )
    assert (other.subject, other.resource, other.operation) == (one.subject, one.resource, one.operation)
