"""The garbage collector of a long-running server process, set once its start-up is done.

CPython collects its youngest generation every 700 net allocations of container objects, and each such collection
cost a gateway process ~0.3 ms whatever it found: at ~2,000 webhooks/s that was ~0.3 s a second run. Its full
collections walked every object start-up had made (~180,000: modules, the app, the search model's Python side),
~110 ms each. Freezing what exists after start-up takes those objects out of every later collection, and a larger
first threshold makes the young collections rare; cycles made while serving are still collected (docs/decisions.md).
"""

from __future__ import annotations

import gc

GEN0_ALLOCATIONS = 10_000  # net container allocations between young collections (CPython's default: 700)


def settle() -> None:
    """Collect once, freeze the survivors out of later collections, and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_ALLOCATIONS, gen1, gen2)
