"""Splitting a syslog byte stream into messages, RFC 6587 (pure, streaming).

Both framings of RFC 6587 are read, told apart per frame (so also per connection): a frame
that starts with a digit is octet-counted (§3.4.1, ``MSG-LEN SP SYSLOG-MSG``); any other
frame, normally one starting with ``<``, is non-transparent, ended by LF (§3.4.2; a CR before
the LF is dropped). CR, LF and NUL bytes between frames are skipped.

Memory stays bounded whatever arrives: a frame longer than `max_frame` is kept up to the limit
and the rest is counted, not buffered (`Frame.truncated_from` holds its full length); an
octet count is at most 10 digits. Bad input is never dropped and never raises: a malformed
length prefix (a leading zero, a non-digit before the space, too many digits) turns the frame
into an LF-terminated one, returned with `Frame.error` set and its bytes, prefix included,
kept. Frames come out the same however the stream is cut into chunks.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["DEFAULT_MAX_FRAME", "Frame", "FrameDecoder", "OctetCountingDecoder"]

DEFAULT_MAX_FRAME = 64 * 1024
_MAX_DIGITS = 10

_START, _LENGTH, _BODY, _LINE = range(4)
_SKIP = frozenset(b"\r\n\x00")
_DIGITS = frozenset(b"0123456789")


class Frame(NamedTuple):
    """One message's bytes out of the stream."""

    data: bytes
    truncated_from: int | None = None
    """The frame's full length when `data` was cut at `max_frame`."""
    error: str | None = None
    """Why the frame is not well formed (bad or incomplete length prefix, short frame)."""


class FrameDecoder:
    """Feed bytes in, take complete frames out; `finish` returns what is left at the end."""

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        if max_frame < 1:
            raise ValueError("max_frame must be positive")
        self.max_frame = max_frame
        self._state = _START
        self._cur = bytearray()  # the frame so far, at most max_frame bytes
        self._prefix = bytearray()  # the octet count's digits so far
        self._declared = 0  # octet-counted: the frame's declared length
        self._remaining = 0  # octet-counted: bytes still to come
        self._total = 0  # LF-terminated: bytes seen in this frame, kept or not
        self._last_cr = False  # LF-terminated: the last byte seen was CR
        self._error: str | None = None

    def feed(self, data: bytes) -> list[Frame]:
        """The frames completed by `data`, in order."""
        out: list[Frame] = []
        i, n = 0, len(data)
        limit = self.max_frame
        while i < n:
            state = self._state
            if state == _START:
                while i < n and data[i] in _SKIP:
                    i += 1
                if i == n:
                    break
                if data[i] in _DIGITS:
                    self._state = _LENGTH
                else:
                    self._state = _LINE
            elif state == _LENGTH:
                c = data[i]
                prefix = self._prefix
                if c in _DIGITS and len(prefix) < _MAX_DIGITS and prefix[:1] != b"0":
                    prefix.append(c)
                    i += 1
                elif c == 0x20 and prefix[:1] != b"0":
                    i += 1
                    self._declared = self._remaining = int(prefix)
                    prefix.clear()
                    self._cur.clear()
                    self._state = _BODY
                else:
                    # Not an octet count: the bytes so far start an LF-terminated frame.
                    self._error = f"bad octet-count prefix {bytes(prefix[:12])!r} + {bytes([c])!r}"
                    self._start_line(bytes(prefix))
                    prefix.clear()
                    self._state = _LINE
            elif state == _BODY:
                take = min(self._remaining, n - i)
                room = limit - len(self._cur)
                if room > 0:
                    self._cur += data[i : i + min(take, room)]
                self._remaining -= take
                i += take
                if self._remaining == 0:
                    out.append(self._end_body(None))
            else:  # _LINE
                j = data.find(b"\n", i)
                end = n if j < 0 else j
                self._add_line(data[i:end])
                i = end
                if j >= 0:
                    i += 1
                    out.append(self._end_line())
        return out

    def finish(self) -> list[Frame]:
        """The last frame, when the stream ended in the middle of one; resets the decoder."""
        out: list[Frame] = []
        if self._state == _LENGTH:
            out.append(Frame(bytes(self._prefix), error="stream ended inside an octet count"))
        elif self._state == _BODY:
            got = self._declared - self._remaining
            out.append(
                self._end_body(
                    f"stream ended {self._remaining} bytes short of a {self._declared}-byte frame"
                    f" ({got} received)"
                )
            )
        elif self._state == _LINE and self._total:
            out.append(self._end_line())
        self._state = _START
        self._prefix.clear()
        self._cur.clear()
        self._total = 0
        self._last_cr = False
        self._error = None
        return out

    # --- helpers -----------------------------------------------------------------------------

    def _start_line(self, data: bytes) -> None:
        self._cur.clear()
        self._total = 0
        self._last_cr = False
        self._add_line(data)

    def _add_line(self, data: bytes) -> None:
        if not data:
            return
        room = self.max_frame - len(self._cur)
        if room > 0:
            self._cur += data[:room]
        self._total += len(data)
        self._last_cr = data[-1] == 0x0D

    def _end_line(self) -> Frame:
        length = self._total - (1 if self._last_cr else 0)
        frame = Frame(
            bytes(self._cur[:length]),
            truncated_from=length if length > self.max_frame else None,
            error=self._error,
        )
        self._cur.clear()
        self._total = 0
        self._last_cr = False
        self._error = None
        self._state = _START
        return frame

    def _end_body(self, error: str | None) -> Frame:
        declared = self._declared
        frame = Frame(
            bytes(self._cur),
            truncated_from=declared if declared > self.max_frame else None,
            error=error,
        )
        self._cur.clear()
        self._state = _START
        return frame


OctetCountingDecoder = FrameDecoder
"""The name issue 3 uses; one decoder reads both RFC 6587 framings."""
