"""The connectors' Temporal worker: the workflows and activities on task queue `connectors`."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.worker import Worker

from connectors import sync
from connectors.temporal.activities import ConnectorActivities
from connectors.temporal.shared import TASK_QUEUE
from connectors.temporal.workflows import (
    ActionWorkflow,
    ConnectWorkflow,
    ScheduledSyncWorkflow,
    SyncWorkflow,
    UsagePushWorkflow,
)

WORKFLOWS = [SyncWorkflow, ConnectWorkflow, ActionWorkflow, ScheduledSyncWorkflow, UsagePushWorkflow]


def build_worker(client: Client, deps: sync.SyncDeps, task_queue: str = TASK_QUEUE, **options) -> Worker:
    activities = ConnectorActivities(deps, client)
    return Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=activities.all(), **options)
