"""Text conversion of untrusted input (HTML, PDF) in child processes that are killed when they exceed their time.

A thread cannot be stopped and holds the GIL while it parses, and a ProcessPoolExecutor cannot cancel a running task:
so each child here is our own process (a fresh interpreter running `serve`), taking one job at a time over a pair
of pipes. A job that is not answered within the timeout gets its child killed; the next job starts a fresh one
(docs/decisions.md, "RAG: conversions run in killable child processes"). A fresh interpreter, not
multiprocessing: never a fork of a process that runs threads (the embedder's, asyncio's executor), and never a
re-import of the parent's main module. Children exit on their own when the parent's end of the pipe closes.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import weakref
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import rag
from rag.documents import TooLarge, UnreadableDocument

# the child imports what its jobs run before it takes the first one
_CHILD = "import rag.texts, rag.convert, sys; rag.convert.serve(int(sys.argv[1]), int(sys.argv[2]))"
READY = "ready"
START_TIMEOUT_S = 120.0  # starting an interpreter and importing: seconds on a loaded, slow machine
_ROOT = str(Path(rag.__file__).resolve().parent.parent)  # where `rag` is, for the child's imports


class ConversionTimeout(UnreadableDocument):
    """The conversion ran past its time and its process was killed."""


def serve(jobs_fd: int, results_fd: int) -> None:
    """A child's loop: run (function, args) jobs until the parent goes away."""
    jobs, conn = Connection(jobs_fd, writable=False), Connection(results_fd, readable=False)
    conn.send(READY)  # imports done: the job timeout measures jobs only
    while True:
        try:
            function, args = jobs.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        try:
            conn.send((True, function(*args)))
        except (UnreadableDocument, TooLarge) as exc:
            conn.send((False, exc))
        except Exception as exc:  # noqa: BLE001 - any failure on untrusted input means "unreadable"
            conn.send((False, UnreadableDocument(f"conversion failed: {type(exc).__name__}: {exc}")))


class _Child:
    def __init__(self) -> None:
        jobs_r, jobs_w = os.pipe()
        results_r, results_w = os.pipe()
        # none of the parent's settings or secrets: the child parses untrusted input and needs only its imports
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONPATH": os.pathsep.join(p for p in (_ROOT, os.environ.get("PYTHONPATH")) if p),
        }
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _CHILD, str(jobs_r), str(results_w)],
                pass_fds=(jobs_r, results_w),
                stdin=subprocess.DEVNULL,
                env=env,
            )
        finally:
            os.close(jobs_r)
            os.close(results_w)
        self.jobs, self.results = Connection(jobs_w, readable=False), Connection(results_r, writable=False)
        try:
            started = self.results.poll(START_TIMEOUT_S) and self.results.recv() == READY
        except (EOFError, OSError):
            started = False
        if not started:
            self.kill()
            raise OSError(f"a text conversion process did not start within {START_TIMEOUT_S:g} s")

    def alive(self) -> bool:
        return self.process.poll() is None

    def run(self, function: Callable, args: tuple, timeout_s: float) -> tuple[bool, Any] | None:
        """Blocking (called in a thread): the job's (ok, value); None when it timed out (the child is killed)."""
        try:
            self.jobs.send((function, args))
            if self.results.poll(timeout_s):
                return self.results.recv()
        except (EOFError, OSError):  # the child died (out of memory, killed): the input is the likely cause
            self.kill()
            return False, UnreadableDocument("the conversion process died")
        self.kill()
        return None

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(5)
        self.jobs.close()
        self.results.close()


class Converter:
    """Run conversion functions (module-level, picklable) in at most `workers` children, each job within timeout_s.
    Children start on first use."""

    def __init__(self, timeout_s: float = 30.0, workers: int = 2) -> None:
        self.timeout_s = timeout_s
        self._slots = asyncio.Semaphore(max(1, workers))
        self._idle: list[_Child] = []
        self._all: set[_Child] = set()
        weakref.finalize(self, _kill_all, self._all)  # a converter dropped without close() leaves no processes

    async def run(self, function: Callable, *args: Any) -> Any:
        async with self._slots:
            child = self._idle.pop() if self._idle else None
            if child is None or not child.alive():
                child = await asyncio.to_thread(_Child)
                self._all.add(child)
            result = None
            try:
                result = await asyncio.to_thread(child.run, function, args, self.timeout_s)
            finally:
                if result is None or not child.alive():  # timed out, died, or we were cancelled
                    self._all.discard(child)
                    await asyncio.shield(asyncio.to_thread(child.kill))
                else:
                    self._idle.append(child)
            if result is None:
                raise ConversionTimeout(
                    f"the conversion took longer than {self.timeout_s:g} s and was stopped "
                    "(BIZOSAAS_RAG_PARSE_TIMEOUT_S)"
                )
        ok, value = result
        if not ok:
            raise value
        return value

    async def close(self) -> None:
        children = list(self._all)
        self._all.clear()
        self._idle.clear()
        for child in children:
            await asyncio.to_thread(child.kill)


def _kill_all(children: set[_Child]) -> None:
    for child in list(children):
        child.kill()
    children.clear()
