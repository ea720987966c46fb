"""The connectors' Temporal worker: the workflows and activities on task queue `connectors`."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.worker import Worker

from connectors import sync_deps
from connectors.temporal.activities import ConnectorActivities
from connectors.temporal.disconnect import DisconnectActivities
from connectors.temporal.sandbox import new_worker
from connectors.temporal.setup import SetupActivities
from connectors.temporal.shared import TASK_QUEUE
from connectors.temporal.workflows import (
    ActionWorkflow,
    ConnectWorkflow,
    DisconnectWorkflow,
    ScheduledSyncWorkflow,
    SyncWorkflow,
    UsagePushWorkflow,
)

WORKFLOWS = [
    SyncWorkflow,
    ConnectWorkflow,
    ActionWorkflow,
    ScheduledSyncWorkflow,
    UsagePushWorkflow,
    DisconnectWorkflow,
]


def build_worker(
    client: Client, deps: sync_deps.SyncDeps, task_queue: str = TASK_QUEUE, public_url: str = "", **options
) -> Worker:
    """`public_url` (BIZOSAAS_PUBLIC_URL) is where the set-up tells providers to deliver webhooks; empty: the set-up
    registers none and says so on the connector."""
    activities = [
        *ConnectorActivities(deps, client).all(),
        *SetupActivities(deps, public_url).all(),
        *DisconnectActivities(deps).all(),
    ]
    return new_worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=activities, **options)
