"""Stripe's REST API against a local Stripe (tests/providers/stripe_server.py), and connectors/sync.py on the real
Redis, Postgres and OpenBao, without Temporal: cursor pages, errors, idempotent re-runs keyed on the object's
state, deletions by full reconciliation, canceled subscriptions kept, and the refund action."""

from __future__ import annotations

import pytest
from factories import running, served, wait_for
from providers.stripe_server import StripeAccount
from sync_support import deleted_ids, published, record_count, run_and_publish, sync_deps

from connectors import sync
from connectors.base import ApiCall, PageCursorGone, ProviderBusy, ProviderRefused
from connectors.providers.stripe import api, mapping
from connectors.registry import get_facts
from consumers.projector import projector_group
from events.streams import DEFAULT_PARTITIONS

TENANT, CONNECTOR = "tenant-stripe", "con_stripe_sync_1"
FACTS = get_facts("stripe")


@pytest.fixture
async def account(monkeypatch):
    async with served(StripeAccount()) as stripe:
        monkeypatch.setattr(api, "API_BASE", stripe.url + "/v1/")
        yield stripe


def call_for(account: StripeAccount, key: str | None = None) -> ApiCall:
    return ApiCall(FACTS, {}, {"secret_key": key or account.secret_key}, allow_private=True)


async def test_cursor_pages_newest_first_to_the_end(account):
    account.seed(customers=250)
    customers = FACTS.resource("customers")
    first = await api.read_page(call_for(account), customers, 1)
    assert len(first.objects) == 100 and first.total is None
    assert [o["id"] for o in first.objects] == account.ids("customers")[::-1][:100]  # newest first
    assert first.next_cursor == first.objects[-1]["id"]
    assert account.log[-1][2] == {"limit": "100"}
    second = await api.read_page(call_for(account), customers, 2, after=first.next_cursor)
    assert account.log[-1][2]["starting_after"] == first.next_cursor
    third = await api.read_page(call_for(account), customers, 3, after=second.next_cursor)
    assert len(third.objects) == 50 and third.next_cursor is None  # has_more false: the last page
    # the page after a deleted object cannot be read: the sync starts its pages again
    account.delete("customers", second.next_cursor)
    with pytest.raises(PageCursorGone):
        await api.read_page(call_for(account), customers, 3, after=second.next_cursor)


async def test_subscriptions_are_listed_with_the_canceled_ones(account):
    account.seed(subscriptions=2)
    canceled = account.ids("subscriptions")[0]
    account.change("subscriptions", canceled, status="canceled")
    page = await api.read_page(call_for(account), FACTS.resource("subscriptions"), 1)
    assert canceled in [o["id"] for o in page.objects] and account.log[-1][2]["status"] == "all"


async def test_refusals_are_permanent_with_a_fix_and_overload_is_transient(account):
    account.seed(customers=1)
    customers = FACTS.resource("customers")
    with pytest.raises(ProviderRefused, match=r"secret key was refused \(HTTP 401.*sk_live_"):
        await api.read_page(call_for(account, "sk_test_wrong"), customers, 1)
    with pytest.raises(ProviderRefused, match=r"has no secret key .*webhooks work without it"):
        await api.test_connection(ApiCall(FACTS, {}, {"webhook_secret": "whsec_x"}, allow_private=True))
    account.fail_next(1, 429, retry_after_s=3)
    with pytest.raises(ProviderBusy) as busy:
        await api.read_page(call_for(account), customers, 1)
    assert busy.value.retry_after_s == 3
    account.fail_next(1, 503)
    with pytest.raises(ProviderBusy, match="HTTP 503"):
        await api.read_page(call_for(account), customers, 1)
    await api.test_connection(call_for(account))
    with pytest.raises(Exception, match="not a public address"):
        await api.read_page(ApiCall(FACTS, {}, {"secret_key": account.secret_key}), customers, 1)


async def test_a_refund_is_made_once_per_input(account):
    account.seed(payment_intents=1)
    (pi,) = account.ids("payment_intents")
    refund = await api.refund_payment(call_for(account), pi, amount=300)
    again = await api.refund_payment(call_for(account), pi, amount=300)  # a retried activity: the same refund
    assert refund["id"] == again["id"] and account.objects["payment_intents"][pi]["amount_refunded"] == 300
    rest = await api.refund_payment(call_for(account), pi, idempotency_key="second")  # all that is left
    assert rest["amount"] == account.objects["payment_intents"][pi]["amount"] - 300
    with pytest.raises(ProviderRefused, match="charge_already_refunded"):
        await api.refund_payment(call_for(account), pi, amount=1, idempotency_key="third")
    with pytest.raises(ProviderRefused, match="pi_"):
        await api.refund_payment(call_for(account), "ch_123")


# --- connectors/sync.py ----------------------------------------------------------------------------------------


@pytest.fixture
async def deps(pool, redis, vault, admin, account):
    secrets = {"secret_key": account.secret_key, "webhook_secret": "whsec_x"}
    return await sync_deps(pool, redis, vault, admin, target(), "stripe", {}, secrets)


def target(resource: str = "customers") -> sync.Target:
    return sync.Target(TENANT, CONNECTOR, resource)


async def test_a_sync_lists_everything_publishes_only_changes_and_reconciles_deletions(
    deps, account, redis, pool, admin
):
    account.seed(customers=230, subscriptions=3, invoices=2, payment_intents=2)
    async with running(redis, [projector_group(pool, DEFAULT_PARTITIONS)]):
        first = await sync.run(deps, target(), "run-1")
        assert (first.records, first.deleted, first.cursor) == (230, 0, None)
        events = await published(redis, TENANT)
        contacts = [e for e in events if e.type == "crm.contact.upserted.v1"]
        assert len(contacts) == 230 and all(e.raw_ref is None and e.source == CONNECTOR for e in contacts)
        # the same object through the webhook mapping: identical entity
        by_id = {e.subject.external_id: e for e in contacts}
        some = account.ids("customers")[7]
        assert by_id[some].data == mapping.customer(account.objects["customers"][some])
        await wait_for(lambda: record_count(admin, TENANT, "contact"), 230)
        # every run is full (no "changed since" in Stripe's lists): nothing new for unchanged objects
        again, run_events = await run_and_publish(redis, deps, target(), "run-2")
        assert again.records == 230 and len(run_events) == 2  # started, completed
        # a changed object is published again, a deleted one becomes a tombstone
        account.change("customers", some, email="changed@example.com")
        gone = account.ids("customers")[100]
        account.delete("customers", gone)
        third, fresh = await run_and_publish(redis, deps, target(), "run-3")
        assert (third.records, third.deleted) == (229, 1)
        assert [e.subject.external_id for e in fresh if e.type == "crm.contact.upserted.v1"] == [some]
        await wait_for(lambda: deleted_ids(admin, TENANT, "contact"), [gone])
        # the other resources sync through the same loop; a canceled subscription is a record, not a deletion
        account.change("subscriptions", account.ids("subscriptions")[0], status="canceled")
        for name, kind, count in (("subscriptions", "subscription", 3), ("invoices", "invoice", 2)):
            assert (await sync.run(deps, target(name), f"run-{name}")).records == count
            await wait_for(lambda k=kind: record_count(admin, TENANT, k), count)
        assert (await sync.run(deps, target("subscriptions"), "run-subs-2")).deleted == 0
        assert (await sync.run(deps, target("payment_intents"), "run-pi")).records == 2


async def test_a_cursor_whose_object_was_deleted_restarts_the_pages(deps, account, redis):
    account.seed(customers=250)
    run_id = await sync.begin(deps, target(), "run-1")
    first = await sync.step(deps, target(), run_id)
    assert (first.done, first.page) == (False, 1)
    account.delete("customers", account.ids("customers")[::-1][99])  # the object page 2 starts after
    restarted = await sync.step(deps, target(), run_id)
    assert (restarted.done, restarted.page) == (False, 0)
    pages = [await sync.step(deps, target(), run_id) for _ in range(3)]
    assert [p.page for p in pages] == [1, 2, 3] and pages[-1].done and pages[-1].records == 100 + 249
