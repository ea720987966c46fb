"""The local model loads when a process starts, in a thread of its own: reading the model and building its ONNX
Runtime session takes seconds (15 s on a slow machine), which must neither block the event loop nor make the first
query after a start wait. Until it is loaded, `state` says so and callers refuse vector work instead of waiting."""

from __future__ import annotations

import logging
import threading
from typing import Literal

from rag import local_model
from rag.config import RagConfig

log = logging.getLogger(__name__)
State = Literal["loading", "ready", "failed"]


class ModelWarmup:
    def __init__(self, config: RagConfig) -> None:
        self.directory = config.rag_local_model_dir
        needed = config.rag_embedder == "local"  # the OpenAI embedder has no model to load
        self.state: State = "loading" if needed and not local_model.loaded(self.directory) else "ready"
        self.error = ""

    def start(self) -> None:
        if self.state == "loading":
            # a daemon thread: a load stuck on a slow disk must not keep a stopping process alive
            threading.Thread(target=self._load, name="bizosaas-model-load", daemon=True).start()

    def _load(self) -> None:
        try:
            local_model.load(self.directory)
        except Exception as exc:  # noqa: BLE001 - reported through `state` and the log; keyword search goes on
            self.error = f"{type(exc).__name__}: {exc}"
            self.state = "failed"
            log.error("the local embedding model did not load: %s", self.error)
        else:
            self.state = "ready"
