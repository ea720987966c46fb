"""Worker processes: SIGKILL in the middle of 10,000 events loses and doubles nothing; SIGTERM drains."""

import asyncio
import re
import signal
import urllib.request

from factories import order, start_worker, wait_for

from events.streams import all_event_streams
from producers.publisher import Publisher

WORKER_ENV = {
    "BIZOSAAS_RECLAIM_IDLE_MS": "1500",
    "BIZOSAAS_BATCH_SIZE": "200",
    "BIZOSAAS_BLOCK_MS": "100",
    "BIZOSAAS_METRICS_PORT": "0",
    "BIZOSAAS_MAX_DELIVERIES": "20",
}


async def count(admin, sql):
    return await admin.fetchval(sql)


async def pending_by_consumer(redis, group):
    owners: dict[str, int] = {}
    for stream in all_event_streams():
        try:
            summary = await redis.xpending(stream, group)
        except Exception:  # noqa: BLE001 - the group may not exist on an unused partition
            continue
        for entry in summary["consumers"]:
            owners[entry["name"].decode()] = owners.get(entry["name"].decode(), 0) + entry["pending"]
    return owners


async def test_sigkill_mid_batch_then_reclaim_gives_exactly_one_effect_per_event(redis, admin, migrated, tmp_path):
    # 10,000 events: 2,000 orders of 20 tenants in 5 versions each, versions shuffled across the stream
    events = [
        order(f"tenant-{n % 20}", f"o{n}", version=v, total_minor=100 * v) for v in (3, 1, 5, 2, 4) for n in range(2000)
    ]
    publisher = Publisher(redis)
    for start in range(0, len(events), 1000):
        await publisher.publish(events[start : start + 1000])
    env = migrated.env(**WORKER_ENV)
    victim = start_worker(env, tmp_path / "victim.log", "projector", "metrics")
    try:
        await wait_for(lambda: count(admin, "SELECT count(*) FROM event_log"), timeout_s=60)
        await wait_for(lambda: _between(admin, 1500, 7000), timeout_s=60)
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        orphaned = await pending_by_consumer(redis, "projector")
        orphaned_metrics = await pending_by_consumer(redis, "metrics")
        assert sum(orphaned.values()) + sum(orphaned_metrics.values()) > 0, "killed outside a batch: nothing to reclaim"
    finally:
        victim.kill()
        victim.wait()
    rescuer = start_worker(env, tmp_path / "rescuer.log", "projector", "metrics")
    try:
        await wait_for(lambda: count(admin, "SELECT count(*) FROM event_log"), 10_000, timeout_s=90)
        await wait_for(lambda: count(admin, "SELECT coalesce(sum(events), 0) FROM usage_counts"), 10_000, timeout_s=90)
        for group in ("projector", "metrics"):
            await wait_for(lambda group=group: _total_pending(redis, group), 0, timeout_s=30)
    finally:
        rescuer.send_signal(signal.SIGTERM)
        assert rescuer.wait(20) == 0
    assert await count(admin, "SELECT count(*) FROM records") == 2000
    assert await count(admin, "SELECT count(*) FROM records WHERE status <> 'v5' OR amount_minor <> 500") == 0
    assert await count(admin, "SELECT count(*) FROM group_inbox WHERE group_name = 'metrics'") == 10_000
    assert await redis.xlen("bz:dead:{projector}") == 0 and await redis.xlen("bz:dead:{metrics}") == 0


async def test_a_worker_serves_its_metrics(redis, admin, migrated, tmp_path):
    log = tmp_path / "worker.log"
    worker = start_worker(migrated.env(**WORKER_ENV), log, "projector", "metrics")
    try:
        await Publisher(redis).publish([order(f"t{i}", str(i)) for i in range(40)])
        await wait_for(lambda: count(admin, "SELECT count(*) FROM event_log"), 40)
        port = await wait_for(lambda: _metrics_port(log))
        text = await wait_for(lambda: _scrape(port, 'bizosaas_consumer_processed_total{group="metrics"} 40.0'))
    finally:
        worker.send_signal(signal.SIGTERM)
        await asyncio.to_thread(worker.wait, 20)
    assert 'bizosaas_consumer_processed_total{group="projector"} 40.0' in text
    assert 'bizosaas_consumer_lag{group="projector",stream="bz:events:{' in text
    assert 'bizosaas_events_total{provider="woocommerce",type="commerce.order.upserted.v2"} 40.0' in text
    assert 'bizosaas_consumer_pending{group="metrics",stream="bz:events:{' in text
    assert 'bizosaas_dead_letters{group="projector"} 0.0' in text
    assert "tenant" not in text  # no tenant label: unbounded cardinality


async def _metrics_port(log):
    match = re.search(r"serving /metrics on 127.0.0.1:(\d+)", log.read_text())
    return int(match.group(1)) if match else None


async def _scrape(port, needle):
    def get():
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            return response.read().decode()

    text = await asyncio.to_thread(get)
    return text if needle in text else None


async def test_sigterm_drains_a_busy_worker(redis, admin, migrated, tmp_path):
    worker = start_worker(migrated.env(**WORKER_ENV), tmp_path / "worker.log", "projector")
    publisher = Publisher(redis)
    try:
        await wait_for(lambda: _has_group(redis), timeout_s=30)
        for i in range(30):
            await publisher.publish([order(f"t{j}", f"{i}-{j}") for j in range(100)])
        await wait_for(lambda: count(admin, "SELECT count(*) FROM event_log"), timeout_s=30)
        worker.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(worker.wait, 20)
    finally:
        worker.kill()
    output = (tmp_path / "worker.log").read_text()
    assert code == 0, output
    assert "drained and stopped" in output
    assert await _total_pending(redis, "projector") == 0  # everything it had taken was committed and acked


async def _between(admin, low, high):
    n = await count(admin, "SELECT count(*) FROM event_log")
    return low <= n <= high


async def _total_pending(redis, group):
    return sum((await pending_by_consumer(redis, group)).values())


async def _has_group(redis):
    return any([await redis.exists(s) for s in all_event_streams()])


async def _consumers(redis, group):
    names: set[str] = set()
    for stream in all_event_streams():
        try:
            names |= {c["name"].decode() for c in await redis.xinfo_consumers(stream, group)}
        except Exception:  # noqa: BLE001 - the group may not exist on an unused partition
            continue
    return names


async def test_stopped_workers_leave_no_consumers_behind(redis, migrated, tmp_path):
    # a consumer of a process that died long ago, holding nothing (what a SIGKILLed `bizosaas dev` leaves)
    stream = all_event_streams()[0]
    await redis.xgroup_create(stream, "projector", id="0", mkstream=True)
    await redis.xgroup_createconsumer(stream, "projector", "ghost-1")
    await wait_for(lambda: _idle_over(redis, stream, "ghost-1", 300), timeout_s=30)
    env = migrated.env(**WORKER_ENV, BIZOSAAS_STALE_CONSUMER_IDLE_MS="300")
    for run in range(3):  # three runs, as three `bizosaas dev` sessions would
        worker = start_worker(env, tmp_path / f"worker-{run}.log", "projector")
        try:
            if run == 0:  # the cleanup at start removed the ghost
                await wait_for(lambda: _has_ghost(redis), False, timeout_s=30)
            await Publisher(redis).publish([order("t1", str(run))])  # a consumer exists once it has read something
            await wait_for(lambda: _consumers(redis, "projector"), timeout_s=30)
            await wait_for(lambda: _total_pending(redis, "projector"), 0, timeout_s=30)
            worker.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(worker.wait, 20) == 0
        finally:
            worker.kill()
            worker.wait()
        assert await _consumers(redis, "projector") == set(), "a cleanly stopped worker deletes its own consumer"


async def _has_ghost(redis):
    return "ghost-1" in await _consumers(redis, "projector")


async def _idle_over(redis, stream, name, ms):
    return any(c["name"].decode() == name and c["idle"] > ms for c in await redis.xinfo_consumers(stream, "projector"))
