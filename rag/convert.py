"""Text conversion of untrusted input (HTML, PDF) in child processes that are killed when they exceed their time.

A thread cannot be stopped and holds the GIL while it parses, and a ProcessPoolExecutor cannot cancel a running task:
so each child here is our own `multiprocessing` process with a pipe, taking one job at a time. A job that is not
answered within the timeout gets its child killed; the next job starts a fresh one (docs/decisions.md, "RAG:
conversions run in killable child processes"). Children come from a forkserver, never forked from a process that
runs threads (the embedder's, asyncio's executor), and exit on their own when the parent's end of the pipe closes.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from multiprocessing.connection import Connection
from typing import Any, Callable

from rag.documents import TooLarge, UnreadableDocument

log = logging.getLogger(__name__)

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["rag.convert", "rag.texts"])  # what jobs run: imported once, in the server


class ConversionTimeout(UnreadableDocument):
    """The conversion ran past its time and its process was killed."""


def _serve(conn: Connection) -> None:
    """A child's loop: run (function, args) jobs until the parent goes away."""
    while True:
        try:
            function, args = conn.recv()
        except (EOFError, OSError):
            return
        try:
            conn.send((True, function(*args)))
        except (UnreadableDocument, TooLarge) as exc:
            conn.send((False, exc))
        except Exception as exc:  # noqa: BLE001 - any failure on untrusted input means "unreadable"
            conn.send((False, UnreadableDocument(f"conversion failed: {type(exc).__name__}: {exc}")))


class _Child:
    def __init__(self) -> None:
        self.conn, child_end = _CONTEXT.Pipe()
        self.process = _CONTEXT.Process(target=_serve, args=(child_end,), daemon=True, name="bizosaas-convert")
        self.process.start()
        child_end.close()

    def run(self, function: Callable, args: tuple, timeout_s: float) -> tuple[bool, Any] | None:
        """Blocking (called in a thread): the job's (ok, value); None when it timed out (the child is killed)."""
        try:
            self.conn.send((function, args))
            if self.conn.poll(timeout_s):
                return self.conn.recv()
        except (EOFError, OSError):  # the child died (out of memory, killed): the input is the likely cause
            self.kill()
            return False, UnreadableDocument("the conversion process died")
        self.kill()
        return None

    def kill(self) -> None:
        self.process.kill()
        self.process.join(5)
        self.conn.close()


class Converter:
    """Run conversion functions (module-level, picklable) in at most `workers` children, each job within timeout_s.
    Children start on first use."""

    def __init__(self, timeout_s: float = 30.0, workers: int = 2) -> None:
        self.timeout_s = timeout_s
        self._slots = asyncio.Semaphore(max(1, workers))
        self._idle: list[_Child] = []
        self._all: set[_Child] = set()

    async def run(self, function: Callable, *args: Any) -> Any:
        async with self._slots:
            child = self._idle.pop() if self._idle else None
            if child is None or not child.process.is_alive():
                child = await asyncio.to_thread(_Child)
                self._all.add(child)
            result = None
            try:
                result = await asyncio.to_thread(child.run, function, args, self.timeout_s)
            finally:
                if result is None or not child.process.is_alive():  # timed out, died, or we were cancelled
                    self._all.discard(child)
                    await asyncio.shield(asyncio.to_thread(child.kill))
                else:
                    self._idle.append(child)
            if result is None:
                raise ConversionTimeout(f"the conversion took longer than {self.timeout_s:g} s and was stopped "
                                        "(BIZOSAAS_RAG_PARSE_TIMEOUT_S)")
        ok, value = result
        if not ok:
            raise value
        return value

    async def close(self) -> None:
        children, self._all, self._idle = list(self._all), set(), []
        for child in children:
            await asyncio.to_thread(child.kill)
