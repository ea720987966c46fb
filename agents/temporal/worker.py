"""The agents' Temporal worker: the run workflow and its activities on task queue `agents`."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.worker import Worker

from agents.temporal.activities import AgentActivities, AgentDeps
from agents.temporal.shared import TASK_QUEUE
from agents.temporal.workflows import AgentRunWorkflow
from connectors.temporal.sandbox import new_worker


def build_worker(client: Client, deps: AgentDeps, task_queue: str = TASK_QUEUE, **options) -> Worker:
    activities = AgentActivities(deps)
    return new_worker(
        client, task_queue=task_queue, workflows=[AgentRunWorkflow], activities=activities.all(), **options
    )
