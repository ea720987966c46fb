"""`bizosaas projections rebuild`: rebuild `records` and `agent_runs` from `event_log` from scratch."""

from __future__ import annotations

import argparse

from bizosaas.progress import Progress
from bizosaas.settings import Settings
from consumers.rebuild import rebuild_records


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("projections", help="projection maintenance")
    parser.add_argument("action", choices=["rebuild"])
    parser.set_defaults(run=run)


async def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    progress = Progress("rebuild records from event_log")
    result = await rebuild_records(settings.database_admin_url, progress.update)
    progress.finish()
    print(
        f"rebuilt {result.records} record(s) and {result.agent_runs} agent run(s) from {result.events} event(s)"
        + (f"; {result.undecodable} undecodable event(s) skipped" if result.undecodable else "")
    )
    return 0
