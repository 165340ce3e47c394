"""mamori.ingest.tail: following files through rotation and truncation, marks, run_tail."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mamori.config import TailConfig
from mamori.ingest.tail import HEAD_BYTES, Chunk, FileFollower, TailPosition, run_tail
from tests.ingest.fakesink import FakeSink


def lines_of(chunk: Chunk) -> list[bytes]:
    return [line for line, _ in chunk.lines]


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as f:
        f.write(data)


def rotate(path: Path, suffix: str = ".1") -> Path:
    """logrotate's default: rename, then create the path anew (empty)."""
    rotated = path.with_name(path.name + suffix)
    path.rename(rotated)
    path.write_bytes(b"")
    return rotated


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return tmp_path / "app.log"


def follower(
    path: Path, start: TailPosition | None = None, *, max_line: int = 65536
) -> FileFollower:
    """A follower that switches files as soon as the old one is read to its end."""
    return FileFollower(str(path), start, max_line=max_line, rotate_grace=0.0)


# --- marks -----------------------------------------------------------------------------------


def test_mark_round_trip() -> None:
    pos = TailPosition(2049, 131077, 4096, 12, "0123456789abcdef")
    assert TailPosition.from_mark(pos.to_mark()) == pos
    empty = TailPosition(1, 2, 0)
    assert TailPosition.from_mark(empty.to_mark()) == empty


@pytest.mark.parametrize(
    "mark",
    [
        "",
        "v1",
        "v1:1:2:3",
        "v2:1:2:3:0:",
        "v1:1:2:-3:0:",
        "v1:1:2:3:4:",  # a head length without its hash
        "v1:1:2:3:0:0123456789abcdef",  # a hash without a length
        f"v1:1:2:3:{HEAD_BYTES + 1}:0123456789abcdef",
        "v1:1:2:3:4:0123456789ABCDEF",
        "v1:99999999999999999999:2:3:0:",
        "v1:1:2:3:0:\n",
        "v1:１:2:3:0:",  # non-ASCII digits
    ],
)
def test_bad_marks_are_none(mark: str) -> None:
    assert TailPosition.from_mark(mark) is None


@given(st.text(max_size=80))
def test_from_mark_never_raises(mark: str) -> None:
    pos = TailPosition.from_mark(mark)
    assert pos is None or TailPosition.from_mark(pos.to_mark()) == pos


def test_from_mark_of_a_non_string_is_none() -> None:
    assert TailPosition.from_mark(None) is None  # type: ignore[arg-type]


# --- appending, partial and long lines -------------------------------------------------------


def test_append_and_partial_line(log: Path) -> None:
    log.write_bytes(b"one\ntwo\nthr")
    with follower(log) as f:
        chunk = f.read()
        assert lines_of(chunk) == [b"one", b"two"]
        assert chunk.reset and chunk.notes == []
        assert chunk.position.offset == 8
        assert f.read().lines == []  # "thr" waits for its newline
        append(log, b"ee\nfour\n")
        chunk = f.read()
        assert lines_of(chunk) == [b"three", b"four"]
        assert not chunk.reset
        assert chunk.position.offset == log.stat().st_size
        assert f.read().lines == []


def test_empty_lines_crlf_and_invalid_utf8_are_kept_as_bytes(log: Path) -> None:
    log.write_bytes(b"\n\xff\xfe bad\r\n\n")
    with follower(log) as f:
        assert lines_of(f.read()) == [b"", b"\xff\xfe bad\r", b""]


def test_long_lines_are_cut_and_flagged(log: Path) -> None:
    log.write_bytes(b"x" * 25 + b"\nshort\n" + b"y" * 7)
    with follower(log, max_line=10) as f:
        chunk = f.read()
        assert chunk.lines == [(b"x" * 10, 25), (b"short", None)]
        # A long line arriving in pieces: only max_line bytes are held.
        append(log, b"y" * 30)
        assert f.read().lines == []
        append(log, b"y" * 3 + b"\nz\n")
        chunk = f.read()
        assert chunk.lines == [(b"y" * 10, 40), (b"z", None)]
        assert chunk.position.offset == log.stat().st_size
        assert len(f._cur.partial) == 0 if f._cur else True


def test_exactly_max_line_is_not_flagged(log: Path) -> None:
    log.write_bytes(b"0123456789\n")
    with follower(log, max_line=10) as f:
        assert f.read().lines == [(b"0123456789", None)]


def test_max_lines_and_max_bytes_split_reads_without_loss(log: Path) -> None:
    data = b"".join(b"line %d\n" % i for i in range(100))
    log.write_bytes(data)
    got: list[bytes] = []
    with follower(log) as f:
        for _ in range(200):
            chunk = f.read(max_bytes=13, max_lines=3)
            assert len(chunk.lines) <= 3
            got += lines_of(chunk)
            if chunk.position.offset == len(data):
                break
    assert got == data.splitlines()


# --- rotation --------------------------------------------------------------------------------


def test_rotation_finishes_the_old_file_then_reads_the_new(log: Path) -> None:
    log.write_bytes(b"a\nb\n")
    with follower(log) as f:
        assert lines_of(f.read()) == [b"a", b"b"]
        old_inode = log.stat().st_ino
        append(log, b"c\n")
        rotate(log)
        append(log, b"d\n")
        chunk = f.read()
        assert lines_of(chunk) == [b"c"]  # the old file first, alone in its chunk
        assert chunk.position.inode == old_inode
        chunk = f.read()
        assert chunk.notes == ["rotated"]
        assert lines_of(chunk) == [b"d"] and chunk.reset
        assert chunk.position.inode == log.stat().st_ino


def test_rotation_emits_the_old_files_last_line_without_newline(log: Path) -> None:
    log.write_bytes(b"a\nunfinished")
    with follower(log) as f:
        assert lines_of(f.read()) == [b"a"]
        rotate(log)
        append(log, b"new\n")
        assert lines_of(f.read()) == [b"unfinished"]
        assert lines_of(f.read()) == [b"new"]


def test_rotation_with_nothing_left_switches_in_one_read(log: Path) -> None:
    log.write_bytes(b"a\n")
    with follower(log) as f:
        f.read()
        rotate(log)
        append(log, b"b\n")
        chunk = f.read()
        assert chunk.notes == ["rotated"] and lines_of(chunk) == [b"b"]


def test_rotation_waits_while_the_old_file_still_grows(log: Path) -> None:
    now = [100.0]
    log.write_bytes(b"a\n")
    with FileFollower(str(log), None, rotate_grace=1.0, clock=lambda: now[0]) as f:
        f.read()
        rotated = rotate(log)
        append(log, b"new\n")
        append(rotated, b"late\n")  # the writer has not reopened yet
        assert lines_of(f.read()) == [b"late"]
        now[0] += 0.5
        assert f.read().lines == []  # quiet, but not for long enough
        append(rotated, b"later\n")
        now[0] += 0.9
        assert lines_of(f.read()) == [b"later"]
        now[0] += 1.0
        chunk = f.read()
        assert chunk.notes == ["rotated"] and lines_of(chunk) == [b"new"]


def test_deleted_file_is_kept_until_a_new_one_appears(log: Path) -> None:
    log.write_bytes(b"a\n")
    with follower(log) as f:
        f.read()
        log.unlink()
        assert f.read() == Chunk([], f.read().position, [])
        log.write_bytes(b"b\n")
        chunk = f.read()
        assert chunk.notes == ["rotated"] and lines_of(chunk) == [b"b"]


# --- truncation ------------------------------------------------------------------------------


def test_copytruncate_restarts_at_zero(log: Path) -> None:
    log.write_bytes(b"one\ntwo\n")
    with follower(log) as f:
        f.read()
        inode = log.stat().st_ino
        with log.open("r+b") as w:  # logrotate copytruncate: copy away, then truncate in place
            w.truncate(0)
        append(log, b"three\n")
        chunk = f.read()
        assert chunk.notes == ["truncated"]
        assert lines_of(chunk) == [b"three"]
        assert chunk.position == replace(chunk.position, inode=inode, offset=6)


def test_truncated_and_rewritten_past_the_old_offset_is_noticed(log: Path) -> None:
    log.write_bytes(b"first line\n")
    with follower(log) as f:
        f.read()
        with log.open("r+b") as w:
            w.truncate(0)
        append(log, b"other content\nand more lines\n")  # longer than before: size alone misses it
        chunk = f.read()
        assert chunk.notes == ["truncated"]
        assert lines_of(chunk) == [b"other content", b"and more lines"]


def test_truncation_emits_a_held_partial_line(log: Path) -> None:
    log.write_bytes(b"a\npart")
    with follower(log) as f:
        f.read()
        with log.open("r+b") as w:
            w.truncate(0)
        append(log, b"new\n")
        chunk = f.read()
        assert chunk.notes == [] and lines_of(chunk) == [b"part"]  # the old content's, first
        chunk = f.read()
        assert chunk.notes == ["truncated"] and lines_of(chunk) == [b"new"]


# --- missing files and errors ----------------------------------------------------------------


def test_missing_file_is_waited_for(log: Path) -> None:
    with follower(log) as f:
        chunk = f.read()
        assert chunk.notes == ["missing"] and chunk.lines == []
        assert chunk.position == TailPosition(0, 0, 0)
        assert f.read().notes == []  # said once
        log.write_bytes(b"hello\n")
        chunk = f.read()
        assert lines_of(chunk) == [b"hello"] and chunk.reset


def test_a_directory_is_unreadable_not_an_error(tmp_path: Path) -> None:
    with follower(tmp_path) as f:
        chunk = f.read()
        assert chunk.notes == ["unreadable"] and chunk.lines == []
        assert f.error is not None and "not a regular file" in f.error
        assert f.read().notes == []


def test_no_file_descriptor_leak(log: Path) -> None:
    before = open_fds()
    log.write_bytes(b"a\n")
    for _ in range(5):
        f = follower(log)
        f.read()
        for i in range(3):
            append(log, b"x\n")
            rotate(log, f".{i}")
            append(log, b"y\n")
            f.read()
            f.read()
        f.close()
        f.close()  # twice is fine
        assert f.read().lines == []
        # A restart from a mark that needs the directory search.
        g = follower(log, TailPosition(1, 1, 0, 0, ""))
        g.read()
        g.close()
    assert open_fds() == before


# --- restarting from a mark ------------------------------------------------------------------


def test_restart_mid_file_neither_loses_nor_repeats(log: Path) -> None:
    log.write_bytes(b"".join(b"%d\n" % i for i in range(10)))
    f = follower(log)
    first = f.read(max_lines=4)
    assert lines_of(first) == [b"0", b"1", b"2", b"3"]
    f.read(max_lines=2)  # read but never stored: a crash happens before the sink has them
    f.close()
    append(log, b"10\n")
    with follower(log, TailPosition.from_mark(first.position.to_mark())) as g:
        chunk = g.read()
        assert lines_of(chunk) == [b"%d" % i for i in range(4, 11)]
        assert chunk.notes == [] and not chunk.reset
        assert chunk.preamble == [b"0", b"1", b"2", b"3"]


def test_restart_after_rotation_finishes_the_rotated_file(log: Path) -> None:
    log.write_bytes(b"a\nb\nc\n")
    f = follower(log)
    mark = f.read(max_lines=1).position.to_mark()
    f.close()
    rotated = rotate(log)  # rotated while mamori was down
    append(rotated, b"d\n")
    append(log, b"e\n")
    with follower(log, TailPosition.from_mark(mark)) as g:
        chunk = g.read()
        assert lines_of(chunk) == [b"b", b"c", b"d"]
        assert chunk.position.inode == rotated.stat().st_ino
        chunk = g.read()
        assert chunk.notes == ["rotated"] and lines_of(chunk) == [b"e"] and chunk.reset


def test_restart_after_two_renames_finds_the_file_by_inode(log: Path) -> None:
    log.write_bytes(b"a\nb\n")
    f = follower(log)
    mark = f.read(max_lines=1).position.to_mark()
    f.close()
    rotate(log, ".1").rename(log.with_name("app.log.2"))
    with follower(log, TailPosition.from_mark(mark)) as g:
        assert lines_of(g.read()) == [b"b"]


def test_restart_when_the_file_shrank_starts_over(log: Path) -> None:
    log.write_bytes(b"aaaa\nbbbb\n")
    f = follower(log)
    mark = f.read().position
    f.close()
    with log.open("r+b") as w:
        w.truncate(5)
    with follower(log, mark) as g:
        chunk = g.read()
        assert chunk.notes == ["truncated"] and lines_of(chunk) == [b"aaaa"]


def test_restart_when_the_marked_file_is_gone_notes_a_gap(log: Path) -> None:
    log.write_bytes(b"old\n")
    f = follower(log)
    mark = f.read().position
    f.close()
    log.unlink()
    log.write_bytes(b"new\n")
    keep = log.with_name("keep")
    keep.write_bytes(b"x")  # so the old inode number is not simply reused at once
    with follower(log, mark) as g:
        chunk = g.read()
        if chunk.notes == ["gap"]:
            assert lines_of(chunk) == [b"new"] and chunk.reset
        else:  # the file system gave the new file the old inode number: the head tells
            assert log.stat().st_ino == mark.inode
            assert chunk.notes == ["truncated"] and lines_of(chunk) == [b"new"]


def test_restart_with_other_first_bytes_starts_over(log: Path) -> None:
    log.write_bytes(b"current content\n")
    st = log.stat()
    # Same device and inode, but the mark remembers other first bytes: truncated and
    # rewritten while mamori was down, or deleted and the inode number reused.
    mark = TailPosition(st.st_dev, st.st_ino, 5, 4, "0123456789abcdef")
    with follower(log, mark) as g:
        chunk = g.read()
        assert chunk.notes == ["truncated"] and lines_of(chunk) == [b"current content"]


def test_restart_with_the_file_missing_waits(log: Path) -> None:
    mark = TailPosition(1, 12345678, 10, 0, "")
    with follower(log, mark) as g:
        chunk = g.read()
        assert chunk.notes == ["gap", "missing"]
        log.write_bytes(b"x\n")
        assert lines_of(g.read()) == [b"x"]


# --- the model: every complete line exactly once, in order -----------------------------------

_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("write"), st.lists(st.binary(max_size=12), min_size=1, max_size=4)),
        st.tuples(st.just("partial"), st.binary(min_size=1, max_size=12)),
        st.tuples(st.just("rotate"), st.booleans()),
        st.tuples(
            st.just("read"),
            st.tuples(st.integers(1, 64), st.one_of(st.none(), st.integers(1, 5))),
        ),
        st.tuples(st.just("crash"), st.none()),
    ),
    max_size=40,
)


class Model:
    """What a perfect follower emits: every line in write order (a file's unfinished last
    line counts once the file is rotated away)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines: list[bytes] = []
        self.partial = b""
        self.rotations = 0
        path.write_bytes(b"")

    def write(self, pieces: list[bytes]) -> None:
        data = b"".join(p.replace(b"\n", b"_") + b"\n" for p in pieces)
        append(self.path, data)
        for p in pieces:
            self.lines.append(self.partial + p.replace(b"\n", b"_"))
            self.partial = b""

    def write_partial(self, piece: bytes) -> None:
        piece = piece.replace(b"\n", b"_")
        append(self.path, piece)
        self.partial += piece

    def rotate(self, reuse_names: bool) -> None:
        self.rotations += 1
        if self.partial:
            self.lines.append(self.partial)
            self.partial = b""
        suffix = ".1" if reuse_names else f".{self.rotations}"
        if reuse_names:  # shift older ones like logrotate does
            for k in range(self.rotations, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{k}")
                if older.exists():
                    older.rename(self.path.with_name(f"{self.path.name}.{k + 1}"))
        rotate(self.path, suffix)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=_OPS)
def test_follower_matches_the_model(
    tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[str, Any]]
) -> None:
    path = tmp_path_factory.mktemp("model") / "m.log"
    model = Model(path)
    emitted: list[bytes] = []
    stored: tuple[str | None, int] = (None, 0)  # the sink's mark and how many lines it holds
    f = follower(path)

    def catch_up() -> None:
        nonlocal stored
        for _ in range(1000):
            chunk = f.read()
            emitted.extend(lines_of(chunk))
            assert "truncated" not in chunk.notes and "gap" not in chunk.notes
            if chunk.lines or chunk.notes or (stored[0] is None and chunk.position.inode):
                stored = (chunk.position.to_mark(), len(emitted))  # as run_tail stores them
            if not chunk.lines and not chunk.notes:
                return
        raise AssertionError("the follower never caught up")

    try:
        for op, arg in ops:
            if op == "write":
                model.write(arg)
            elif op == "partial":
                model.write_partial(arg)
            elif op == "rotate":
                # Rotations are rarer than polls: the follower has seen the current file.
                catch_up()
                model.rotate(arg)
            elif op == "read":
                max_bytes, max_lines = arg
                chunk = f.read(max_bytes, max_lines=max_lines)
                emitted.extend(lines_of(chunk))
                if chunk.lines or chunk.notes or (stored[0] is None and chunk.position.inode):
                    stored = (chunk.position.to_mark(), len(emitted))
            else:  # crash: restart from what the sink holds
                f.close()
                mark, count = stored
                del emitted[count:]
                f = follower(path, None if mark is None else TailPosition.from_mark(mark))
        # Finish: one more rotation flushes the unfinished last line.
        catch_up()
        model.rotate(False)
        catch_up()
    finally:
        f.close()
    assert emitted == model.lines


# --- run_tail --------------------------------------------------------------------------------


@pytest.fixture
def stop() -> Iterator[asyncio.Event]:
    yield asyncio.Event()


def line_docs(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events made from lines, without the follower's own (tail.*)."""
    return [d for d in docs if not str(_action(d)).startswith("tail.")]


def _action(doc: dict[str, Any]) -> Any:
    event = doc.get("event")
    return event.get("action") if isinstance(event, dict) else None


def actions(docs: list[dict[str, Any]]) -> list[Any]:
    return [_action(d) for d in docs]


async def _run_until(
    sink: FakeSink,
    cfg: TailConfig,
    predicate: Callable[[FakeSink], bool],
    *,
    retry_interval: float = 1.0,
) -> list[dict[str, Any]]:
    """Run run_tail until `predicate(sink)` holds, then stop it; the stored events."""
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_tail(cfg, sink, UTC, stop=stop, poll_interval=0.01, retry_interval=retry_interval)
    )
    try:
        await sink.wait_until(predicate)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    return sink.docs()


def test_run_tail_end_to_end_and_restart(log: Path) -> None:
    cfg = TailConfig(path=str(log), format="syslog")
    log.write_bytes(
        b"<38>Dec 10 09:32:20 LabSZ sshd[24680]: Accepted password for fztu from 119.137.62.142 port 49116 ssh2\n"
        b"<38>Dec 10 09:32:21 LabSZ sshd[24680]: second\n"
    )
    sink = FakeSink()

    docs = asyncio.run(_run_until(sink, cfg, lambda s: len(s.events) >= 3))
    assert actions(docs)[0] == "tail.started"
    docs = line_docs(docs)
    assert [d["message"] for d in docs] == [
        "Accepted password for fztu from 119.137.62.142 port 49116 ssh2",
        "second",
    ]
    first = docs[0]
    assert first["log"]["file"] == {"path": str(log)}
    assert first["mamori"]["receiver"] == "tail"
    assert first["user"] == {"name": "fztu"}
    mark = sink.marks["tail:" + str(log)]
    assert TailPosition.from_mark(mark) == TailPosition.from_mark(
        sink.batches[-1].marks["tail:" + str(log)]
    )

    # Restart: only the new line comes, once.
    append(log, b"<38>Dec 10 09:32:22 LabSZ sshd[24680]: third\n")
    docs = line_docs(asyncio.run(_run_until(sink, cfg, lambda s: len(s.events) >= 4)))
    assert [d["message"] for d in docs] == [
        "Accepted password for fztu from 119.137.62.142 port 49116 ssh2",
        "second",
        "third",
    ]


def test_run_tail_retries_a_refused_batch(log: Path) -> None:
    cfg = TailConfig(path=str(log), format="text")
    log.write_bytes(b"one\ntwo\n")
    sink = FakeSink(reject_next=3)
    docs = asyncio.run(_run_until(sink, cfg, lambda s: len(s.events) >= 3, retry_interval=0.01))
    assert [d["message"] for d in line_docs(docs)] == ["one", "two"]
    assert sink.refused == 3
    assert len(sink.batches) == 1 and sink.batches[0].marks


def test_run_tail_stopping_while_refused_stores_nothing_then_resumes(log: Path) -> None:
    cfg = TailConfig(path=str(log), format="text")
    log.write_bytes(b"one\n")
    sink = FakeSink(rejecting=True)

    async def refused_then_stop() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(
            run_tail(cfg, sink, UTC, stop=stop, poll_interval=0.01, retry_interval=0.01)
        )
        while sink.refused < 3:
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, 10)

    asyncio.run(refused_then_stop())
    assert sink.batches == [] and sink.marks == {}
    sink.rejecting = False
    docs = asyncio.run(_run_until(sink, cfg, lambda s: len(s.events) >= 2))
    assert actions(docs)[0] == "tail.started"
    assert [d["message"] for d in line_docs(docs)] == ["one"]


def test_run_tail_rotation_and_notes_are_recorded(log: Path) -> None:
    cfg = TailConfig(path=str(log), format="text")
    log.write_bytes(b"a\n")
    sink = FakeSink()

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(run_tail(cfg, sink, UTC, stop=stop, poll_interval=0.01))
        try:
            await sink.wait_until(lambda s: len(s.events) >= 1)
            rotated = rotate(log)
            append(rotated, b"b\n")
            append(log, b"c\n")
            await sink.wait_until(lambda s: any(b'"c"' in e for e in s.events))
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)

    # The default grace (1 s) applies: rotation waits for the old file to be quiet.
    asyncio.run(scenario())
    docs = sink.docs()
    assert [d["message"] for d in line_docs(docs)] == ["a", "b", "c"]
    assert actions(docs) == ["tail.started", None, None, "tail.rotated", None]


def test_run_tail_header_only_chunks_submit_nothing_and_restart_keeps_headers(
    log: Path,
) -> None:
    cfg = TailConfig(path=str(log), format="zeek")
    header = (
        b"#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n"
        b"#path\tconn\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\n"
        b"#types\ttime\tstring\taddr\tport\taddr\tport\tenum\n"
    )
    log.write_bytes(header)
    sink = FakeSink()

    async def headers_only() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(run_tail(cfg, sink, UTC, stop=stop, poll_interval=0.01))
        await asyncio.sleep(0.2)
        stop.set()
        await asyncio.wait_for(task, 10)

    asyncio.run(headers_only())
    assert actions(sink.docs()) == ["tail.started"]  # stored the position; no line events
    row = b"1591367999.305988\tC5bLoe2Mvxqhawzqqd\t192.168.4.76\t46378\t31.3.245.133\t80\ttcp\n"
    append(log, row)
    docs = line_docs(asyncio.run(_run_until(sink, cfg, lambda s: len(s.events) >= 2)))
    assert docs[0]["source"] == {"ip": "192.168.4.76", "port": 46378}
    # Restart in the middle of the file: the headers are read again for the reader's state.
    append(log, row.replace(b"46378", b"46379"))
    docs = line_docs(asyncio.run(_run_until(sink, cfg, lambda s: len(s.events) >= 3)))
    assert docs[1]["source"] == {"ip": "192.168.4.76", "port": 46379}
    assert "error" not in docs[1]


def test_run_tail_missing_file_then_created(log: Path) -> None:
    cfg = TailConfig(path=str(log), format="json")
    sink = FakeSink()

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(run_tail(cfg, sink, UTC, stop=stop, poll_interval=0.01))
        try:
            await sink.wait_until(lambda s: len(s.events) >= 1)
            log.write_bytes(b'{"a": 1}\n[1]\n')
            await sink.wait_until(lambda s: len(s.events) >= 4)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)

    asyncio.run(scenario())
    docs = sink.docs()
    assert actions(docs) == ["tail.missing", "tail.started", None, "ingest.rejected"]
    assert docs[2]["a"] == 1 and docs[2]["log"] == {"file": {"path": str(log)}}


def test_run_tail_bad_stored_mark_is_a_gap(log: Path) -> None:
    cfg = TailConfig(path=str(log), format="text")
    log.write_bytes(b"x\n")
    sink = FakeSink(marks={"tail:" + str(log): "garbage"})
    docs = asyncio.run(_run_until(sink, cfg, lambda s: len(s.events) >= 2))
    assert docs[0]["event"]["action"] == "tail.gap"
    assert docs[1]["message"] == "x"
    assert orjson.loads(sink.events[1])["message"] == "x"


_MESSY_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("write"), st.binary(max_size=40)),
        st.tuples(st.just("truncate"), st.integers(0, 30)),
        st.tuples(st.just("rotate"), st.none()),
        st.tuples(st.just("delete"), st.none()),
        st.tuples(st.just("read"), st.integers(1, 64)),
        st.tuples(st.just("crash"), st.none()),
    ),
    max_size=30,
)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=_MESSY_OPS)
def test_follower_survives_anything_and_stays_in_step(
    tmp_path_factory: pytest.TempPathFactory,
    ops: list[tuple[str, Any]],
) -> None:
    """Truncations, deletions, rotations and crashes in any order: never an exception, and a
    line written afterwards still comes out, once."""
    path = tmp_path_factory.mktemp("messy") / "m.log"
    path.write_bytes(b"")
    f = follower(path, max_line=16)
    last = TailPosition(0, 0, 0)
    n = 0
    try:
        for op, arg in ops:
            if op == "write":
                append(path, arg)
            elif op == "truncate" and path.exists():
                with path.open("r+b") as w:
                    w.truncate(min(arg, path.stat().st_size))
            elif op == "rotate" and path.exists():
                n += 1
                rotate(path, f".{n}")
            elif op == "delete" and path.exists():
                path.unlink()
            elif op == "read":
                chunk = f.read(arg)
                assert all(len(line) <= 16 for line, _ in chunk.lines)
                last = chunk.position
            elif op == "crash":
                f.close()
                f = follower(path, TailPosition.from_mark(last.to_mark()), max_line=16)
        for _ in range(100):  # catch up with everything there is
            if not f.read().lines and not f.read().lines:
                break
        append(path, b"\nsentinel\n")
        got: list[bytes] = []
        for _ in range(100):
            chunk = f.read()
            got += lines_of(chunk)
            if not chunk.lines and not chunk.notes:
                break
        assert got.count(b"sentinel") == 1 and got[-1] == b"sentinel"
    finally:
        f.close()
