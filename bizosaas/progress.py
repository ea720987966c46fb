"""Progress of long operations: a live line with rate and ETA on a terminal, plain lines elsewhere."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, label: str, total: int | None = None, every_s: float = 2.0, stream=sys.stderr) -> None:
        self.label, self.total, self.every_s, self.stream = label, total, every_s, stream
        self.started = self.last = time.monotonic()
        self.tty = stream.isatty()
        self.done = 0

    def update(self, done: int, total: int | None = None) -> None:
        self.done, self.total = done, total if total is not None else self.total
        now = time.monotonic()
        if self.tty:
            self.stream.write("\r" + self._line(now) + "\x1b[K")
            self.stream.flush()
        elif now - self.last >= self.every_s:
            self.stream.write(self._line(now) + "\n")
            self.last = now

    def finish(self) -> None:
        self.stream.write(("\r" if self.tty else "") + self._line(time.monotonic()) + " done\n")

    def _line(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        text = f"{self.label}: {self.done:,}"
        if self.total:
            eta = (self.total - self.done) / rate if rate else 0
            text += f"/{self.total:,} ({100 * self.done / self.total:.0f}%), ETA {eta:.0f} s"
        return text + f", {rate:,.0f}/s"
