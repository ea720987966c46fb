"""Operator commands on the streams: `bizosaas streams`, `bizosaas replay`, `bizosaas dead-letters`."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from redis.asyncio import Redis

from bizosaas.progress import Progress
from bizosaas.settings import Settings
from consumers.deadletter import discard, list_dead, redrive
from db.archive import EventArchive
from db.pool import create_pool
from events.ranges import RangeFilter, position_from
from producers.inspect import overview
from producers.replay import UnknownGroup, replay


def register(commands: argparse._SubParsersAction) -> None:
    streams = commands.add_parser("streams", help="length, first/last id, lag, pending and dead letters per stream")
    streams.add_argument("--json", action="store_true", help="machine-readable output")
    streams.set_defaults(run=run_streams)

    rp = commands.add_parser("replay", help="re-deliver a range of the event log to one consumer group")
    rp.add_argument("--group", required=True, help="the group that receives the replay (others are untouched)")
    rp.add_argument("--from", dest="start", required=True, help="stream id (1700000000000-0) or RFC 3339 time")
    rp.add_argument("--to", dest="end", default="+", help="stream id or RFC 3339 time (default: the newest)")
    rp.add_argument("--tenant", help="only this tenant's events")
    rp.add_argument("--type", dest="types", action="append", default=[], help="only this event type (repeatable)")
    rp.set_defaults(run=run_replay)

    dl = commands.add_parser("dead-letters", help="inspect, redrive or discard a group's dead letters")
    dl.add_argument("action", choices=["list", "redrive", "discard"])
    dl.add_argument("group")
    dl.add_argument("ids", nargs="*", help="dead-letter ids (default for redrive: all)")
    dl.add_argument("--json", action="store_true")
    dl.set_defaults(run=run_dead_letters)


async def run_streams(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    async with Redis.from_url(settings.redis_url) as redis:
        infos, dead = await overview(redis, settings.partitions)
    if args.json:
        print(json.dumps({"streams": [_as_dict(i) for i in infos], "dead_letters": dead}))
        return 0
    print(f"{'stream':<22} {'length':>8}  {'first id':<17} {'last id':<17} groups (lag/pending)")
    for info in infos:
        groups = ", ".join(f"{g.name} {g.lag if g.lag is not None else '?'}/{g.pending}" for g in info.groups)
        print(f"{info.stream:<22} {info.length:>8}  {info.first_id or '-':<17} {info.last_id or '-':<17} {groups}")
    print("dead letters: " + (", ".join(f"{g} {n}" for g, n in dead.items()) or "none"))
    return 0


def _as_dict(info) -> dict:
    return {
        "stream": info.stream,
        "length": info.length,
        "first_id": info.first_id,
        "last_id": info.last_id,
        "groups": [g.__dict__ for g in info.groups],
    }


async def run_replay(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    try:
        flt = RangeFilter(
            position_from(args.start), position_from(args.end, end=True), args.tenant, frozenset(args.types)
        )
    except ValueError as exc:
        print(f"bizosaas replay: {exc}")
        return 2
    progress = Progress(f"replay to {args.group}")
    pool = await create_pool(settings.database_admin_url, max_size=2)
    try:
        async with Redis.from_url(settings.redis_url) as redis:
            queued = await replay(redis, args.group, flt, settings.partitions, EventArchive(pool), progress.update)
    except UnknownGroup as exc:
        print(f"bizosaas replay: {exc}")
        return 2
    finally:
        await pool.close()
    progress.finish()
    print(f"queued {queued} event(s) on bz:replay:{{{args.group}}} for group {args.group} only")
    return 0


async def run_dead_letters(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    async with Redis.from_url(settings.redis_url) as redis:
        if args.action == "list":
            letters = await list_dead(redis, args.group, count=1000)
            if args.json:
                print(json.dumps([{k: v for k, v in d.__dict__.items() if k != "fields"} for d in letters]))
                return 0
            for d in letters:
                when = datetime.fromtimestamp(d.dead_at_ms / 1000, UTC).isoformat(timespec="seconds")
                print(f"{d.id}  from {d.stream} {d.entry_id}  deliveries={d.deliveries}  at {when}\n    {d.error}")
            print(f"{len(letters)} dead letter(s) for group {args.group}")
        elif args.action == "redrive":
            moved = await redrive(redis, args.group, args.ids or None)
            print(f"redrove {moved} dead letter(s) to bz:replay:{{{args.group}}}")
        else:
            if not args.ids:
                print("bizosaas dead-letters discard: name the ids to discard (see `dead-letters list`)")
                return 2
            print(f"discarded {await discard(redis, args.group, args.ids)} dead letter(s)")
    return 0
