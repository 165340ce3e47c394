"""The disk spool: where the ledger writer puts events while its database cannot accept them.

Layout of the spool directory (mode 0700, every file 0600)::

    lock                          flock(2)ed by the one process using the spool
    cursor                        b"mamori-spool-cursor 1 <seq>\\n": every record up to <seq>
                                  is stored in the ledger (replaced atomically, fsynced)
    spool-<16-digit seq>.seg      segments, named by the sequence number of their first record

A segment is a 20-byte header followed by records::

    header  = b"MMRSPOOL" | version u16 BE (1) | flags u16 BE (0) | first seq u64 BE
    record  = length u32 BE | crc u32 BE | seq u64 BE | payload (length bytes)
    crc     = zlib.crc32 (CRC-32/ISO-HDLC, not CRC32C) of length | seq | payload

Every record carries a **spool sequence number**, one more than the record before it, never
reused (the cursor keeps the count across emptied spools). :meth:`Spool.append` writes a whole
batch to one segment and fsyncs the file (and, for a new segment, the directory) before it
returns; only then may the caller acknowledge the events.

Replay: :meth:`Spool.pending` yields the records after the cursor in order, in batches, each
with the :class:`Position` (first and last sequence number) it covers; after storing a batch in
the ledger the caller calls :meth:`Spool.commit`, which fsyncs the cursor and then deletes
segments whose records are all committed.

The at-least-once boundary: if the process dies after the ledger commit of a batch and before
its cursor commit, that batch is replayed again on the next start. The spool does not hide
this; the ledger writer dedupes by storing each event's spool sequence number with it and
skipping sequence numbers it has already stored. With that, every acknowledged record reaches
the ledger exactly once and in order.

Damage found when opening:

- a **torn tail** (the last segment ends in a partial or failing record and no valid record
  follows it: what a crash during `append` leaves) is truncated away; its size is reported in
  :attr:`Spool.open_report`, never dropped silently. Those bytes were never acknowledged
  (unless the disk itself flipped bits in the very last record, which cannot be told apart).
- a **bad record followed by valid ones** (a bit flip, not a crash) is not truncated: the file
  is left as it is for a person to examine, the report names it, and :meth:`Spool.pending`
  yields the valid records before it and then raises :class:`SpoolCorrupt` ("stop there and
  report"). New appends go to a fresh segment.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import struct
import zlib
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from mamori.fsutil import fsync_dir, write_atomic, write_new
from mamori.ledger.errors import LedgerError

MAGIC = b"MMRSPOOL"
VERSION = 1
_HEADER = struct.Struct(">8sHHQ")
HEADER_SIZE = _HEADER.size  # 20
_RECORD = struct.Struct(">IIQ")
RECORD_OVERHEAD = _RECORD.size  # 16
_LEN_SEQ = struct.Struct(">IQ")
MAX_PAYLOAD = 0xFFFFFFFF
DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024

_SEGMENT_NAME = re.compile(r"spool-(\d{16})\.seg")
_CURSOR_NAME = "cursor"
_LOCK_NAME = "lock"
_CURSOR_PREFIX = b"mamori-spool-cursor 1 "


class SpoolError(LedgerError):
    """The spool could not do what was asked (I/O error, locked, misuse)."""


class SpoolFull(SpoolError):
    """Adding the batch would take the spool past its size limit; nothing of it was written."""


class SpoolCorrupt(SpoolError):
    """A spool file is damaged in a way a crash cannot explain; replay stops at the damage."""


@dataclass(frozen=True, slots=True)
class Position:
    """A replayed batch: the spool sequence numbers of its first and last record."""

    first: int
    last: int

    def seqs(self) -> range:
        """The sequence number of each record in the batch, in order."""
        return range(self.first, self.last + 1)


@dataclass(frozen=True, slots=True)
class SpoolStats:
    """How much the spool holds."""

    bytes_used: int
    """Bytes of all segment files on disk (committed records stay until their segment goes)."""
    records_pending: int
    """Records appended and not yet committed."""
    segments: int


@dataclass(frozen=True, slots=True)
class Damage:
    """A bad record with valid ones after it: left on disk, replay stops before it."""

    segment: Path
    offset: int
    reason: str


@dataclass(frozen=True, slots=True)
class OpenReport:
    """What opening the spool found and repaired."""

    discarded_bytes: int = 0
    """Bytes of torn tail truncated away (0 when the spool was clean)."""
    torn_segment: Path | None = None
    damage: tuple[Damage, ...] = ()
    records_pending: int = 0

    @property
    def clean(self) -> bool:
        return self.discarded_bytes == 0 and not self.damage


@dataclass(slots=True)
class _Segment:
    path: Path
    first: int
    count: int = 0
    end: int = HEADER_SIZE
    """Offset after the last valid record."""
    size: int = HEADER_SIZE
    """Size of the file on disk (larger than `end` only when damaged)."""
    damage: Damage | None = None

    @property
    def last(self) -> int:
        return self.first + self.count - 1


@dataclass(slots=True)
class _Scan:
    count: int = 0
    end: int = HEADER_SIZE
    bad_at: int | None = None
    reason: str = ""
    followed_by_valid: bool = False


def segment_name(first_seq: int) -> str:
    return f"spool-{first_seq:016d}.seg"


def _record_crc(length: int, seq: int, payload: bytes | memoryview) -> int:
    return zlib.crc32(payload, zlib.crc32(_LEN_SEQ.pack(length, seq)))


def encode_record(seq: int, payload: bytes) -> bytes:
    length = len(payload)
    return _RECORD.pack(length, _record_crc(length, seq, payload), seq) + payload


def _record_at(data: bytes, off: int, expected_seq: int | None) -> tuple[int, str]:
    """Length of the valid record at `off`, or (-1, why not)."""
    if len(data) - off < RECORD_OVERHEAD:
        return -1, "partial record header"
    length, crc, seq = _RECORD.unpack_from(data, off)
    end = off + RECORD_OVERHEAD + length
    if end > len(data):
        return -1, "record runs past the end of the file"
    payload = memoryview(data)[off + RECORD_OVERHEAD : end]
    if _record_crc(length, seq, payload) != crc:
        return -1, "CRC mismatch"
    if expected_seq is not None and seq != expected_seq:
        return -1, f"sequence {seq} where {expected_seq} was expected"
    return RECORD_OVERHEAD + length, ""


def _scan(data: bytes, first_seq: int) -> _Scan:
    """Walk the records of one segment's bytes (header included) and find where they stop."""
    scan = _Scan()
    off = HEADER_SIZE
    seq = first_seq
    while off < len(data):
        size, why = _record_at(data, off, seq)
        if size < 0:
            scan.bad_at, scan.reason = off, why
            # Is there a valid record anywhere after this? Then it is damage, not a torn tail.
            for probe in range(off + 1, len(data) - RECORD_OVERHEAD + 1):
                if _record_at(data, probe, None)[0] > 0:
                    scan.followed_by_valid = True
                    break
            break
        off += size
        seq += 1
        scan.count += 1
    scan.end = off
    return scan


class Spool:
    """An append-only, fsynced, size-limited disk queue of canonical event bytes."""

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
    ) -> None:
        if max_bytes <= HEADER_SIZE or segment_bytes <= HEADER_SIZE:
            raise SpoolError(
                f"spool limits too small (max_bytes={max_bytes}, segment_bytes={segment_bytes})",
                hint=f"give the spool at least {HEADER_SIZE + 1} bytes per segment and in total",
            )
        self.directory = directory
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self._segments: list[_Segment] = []
        self._fd: int | None = None  # append descriptor of the active (last) segment
        self._active: _Segment | None = None
        self._committed = 0
        self._next_seq = 1
        self._lock_fd: int | None = None
        try:
            if not directory.exists():
                directory.mkdir(parents=True, mode=0o700)
                directory.chmod(0o700)
            self._lock_fd = self._lock()
        except OSError as e:
            raise SpoolError(
                f"cannot open the spool directory {directory}: {e.strerror}",
                hint="check that the path exists, is a directory and is writable by mamori",
            ) from e
        try:
            self.open_report = self._recover()
        except BaseException:
            self.close()
            raise

    # -- opening ----------------------------------------------------------------------------

    def _lock(self) -> int:
        fd = os.open(
            self.directory / _LOCK_NAME,
            os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o600,
        )
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SpoolError(
                f"the spool {self.directory} is in use by another process",
                hint="run one mamori writer per spool directory",
            ) from None
        return fd

    def _read_cursor(self) -> int:
        path = self.directory / _CURSOR_NAME
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return 0
        if raw.startswith(_CURSOR_PREFIX) and raw.endswith(b"\n"):
            digits = raw[len(_CURSOR_PREFIX) : -1]
            if digits.isdigit():
                return int(digits)
        raise SpoolCorrupt(
            f"the spool cursor {path} is not a cursor file",
            hint="restore it from a backup, or examine the spool by hand before moving it aside",
        )

    def _recover(self) -> OpenReport:
        self._committed = self._read_cursor()
        names = sorted(
            (int(m.group(1)), p)
            for p in self.directory.iterdir()
            if (m := _SEGMENT_NAME.fullmatch(p.name)) is not None
        )
        discarded = 0
        torn: Path | None = None
        damage: list[Damage] = []
        changed = False
        for i, (first, path) in enumerate(names):
            is_last = i == len(names) - 1
            data = path.read_bytes()
            if len(data) < HEADER_SIZE and is_last:
                # Created by a crashed append before its header was complete: nothing in it.
                discarded += len(data)
                torn = path
                path.unlink()
                changed = True
                continue
            magic, version, _flags, hdr_first = (
                _HEADER.unpack_from(data) if len(data) >= HEADER_SIZE else (b"", 0, 0, -1)
            )
            if magic != MAGIC or version != VERSION or hdr_first != first:
                raise SpoolCorrupt(
                    f"{path} is not a mamori spool segment (version {VERSION}) or its header is damaged",
                    hint="move the file out of the spool directory and examine it",
                )
            scan = _scan(data, first)
            seg = _Segment(path, first, scan.count, scan.end, len(data))
            if scan.bad_at is not None:
                if is_last and not scan.followed_by_valid:
                    discarded += len(data) - scan.end
                    torn = path
                    self._truncate(path, scan.end)
                    seg.size = scan.end
                    changed = True
                else:
                    seg.damage = Damage(path, scan.bad_at, scan.reason)
                    damage.append(seg.damage)
            self._segments.append(seg)
        last_seen = max((s.last for s in self._segments if s.count), default=0)
        self._next_seq = max(self._committed, last_seen) + 1
        for seg in self._segments:
            if seg.damage is not None:  # never reuse a damaged segment's name
                self._next_seq = max(self._next_seq, seg.first + seg.count + 1)
        changed |= self._drop_committed(include_empty=True)
        if changed:
            fsync_dir(self.directory)
        if self._segments and self._segments[-1].damage is None:
            self._active = self._segments[-1]
        return OpenReport(discarded, torn, tuple(damage), self._pending_count())

    @staticmethod
    def _truncate(path: Path, size: int) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            os.ftruncate(fd, size)
            os.fsync(fd)
        finally:
            os.close(fd)

    def _drop_committed(self, *, include_empty: bool = False) -> bool:
        """Delete segments whose every record is committed; True when a file went."""
        keep: list[_Segment] = []
        dropped = False
        for seg in self._segments:
            done = seg.damage is None and (
                (seg.count > 0 and seg.last <= self._committed) or (include_empty and not seg.count)
            )
            if done:
                if seg is self._active:
                    self._close_fd()
                    self._active = None
                seg.path.unlink(missing_ok=True)
                dropped = True
            else:
                keep.append(seg)
        self._segments = keep
        return dropped

    # -- appending --------------------------------------------------------------------------

    def append(self, events: Sequence[bytes]) -> None:
        """Write `events` as one batch and fsync; when this returns they may be acknowledged.

        Raises :class:`SpoolFull` (nothing written) when the batch would take the spool past
        `max_bytes`, :class:`SpoolError` (nothing of the batch kept) on an I/O error.
        """
        if not events:
            return
        for event in events:
            if len(event) > MAX_PAYLOAD:
                raise SpoolError(
                    f"an event of {len(event)} bytes is too large for the spool",
                    hint="events must be smaller than 4 GiB",
                )
        needed = sum(RECORD_OVERHEAD + len(e) for e in events)
        active = self._active
        new_segment = active is None or (
            active.count > 0 and active.size + needed > self.segment_bytes
        )
        total = needed + (HEADER_SIZE if new_segment else 0)
        used = self._bytes_used()
        if used + total > self.max_bytes:
            raise SpoolFull(
                f"the spool {self.directory} is full: {used} of {self.max_bytes} bytes used, "
                f"and this batch of {len(events)} events needs {total} more",
                hint="restore the ledger's storage so the spool can drain, or raise spool max_bytes",
            )
        seq = self._next_seq
        try:
            if new_segment:
                active = self._new_segment(seq)
            assert active is not None
            fd = self._open_fd(active)
            buf = b"".join(encode_record(seq + i, e) for i, e in enumerate(events))
            try:
                view = memoryview(buf)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            except BaseException:
                # Leave nothing of a failed batch (a half-written record would read as damage).
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, active.size)
                    os.fsync(fd)
                raise
        except OSError as e:
            raise SpoolError(
                f"could not write to the spool {self.directory}: {e.strerror}",
                hint="check the spool's volume (free space, permissions, read-only mount)",
            ) from e
        active.count += len(events)
        active.end += len(buf)
        active.size += len(buf)
        self._next_seq = seq + len(events)

    def _new_segment(self, first_seq: int) -> _Segment:
        path = self.directory / segment_name(first_seq)
        self._close_fd()
        write_new(path, _HEADER.pack(MAGIC, VERSION, 0, first_seq))
        fsync_dir(self.directory)
        seg = _Segment(path, first_seq)
        self._segments = [s for s in self._segments if s.path != path]
        self._segments.append(seg)
        self._active = seg
        return seg

    def _open_fd(self, seg: _Segment) -> int:
        if self._fd is None:
            self._fd = os.open(seg.path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC)
        return self._fd

    def _close_fd(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # -- replaying --------------------------------------------------------------------------

    def pending(
        self, *, batch_records: int = 1000, batch_bytes: int = 4 * 1024 * 1024
    ) -> Generator[tuple[Position, list[bytes]], None, None]:
        """Yield the uncommitted records in append order, in batches of at most `batch_records`
        records (and about `batch_bytes` bytes); a batch never spans two segments.

        Stops with :class:`SpoolCorrupt` after the last valid record before damage.
        """
        start = self._committed + 1
        for seg in list(self._segments):
            if seg.count and seg.last < start:
                continue
            end, last = seg.end, seg.last  # records appended meanwhile wait for the next call
            batch: list[bytes] = []
            size = 0
            first = 0
            try:
                with seg.path.open("rb") as f:
                    f.seek(HEADER_SIZE)
                    off, seq = HEADER_SIZE, seg.first
                    while off < end and seq <= last:
                        head = f.read(RECORD_OVERHEAD)
                        length, crc, rseq = _RECORD.unpack(head)
                        payload = f.read(length)
                        if (
                            len(payload) != length
                            or rseq != seq
                            or _record_crc(length, rseq, payload) != crc
                        ):
                            raise SpoolCorrupt(
                                f"spool segment {seg.path} changed on disk at offset {off}",
                                hint="another program is writing to the spool directory; stop it",
                            )
                        off += RECORD_OVERHEAD + length
                        if seq >= start:
                            if not batch:
                                first = seq
                            batch.append(payload)
                            size += length
                            if len(batch) >= batch_records or size >= batch_bytes:
                                yield Position(first, seq), batch
                                batch, size = [], 0
                        seq += 1
            except FileNotFoundError:
                continue  # committed and deleted while we were replaying
            if batch:
                yield Position(first, first + len(batch) - 1), batch
            if seg.damage is not None:
                d = seg.damage
                raise SpoolCorrupt(
                    f"spool segment {d.segment} is damaged at offset {d.offset} ({d.reason}); "
                    f"replay stopped after sequence {seg.last}",
                    hint="copy the segment aside for examination; records from that offset on "
                    "in it are lost, later segments replay once it is moved out",
                )

    def commit(self, position: Position) -> None:
        """Record durably that every record up to `position.last` is stored in the ledger,
        then delete the segments that are fully replayed."""
        if position.last <= self._committed:
            return
        if position.last >= self._next_seq:
            raise SpoolError(
                f"cannot commit spool sequence {position.last}: only up to "
                f"{self._next_seq - 1} was appended",
                hint="commit only positions returned by pending()",
            )
        try:
            write_atomic(self.directory / _CURSOR_NAME, b"%s%d\n" % (_CURSOR_PREFIX, position.last))
            self._committed = position.last
            if self._drop_committed():
                fsync_dir(self.directory)
        except OSError as e:
            raise SpoolError(
                f"could not record replay progress in {self.directory}: {e.strerror}",
                hint="check the spool's volume; the last batch will replay again (dedupe by sequence)",
            ) from e

    # -- state ------------------------------------------------------------------------------

    @property
    def committed(self) -> int:
        """The last sequence number known to be stored in the ledger (0: none)."""
        return self._committed

    @property
    def next_seq(self) -> int:
        """The sequence number the next appended record will get."""
        return self._next_seq

    def _bytes_used(self) -> int:
        return sum(s.size for s in self._segments)

    def _pending_count(self) -> int:
        n = 0
        for s in self._segments:
            if s.count:
                n += s.last - max(s.first - 1, self._committed) if s.last > self._committed else 0
        return n

    def stats(self) -> SpoolStats:
        return SpoolStats(self._bytes_used(), self._pending_count(), len(self._segments))

    def close(self) -> None:
        self._close_fd()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> Spool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
