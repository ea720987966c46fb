"""What a consumer group is, and the bookkeeping every group shares: the one extension point of the consumers.

A group declares its name, its streams, the message types it wants and a per-tenant handler:

    async def handle(conn, tenant, entries, batch) -> Any

For every batch the runtime hands it (Group.process; the runtime acknowledges only after this returns, and bisects a
batch that raises), the framework does the bookkeeping:

1. entries whose message type the group does not want are dropped: acknowledged with the batch, never seen by it;
2. `prepare(batch)` (optional) runs before the transaction: work that must not hold a connection or a transaction
   open (converting HTML in child processes, loading a model, running commands);
3. ONE transaction for the whole batch; per tenant, in sorted tenant order (one lock order for concurrent batches):
   `set_tenant`, then with `inbox` set the entries' ids are recorded in `group_inbox` and only the first-seen ones go
   on, then `handle(conn, tenant, entries, batch)`; what it returns is kept in `batch.results[tenant]`;
4. `before_commit(conn, batch)` (optional) runs in the same transaction after every tenant's handler: work across the
   batch's tenants (the indexer embeds every tenant's new chunk texts in one call, then writes them; the projector
   makes one call for all of them); a group with neither handler nor inbox skips step 3 (no tenant is set for it),
   and when its `one_statement(batch)` says so, before_commit's one statement runs without BEGIN and COMMIT;
5. the commit, then `after_commit(batch)` (optional): effects that are not part of the transaction and may be lost in
   a crash (Prometheus counters).

Batches of one group run concurrently (`max_inflight_batches`): a group keeps per-batch values on the Batch (`state`,
`results`), never on itself. A group without a handler opens no transaction (it needs no pool).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from consumers.entry import Entry
from consumers.inbox import first_seen
from db.pool import set_tenant
from events import codec
from events.streams import replay_stream


@dataclass(eq=False)
class Batch:
    """One batch as a group's hooks see it: the same object goes through prepare, handle, before_commit and
    after_commit."""

    entries: list[Entry]  # the entries of the types the group wants, in stream order
    state: Any = None  # the group's own value for this batch (prepare usually sets it)
    results: dict[str, Any] = field(default_factory=dict)  # tenant -> what handle returned for it

    def by_tenant(self) -> list[tuple[str, list[Entry]]]:
        """The entries per tenant, in sorted tenant order."""
        grouped: dict[str, list[Entry]] = {}
        for entry in self.entries:
            grouped.setdefault(entry.message.tenant_id, []).append(entry)
        return sorted(grouped.items())


TenantHandler = Callable[[asyncpg.Connection, str, list[Entry], Batch], Awaitable[Any]]
BatchHook = Callable[[Batch], Awaitable[None]]


@dataclass
class Group:
    """A consumer group: its name, the streams it reads, what it wants of them, and its handler and hooks."""

    name: str
    streams: Sequence[str]
    handle: TenantHandler | None = None  # per tenant, inside the batch's one transaction (tenant set)
    pool: asyncpg.Pool | None = None  # the service role's pool the transaction runs on (needed with a handler)
    types: Collection[str] | None = None  # message types it wants; None or empty: all
    inbox: Callable[[Any], str] | None = None  # the message's id in group_inbox: handle sees first-seen ones only
    prepare: BatchHook | None = None  # before the transaction
    before_commit: Callable[[asyncpg.Connection, Batch], Awaitable[None]] | None = None  # in it, after every tenant
    after_commit: BatchHook | None = None  # after the commit
    # True for a batch: before_commit runs exactly one statement, atomic by itself, so no BEGIN and COMMIT are sent
    # (only for a group without handler and inbox)
    one_statement: Callable[[Batch], bool] | None = None
    decode: Callable[[bytes], Any] = codec.decode_event
    # at most this many entries per batch, below the runtime's batch_size: for a group whose entries fan out (one
    # outbound attempt per matching subscription), so that a transaction stays short and its rows are seen early
    max_batch: int | None = None

    def __post_init__(self) -> None:
        if (self.handle or self.before_commit) and self.pool is None:
            raise ValueError(f"group {self.name}: a handler runs in a transaction and needs a pool")
        self.types = frozenset(self.types or ())

    @property
    def all_streams(self) -> list[str]:
        return [*self.streams, replay_stream(self.name)]

    def wanted(self, entries: list[Entry]) -> list[Entry]:
        if not self.types:
            return entries
        return [e for e in entries if e.message.type in self.types]

    async def process(self, entries: list[Entry]) -> Batch:
        """Commit the group's effects of these entries (the bookkeeping in the module docstring)."""
        batch = Batch(self.wanted(entries))
        if not batch.entries:
            return batch
        if self.prepare:
            await self.prepare(batch)
        if self.handle or self.before_commit:
            assert self.pool is not None
            per_tenant = self.handle or self.inbox
            async with self.pool.acquire() as conn:
                if not per_tenant and self.before_commit and self.one_statement and self.one_statement(batch):
                    await self.before_commit(conn, batch)  # one statement is its own transaction: no BEGIN, COMMIT
                else:
                    async with conn.transaction():
                        await self._transaction(conn, batch, per_tenant=bool(per_tenant))
        if self.after_commit:
            await self.after_commit(batch)
        return batch

    async def _transaction(self, conn: asyncpg.Connection, batch: Batch, *, per_tenant: bool) -> None:
        # without a handler or an inbox no statement needs a tenant here: a before_commit that works per tenant sets
        # it itself (the projector's one call per batch, docs/decisions.md)
        for tenant, tenant_entries in batch.by_tenant() if per_tenant else ():
            await set_tenant(conn, tenant)
            if self.inbox:
                fresh = await first_seen(conn, self.name, [self.inbox(e.message) for e in tenant_entries])
                tenant_entries = [e for e in tenant_entries if self.inbox(e.message) in fresh]
            if self.handle and tenant_entries:
                batch.results[tenant] = await self.handle(conn, tenant, tenant_entries, batch)
        if self.before_commit:
            await self.before_commit(conn, batch)
