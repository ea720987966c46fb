"""Embedders behind one interface: the local model (default, offline) and OpenAI's embeddings API.

`model_id` and `dimension` are the identity of an index (rag/indexes.py): vectors of different models never meet.
Every embedder counts the texts it actually encoded (`texts_encoded`, and the Prometheus counter
`bizosaas_rag_texts_embedded_total`), which is how tests and operators see that unchanged text is not re-embedded.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import numpy as np
from prometheus_client import Counter, Histogram

from rag import local_model
from rag.chunking import approximate_tokens
from rag.config import RagConfig
from rag.local_model import MAX_SEQ_LENGTH

TEXTS_EMBEDDED = Counter("bizosaas_rag_texts_embedded_total", "Texts sent through an embedding model", ["model"])
EMBED_SECONDS = Histogram(
    "bizosaas_rag_embed_seconds",
    "Time of one embedding call (a batch of texts)",
    ["model"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

LOCAL_RUNTIME = "onnx"  # part of the identity: vectors of another runtime differ a little, never mix them in one index
LOCAL_MODEL = f"local/all-MiniLM-L6-v2@{LOCAL_RUNTIME}"
LOCAL_DIMENSION = local_model.DIMENSION
_ENCODE_LOCK = threading.Lock()  # one forward pass at a time per process: ONNX Runtime already uses every core
# the process's one encoding thread: encoding never queues behind other work of asyncio's default executor (HTML
# conversions waiting on their child processes, a model load), and the event loop only hands texts over
_ENCODER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bizosaas-encoder")


class Embedder(Protocol):
    model_id: str  # "local/all-MiniLM-L6-v2@onnx", "openai/text-embedding-3-small" ...
    dimension: int
    max_tokens: int  # the longest input the model reads whole
    texts_encoded: int  # texts the model actually encoded
    calls: int
    encode_seconds: float

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text, in order."""
        ...


class LocalEmbedder:
    """all-MiniLM-L6-v2 on ONNX Runtime (rag/local_model.py), on the CPU, offline.

    Encoding runs in the process's one encoder thread (ONNX Runtime uses every core itself), so the event loop keeps
    reading, writing and answering while a batch encodes; tokenizing and padding are in that thread too.
    """

    model_id = LOCAL_MODEL
    dimension = LOCAL_DIMENSION
    max_tokens = MAX_SEQ_LENGTH - 2  # [CLS] and [SEP]

    def __init__(self, batch_size: int = 64, model_dir: str = "") -> None:
        self.model = local_model.load(model_dir)
        self.batch_size = batch_size
        self.texts_encoded = 0
        self.calls = 0  # encode calls: fewer than events when chunks of many events share a call
        self.encode_seconds = 0.0  # time spent encoding (not waiting for another caller's batch)
        self._waiting: list[tuple[list[str], asyncio.Future]] = []
        self._draining: asyncio.Task | None = None

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.model.count_tokens(texts) if texts else []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Blocking: encode in the calling thread (the benchmark's raw rate is measured through this)."""
        with _ENCODE_LOCK:
            started = time.perf_counter()
            vectors = self.model.encode(list(texts), self.batch_size)
            elapsed = time.perf_counter() - started
            self.texts_encoded += len(texts)
            self.calls += 1
            self.encode_seconds += elapsed
        EMBED_SECONDS.labels(self.model_id).observe(elapsed)
        TEXTS_EMBEDDED.labels(self.model_id).inc(len(texts))
        return vectors.astype(np.float32, copy=False)

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Encode in a worker thread. Callers that arrive while the model is busy (other partitions' batches) are
        merged into the next forward pass, so the model works on full batches and never waits for the database."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((list(texts), done))
        if self._draining is None or self._draining.done():
            self._draining = asyncio.create_task(self._drain())
        return await done

    async def _drain(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                merged = [t for texts, _ in batch for t in texts]
                vectors = await asyncio.get_running_loop().run_in_executor(_ENCODER, self.encode, merged)
            except Exception as exc:  # noqa: BLE001 - each caller gets the error
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            start = 0
            for texts, done in batch:
                if not done.done():  # its caller may have been cancelled (a worker stopping)
                    done.set_result(vectors[start : start + len(texts)])
                start += len(texts)


class OpenAIEmbedder:
    """OpenAI's `/v1/embeddings` (or any server that speaks it) through the official client."""

    max_tokens = 8191

    def __init__(
        self,
        api_key: str,
        base_url: str = "",
        model: str = "text-embedding-3-small",
        dimensions: int = 1536,
        batch_size: int = 256,
    ) -> None:
        from openai import AsyncOpenAI

        self.client = AsyncOpenAI(api_key=api_key, base_url=base_url or None, max_retries=3)
        self.model, self.dimension, self.batch_size = model, dimensions, batch_size
        self.model_id = f"openai/{model}"
        self.texts_encoded = self.calls = 0
        self.encode_seconds = 0.0

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return approximate_tokens(texts)

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            part = list(texts[start : start + self.batch_size])
            started = time.perf_counter()
            reply = await self.client.embeddings.create(model=self.model, input=part, dimensions=self.dimension)
            self.encode_seconds += time.perf_counter() - started
            EMBED_SECONDS.labels(self.model_id).observe(time.perf_counter() - started)
            rows.extend(item.embedding for item in sorted(reply.data, key=lambda d: d.index))
            self.texts_encoded += len(part)
            self.calls += 1
            TEXTS_EMBEDDED.labels(self.model_id).inc(len(part))
        vectors = np.asarray(rows, dtype=np.float32).reshape(len(rows), self.dimension)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1, norms)

    async def close(self) -> None:
        await self.client.close()


def make_embedder(config: RagConfig) -> Embedder:
    kind = config.rag_embedder
    if kind == "local":
        return LocalEmbedder(batch_size=config.rag_embed_batch, model_dir=config.rag_local_model_dir)
    if kind == "openai":
        if not config.openai_api_key:
            raise ValueError("BIZOSAAS_RAG_EMBEDDER=openai needs OPENAI_API_KEY")
        return OpenAIEmbedder(
            config.openai_api_key, config.openai_base_url, config.rag_openai_model, config.rag_openai_dimensions
        )
    raise ValueError(f"BIZOSAAS_RAG_EMBEDDER={kind!r}: use local or openai")


def embedder_identity(config: RagConfig) -> tuple[str, int]:
    """(model_id, dimension) of the configured embedder, without loading a model."""
    if config.rag_embedder == "openai":
        return f"openai/{config.rag_openai_model}", config.rag_openai_dimensions
    return LOCAL_MODEL, LOCAL_DIMENSION


class LazyEmbedder:
    """The configured embedder, made on first use (`await get()`) in a thread: loading the local model takes seconds,
    which must block neither a process's start nor its event loop. One per process part that embeds (the indexer
    group, the gateway's searcher); concurrent first calls wait for the one load."""

    def __init__(self, config: RagConfig, embedder: Embedder | None = None) -> None:
        self.config = config
        self.made = embedder  # None until made
        self._loading = asyncio.Lock()

    async def get(self) -> Embedder:
        async with self._loading:
            if self.made is None:
                self.made = await asyncio.to_thread(make_embedder, self.config)
        return self.made

    async def close(self) -> None:
        close = getattr(self.made, "close", None)  # the OpenAI client's connections
        if close is not None:
            await close()
