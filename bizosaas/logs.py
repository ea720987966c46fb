"""JSON logs, one object per line, on stderr. Messages must never carry secrets or whole payloads."""

from __future__ import annotations

import json
import logging
import sys
import time


class JsonFormatter(logging.Formatter):
    _second: int = -1
    _stamp: str = ""

    def _time(self, created: float) -> str:
        """The record's time to the second, formatted once per second: the gateway writes a line per request (its
        request log), and strftime was a measurable part of a webhook's CPU (docs/benchmarks.md)."""
        second = int(created)
        if second != self._second:
            self._second, self._stamp = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return self._stamp

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": f"{self._time(record.created)}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in ("request_id", "tenant_id", "connector_id", "group"):
            if (value := getattr(record, key, None)) is not None:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=level, handlers=[handler], force=True)
