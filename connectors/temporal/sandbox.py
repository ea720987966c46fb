"""Building a Temporal worker while the garbage collector waits.

`Worker()` validates each workflow by importing its module afresh in Temporal's sandbox. On Python 3.11 an import
that loads a module holds a per-module lock that is not re-entrant (CPython gh-91351, fixed in 3.12). If the collector
runs inside that lock and a finalizer loads a module of its own, the outer import fails with `KeyError` and `Worker()`
with "Failed validating workflow" (temporalio/sdk-python#585). Finalizers that load a module are common: redis's
`ConnectionPool.__del__` imports its metrics recorder, and pytest's unraisable-exception hook imports `tracemalloc`.
The validation is synchronous and takes a fraction of a second, so the collector is paused for it."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

from temporalio.client import Client
from temporalio.worker import Worker


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic collection inside the block; the collector resumes after it, unless it was already off."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def new_worker(client: Client, **options) -> Worker:
    """`Worker(client, **options)`, built with the collector paused (see the module's docstring)."""
    with collector_paused():
        return Worker(client, **options)
