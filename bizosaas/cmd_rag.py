"""`bizosaas rag reindex` (re-embed everything into a new index with the configured embedder, then switch search to
it atomically) and `bizosaas rag indexes` (what exists, which one search reads)."""

from __future__ import annotations

import argparse
import asyncio

import asyncpg

from bizosaas.progress import Progress
from bizosaas.settings import Settings
from db.pool import create_pool
from rag.embedders import make_embedder
from rag.indexes import all_indexes
from rag.reindex import reindex


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("rag", help="search index maintenance")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    build = actions.add_parser("reindex", help="re-embed every entity into a new index, then switch search to it")
    build.add_argument("--keep-old", action="store_true", help="keep the replaced index's rows (retired)")
    build.add_argument("--grace-s", type=float, default=2.0, help="wait this long before dropping the old index")
    build.set_defaults(run=run_reindex)
    listing = actions.add_parser("indexes", help="list the indexes: model, dimension, state, chunks")
    listing.set_defaults(run=run_indexes)


async def run_reindex(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    embedder = await asyncio.to_thread(make_embedder, settings)
    owner = await asyncpg.connect(settings.database_admin_url)  # the index's DDL and the switch
    pool = await create_pool(settings.database_url, max_size=2)  # every row: the service role, tenant set
    try:
        progress = Progress(f"reindex with {embedder.model_id}")
        result = await reindex(owner, pool, embedder, settings, progress.update, args.grace_s, args.keep_old)
        progress.finish()
    finally:
        await pool.close()
        await owner.close()
        close = getattr(embedder, "close", None)
        if close is not None:
            await close()
    replaced = f"; replaced index {result.replaced.id} ({result.replaced.model})" if result.replaced else ""
    print(
        f"index {result.index.id} ({result.index.model}, {result.index.dimension} dimensions) is active: "
        f"{result.entities} entities, {result.embedded} texts embedded{replaced}"
    )
    return 0


async def run_indexes(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    owner = await asyncpg.connect(settings.database_admin_url)
    try:
        for index in await all_indexes(owner):
            chunks = await owner.fetchval("SELECT count(*) FROM rag_chunks WHERE index_id = $1", index.id)
            print(f"{index.id}\t{index.state}\t{index.model}\t{index.dimension}\t{chunks} chunks")
    finally:
        await owner.close()
    return 0
