"""Structured log lines on stderr: one JSON object per line, never a secret in them."""

from __future__ import annotations

import sys
import threading
from datetime import UTC, datetime
from typing import IO, Any

import orjson


class Log:
    """A tiny structured logger (the service's only output besides the start banner)."""

    def __init__(self, stream: IO[str] | None = None, *, component: str = "mamori") -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.component = component
        self._lock = threading.Lock()

    def _emit(self, level: str, msg: str, fields: dict[str, Any]) -> None:
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        record: dict[str, Any] = {
            "ts": now,
            "level": level,
            "component": self.component,
            "msg": msg,
        }
        record.update(fields)
        line = orjson.dumps(record, default=str).decode("utf-8")
        with self._lock:
            try:
                self.stream.write(line + "\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass  # stderr closed: logging must never take the service down

    def info(self, msg: str, **fields: Any) -> None:
        self._emit("info", msg, fields)

    def warning(self, msg: str, **fields: Any) -> None:
        self._emit("warning", msg, fields)

    def error(self, msg: str, **fields: Any) -> None:
        self._emit("error", msg, fields)
