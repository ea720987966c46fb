"""Knowledge documents: text a tenant uploads for search and for its agents (plain text, Markdown, HTML, PDF).

The gateway turns an upload into plain text and publishes it as `knowledge.document.upserted.v1` (subject kind
`document`, source `knowledge`); deleting publishes `knowledge.document.deleted.v1`. The projector keeps the current
state in `records` like any entity; the indexer embeds `title` and `content`.
"""

from __future__ import annotations

from events.entities import Entity

KNOWLEDGE_SOURCE = "knowledge"  # the `source` of uploaded documents (they come from no connector)


class KnowledgeDocument(Entity, frozen=True, kw_only=True):
    title: str = ""
    content: str = ""  # the document as plain text (paragraphs separated by blank lines)
    media_type: str = "text/plain"  # what was uploaded: text/plain, text/markdown, text/html, application/pdf
    agents: list[str] = []  # the agents that may retrieve it; empty: the whole tenant
    size_bytes: int = 0  # of the upload
