"""Splitting a byte stream into lines with a size limit (pure, streaming).

Memory stays bounded whatever the input: a line longer than the limit is kept up to the limit
and the rest is counted, not buffered.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple


class Line(NamedTuple):
    """One input line (without its line ending)."""

    number: int
    """1-based line number in the input."""
    data: bytes
    truncated_from: int | None = None
    """The line's full length when `data` was cut at the limit."""


class LineSplitter:
    """Feed bytes in, take complete lines out; `finish` returns a last unterminated line."""

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        self.max_bytes = max_bytes
        self._buf = bytearray()
        self._overflow = 0  # bytes of the current line dropped past the limit
        self._number = 0

    def feed(self, chunk: bytes) -> Iterator[Line]:
        parts = chunk.split(b"\n")
        if len(parts) == 1:
            self._add(chunk)
            return
        # The first part completes the line already buffered; the last starts the next one.
        self._add(parts[0])
        line = self._take()
        if line is not None:
            yield line
        rest = parts[-1]
        middle = parts[1:-1]
        limit = self.max_bytes
        if middle and max(map(len, middle)) <= limit:
            # The common case, at C speed: complete lines, none over the limit.
            n = self._number
            for i, data in enumerate(middle, start=n + 1):
                if data.endswith(b"\r"):
                    data = data[:-1]
                if data and not data.isspace():
                    yield Line(i, data)
            self._number = n + len(middle)
        else:
            for data in middle:
                self._add(data)
                line = self._take()
                if line is not None:
                    yield line
        self._add(rest)

    def _add(self, piece: bytes) -> None:
        room = self.max_bytes - len(self._buf)
        if len(piece) <= room:
            self._buf += piece
        else:
            if room > 0:
                self._buf += piece[:room]
            self._overflow += len(piece) - max(room, 0)

    def finish(self) -> Line | None:
        """The last line when the input did not end with a newline."""
        if not self._buf and not self._overflow:
            return None
        return self._take()

    def _take(self) -> Line | None:
        self._number += 1
        data = bytes(self._buf)
        overflow = self._overflow
        self._buf.clear()
        self._overflow = 0
        if overflow:
            return Line(self._number, data, truncated_from=len(data) + overflow)
        if data.endswith(b"\r"):
            data = data[:-1]
        if not data or data.isspace():
            return None  # a blank line carries nothing to keep
        return Line(self._number, data)
