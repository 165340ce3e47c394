"""Reading an import in worker processes (parallel.py) while this process writes: the same
records, problems, counts and digest as reading it here, in the source's order, one
transaction (nothing stored when a worker dies), and the collector left as it was."""

from __future__ import annotations

import datetime as dt
import gc
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest

from mamori.vuln import importer, parallel
from mamori.vuln.errors import VulnError
from mamori.vuln.importer import ImportResult, import_path
from mamori.vuln.store import Counts, Store
from tests.vuln.test_importer import make_zip, osv


def _square(fixed: int, chunk: Sequence[int]) -> list[tuple[int, int, bool]]:
    return [(fixed, x * x, gc.isenabled()) for x in chunk]


def _slow(fixed: float, chunk: Sequence[int]) -> list[tuple[int, int]]:
    time.sleep(fixed)
    return [(os.getpid(), x) for x in chunk]


def _die(fixed: int, chunk: Sequence[int]) -> list[int]:
    if 7 in chunk and os.getpid() != fixed:
        os._exit(3)  # a worker killed mid-import (the OOM killer, say)
    return list(chunk)


def test_ordered_keeps_the_chunks_order_in_workers_and_here() -> None:
    chunks = [list(range(i, i + 3)) for i in range(0, 30, 3)]
    here = list(parallel.ordered(_square, 2, chunks, workers=0))
    there = list(parallel.ordered(_square, 2, chunks, workers=2))
    assert here == there
    assert [x for part in here for _, x, _ in part] == [x * x for x in range(30)]
    assert all(not enabled for part in there for _, _, enabled in part)  # paused in workers
    assert gc.isenabled()


def test_the_caller_reads_the_last_chunks_rather_than_wait() -> None:
    chunks = [[i] for i in range(12)]
    parts = list(parallel.ordered(_slow, 0.05, chunks, workers=1))
    assert [x for part in parts for _, x in part] == list(range(12))  # still in order
    readers = [pid for part in parts for pid, _ in part]
    assert os.getpid() in readers  # some were stolen by the caller...
    assert readers[0] != os.getpid()  # ...from the end, never the one it waits for first
    assert set(readers) - {os.getpid()}


def test_two_threads_at_once_each_get_their_own_results() -> None:
    # The forked job is a module global: a second run while one is forking reads in its own
    # thread instead of taking the other's job.
    results: dict[int, list[list[tuple[int, int]]]] = {}

    def run(base: int) -> None:
        chunks = [[base + i] for i in range(6)]
        results[base] = list(parallel.ordered(_slow, 0.03, chunks, workers=1))

    threads = [threading.Thread(target=run, args=(b,)) for b in (0, 100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for base in (0, 100):
        assert [x for part in results[base] for _, x in part] == [base + i for i in range(6)]
    assert not parallel._BUSY.locked() and parallel._JOB is None


def test_a_worker_that_dies_is_an_error_not_a_short_import() -> None:
    # The first chunk is never the caller's to read (it steals from the end, while waiting).
    chunks = [[7, 8], [1, 2], [3, 4], [9]]
    with pytest.raises(VulnError, match="stopped unexpectedly"):
        list(parallel.ordered(_die, os.getpid(), chunks, workers=1))
    assert parallel._JOB is None


def _zip_source(tmp_path: Path) -> Path:
    members: dict[str, bytes] = {}
    for i in range(40):
        members[f"A-{i:03d}.json"] = orjson.dumps(osv(f"A-{i:03d}", f"pkg{i % 7}"))
    members["BAD.json"] = b"{not json"
    # the same id twice, in different parts: the newer wins, the older is counted
    members["Z-dup-old.json"] = orjson.dumps(osv("A-001", "pkg1", "2025-01-01T00:00:00Z"))
    members["Z-dup-new.json"] = orjson.dumps(osv("A-002", "pkg2", "2026-06-01T00:00:00Z"))
    path = tmp_path / "all.zip"
    path.write_bytes(make_zip(members))
    return path


def _dir_source(tmp_path: Path) -> Path:
    root = tmp_path / "vulns"
    for i in range(30):
        folder = root / f"pkg{i % 4}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"B-{i:03d}.json").write_bytes(orjson.dumps(osv(f"B-{i:03d}", f"pkg{i % 4}")))
    (root / "pkg0" / "broken.yaml").write_text("id: [unclosed\n")
    return root


def _contents(path: Path) -> list[Any]:
    with sqlite3.connect(path) as conn:
        return [
            conn.execute("SELECT id, modified, record, form FROM advisory ORDER BY id").fetchall(),
            conn.execute("SELECT * FROM package ORDER BY 1, 2, 3").fetchall(),
            conn.execute("SELECT * FROM alias ORDER BY 1, 2").fetchall(),
        ]


def _same(a: ImportResult, b: ImportResult) -> None:
    assert (a.kind, a.sha256, a.read, a.counts, a.problems, a.data_date) == (
        b.kind,
        b.sha256,
        b.read,
        b.counts,
        b.problems,
        b.data_date,
    )


@pytest.mark.parametrize("source", [_zip_source, _dir_source])
def test_workers_import_exactly_what_reading_here_imports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: Any
) -> None:
    monkeypatch.setattr(importer, "ZIP_PART", 4)
    monkeypatch.setattr(importer, "DIR_PART", 3)
    path = source(tmp_path)
    results = {}
    for workers in (0, 1, 2):
        with Store(tmp_path / f"w{workers}.db") as store:
            results[workers] = import_path(store, path, workers=workers)
            snap = store.snapshots()[0]
            assert (snap.records, snap.counts, snap.problems) == (
                results[workers].read,
                results[workers].counts,
                len(results[workers].problems),
            )
    _same(results[0], results[1])
    _same(results[0], results[2])
    assert len(results[0].problems) == 1
    assert _contents(tmp_path / "w0.db") == _contents(tmp_path / "w1.db")
    assert _contents(tmp_path / "w0.db") == _contents(tmp_path / "w2.db")
    if source is _zip_source:
        assert results[0].counts == Counts(imported=40, replaced=1, older=1)
        assert results[0].data_date == dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def test_an_import_whose_worker_dies_stores_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "ZIP_PART", 4)
    real = importer._zip_part

    parent = os.getpid()

    def dies_on_the_first(fixed: tuple[bytes, str], infos: Sequence[Any]) -> importer.Part:
        if any(i.filename == "A-000.json" for i in infos) and os.getpid() != parent:
            os._exit(9)
        return real(fixed, infos)

    monkeypatch.setattr(importer, "_zip_part", dies_on_the_first)
    path = _zip_source(tmp_path)
    with Store(tmp_path / "x.db") as store:
        with pytest.raises(VulnError, match="stopped unexpectedly") as raised:
            import_path(store, path, workers=1)
        assert "nothing of this import was stored" in (raised.value.hint or "")
        assert store.count() == 0 and store.snapshots() == []
        # and the database is usable afterwards
        monkeypatch.setattr(importer, "_zip_part", real)
        assert import_path(store, path, workers=1).read == 42
    assert gc.isenabled()


def test_workers_of_a_caller_killed_outright_exit_too(tmp_path: Path) -> None:
    # The caller is SIGKILLed mid-import; its worker must not wait on its queue for ever.
    script = tmp_path / "caller.py"
    script.write_text(
        "import os, sys, time\n"
        "from mamori.vuln import parallel\n"
        "def nap(fixed, chunk):\n"
        "    time.sleep(fixed)\n"
        "    return chunk\n"
        "for part in parallel.ordered(nap, 30.0, [[0], [1], [2]], workers=1):\n"
        "    pass\n"
    )
    caller = subprocess.Popen([sys.executable, str(script)])
    try:
        deadline = time.monotonic() + 20
        workers: list[int] = []
        while not workers and time.monotonic() < deadline:
            time.sleep(0.1)
            workers = _children(caller.pid)
        assert workers, "the caller started no worker"
    finally:
        caller.kill()
        caller.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
