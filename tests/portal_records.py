"""Rows the portal tests start from, inserted as the owner the way their writers leave them (test set-up: every read
under test goes through the gateway, the service role and row-level security)."""

from __future__ import annotations

import json

from webhook_support import fixture

RESTOCK = {"action": "woocommerce.update_stock", "input": {"product_id": "799", "stock_quantity": 11}, "reason": "low"}


async def insert_run(admin, tenant_id: str, run_id: str, record_id: str, status: str = "awaiting_approval") -> None:
    """An agent run as the projector leaves it after the run proposed an action and waits for a person."""
    citations = [  # as agents/tools.py's Trace names them
        {"record_id": record_id, "kind": "order", "source": "con_test", "external_id": "1001", "title": "Order 1001"}
    ]
    await admin.execute(
        """INSERT INTO agent_runs (tenant_id, run_id, agent, status, status_rank, status_at, source, trigger_id,
                                   subject_kind, subject_external_id, output, actions, citations, started_at,
                                   expires_at)
           VALUES ($1, $2, 'order-fulfilment', $3, 2, now(), 'con_test', 'evt_1', 'order', '1001', $4::jsonb,
                   $5::jsonb, $6::jsonb, now(), now() + interval '1 day')""",
        tenant_id,
        run_id,
        status,
        json.dumps({"can_ship": True, "summary": "Line 799 is low: restock it", "blockers": []}),
        json.dumps([RESTOCK]),
        json.dumps(citations),
    )


async def insert_delivery(admin, tenant_id: str, connector_id: str) -> str:
    """A WooCommerce delivery the normalizer could not map when it came (stored as the gateway stores it)."""
    await admin.execute(
        """INSERT INTO deliveries (tenant_id, id, connector_id, provider, delivery_id, topic, content_type, headers,
                                   body, received_at, last_received_at, outcome, error)
           VALUES ($1, 'dlv_1', $2, 'woocommerce', 'wc-77', 'order.created', 'application/json', $3::jsonb, $4,
                   now(), now(), 'unmapped', 'KeyError: line_items')""",
        tenant_id,
        connector_id,
        json.dumps({"X-WC-Webhook-Topic": "order.created", "X-WC-Webhook-Delivery-ID": "77"}),
        fixture("woocommerce", "order.created.json"),
    )
    return "dlv_1"
