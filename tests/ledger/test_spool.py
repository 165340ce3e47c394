"""The disk spool: order, limits, replay with a cursor, torn tails, damage, kill -9, a model."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mamori.ledger.errors import LedgerError
from mamori.ledger.spool import (
    HEADER_SIZE,
    RECORD_OVERHEAD,
    Position,
    Spool,
    SpoolCorrupt,
    SpoolError,
    SpoolFull,
)

MiB = 1024 * 1024


def segments(d: Path) -> list[Path]:
    return sorted(d.glob("spool-*.seg"))


def replay(spool: Spool, *, commit: bool = False, batch_records: int = 1000) -> list[bytes]:
    out: list[bytes] = []
    for pos, batch in spool.pending(batch_records=batch_records):
        assert len(batch) == pos.last - pos.first + 1
        out.extend(batch)
        if commit:
            spool.commit(pos)
    return out


def test_round_trip_modes_and_stats(tmp_path: Path) -> None:
    d = tmp_path / "spool"
    events = [b'{"n":1}', b"", b"\x00\xff" * 100]
    with Spool(d, max_bytes=MiB) as s:
        assert s.open_report.clean
        s.append(events)
        s.append([b"four"])
        assert replay(s) == [*events, b"four"]
        st_ = s.stats()
        assert st_.records_pending == 4
        assert st_.segments == 1
        size = HEADER_SIZE + sum(RECORD_OVERHEAD + len(e) for e in [*events, b"four"])
        assert st_.bytes_used == size == segments(d)[0].stat().st_size
        assert s.next_seq == 5
    assert d.stat().st_mode & 0o777 == 0o700
    assert segments(d)[0].name == "spool-0000000000000001.seg"
    for f in d.iterdir():
        assert f.stat().st_mode & 0o777 == 0o600, f
    with Spool(d, max_bytes=MiB) as s:
        assert s.open_report.clean
        assert replay(s) == [*events, b"four"]
        positions = [p for p, _ in s.pending(batch_records=2)]
        assert positions == [Position(1, 2), Position(3, 4)]
        assert list(positions[0].seqs()) == [1, 2]


def test_order_across_segment_rotation(tmp_path: Path) -> None:
    rng = random.Random(7)
    expected: list[bytes] = []
    with Spool(tmp_path, max_bytes=MiB, segment_bytes=300) as s:
        for b in range(60):
            batch = [
                f"{b}:{i}:".encode() + b"x" * rng.randrange(40) for i in range(rng.randrange(1, 5))
            ]
            s.append(batch)
            expected.extend(batch)
        assert s.stats().segments > 10
        assert replay(s, batch_records=3) == expected
    names = [p.name for p in segments(tmp_path)]
    with Spool(tmp_path, max_bytes=MiB, segment_bytes=300) as s:
        assert s.open_report.clean
        assert replay(s) == expected
        # Each segment is named by the sequence number of its first record.
        seq = 1
        for name in names:
            assert name == f"spool-{seq:016d}.seg"
            seq += sum(1 for _ in _records_in(tmp_path / name))


def _records_in(path: Path) -> list[int]:
    data = path.read_bytes()
    off, out = HEADER_SIZE, []
    while off < len(data):
        length = int.from_bytes(data[off : off + 4], "big")
        out.append(off)
        off += RECORD_OVERHEAD + length
    return out


def test_spool_full_leaves_nothing_partial(tmp_path: Path) -> None:
    with Spool(tmp_path, max_bytes=HEADER_SIZE + 3 * (RECORD_OVERHEAD + 10)) as s:
        s.append([b"a" * 10, b"b" * 10])
        before = segments(tmp_path)[0].read_bytes()
        with pytest.raises(SpoolFull) as info:
            s.append([b"c" * 10, b"d" * 10])
        assert isinstance(info.value, LedgerError)
        assert "full" in info.value.message and info.value.hint
        assert segments(tmp_path)[0].read_bytes() == before
        assert s.stats().records_pending == 2
        assert s.next_seq == 3
        s.append([b"c" * 10])  # exactly fits
        with pytest.raises(SpoolFull):
            s.append([b""])
        assert replay(s) == [b"a" * 10, b"b" * 10, b"c" * 10]
    with Spool(tmp_path, max_bytes=MiB) as s:
        assert s.open_report.clean
        assert replay(s) == [b"a" * 10, b"b" * 10, b"c" * 10]


def test_commit_then_reopen_replays_only_the_rest_and_deletes_segments(tmp_path: Path) -> None:
    events = [f"e{i}".encode() * 10 for i in range(40)]
    with Spool(tmp_path, max_bytes=MiB, segment_bytes=200) as s:
        for i in range(0, 40, 4):
            s.append(events[i : i + 4])
        nseg = s.stats().segments
        assert nseg >= 5
        it = s.pending(batch_records=5)
        done = 0
        for _ in range(3):
            pos, batch = next(it)
            assert pos.first == done + 1
            done += len(batch)
            s.commit(pos)
        it.close()
        assert s.committed == done >= 10
        assert s.stats().records_pending == 40 - done
        assert s.stats().segments < nseg
        # Segments remaining hold at least one uncommitted record.
        assert int(segments(tmp_path)[0].name[6:22]) <= done + 1
    with Spool(tmp_path, max_bytes=MiB, segment_bytes=200) as s:
        assert s.committed == done
        assert s.stats().records_pending == 40 - done
        assert replay(s, commit=True) == events[done:]
        assert s.stats().records_pending == 0
        assert segments(tmp_path) == []
        assert s.stats().bytes_used == 0
        s.append([b"after"])  # sequence numbers continue past an emptied spool
    assert segments(tmp_path)[0].name == f"spool-{41:016d}.seg"
    with Spool(tmp_path, max_bytes=MiB) as s:
        [(pos, batch)] = list(s.pending())
        assert (pos, batch) == (Position(41, 41), [b"after"])
        s.commit(pos)
        s.commit(pos)  # idempotent
        with pytest.raises(SpoolError):
            s.commit(Position(42, 42))


def test_torn_tail_at_every_offset_of_the_last_record(tmp_path: Path) -> None:
    src = tmp_path / "src"
    events = [b"first" * 3, b"second" * 3, b"the last record"]
    with Spool(src, max_bytes=MiB) as s:
        s.append(events[:2])
        s.append(events[2:])
    seg = segments(src)[0]
    data = seg.read_bytes()
    last_start = _records_in(seg)[-1]
    assert len(data) - last_start == RECORD_OVERHEAD + len(events[2])
    for cut in range(last_start, len(data) + 1):
        d = tmp_path / f"cut{cut}"
        d.mkdir(mode=0o700)
        (d / seg.name).write_bytes(data[:cut])
        with Spool(d, max_bytes=MiB) as s:
            rep = s.open_report
            if cut == len(data):
                assert rep.clean and replay(s) == events
                continue
            assert rep.discarded_bytes == cut - last_start, cut
            assert (rep.torn_segment == d / seg.name) == (cut > last_start)
            assert not rep.damage
            assert replay(s) == events[:2]
            assert (d / seg.name).stat().st_size == last_start
            s.append([b"new"])  # appends continue right after the valid prefix
        with Spool(d, max_bytes=MiB) as s:
            assert s.open_report.clean
            assert replay(s) == [*events[:2], b"new"]
            assert [p for p, _ in s.pending()] == [Position(1, 3)]


def test_header_only_or_partial_header_segment_is_discarded(tmp_path: Path) -> None:
    with Spool(tmp_path, max_bytes=MiB) as s:
        s.append([b"a"])
    (tmp_path / f"spool-{2:016d}.seg").write_bytes(b"MMRSP")
    with Spool(tmp_path, max_bytes=MiB) as s:
        assert s.open_report.discarded_bytes == 5
        assert replay(s) == [b"a"]
        s.append([b"b"])
        assert replay(s) == [b"a", b"b"]


def test_bit_flip_in_a_middle_record_stops_replay_there_and_is_reported(tmp_path: Path) -> None:
    """Decision: damage with valid records after it is not a torn tail. The file is kept as it
    is, the report names it, replay yields the records before it and raises SpoolCorrupt."""
    events = [f"record-{i}".encode() * 4 for i in range(6)]
    with Spool(tmp_path, max_bytes=MiB) as s:
        s.append(events)
    seg = segments(tmp_path)[0]
    data = bytearray(seg.read_bytes())
    third = _records_in(seg)[2]
    data[third + RECORD_OVERHEAD + 5] ^= 0x10
    seg.write_bytes(bytes(data))
    with Spool(tmp_path, max_bytes=MiB) as s:
        rep = s.open_report
        assert rep.discarded_bytes == 0
        assert [(x.segment, x.offset) for x in rep.damage] == [(seg, third)]
        assert "CRC" in rep.damage[0].reason
        assert seg.read_bytes() == bytes(data)  # nothing truncated
        got: list[bytes] = []
        with pytest.raises(SpoolCorrupt, match="damaged at offset"):
            for pos, batch in s.pending():
                got.extend(batch)
                s.commit(pos)
        assert got == events[:2]
        # New appends go to a fresh segment; the damaged one is left for a person.
        s.append([b"later"])
        assert len(segments(tmp_path)) == 2
        assert seg.read_bytes() == bytes(data)


CHILD = r"""
import sys
from pathlib import Path
from mamori.ledger.spool import Spool
run = sys.argv[2]
s = Spool(Path(sys.argv[1]), max_bytes=1 << 30, segment_bytes=4096)
i = 0
while True:
    n = 1 + i % 7
    s.append([f"{run}:{i + k}:".encode() + b"p" * ((i + k) % 50) for k in range(n)])
    i += n
    sys.stdout.write(f"ACK {i}\n")
    sys.stdout.flush()
"""


def test_kill_9_ten_times_keeps_every_acknowledged_record_once_in_order(tmp_path: Path) -> None:
    rng = random.Random(20261127)
    d = tmp_path / "spool"
    acked: list[bytes] = []
    for run in range(10):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(d), str(run)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.startswith(b"ACK"), (line, child.stderr.read() if child.stderr else b"")
        time.sleep(rng.uniform(0.0, 0.15))
        child.send_signal(signal.SIGKILL)
        out, _ = child.communicate()
        assert child.returncode == -signal.SIGKILL
        lines = [line, *out.splitlines(keepends=True)]
        n = max(int(x.split()[1]) for x in lines if x.startswith(b"ACK") and x.endswith(b"\n"))
        acked.extend(f"{run}:{k}:".encode() + b"p" * (k % 50) for k in range(n))
    with Spool(d, max_bytes=1 << 30, segment_bytes=4096) as s:
        got = replay(s)
        assert len(set(got)) == len(got), "a record appears twice"
        acked_set = set(acked)
        assert [r for r in got if r in acked_set] == acked
        seqs = [q for p, _ in s.pending() for q in p.seqs()]
        assert seqs == sorted(set(seqs))


@st.composite
def programs(draw: st.DrawFn) -> list[tuple[str, object]]:
    ops: list[tuple[str, object]] = []
    for _ in range(draw(st.integers(1, 25))):
        kind = draw(st.sampled_from(["append", "append", "commit", "reopen"]))
        if kind == "append":
            ops.append((kind, draw(st.lists(st.binary(max_size=40), min_size=1, max_size=6))))
        elif kind == "commit":
            ops.append((kind, (draw(st.integers(1, 4)), draw(st.integers(0, 3)))))
        else:
            ops.append((kind, None))
    return ops


@settings(max_examples=60, deadline=None)
@given(programs())
def test_model_append_commit_reopen(program: list[tuple[str, object]]) -> None:
    limits = {"max_bytes": 1200, "segment_bytes": 150}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "spool"
        model: list[bytes] = []
        s = Spool(d, **limits)
        try:
            for kind, arg in program:
                if kind == "append":
                    assert isinstance(arg, list)
                    before = {p.name: p.read_bytes() for p in segments(d)}
                    try:
                        s.append(arg)
                    except SpoolFull:
                        assert {p.name: p.read_bytes() for p in segments(d)} == before
                    else:
                        model.extend(arg)
                elif kind == "commit":
                    assert isinstance(arg, tuple)
                    batch_records, nbatches = arg
                    it = s.pending(batch_records=batch_records)
                    for _ in range(nbatches):
                        step = next(it, None)
                        if step is None:
                            break
                        pos, batch = step
                        assert batch == model[: len(batch)]
                        s.commit(pos)
                        del model[: len(batch)]
                    it.close()
                else:
                    s.close()
                    s = Spool(d, **limits)
                    assert s.open_report.clean
                assert s.stats().records_pending == len(model)
                assert s.stats().bytes_used <= limits["max_bytes"]
                assert replay(s) == model
        finally:
            s.close()


def test_second_process_is_refused(tmp_path: Path) -> None:
    with Spool(tmp_path, max_bytes=MiB), pytest.raises(SpoolError, match="in use"):
        Spool(tmp_path, max_bytes=MiB)


REPLAYER = r"""
import os, sys
from pathlib import Path
from mamori.ledger.spool import Spool
s = Spool(Path(sys.argv[1]), max_bytes=1 << 30, segment_bytes=4096)
ledger = Path(sys.argv[2])
stored = 0
if ledger.exists():
    for line in ledger.read_bytes().split(b"\n")[:-1]:
        stored = int(line.split(b" ", 1)[0])
fd = os.open(ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
for pos, batch in s.pending(batch_records=int(sys.argv[3])):
    lines = [b"%d %s\n" % (q, p) for q, p in zip(pos.seqs(), batch) if q > stored]
    os.write(fd, b"".join(lines))  # the "ledger commit"
    os.fsync(fd)
    stored = max(stored, pos.last)
    s.commit(pos)  # a kill between the two replays this batch: deduped by sequence above
sys.stdout.write("DONE\n")
"""


def test_kill_9_during_replay_with_dedupe_by_sequence_stores_each_record_once(
    tmp_path: Path,
) -> None:
    d, ledger = tmp_path / "spool", tmp_path / "ledger"
    expected: list[bytes] = []
    with Spool(d, max_bytes=1 << 30, segment_bytes=4096) as s:
        for b in range(800):
            batch = [f"{b}:{k}".encode() * 3 for k in range(1 + b % 9)]
            s.append(batch)
            expected.extend(batch)
    rng = random.Random(3)
    for run in range(6):
        child = subprocess.Popen(
            [sys.executable, "-c", REPLAYER, str(d), str(ledger), str(1 + run % 3)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        if run < 5:
            time.sleep(rng.uniform(0.1, 0.25))
            child.kill()
        out, err = child.communicate()
        if run == 5:
            assert out == b"DONE\n", err
    lines = ledger.read_bytes().split(b"\n")[:-1]
    seqs = [int(x.split(b" ", 1)[0]) for x in lines]
    assert seqs == list(range(1, len(expected) + 1))
    assert [x.split(b" ", 1)[1] for x in lines] == expected
    with Spool(d, max_bytes=1 << 30) as s:
        assert s.stats().records_pending == 0
        assert segments(d) == []


def test_crash_between_cursor_and_segment_deletion(tmp_path: Path) -> None:
    d = tmp_path / "spool"
    with Spool(d, max_bytes=MiB, segment_bytes=60) as s:
        for i in range(6):
            s.append([b"%d" % i * 20])
        saved = {p: p.read_bytes() for p in segments(d)}
        positions = [p for p, _ in s.pending()]
        assert len(positions) == len(saved) == 6  # one record per segment
        s.commit(positions[3])
        assert len(segments(d)) == 2
    for p, data in saved.items():  # as if the process died before unlinking
        p.write_bytes(data)
    with Spool(d, max_bytes=MiB, segment_bytes=60) as s:
        assert s.open_report.clean
        assert replay(s) == [b"%d" % i * 20 for i in range(4, 6)]
        assert len(segments(d)) == 2
