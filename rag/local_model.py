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
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest text of each batch
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
        """Unit-length float32 vectors in the order of `texts`. Like sentence-transformers, batches are made of texts
        of similar length (longest first) so that little of each batch is padding."""
        out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            encoded = self.tokenizer.encode_batch([texts[i] for i in rows])
            feed = {
                "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
            }
            out[rows] = self.session.run(None, {k: v for k, v in feed.items() if k in self.inputs})[0]
        return out


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
