"""`bizosaas local-llm` (the optional `local-llm` extra): CI never installs it, so here the command must say how to
install it (with the build flag a native llama.cpp build crashes without); where the extra is installed, the packaged
model file is found. The server itself is llama.cpp's: README says what was tried against it."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys

from bizosaas.cmd_local_llm import MODEL_ALIAS, MODEL_DISTRIBUTION, LocalModelMissing, packaged_model, server_argv


def installed(distribution: str) -> bool:
    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def test_the_command_finds_the_packaged_model_or_says_how_to_install_the_extra(tmp_path):
    if installed(MODEL_DISTRIBUTION):
        model = packaged_model()
        assert model.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and model.stat().st_size > 50_000_000
        return
    try:
        packaged_model()
    except LocalModelMissing as exc:
        assert 'CMAKE_ARGS="-DGGML_NATIVE=OFF"' in str(exc) and "[local-llm]" in str(exc)
    else:
        raise AssertionError("found a model without the extra")
    done = subprocess.run(
        [sys.executable, "-m", "bizosaas", "local-llm", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ,
    )
    assert done.returncode == 2 and "-DGGML_NATIVE=OFF" in done.stderr and done.stdout == ""


def test_the_server_is_llama_cpps_serving_the_model_under_its_alias(tmp_path):
    model = tmp_path / "m.gguf"
    argv = server_argv(model, "127.0.0.1", 8085, 2, 8192)
    assert argv[:3] == [sys.executable, "-m", "llama_cpp.server"]
    options = dict(zip(argv[3::2], argv[4::2], strict=True))
    assert options == {
        "--model": str(model),
        "--model_alias": MODEL_ALIAS,
        "--host": "127.0.0.1",
        "--port": "8085",
        "--n_threads": "2",
        "--n_ctx": "8192",
    }
