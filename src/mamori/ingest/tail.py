"""Following log files through rotation and truncation, without losing or repeating a line.

:class:`FileFollower` (synchronous, poll-based, no threads of its own) reads whole lines from
a path and says where it stands after them (:class:`TailPosition`). :func:`run_tail` is the
service's loop around it: each batch of lines becomes events that go to the sink together
with the position as a mark, in one atomic step, so after a crash the follower restarts from
the mark of the last stored batch: no line lost, none stored twice.

How the follower keeps up with the file (the semantics are in docs/ingest-normalise.md):

* **Rotation by rename** (logrotate's default, ``create``): when the path names another file,
  the old one, still open, is read to its end first; once it has not grown for
  `rotate_grace` seconds (a writer may still append until it reopens), the follower moves to
  the new file from its first byte. A last line without a newline is emitted then.
* **Copy and truncate** (``copytruncate``): the file shrinking below the read position, or its
  first bytes changing, means it was truncated: reading restarts at 0 (note ``truncated``).
* **Partial lines** are held until their newline arrives; lines longer than `max_line` are
  kept cut to `max_line` bytes with their full length. Bytes are not decoded here.
* **Restart from a mark**: the same file (device, inode and first bytes) at the path resumes
  at the mark's offset (from 0 if it is now shorter or its first bytes changed, note
  ``truncated``); else a file in the
  same directory with that identity (the rotated file, ``auth.log.1``) is finished from the
  offset, then the path is read from 0; else the path is read from 0 (note ``gap``).
* A missing path is waited for (note ``missing``, once).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Final, Literal

from mamori.config import TailConfig
from mamori.ingest.normalise import LineNormaliser, Source
from mamori.ledger.canonical import canonical
from mamori.service.contracts import EventSink
from mamori.service.errors import SinkRejected

__all__ = [
    "HEAD_BYTES",
    "Chunk",
    "FileFollower",
    "Note",
    "TailPosition",
    "run_tail",
]

HEAD_BYTES: Final = 1024
"""How many of a file's first bytes identify it (with device and inode): inode numbers are
reused once a file is deleted, the first bytes of a log (its first timestamps) are not."""

_MARK = re.compile(r"v1:([0-9]{1,20}):([0-9]{1,20}):([0-9]{1,20}):([0-9]{1,4}):([0-9a-f]{16}|)\Z")
_PREAMBLE_BYTES: Final = 64 * 1024
_PREAMBLE_LINES: Final = 100

Note = Literal["rotated", "truncated", "gap", "missing", "unreadable"]
"""What a chunk reports besides lines:

* ``rotated``: the path names a new file; the old one was read to its end first.
* ``truncated``: the file shrank (or its first bytes changed) under the read position; reading
  restarted at 0. Lines written between the last read and the truncation may be missing.
* ``gap``: the file of the start mark is nowhere to be found (or its mark was unreadable);
  the path is read from 0. Lines written to that file after the mark may be missing.
* ``missing``: the path does not exist (yet); it is waited for.
* ``unreadable``: the path cannot be opened or is not a regular file; tried again later
  (:attr:`FileFollower.error` says why).
"""


def _fingerprint(head: bytes) -> str:
    return hashlib.blake2b(head, digest_size=8).hexdigest() if head else ""


@dataclass(frozen=True, slots=True)
class TailPosition:
    """Where a follower stands: after the last complete line it handed out."""

    dev: int
    inode: int
    offset: int
    """The byte after the newline of the last line handed out."""
    head_len: int = 0
    """How many of the file's first bytes `head_hash` covers (at most :data:`HEAD_BYTES`)."""
    head_hash: str = ""
    """BLAKE2b-64 (hex) of those bytes: tells the file from a later one with a reused inode."""

    def to_mark(self) -> str:
        """The position as a string for the sink's marks."""
        return f"v1:{self.dev}:{self.inode}:{self.offset}:{self.head_len}:{self.head_hash}"

    @classmethod
    def from_mark(cls, mark: str) -> TailPosition | None:
        """The position a mark holds; None for anything that is not one (never raises)."""
        if not isinstance(mark, str):
            return None
        m = _MARK.match(mark)
        if m is None:
            return None
        dev, inode, offset, head_len = (int(m.group(i)) for i in range(1, 5))
        head_hash = m.group(5)
        if head_len > HEAD_BYTES or (head_len == 0) != (head_hash == "") or dev >= 1 << 64:
            return None
        if inode >= 1 << 64 or offset >= 1 << 63:
            return None
        return cls(dev, inode, offset, head_len, head_hash)


NOWHERE: Final = TailPosition(0, 0, 0)
"""The position of a follower that has read nothing yet."""


@dataclass(frozen=True, slots=True)
class Chunk:
    """What one :meth:`FileFollower.read` found; its lines all come from one file."""

    lines: list[tuple[bytes, int | None]]
    """Complete lines without their newline, each with its full length when it was cut at
    `max_line` (else None)."""
    position: TailPosition
    """Where to resume after these lines."""
    notes: list[Note] = field(default_factory=list)
    """What happened before these lines (see :data:`Note`)."""
    reset: bool = False
    """The lines start another file at its first byte: forget per-file state (headers)."""
    preamble: list[bytes] = field(default_factory=list)
    """The file was entered mid-way: its first lines (up to the resume offset, at most 100),
    already handed out before, for readers that need the file's headers."""


@dataclass(slots=True)
class _File:
    """A file being read."""

    fd: int
    dev: int
    inode: int
    read_pos: int
    """The next byte to read."""
    consumed: int
    """The offset after the last complete line handed out."""
    head: bytes
    last_growth: float
    partial: bytearray = field(default_factory=bytearray)
    """The current line's bytes so far, at most max_line of them."""
    partial_len: int = 0
    """The current line's length so far, kept bytes or not."""


class FileFollower:
    """Reads complete lines from `path`, following it through rotation and truncation.

    Not thread-safe for concurrent calls, but :meth:`read` and :meth:`close` may run in
    different threads (one lock). Close it (or use it as a context manager): it holds at most
    one open file.
    """

    def __init__(
        self,
        path: str,
        start: TailPosition | None,
        *,
        max_line: int = 65536,
        rotate_grace: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_line < 1:
            raise ValueError("max_line must be positive")
        self.path = path
        self.max_line = max_line
        self.rotate_grace = rotate_grace
        self.error: str | None = None
        """Why the path could not be read, when a chunk noted ``unreadable``."""
        self._clock = clock
        self._start: TailPosition | None = start if start is not None and start.inode else None
        self._started = False
        self._cur: _File | None = None
        self._last: TailPosition = start or NOWHERE
        self._reset_next = False
        self._preamble: list[bytes] = []
        self._missing_noted = False
        self._unreadable_noted = False
        self._closed = False
        self._lock = threading.Lock()
        self._hash_cache: tuple[bytes, str] = (b"", "")

    # --- public ------------------------------------------------------------------------------

    def read(self, max_bytes: int = 1 << 20, *, max_lines: int | None = None) -> Chunk:
        """The complete lines written since the last call (up to `max_bytes` read and
        `max_lines` lines), and the position after them. Never raises for what happens to the
        file (gone, unreadable, rotated, truncated): that shows in the notes."""
        with self._lock:
            notes: list[Note] = []
            lines: list[tuple[bytes, int | None]] = []
            if self._closed:
                return Chunk(lines, self._last, notes)
            limit = max_lines if max_lines is not None else 1 << 62
            budget = max(1, max_bytes)
            while True:
                if self._cur is None and not self._open_next(notes):
                    break
                cur = self._cur
                assert cur is not None
                budget -= self._read_lines(cur, lines, budget, limit, notes)
                if budget <= 0 or len(lines) >= limit or not self._rotated(cur):
                    break
                # The path names another file and this one has been quiet: read what it
                # got since, if anything (then look again), else finish it and move on.
                more = self._read_lines(cur, lines, budget, limit, notes)
                if more:
                    budget -= more
                    continue
                if self._partial_line(cur, lines) or lines:
                    break  # one file per chunk: move on at the next call
                self._last = self._position(cur)
                self._close_file()
                notes.append("rotated")
            position = self._position(self._cur) if self._cur is not None else self._last
            reset = self._reset_next and bool(lines)
            if reset:
                self._reset_next = False
            preamble, self._preamble = self._preamble, []
            return Chunk(lines, position, notes, reset, preamble)

    def close(self) -> None:
        """Close the open file; later reads return nothing."""
        with self._lock:
            self._closed = True
            self._close_file()

    def __enter__(self) -> FileFollower:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- opening -----------------------------------------------------------------------------

    def _open_next(self, notes: list[Note]) -> bool:
        """Open the file to read next; False when there is none yet."""
        if not self._started:
            self._started = True
            start, self._start = self._start, None
            if start is not None:
                return self._resume(start, notes)
        return self._open_path(notes)

    def _open_path(self, notes: list[Note], offset: int = 0) -> bool:
        opened = self._open(self.path, notes)
        if opened is None:
            return False
        self._cur = opened
        self._set_offset(opened, offset)
        self._reset_next = offset == 0
        return True

    def _open(self, path: str, notes: list[Note]) -> _File | None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except FileNotFoundError:
            if not self._missing_noted:
                self._missing_noted = True
                notes.append("missing")
            return None
        except OSError as e:
            self._unreadable(notes, f"{path}: {e.strerror or e}")
            return None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                os.close(fd)
                self._unreadable(notes, f"{path}: not a regular file")
                return None
            head = os.pread(fd, HEAD_BYTES, 0)
        except OSError as e:
            os.close(fd)
            self._unreadable(notes, f"{path}: {e.strerror or e}")
            return None
        self._missing_noted = self._unreadable_noted = False
        self.error = None
        return _File(fd, st.st_dev, st.st_ino, 0, 0, head, self._clock())

    def _unreadable(self, notes: list[Note], why: str) -> None:
        self.error = why
        if not self._unreadable_noted:
            self._unreadable_noted = True
            notes.append("unreadable")

    def _resume(self, start: TailPosition, notes: list[Note]) -> bool:
        """First open after a restart: find the file of the mark (see the module docstring)."""
        at_path: list[Note] = []  # what opening the path found ("missing", "unreadable")
        candidate = self._open(self.path, at_path)
        if candidate is not None and (candidate.dev, candidate.inode) == (start.dev, start.inode):
            self._cur = candidate
            size = os.fstat(candidate.fd).st_size
            if self._same_head(candidate, start) and size >= start.offset:
                self._set_offset(candidate, start.offset)
            else:
                # Shorter, or other first bytes: truncated while we were away (or deleted and
                # its inode number reused by the new file); either way it starts over.
                notes.append("truncated")
                self._set_offset(candidate, 0)
                self._reset_next = True
            return True
        rotated = self._find_rotated(start)
        if rotated is not None:
            if candidate is not None:
                os.close(candidate.fd)
            self._cur = rotated
            notes.extend(at_path)
            if os.fstat(rotated.fd).st_size >= start.offset:
                self._set_offset(rotated, start.offset)
            else:
                notes.append("truncated")
                self._set_offset(rotated, 0)
                self._reset_next = True
            return True
        notes.append("gap")
        notes.extend(at_path)
        self._last = NOWHERE
        if candidate is None:
            return False
        self._cur = candidate
        self._set_offset(candidate, 0)
        self._reset_next = True
        return True

    def _same_head(self, f: _File, start: TailPosition) -> bool:
        head = f.head[: start.head_len]
        return len(head) == start.head_len and _fingerprint(head) == start.head_hash

    def _find_rotated(self, start: TailPosition) -> _File | None:
        """The file in the path's directory with the mark's identity (a rotated name)."""
        directory = Path(self.path).parent
        base = Path(self.path).name
        try:
            with os.scandir(directory) as entries:
                names = [
                    e.path
                    for e in entries
                    if e.name != base and e.inode() == start.inode and e.is_file()
                ]
        except OSError:
            return None
        for name in names:
            f = self._open(name, [])
            if f is None:
                continue
            if (f.dev, f.inode) == (start.dev, start.inode) and self._same_head(f, start):
                return f
            os.close(f.fd)
        return None

    def _set_offset(self, f: _File, offset: int) -> None:
        f.read_pos = f.consumed = offset
        f.partial.clear()
        f.partial_len = 0
        self._preamble = self._read_preamble(f, offset) if offset else []

    def _read_preamble(self, f: _File, offset: int) -> list[bytes]:
        try:
            data = os.pread(f.fd, min(offset, _PREAMBLE_BYTES), 0)
        except OSError:
            return []
        lines = data.split(b"\n")[:-1]  # complete lines only
        return lines[:_PREAMBLE_LINES]

    # --- reading -----------------------------------------------------------------------------

    def _read_lines(
        self,
        f: _File,
        lines: list[tuple[bytes, int | None]],
        budget: int,
        limit: int,
        notes: list[Note],
    ) -> int:
        """Read from `f` into `lines`; the number of bytes read."""
        try:
            size = os.fstat(f.fd).st_size
            if size < f.read_pos or (size > f.read_pos and not self._head_unchanged(f)):
                if self._partial_line(f, lines):
                    return 0  # the old content's last line first; the rest next time
                notes.append("truncated")
                f.head = os.pread(f.fd, HEAD_BYTES, 0)
                f.read_pos = f.consumed = 0
            want = min(budget, size - f.read_pos)
            if want <= 0:
                return 0
            data = os.pread(f.fd, want, f.read_pos)
        except OSError as e:  # EIO, ESTALE on a network file system...: try again later
            self.error = f"{self.path}: {e.strerror or e}"
            return 0
        if not data:
            return 0
        f.last_growth = self._clock()
        before = f.read_pos
        f.read_pos += len(data)
        parts = data.split(b"\n")
        max_line = self.max_line
        at = before  # the offset of parts[k]'s first byte
        for k in range(len(parts) - 1):
            if len(lines) >= limit:
                # Leave the rest for the next call; it starts at the next line.
                f.read_pos = f.consumed
                f.partial.clear()
                f.partial_len = 0
                return f.read_pos - before
            piece = parts[k]
            at += len(piece) + 1
            if f.partial_len:
                length = f.partial_len + len(piece)
                room = max_line - len(f.partial)
                if room > 0:
                    f.partial += piece[:room]
                line = bytes(f.partial)
                f.partial.clear()
                f.partial_len = 0
            else:
                length = len(piece)
                line = piece if length <= max_line else piece[:max_line]
            lines.append((line, length if length > max_line else None))
            f.consumed = at
        rest = parts[-1]
        if rest:
            room = max_line - len(f.partial)
            if room > 0:
                f.partial += rest[:room]
            f.partial_len += len(rest)
        return len(data)

    def _head_unchanged(self, f: _File) -> bool:
        """Whether the file still starts as it did (else it was truncated and rewritten)."""
        now = os.pread(f.fd, HEAD_BYTES, 0)
        if not now.startswith(f.head):
            return False
        f.head = now
        return True

    def _partial_line(self, f: _File, lines: list[tuple[bytes, int | None]]) -> bool:
        """Hand out the held last line of a file that ended without its newline."""
        if not f.partial_len:
            return False
        length = f.partial_len
        lines.append((bytes(f.partial), length if length > self.max_line else None))
        f.partial.clear()
        f.partial_len = 0
        f.consumed = f.read_pos
        return True

    def _rotated(self, f: _File) -> bool:
        """Whether `f` is finished: the path names another file and `f` has been quiet for
        the grace period."""
        try:
            st = Path(self.path).stat()
        except OSError:
            return False  # gone or unreadable: keep the open file, wait for a new one
        if (st.st_dev, st.st_ino) == (f.dev, f.inode):
            return False
        return self._clock() - f.last_growth >= self.rotate_grace

    def _close_file(self) -> None:
        if self._cur is not None:
            with contextlib.suppress(OSError):
                os.close(self._cur.fd)
            self._cur = None

    def _position(self, f: _File) -> TailPosition:
        head = f.head
        if self._hash_cache[0] != head:
            self._hash_cache = (head, _fingerprint(head))
        return TailPosition(f.dev, f.inode, f.consumed, len(head), self._hash_cache[1])


# --- the service loop ------------------------------------------------------------------------

_NOTE_TEXT: Final[dict[str, str]] = {
    "rotated": "the file was rotated; the old file was read to its end",
    "truncated": "the file was truncated; reading restarted at its start (lines written just "
    "before the truncation may be missing)",
    "gap": "the file of the last stored position is gone; reading starts the current file "
    "from its start (lines written to the old file after that position may be missing)",
    "missing": "the file does not exist; waiting for it",
    "unreadable": "the file cannot be read; trying again",
    "started": "following the file from its start (no position was stored for it)",
}


def _note_event(note: str, path: str, received: datetime, error: str | None) -> bytes:
    message = _NOTE_TEXT.get(note, note)
    if note == "unreadable" and error:
        message += f" ({error})"
    return canonical(
        {
            "@timestamp": received.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "event": {"action": f"tail.{note}", "kind": "event", "dataset": "mamori.tail"},
            "log": {"file": {"path": path}},
            "message": message,
            "mamori": {"receiver": "tail"},
        }
    )


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def run_tail(
    cfg: TailConfig,
    sink: EventSink,
    tz: tzinfo,
    *,
    stop: asyncio.Event,
    poll_interval: float = 0.25,
    batch_lines: int = 2000,
    retry_interval: float = 1.0,
) -> None:
    """Follow `cfg.path` until `stop` is set, storing its lines as events with their position.

    Starts from the sink's mark ``tail:<path>``. Each batch's events and the position after
    them are submitted together (``marks``), so a restart neither loses nor repeats a line.
    What the follower notes (rotation, truncation, a gap) is stored too, as ``tail.<note>``
    events, and so is ``tail.started`` when a file is first followed (no stored position).
    When the sink refuses a batch (:class:`SinkRejected`) the same batch is offered again
    after `retry_interval`; nothing is skipped, and the file is not read further meanwhile.
    """
    key = "tail:" + cfg.path
    stored = sink.position(key)
    start = TailPosition.from_mark(stored) if stored is not None else None
    source = Source("tail", cfg.path, None)
    normaliser = LineNormaliser(cfg.format, source, tz)
    follower = FileFollower(cfg.path, start)
    # Until a position is stored, a rotation before the first line would leave nothing to
    # find the old file by: store the first file's position at once, with an event saying
    # the file is read from its start ("gap" when a stored mark could not be read).
    first: str | None = None
    if start is None or not start.inode:
        first = "gap" if stored is not None and start is None else "started"

    def step() -> tuple[list[bytes], Chunk]:
        chunk = follower.read(max_lines=batch_lines)
        received = datetime.now(UTC)
        events = [_note_event(n, cfg.path, received, follower.error) for n in chunk.notes]
        if chunk.reset:
            normaliser.reset()
        if chunk.preamble:
            normaliser.prime(chunk.preamble)
        for line, truncated_from in chunk.lines:
            event = normaliser.event(line, received, truncated_from=truncated_from)
            if event is not None:
                events.append(event)
        return events, chunk

    try:
        while not stop.is_set():
            events, chunk = await asyncio.to_thread(step)
            if first is not None and chunk.position.inode:
                events.insert(0, _note_event(first, cfg.path, datetime.now(UTC), None))
                first = None
            if events:
                # Lines held in an unfinished multi-line record (csvlog) are not stored as
                # read: the position goes back to the record's start, so a restart reads it.
                held = normaliser.held_bytes
                position = chunk.position
                if 0 < held <= position.offset:
                    position = replace(position, offset=position.offset - held)
                marks = {key: position.to_mark()}
                while True:
                    try:
                        await sink.submit(events, receiver="tail", marks=marks)
                        break
                    except SinkRejected:
                        await _pause(stop, retry_interval)
                        if stop.is_set():
                            return  # not stored: the next start reads these lines again
            if not chunk.lines and not chunk.notes:
                await _pause(stop, poll_interval)
    finally:
        follower.close()
