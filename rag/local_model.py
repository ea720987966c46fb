"""The local embedding model: sentence-transformers' all-MiniLM-L6-v2 exported to ONNX (rag/onnx_model/SOURCE.md),
run by ONNX Runtime on the CPU and tokenized by Hugging Face's `tokenizers` with the model's own tokenizer.json.

It computes what sentence-transformers computed before (BERT, mean pooling over the attention mask, L2 norm, all
inside the graph), without torch: the wheels are small and CPU-only on every supported Python.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

PACKAGED = Path(__file__).parent / "onnx_model"
MAX_SEQ_LENGTH = 256  # sentence-transformers' max_seq_length for this model (its sentence_bert_config.json)
DIMENSION = 384
PADDING_SLACK = 0.15  # a forward pass pads its texts by at most this share of its longest (see length_buckets)
PADDING_SLACK_TOKENS = 8  # ... or by this many tokens: among short texts a pass's fixed cost outweighs the padding


class OnnxModel:
    def __init__(self, directory: Path) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        spec = (directory / "tokenizer.json").read_text(encoding="utf-8")
        # two tokenizers: their truncation and padding are state, and counting must see a text's whole length
        self.counter = Tokenizer.from_str(spec)
        self.counter.no_truncation()
        self.counter.no_padding()
        self.tokenizer = Tokenizer.from_str(spec)
        self.tokenizer.enable_truncation(MAX_SEQ_LENGTH)  # [CLS] and [SEP] included, as sentence-transformers does
        # no padding here (tokenizer.json asks for 128): encode() pads each length bucket itself, to its longest text
        self.tokenizer.no_padding()
        options = onnxruntime.SessionOptions()
        # idle intra-op threads sleep instead of spinning: beside the event loop and Postgres on the same cores,
        # spinning threads cost the indexer a few percent of its rate (the same reason as OMP_WAIT_POLICY before)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # read as bytes (not by path): the file may be a pipe or on a read-only mount; ONNX Runtime copies it
        self.session = onnxruntime.InferenceSession(
            (directory / "model.onnx").read_bytes(), options, providers=["CPUExecutionProvider"]
        )
        self.inputs = {i.name for i in self.session.get_inputs()}

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in self.counter.encode_batch(list(texts), add_special_tokens=False)]

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        """Unit-length float32 vectors in the order of `texts`. Every text is tokenized once, then the texts are
        sorted by token count and cut into length buckets (length_buckets), each padded only to its own longest
        text: the model computes little padding even when a call holds a few texts of very different lengths (the
        indexer's calls: the chunks of one batch of events). Padding is masked out, so a text's vector does not
        depend on the texts it is encoded with."""
        out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        encoded = self.tokenizer.encode_batch(list(texts))
        lengths = [len(e.ids) for e in encoded]
        for rows in length_buckets(lengths, batch_size):
            width = lengths[rows[0]]  # the bucket's longest: rows are longest first
            feed = {name: np.zeros((len(rows), width), dtype=np.int64) for name in self.inputs}
            for r, i in enumerate(rows):
                n = lengths[i]
                feed["input_ids"][r, :n] = encoded[i].ids
                feed["attention_mask"][r, :n] = 1
                if "token_type_ids" in feed:
                    feed["token_type_ids"][r, :n] = encoded[i].type_ids
            out[rows] = self.session.run(None, feed)[0]
        return out


def length_buckets(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices of `lengths` in forward passes: longest first, at most `batch_size` each, and a new pass started when
    the next text is shorter than the pass's longest by more than PADDING_SLACK of it (padding is computed like real
    tokens, and attention is quadratic in the width). A few small passes cost less here than one padded one."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    buckets: list[list[int]] = []
    for i in order:
        width = lengths[buckets[-1][0]] if buckets else 0
        if (
            not buckets
            or len(buckets[-1]) >= batch_size
            or width - lengths[i] > max(width * PADDING_SLACK, PADDING_SLACK_TOKENS)
        ):
            buckets.append([])
        buckets[-1].append(i)
    return buckets


_models: dict[str, OnnxModel] = {}
_locks: dict[str, threading.Lock] = {}
_guard = threading.Lock()


def load(directory: str = "") -> OnnxModel:
    """The model of `directory` (empty: the packaged export), loaded once per process and shared by every embedder
    in it. Concurrent callers wait for one load (the gateway's start-up load and a first query, say)."""
    with _guard:
        lock = _locks.setdefault(directory, threading.Lock())
    with lock:
        if directory not in _models:
            _models[directory] = OnnxModel(Path(directory) if directory else PACKAGED)
        return _models[directory]


def loaded(directory: str = "") -> bool:
    return directory in _models
