"""The local embedder runs all-MiniLM-L6-v2 on ONNX Runtime: the same vectors and token counts as the torch
embedder it replaced (tests/fixtures/minilm_torch/, made by `python -m rag.export_onnx --fixture`), without torch,
and with the runtime in the index identity."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from rag.config import RagConfig
from rag.embedders import LocalEmbedder, embedder_identity
from rag.local_model import PACKAGED, PADDING_SLACK, PADDING_SLACK_TOKENS, length_buckets

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = Path(__file__).parent / "fixtures" / "minilm_torch"
TEXTS = json.loads((FIXTURE / "texts.json").read_text(encoding="utf-8"))


def test_vectors_equal_the_torch_embedders(embedder: LocalEmbedder):
    torch_vectors = np.load(FIXTURE / "vectors.npy")
    vectors = embedder.encode(TEXTS)
    assert vectors.shape == torch_vectors.shape == (len(TEXTS), 384) and len(TEXTS) >= 100
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    cosine = (vectors * torch_vectors).sum(axis=1)
    worst = int(cosine.argmin())
    assert cosine.min() >= 0.99, f"cosine {cosine.min():.4f} on {TEXTS[worst][:60]!r}"


def test_a_text_embeds_the_same_alone_and_in_a_batch_of_other_lengths(embedder: LocalEmbedder):
    alone = np.stack([embedder.encode([t])[0] for t in TEXTS[:8]])
    batched = embedder.encode(TEXTS[:8] + TEXTS[-4:])[:8]  # padded to the longest (a 256-token text)
    assert ((alone * batched).sum(axis=1) >= 0.9999).all()


def test_token_counts_equal_the_torch_tokenizers(embedder: LocalEmbedder):
    assert embedder.count_tokens(TEXTS) == json.loads((FIXTURE / "tokens.json").read_text())
    assert embedder.count_tokens([]) == [] and embedder.max_tokens == 254  # 256 less [CLS] and [SEP]
    assert max(embedder.count_tokens(TEXTS)) > 256  # counting sees past the model's window


def test_the_runtime_is_part_of_the_index_identity():
    assert embedder_identity(RagConfig(rag_embedder="local")) == ("local/all-MiniLM-L6-v2@onnx", 384)
    assert LocalEmbedder.model_id == "local/all-MiniLM-L6-v2@onnx"


def test_the_local_embedder_needs_no_torch():
    # a fresh interpreter that makes torch unimportable: the embedder loads and encodes all the same
    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['sentence_transformers'] = None\n"
        "from rag.embedders import LocalEmbedder\n"
        "vectors = LocalEmbedder().encode(['where is my order?'])\n"
        "assert vectors.shape == (1, 384), vectors.shape\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_packaged_model_is_the_one_source_md_names():
    import hashlib

    source = (PACKAGED / "SOURCE.md").read_text()
    for name in ("model.onnx", "tokenizer.json"):
        digest = hashlib.sha256((PACKAGED / name).read_bytes()).hexdigest()
        assert digest in source, f"{name}: sha256 {digest} is not the one rag/onnx_model/SOURCE.md states"


def test_forward_passes_are_length_buckets_of_every_text_once(embedder: LocalEmbedder):
    lengths = [len(e.ids) for e in embedder.model.tokenizer.encode_batch(TEXTS)]
    buckets = length_buckets(lengths, 32)
    assert sorted(i for b in buckets for i in b) == list(range(len(TEXTS)))
    assert len(buckets) > -(-len(TEXTS) // 32)  # cut by length too, not only by size
    for bucket in buckets:
        width = lengths[bucket[0]]
        assert len(bucket) <= 32 and width == max(lengths[i] for i in bucket)
        assert all(width - lengths[i] <= max(width * PADDING_SLACK, PADDING_SLACK_TOKENS) for i in bucket)
    # a call's order comes back whatever the buckets: the same texts reversed give the same rows reversed
    forward, backward = embedder.encode(TEXTS[:40]), embedder.encode(TEXTS[:40][::-1])
    assert ((forward * backward[::-1]).sum(axis=1) >= 0.9999).all()
