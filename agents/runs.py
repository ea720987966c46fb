"""What asks for an agent run, and the run's identity.

The agents group (a trigger rule held) and the command runner (`POST /v1/agents/{agent}/runs`) both build a
RunRequest and hand it to agents.temporal.client. Triggers for one agent and one subject share a coalescing key:
the run workflow of that key folds the triggers that arrive within its window into one run.
"""

from __future__ import annotations

from typing import Any

from msgspec import Struct


class RunRequest(Struct, frozen=True, kw_only=True):
    tenant_id: str
    agent: str  # an id of agents/catalog
    trigger_id: str  # the event that woke the agent, or the command id of a run asked for over the API
    more_trigger_ids: list[str] = []  # further events of the same coalescing key folded into this request
    subject_kind: str = ""  # the record the trigger is about (order, lead ...); empty for a run asked without one
    subject_external_id: str = ""
    source: str = ""  # the connector the subject came from
    prompt: str = ""  # a person's extra instruction (runs asked over the API)
    inputs: dict[str, Any] = {}


def coalescing_key(request: RunRequest) -> str:
    """Triggers with one key become one run: same tenant, agent and subject; a run without a subject stands alone."""
    subject = f"{request.subject_kind}:{request.subject_external_id}" if request.subject_kind else request.trigger_id
    return f"{request.tenant_id}:{request.agent}:{subject}"


def run_workflow_id(request: RunRequest) -> str:
    """The run workflow's id: a redelivered trigger signals the running workflow instead of starting a second one."""
    return f"agent-run:{coalescing_key(request)}"
