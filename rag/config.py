"""RAG settings: each field's default is written here and nowhere else. The gateway's and the worker's settings
are RagConfigs (search and the indexer read these fields)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, kw_only=True)
class RagConfig:
    # local (the packaged model, offline) or openai. Never chosen from OPENAI_API_KEY alone: a key configured for the
    # agents' language model must not move a tenant's texts to OpenAI nor leave the indexer without an index.
    rag_embedder: str = "local"
    rag_local_model_dir: str = ""  # the local model's model.onnx + tokenizer.json; empty: the packaged export
    openai_api_key: str = field(default="", repr=False)  # a secret: never logged, in an event or a response
    openai_base_url: str = ""  # empty: the OpenAI client's default (api.openai.com)
    rag_openai_model: str = "text-embedding-3-small"
    rag_openai_dimensions: int = 1536
    rag_chunk_tokens: int = 200  # the local model reads at most 256 word pieces; short chunks retrieve sharper
    rag_chunk_overlap_tokens: int = 32  # carried over when a paragraph must be split
    rag_embed_batch: int = 64  # texts per forward pass / per request
    rag_candidates: int = 40  # per branch (vector, keyword) before reciprocal-rank fusion
    rag_ef_search: int = 100  # HNSW candidate list while searching (recall vs latency)
    rag_max_scan_tuples: int = 20_000  # iterative scan's bound under a selective filter
    rag_knowledge_max_bytes: int = 5 * 1024 * 1024  # largest knowledge upload
    rag_parse_timeout_s: float = 30.0  # an HTML/PDF conversion running longer has its process killed
    rag_parse_workers: int = 2  # conversion processes per gateway or worker process
    rag_max_pages: int = 500  # PDF pages read; a longer PDF upload is refused
    rag_max_text_chars: int = 5 * 1024 * 1024  # converted text kept: a longer upload is refused, an entity cut
