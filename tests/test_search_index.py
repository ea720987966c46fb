"""Record search's trigram index merges its pending entries in the background (migration 0046,
consumers/search_index.py): a worker running the projector empties the GIN pending list its batches fill, so no
projector statement is the one that pays for the merge."""

import asyncio
import signal

from factories import order, running, start_worker, wait_for
from test_worker_process import WORKER_ENV

from consumers.projector import projector_group
from consumers.search_index import clean_pending, clean_pending_forever
from producers.publisher import Publisher

ORDERS = 300


async def pending_pages(admin) -> int:
    await admin.execute("CREATE EXTENSION IF NOT EXISTS pgstattuple")
    return await admin.fetchval("SELECT pending_pages FROM pgstatginindex('records_search_trgm')")


async def test_the_projector_leaves_the_merge_to_the_cleaner_which_empties_the_pending_list(redis, pool, admin):
    await Publisher(redis).publish(
        [order(f"t{i % 7}", f"A-{i:04d}", customer_email=f"c{i}@example.com") for i in range(ORDERS)]
    )

    async with running(redis, [projector_group(pool, 8)]):
        await wait_for(lambda: _count(admin, "SELECT count(*) FROM records"), ORDERS)
    assert await pending_pages(admin) > 0  # the projector's statements only appended
    stopping = asyncio.Event()
    cleaner = asyncio.create_task(clean_pending_forever(pool, 0.05, stopping))
    try:
        await wait_for(lambda: _is_zero(pending_pages(admin)))
    finally:
        stopping.set()
        await cleaner
    assert await clean_pending(pool) == 0  # nothing left to merge
    found = await admin.fetchval(
        "SELECT count(*) FROM records WHERE search_text ILIKE '%a-0042%' AND NOT deleted AND kind = 'order'"
    )
    assert found == 1


async def test_a_worker_running_the_projector_merges_the_pending_list(redis, admin, migrated, tmp_path):
    worker = start_worker(
        migrated.env(**WORKER_ENV, BIZOSAAS_SEARCH_INDEX_CLEAN_INTERVAL_S="0.05"), tmp_path / "w.log", "projector"
    )
    try:
        await Publisher(redis).publish([order(f"t{i % 7}", f"B-{i:04d}") for i in range(ORDERS)])
        await wait_for(lambda: _count(admin, "SELECT count(*) FROM records"), ORDERS)
        await wait_for(lambda: _is_zero(pending_pages(admin)))
    finally:
        worker.send_signal(signal.SIGTERM)
        await asyncio.to_thread(worker.wait, 20)
    assert worker.returncode == 0


async def _count(admin, sql):
    return await admin.fetchval(sql)


async def _is_zero(pages) -> bool:
    return await pages == 0
