"""Both Temporal workers build while the collector would run, at every allocation, a finalizer that loads a module.

`Worker()` imports each workflow's module afresh in Temporal's sandbox. On Python 3.11 a collection inside that
import whose finalizer loads a module (redis's `ConnectionPool.__del__` and pytest's unraisable hook both do) made
the import fail with `KeyError` and `Worker()` raise "Failed validating workflow UsagePush" (CI, 2026-12-04):
connectors/temporal/sandbox.py pauses the collector for the build. Without the pause both tests fail."""

from __future__ import annotations

import contextlib
import gc
import importlib
import uuid

from temporalio.client import Client

from agents.config import AgentRunConfig
from agents.temporal.activities import AgentDeps
from agents.temporal.worker import build_worker as build_agents_worker
from connectors.credentials import VaultSecrets
from connectors.sync_deps import SyncDeps
from connectors.temporal.worker import build_worker as build_connectors_worker
from producers.publisher import Publisher


class ImportingGarbage:
    """A reference cycle whose finalizer loads a module (a name that exists nowhere: the lookup takes the same import
    lock as a load) and leaves another such cycle behind, so that while `armed` there is always one to collect."""

    armed = False
    finalized = 0

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        if ImportingGarbage.armed:
            ImportingGarbage.finalized += 1
            with contextlib.suppress(ImportError):
                importlib.import_module(f"bizosaas_nowhere_{ImportingGarbage.finalized}")
            ImportingGarbage()


@contextlib.contextmanager
def collecting_at_every_allocation():
    threshold = gc.get_threshold()
    ImportingGarbage.armed, ImportingGarbage.finalized = True, 0
    ImportingGarbage()
    gc.set_threshold(1)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        ImportingGarbage.armed = False
        gc.collect()
    assert ImportingGarbage.finalized > 0  # the collector did run such finalizers around the build


async def test_the_connectors_worker_builds_while_finalizers_import(temporal_server, pool, redis, vault):
    client = await Client.connect(temporal_server.url)
    deps = SyncDeps(pool, Publisher(redis), VaultSecrets(vault.addr, vault.token))
    with collecting_at_every_allocation():
        worker = build_connectors_worker(client, deps, task_queue="sandbox-" + uuid.uuid4().hex)
    async with worker:  # and it runs
        pass


async def test_the_agents_worker_builds_while_finalizers_import(temporal_server, pool, redis):
    client = await Client.connect(temporal_server.url)
    deps = AgentDeps(pool, Publisher(redis), AgentRunConfig())
    with collecting_at_every_allocation():
        worker = build_agents_worker(client, deps, task_queue="sandbox-" + uuid.uuid4().hex)
    async with worker:
        pass
