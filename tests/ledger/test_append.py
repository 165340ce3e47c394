"""`mamori ledger append` as a user runs it: files, pipes, bad lines, faults."""

from __future__ import annotations

import base64
import os
import sqlite3
import subprocess
import time
from pathlib import Path

import orjson
import pytest

from mamori.home import Home
from mamori.ledger.store import Reader
from tests.conftest import MAMORI, run


def test_append_file_reports_counts_and_keeps_rejected_lines(home: Home, tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(
        b'{"message":"one"}\nnot json\n\n[1,2]\n{"message":"\xe6\x97\xa5\xe6\x9c\xac"}\n'
    )
    proc = run(["ledger", "append", "--home", str(home.root), str(src)])
    assert proc.returncode == 0, proc.stderr
    assert orjson.loads(proc.stdout) == {"appended": 2, "rejected": 2, "tree_size": 4}
    err = proc.stderr.decode()
    assert "line 2: not valid JSON" in err and "event 1" in err
    assert "line 4: a JSON array, not an object" in err and "event 2" in err
    with Reader(home.ledger_db) as r:
        bodies = [orjson.loads(b or b"") for _, _, b in r.entries()]
    assert [b["index"] for b in bodies] == [0, 1, 2, 3]
    assert bodies[0]["event"] == {"message": "one"}
    assert base64.b64decode(bodies[1]["event"]["mamori"]["ingest"]["raw"]) == b"not json"
    assert bodies[3]["event"] == {"message": "日本"}


def test_append_stdin_and_env_home(home: Home) -> None:
    proc = run(
        ["ledger", "append", "-"], input=b'{"a":1}\n{"a":2}\n', env={"MAMORI_HOME": str(home.root)}
    )
    assert proc.returncode == 0, proc.stderr
    assert orjson.loads(proc.stdout) == {"appended": 2, "rejected": 0, "tree_size": 2}


def test_huge_line_is_kept_truncated(home: Home, tmp_path: Path) -> None:
    cfg = home.config_path.read_text().replace(
        "max_event_bytes = 1048576", "max_event_bytes = 2048"
    )
    home.config_path.write_text(cfg)
    big = b'{"message":"' + b"x" * 100_000 + b'"}'
    proc = run(["ledger", "append", "--home", str(home.root)], input=big + b'\n{"ok":true}\n')
    assert orjson.loads(proc.stdout) == {"appended": 1, "rejected": 1, "tree_size": 2}
    with Reader(home.ledger_db) as r:
        entry = r.entry(0)
    assert entry is not None and entry[1] is not None
    info = orjson.loads(entry[1])["event"]["mamori"]["ingest"]
    assert info["truncated"] is True and info["original_bytes"] == len(big)
    assert base64.b64decode(info["raw"]) == big[:2048]


def test_slow_pipe_is_committed_within_the_batch_delay(home: Home) -> None:
    # A writer that keeps the pipe open: events must be acknowledged (checkpointed) ~1 s later,
    # not when the pipe closes.
    proc = subprocess.Popen(
        [MAMORI, "ledger", "append", "--home", str(home.root), "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None
    proc.stdin.write(b'{"n":1}\n')
    proc.stdin.flush()
    deadline = time.monotonic() + 10
    size = 0
    while time.monotonic() < deadline:
        time.sleep(0.2)
        with Reader(home.ledger_db) as r:
            size = r.tree_size()
        if size:
            break
    assert size == 1
    out, _ = proc.communicate(input=b'{"n":2}\n', timeout=30)
    assert orjson.loads(out)["tree_size"] == 2


def test_missing_home_names_the_fix(tmp_path: Path) -> None:
    proc = run(["ledger", "append", "--home", str(tmp_path / "none")], input=b"{}\n")
    assert proc.returncode == 2
    assert b"does not exist" in proc.stderr and b"mamori init" in proc.stderr


def test_no_home_at_all(tmp_path: Path) -> None:
    proc = run(["ledger", "append"], input=b"{}\n")
    assert proc.returncode == 2
    assert b"MAMORI_HOME" in proc.stderr


def test_unreadable_input_file(home: Home, tmp_path: Path) -> None:
    proc = run(["ledger", "append", "--home", str(home.root), str(tmp_path / "absent.jsonl")])
    assert proc.returncode == 2
    assert b"cannot read" in proc.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="a read-only bind mount needs root")
def test_read_only_home(home: Home, tmp_path: Path) -> None:
    run(["ledger", "append", "--home", str(home.root)], input=b'{"a":1}\n')
    ro = tmp_path / "ro"
    ro.mkdir()
    if subprocess.run(["mount", "--bind", str(home.root), str(ro)], check=False).returncode:
        pytest.skip("cannot bind-mount here")
    try:
        if subprocess.run(["mount", "-o", "remount,bind,ro", str(ro)], check=False).returncode:
            pytest.skip("cannot remount read-only here")
        proc = run(["ledger", "append", "--home", str(ro)], input=b'{"a":2}\n')
        assert proc.returncode == 2
        assert b"read-only" in proc.stderr or b"cannot" in proc.stderr
    finally:
        subprocess.run(["umount", str(ro)], check=False)
    with Reader(home.ledger_db) as r:
        assert r.tree_size() == 1


def test_corrupted_database_gives_a_message(home: Home) -> None:
    run(["ledger", "append", "--home", str(home.root)], input=b'{"a":1}\n')
    for suffix in ("-wal", "-shm"):
        Path(str(home.ledger_db) + suffix).unlink(missing_ok=True)
    home.ledger_db.write_bytes(b"this is not a database" * 500)
    proc = run(["ledger", "append", "--home", str(home.root)], input=b'{"a":1}\n')
    assert proc.returncode == 2
    assert b"corrupted" in proc.stderr
    v = run(["ledger", "verify", "--home", str(home.root)])
    assert v.returncode == 2 and b"corrupted" in v.stderr


def test_second_writer_is_refused(home: Home) -> None:
    from mamori.ledger.writer import Sequencer

    with Sequencer(home):
        proc = run(["ledger", "append", "--home", str(home.root)], input=b'{"a":1}\n')
    assert proc.returncode == 2
    assert b"another mamori process" in proc.stderr


def test_triggers_refuse_update_and_delete(home: Home) -> None:
    run(["ledger", "append", "--home", str(home.root)], input=b'{"a":1}\n')
    conn = sqlite3.connect(home.ledger_db)
    with pytest.raises(sqlite3.IntegrityError, match="cannot be deleted"):
        conn.execute("DELETE FROM events")
    with pytest.raises(sqlite3.IntegrityError, match="cannot be changed"):
        conn.execute("UPDATE events SET body = x'00'")
    with pytest.raises(sqlite3.IntegrityError, match="checkpoints cannot be changed"):
        conn.execute("UPDATE checkpoints SET root = x'00'")
    conn.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_full_disk_loses_nothing_acknowledged(home: Home, tmp_path: Path) -> None:
    import shutil

    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mnt)], check=False
    ).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        small = mnt / "home"
        shutil.copytree(home.root, small)
        events = b"".join(
            b'{"message":"%s"}\n' % (b"x" * 200 + str(i).encode()) for i in range(20_000)
        )
        cfg = (
            (small / "mamori.toml")
            .read_text()
            .replace("batch_max_events = 8192", "batch_max_events = 100")
        )
        (small / "mamori.toml").write_text(cfg)
        proc = run(["ledger", "append", "--home", str(small)], input=events)
        assert proc.returncode == 2
        assert b"full" in proc.stderr
        acked = orjson.loads(proc.stdout.splitlines()[0])
        assert acked["tree_size"] > 0
        v = run(["ledger", "verify", "--home", str(small), "--json"])
        doc = orjson.loads(v.stdout)
        assert v.returncode == 0, doc
        assert doc["tree_size"] >= acked["tree_size"]
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_large_input_parsed_in_the_worker_keeps_order_and_rejections(
    home: Home, tmp_path: Path
) -> None:
    # Over a few MiB the parsing moves to a second process; line numbers, indices, rejected
    # lines and a line split across chunk boundaries must come out exactly as in one process.
    cfg = home.config_path.read_text().replace("batch_max_events = 8192", "batch_max_events = 1000")
    home.config_path.write_text(cfg)
    src = tmp_path / "big.jsonl"
    bad = {5, 4_999, 12_345, 29_999}
    with src.open("wb") as f:
        for i in range(30_000):
            if i in bad:
                f.write(b"not json %d\n" % i)
            else:
                f.write(orjson.dumps({"n": i, "pad": "p" * (150 + i % 97), "msg": "ログ"}) + b"\n")
    assert src.stat().st_size > 4 << 20
    proc = run(["ledger", "append", "--home", str(home.root), str(src)])
    assert proc.returncode == 0, proc.stderr
    assert orjson.loads(proc.stdout) == {
        "appended": 30_000 - len(bad),
        "rejected": len(bad),
        "tree_size": 30_000,
    }
    for i in sorted(bad):
        assert f"line {i + 1}: not valid JSON".encode() in proc.stderr
        assert f"stored as ingest.rejected event {i}\n".encode() in proc.stderr
    with Reader(home.ledger_db) as r:
        for idx, _, body in r.entries():
            ev = orjson.loads(body or b"")["event"]
            if idx in bad:
                assert base64.b64decode(ev["mamori"]["ingest"]["raw"]) == b"not json %d" % idx
                assert ev["mamori"]["ingest"]["line"] == idx + 1
            else:
                assert ev["n"] == idx


def test_failed_commit_leaves_nothing_and_the_writer_continues(home: Home) -> None:
    # A storage error mid-batch (here: disk full on the insert) rolls the whole batch back; the
    # writer reloads its tree from what is stored and the next batch commits and verifies.
    from mamori.errors import MamoriError
    from mamori.ledger.entries import prepare_value
    from mamori.ledger.note import Verifier
    from mamori.ledger.verify import verify
    from mamori.ledger.writer import Sequencer

    with Sequencer(home) as seq:
        seq.commit([prepare_value({"n": 1})])
        real = seq.conn

        class FullDisk:
            def __getattr__(self, name: str) -> object:
                return getattr(real, name)

            def executemany(self, sql: str, rows: object) -> None:
                if "tiles" in sql:
                    raise sqlite3.OperationalError("database or disk is full")
                real.executemany(sql, rows)  # type: ignore[arg-type]

        seq.conn = FullDisk()  # type: ignore[assignment]
        with pytest.raises(MamoriError, match="full"):
            seq.commit([prepare_value({"n": 2}), prepare_value({"n": 3})])
        seq.conn = real
        assert seq.size == 1
        seq.commit([prepare_value({"n": 4})])
    with Reader(home.ledger_db) as r:
        assert r.tree_size() == 2
        assert [orjson.loads(b or b"")["event"]["n"] for _, _, b in r.entries()] == [1, 4]
        assert verify(r, Verifier.parse(home.public_key_text())).ok
