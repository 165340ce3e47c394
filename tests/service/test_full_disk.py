"""A real full disk: the ledger on a small tmpfs that fills during a stream (SEC-5 "when logs
cannot be stored"). Events go to the spool on another volume, are replayed once space returns,
and every acknowledged event is in the ledger exactly once; verify passes."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mamori.ledger.spool import Spool
from tests.conftest import run
from tests.service.svc import Client, Up, actions, events, ingest_token, service_home


@contextlib.contextmanager
def small_fs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a size-limited tmpfs here (needs root): {proc.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(directory: Path) -> Path:
    """Write a file until the filesystem has no byte left."""
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as f:
        for size in (1 << 20, 64 << 10, 4096, 512, 1):
            with contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * size)
    return filler


def test_full_disk_spools_and_replays_with_no_loss_and_no_duplicate(tmp_path: Path) -> None:
    home = service_home(tmp_path / "h", **{"spool.path": f'"{tmp_path / "spool"}"'})
    token = ingest_token(home)
    saved = home.root.parent / "ledger-saved"
    shutil.move(str(home.ledger_dir), str(saved))
    with small_fs(home.ledger_dir, "24m"):
        for f in saved.iterdir():
            shutil.copy2(f, home.ledger_dir / f.name)
        up = Up(home).wait_ready()
        acked: dict[int, str] = {}
        spooled_acks = 0
        n = 0

        def send(count: int) -> list[dict[str, object]]:
            nonlocal n, spooled_acks
            items = [
                {"message": f"stream {n + i}", "seq": n + i, "pad": "p" * 800} for i in range(count)
            ]
            r = client.post(items)
            assert r.status_code in (200, 202), r.text
            body = r.json()
            assert body["accepted"] == count
            if r.status_code == 202:
                assert body["spooled"] is True
                spooled_acks += 1
            for it in items:
                acked[int(it["seq"])] = "spool" if r.status_code == 202 else "ledger"  # type: ignore[call-overload]
            n += count
            return items

        client = Client(home, up.ports["https"], token)
        try:
            for _ in range(5):
                send(100)
            filler = _fill(home.ledger_dir)
            # Keep streaming until the ledger's storage refuses (SQLite reuses WAL pages for a
            # while before it needs new blocks), and some more after that.
            for _ in range(400):
                send(100)
                if spooled_acks >= 5:
                    break
            assert spooled_acks >= 5, "the ledger never ran out of space"
            assert any(rec["msg"] == "ledger storage unavailable: spooling" for rec in up.logs())
            metrics = client.http.get("/metrics")  # ingest token has no metrics scope
            assert metrics.status_code == 403
            filler.unlink()
            for _ in range(5):
                send(100)
            t0 = time.monotonic()
            while time.monotonic() - t0 < 30:
                if any(rec["msg"] == "ledger storage is back: spool replayed" for rec in up.logs()):
                    break
                time.sleep(0.1)
            else:
                raise AssertionError(up.stderr())
        finally:
            client.close()
            rc = up.stop()
        assert rc == 0, up.stderr()
        seqs = [e["seq"] for e in events(home) if "seq" in e]
        assert sorted(seqs) == sorted(acked), "every acknowledged event exactly once"
        assert len(seqs) == len(set(seqs))
        assert seqs == sorted(seqs), "in the order they were acknowledged"
        acts = actions(home)
        assert acts.index("ledger.store_unavailable") < acts.index("ledger.store_recovered")
        verify = run(["ledger", "verify", "--home", str(home.root)])
        assert verify.returncode == 0, verify.stdout + verify.stderr
        with Spool(tmp_path / "spool", max_bytes=1 << 30) as spool:
            assert spool.stats().records_pending == 0
