"""Erasure of what the agents keep about erased records (db/erasure.py calls these inside its own transaction, with
the tenant set). A run about a record, or triggered by its event, holds that record's data: its run request (the
agents group's outbox, `agent_run_requests`), its projection (`agent_runs`: inputs, output, citations), its trace
(`agent_run_traces`: what the tools read) and its `agent.run.*` events. A chat answer that cites the record, or a
message naming the person's email, holds it too (`agent_messages`; a conversation's title is its first question).

Kept: `agent_run_usage` (a run id, an agent id and token counts: the day's budget, nothing about a person) and the
commands approved actions became (db/erasure.py's rule for commands applies to them).
"""

from __future__ import annotations

import asyncpg

# (kind, source, external_id) arrays as $2, $3, $4: the erased entities
_KEYS = "IN (SELECT * FROM unnest($2::text[], $3::text[], $4::text[]))"


def _names_email(param: str, text: str) -> str:
    """SQL: the text names one of the lower-case emails in the array parameter `param`."""
    return f"EXISTS (SELECT 1 FROM unnest({param}::text[]) e WHERE position(e IN lower({text})) > 0)"


# runs about one of the entities, woken by one of the events ($5), or whose words name an email ($6): from the
# projection and from the archived events (the projector may not have caught up)
PERSON_RUNS = f"""
SELECT run_id, source FROM agent_runs
WHERE tenant_id = $1 AND ((subject_kind, source, subject_external_id) {_KEYS} OR trigger_id = ANY($5)
      OR {_names_email("$6", "inputs::text || coalesce(output::text, '') || actions::text")})
UNION
SELECT subject_id, source FROM event_log
WHERE tenant_id = $1 AND subject_kind = 'agent_run'
  AND ((body::jsonb ->> 'subject_kind', source, body::jsonb ->> 'subject_external_id') {_KEYS}
       OR body::jsonb ->> 'trigger_id' = ANY($5) OR {_names_email("$6", "body")})
"""
SOURCE_RUNS = """
SELECT run_id FROM agent_runs WHERE tenant_id = $1 AND source = $2
UNION SELECT subject_id FROM event_log WHERE tenant_id = $1 AND source = $2 AND subject_kind = 'agent_run'
"""
# a chat answer's citations name records by `id`, a run's by `record_id`
CITING = "EXISTS (SELECT 1 FROM jsonb_array_elements(citations) c WHERE c->>'id' = ANY($2))"

Statements = dict[str, tuple]  # place -> (SQL with $1 the tenant, its further arguments)


async def person_runs(
    conn: asyncpg.Connection, tenant_id: str, keys: tuple[list[str], list[str], list[str]], events, emails
) -> set[tuple[str, str, str]]:
    """The (agent_run, source, run_id) keys of the runs that hold the person's data: their events are then the
    person's events (erased from event_log and the streams with the rest)."""
    rows = await conn.fetch(PERSON_RUNS, tenant_id, *keys, sorted(events), sorted(emails))
    return {("agent_run", r["source"], r["run_id"]) for r in rows}


async def person_agent_statements(
    conn: asyncpg.Connection, tenant_id: str, keys: tuple[list[str], list[str], list[str]], events, emails
) -> Statements:
    """To run before the records go: the runs person_runs found (`keys` holds them), the requests for the person's
    entities or events, traces naming an email, chat messages citing the person's records or naming an email."""
    runs = [external_id for kind, external_id in zip(keys[0], keys[2], strict=True) if kind == "agent_run"]
    emails = sorted(emails)
    found = await conn.fetch(f"SELECT id FROM records WHERE tenant_id = $1 AND (kind, source, external_id) {_KEYS}",
                             tenant_id, *keys)  # fmt: skip
    records = [r["id"] for r in found]
    return {
        "agent_run_requests": (
            "DELETE FROM agent_run_requests WHERE tenant_id = $1 "
            f"AND ((subject_kind, source, subject_external_id) {_KEYS} OR trigger_ids && $5::text[])",
            *keys,
            sorted(events),
        ),
        "agent_run_traces": (
            f"DELETE FROM agent_run_traces WHERE tenant_id = $1 AND (run_id = ANY($2) OR "
            f"{_names_email('$3', 'trace::text')})",
            runs,
            emails,
        ),
        "agent_runs": ("DELETE FROM agent_runs WHERE tenant_id = $1 AND run_id = ANY($2)", runs),
        "agent_messages": (
            f"DELETE FROM agent_messages WHERE tenant_id = $1 AND ({CITING} OR "
            f"{_names_email('$3', 'content || citations::text || tool_calls::text')})",
            records,
            emails,
        ),
        "agent_conversations": (  # the title is the first question: it goes, the conversation stays
            f"UPDATE agent_conversations SET title = '' WHERE tenant_id = $1 AND {_names_email('$2', 'title')}",
            emails,
        ),
    }


async def source_agent_statements(conn: asyncpg.Connection, tenant_id: str, connector_id: str) -> Statements:
    """To run before the connector's records and events go: its runs' traces and projection (a run's source is its
    trigger's connector, so its events go with the connector's), its queued run requests, chat messages citing its
    records."""
    runs = [r["run_id"] for r in await conn.fetch(SOURCE_RUNS, tenant_id, connector_id)]
    found = await conn.fetch("SELECT id FROM records WHERE tenant_id = $1 AND source = $2", tenant_id, connector_id)
    return {
        "agent_run_requests": ("DELETE FROM agent_run_requests WHERE tenant_id = $1 AND source = $2", connector_id),
        "agent_run_traces": ("DELETE FROM agent_run_traces WHERE tenant_id = $1 AND run_id = ANY($2)", runs),
        "agent_runs": ("DELETE FROM agent_runs WHERE tenant_id = $1 AND run_id = ANY($2)", runs),
        "agent_messages": (f"DELETE FROM agent_messages WHERE tenant_id = $1 AND {CITING}", [r["id"] for r in found]),
    }
