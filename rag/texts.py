"""What the indexer embeds of each text-bearing entity, and the newest state per entity in a batch of events.

Only these fields are embedded: a change to any other field (a price, a status, a stock level) updates the entity's
metadata and re-embeds nothing. Kinds whose text comes from HTML are converted in a conversion process with a
deadline (convert_texts, rag/convert.py): one pathological description never stalls the worker's event loop, and one
that runs past its time is indexed by its title alone, with the reason logged, while the rest of its batch proceeds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from events.ordering import newest_per_entity
from events.types import EntityDeleted, EntityUpserted, Event
from rag.documents import UnreadableDocument, html_to_text

log = logging.getLogger(__name__)


def _lines(*parts: str | None) -> str:
    return "\n\n".join(p.strip() for p in parts if p and p.strip())


def _product(d: Any) -> str:
    header = f"{d.name} (SKU {d.sku})" if d.sku else d.name
    categories = f"Categories: {', '.join(d.categories)}" if d.categories else ""
    return _lines(header, html_to_text(d.description), categories)


def _post(d: Any) -> str:
    return _lines(d.title, html_to_text(d.excerpt), html_to_text(d.content))


def _comment(d: Any) -> str:
    return _lines(f"Comment by {d.author_name}" if d.author_name else "", html_to_text(d.content))


def _message(d: Any) -> str:
    return _lines(f"{d.sender}:" if d.sender else "", d.text)


def _task(d: Any) -> str:
    return _lines(d.title, f"Project: {d.project}" if d.project else "", d.description)


def _document(d: Any) -> str:
    return _lines(d.title, d.content)


def _ad(d: Any) -> str:
    return _lines(d.name, "\n".join(d.headlines), "\n".join(d.descriptions))


def _conversation(d: Any) -> str:
    return _lines(d.name, d.topic, d.purpose)


def _message_template(d: Any) -> str:
    return _lines(f"{d.name} ({d.language})" if d.language else d.name, d.header, d.body, d.footer)


# kind -> the text embedded for it (see the module docstring)
TEXT_OF = {
    "product": _product,
    "post": _post,
    "page": _post,
    "comment": _comment,
    "message": _message,
    "task": _task,
    "document": _document,
    "ad": _ad,  # what an ad says (headlines, descriptions): "which ads mention free shipping?"
    "conversation": _conversation,
    "message_template": _message_template,
}
TITLE_OF = {
    "product": lambda d: d.name,
    "post": lambda d: d.title,
    "page": lambda d: d.title,
    "comment": lambda d: d.author_name or "comment",
    "message": lambda d: d.sender or d.channel or "message",
    "task": lambda d: d.title,
    "document": lambda d: d.title,
    "ad": lambda d: d.name or (d.headlines[0] if d.headlines else "ad"),
    "conversation": lambda d: d.name,
    "message_template": lambda d: d.name,
}
INDEXED_KINDS = frozenset(TEXT_OF)
PARSED_KINDS = frozenset({"product", "post", "page", "comment"})  # text from HTML: converted in a child process


def text_of(kind: str, data: Any) -> str:
    """The embedded text of an entity (what a conversion process runs)."""
    return TEXT_OF[kind](data)


@dataclass(slots=True)
class EntityState:
    """One entity's state as the indexer writes it (a deleted one carries no text)."""

    tenant_id: str
    kind: str
    source: str
    external_id: str
    updated_at: datetime  # provider time
    position: tuple[int, int]  # stream position: the ordering rule's tie-break
    deleted: bool = False
    title: str = ""
    url: str | None = None
    agents: list[str] = field(default_factory=list)
    text: str | None = ""  # None: not converted yet (convert_texts)
    data: Any = field(default=None, repr=False)  # the entity, until its text is converted
    force: bool = False  # a replayed state is re-chunked and compared even when its text hash is unchanged

    @property
    def key(self) -> tuple[str, str, str]:
        return self.kind, self.source, self.external_id

    @property
    def version(self) -> tuple[datetime, int, int]:
        return self.updated_at, *self.position


def entity_state(event: Event, position: tuple[int, int], replayed: bool = False) -> EntityState | None:
    if event.subject.kind not in INDEXED_KINDS or not isinstance(event, (EntityUpserted, EntityDeleted)):
        return None
    data = None if isinstance(event, EntityDeleted) else event.data
    return state_of(
        event.tenant_id,
        event.subject.kind,
        event.source,
        event.subject.external_id,
        event.occurred_at,
        position,
        data,
        replayed,
    )


def state_of(
    tenant_id: str,
    kind: str,
    source: str,
    external_id: str,
    updated_at: datetime,
    position: tuple[int, int],
    data: Any,
    replayed: bool = False,
) -> EntityState:
    """The state of an entity of an indexed kind; `data` None means deleted."""
    state = EntityState(tenant_id, kind, source, external_id, updated_at, position, force=replayed)
    if data is None:
        state.deleted = True
        return state
    if kind in PARSED_KINDS:
        state.text, state.data = None, data
    else:
        state.text = text_of(kind, data)
    state.title = (TITLE_OF[kind](data) or "")[:300]
    state.url = getattr(data, "url", None)
    state.agents = sorted(set(getattr(data, "agents", ()) or ()))
    return state


def newest_states(items: Iterable[tuple[Event, tuple[int, int], bool]]) -> list[EntityState]:
    """Per entity of an indexed kind, its newest state among these (event, position, replayed) items (the ordering
    rule: events.ordering), in entity key order."""
    indexed = (item for item in items if item[0].subject.kind in INDEXED_KINDS)
    return [state for item in newest_per_entity(indexed) if (state := entity_state(*item)) is not None]


async def convert_texts(states: Sequence[EntityState], converter: Any, max_chars: int) -> None:
    """Fill in the text of every state that needs converting (a rag.convert.Converter runs it); cut every text at
    max_chars. A conversion that fails or runs past its time leaves the entity's title as its text (logged)."""

    async def convert(state: EntityState) -> None:
        try:
            state.text = await converter.run(text_of, state.kind, state.data)
        except UnreadableDocument as exc:
            log.warning(
                "%s %s/%s of tenant %s: %s; indexed by its title only",
                state.kind,
                state.source,
                state.external_id,
                state.tenant_id,
                exc,
            )
            state.text = state.title
        state.data = None

    await asyncio.gather(*(convert(s) for s in states if s.text is None))
    for state in states:
        if state.text is not None and len(state.text) > max_chars:
            log.warning(
                "%s %s/%s of tenant %s: text of %d characters cut at %d (BIZOSAAS_RAG_MAX_TEXT_CHARS)",
                state.kind,
                state.source,
                state.external_id,
                state.tenant_id,
                len(state.text),
                max_chars,
            )
            state.text = state.text[:max_chars]
