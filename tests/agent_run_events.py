"""Agent run events as the run workflow publishes them, for the tests of the agent_runs projection and its routes."""

from __future__ import annotations

from datetime import timedelta

from factories import T0

from events.ids import new_id
from events.types import AgentRunAwaitingApproval, AgentRunCompleted, AgentRunStarted, Subject


def run_event(cls, tenant: str, run_id: str, minute: int, **fields):
    """An agent run event of `run_id` at T0 + minute, as the run workflow publishes it."""
    when = T0 + timedelta(minutes=minute)
    return cls(
        id=new_id(),
        tenant_id=tenant,
        source="con_shop",
        provider="",
        subject=Subject(kind="agent_run", external_id=run_id),
        occurred_at=when,
        recorded_at=when,
        run_id=run_id,
        agent=fields.pop("agent", "order-fulfilment"),
        **fields,
    )


def lifecycle(tenant: str, run_id: str) -> list:
    """started -> awaiting_approval -> completed (approved, one command)."""
    return [
        run_event(
            AgentRunStarted,
            tenant,
            run_id,
            1,
            trigger_id="evt_1",
            triggers=3,
            inputs={"note": "rush"},
            subject_kind="order",
            subject_external_id="1001",
        ),
        run_event(
            AgentRunAwaitingApproval,
            tenant,
            run_id,
            2,
            output={"summary": "proposed"},
            actions=[{"action": "woocommerce.update_order", "input": {"status": "completed"}, "reason": "paid"}],
            citations=[{"record": "rec_1"}],
            expires_at=T0 + timedelta(days=1),
        ),
        run_event(
            AgentRunCompleted,
            tenant,
            run_id,
            3,
            output={"summary": "done"},
            citations=[{"record": "rec_1"}, {"document": "doc_2"}],
            decision="approved",
            commands=["cmd_1"],
            tokens_in=120,
            tokens_out=45,
            cost_micro_usd=900,
            latency_ms=2500,
        ),
    ]
