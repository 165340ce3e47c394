"""The witness as the agency runs it, through the CLI, against a real ledger home."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson

from mamori.home import Home
from mamori.ledger.store import Reader
from tests.conftest import run
from tests.ledger.ledgerutil import fill, tamper


def step(home: Home, wdir: Path, tmp: Path, old: int | None) -> tuple[int, bytes, bytes]:
    cp = run(["ledger", "checkpoint", "--home", str(home.root)]).stdout
    size = int(cp.decode().splitlines()[1])
    (tmp / "cp.txt").write_bytes(cp)
    args = [
        "ledger",
        "witness",
        "--state",
        str(wdir),
        "--log-key",
        str(home.pub_path),
        "--checkpoint",
        str(tmp / "cp.txt"),
    ]
    if old is not None:
        proof = run(
            ["ledger", "prove", "--home", str(home.root), "--from", str(old), "--to", str(size)]
        )
        (tmp / "proof.json").write_bytes(proof.stdout)
        args += ["--proof", str(tmp / "proof.json")]
    proc = run(args)
    return proc.returncode, proc.stdout, proc.stderr


def test_witness_cosigns_growth_and_refuses_a_rewrite_signed_with_the_real_key(
    home: Home, tmp_path: Path
) -> None:
    wdir = tmp_path / "witness"
    init = run(
        ["ledger", "witness", "init", "--state", str(wdir), "--name", "witness.agency.example/w1"]
    )
    assert init.returncode == 0, init.stderr
    (tmp_path / "witness.pub").write_bytes(init.stdout)
    fill(home, [50])
    rc, out, err = step(home, wdir, tmp_path, None)
    assert rc == 0, err
    assert out.count("— ".encode()) == 2  # the log's signature and the witness's cosignature
    (tmp_path / "cosigned.txt").write_bytes(out)
    add = run(
        [
            "ledger",
            "cosignature",
            "add",
            "--home",
            str(home.root),
            "--witness-key",
            str(tmp_path / "witness.pub"),
            str(tmp_path / "cosigned.txt"),
        ]
    )
    assert add.returncode == 0, add.stderr
    assert orjson.loads(add.stdout)["tree_size"] == 50
    shown = run(["ledger", "checkpoint", "--home", str(home.root)]).stdout
    assert b"witness.agency.example/w1" in shown
    # verify checks the stored cosignature with the witness's key, and counts it unchecked without
    v = run(
        [
            "ledger",
            "verify",
            "--home",
            str(home.root),
            "--json",
            "--witness-key",
            str(tmp_path / "witness.pub"),
        ]
    )
    assert v.returncode == 0, v.stdout
    assert orjson.loads(v.stdout)["checked"]["cosignatures"] == 1
    v = run(["ledger", "verify", "--home", str(home.root), "--json"])
    assert orjson.loads(v.stdout)["checked"]["cosignatures_unchecked"] == 1

    fill(home, [30])
    rc, out, err = step(home, wdir, tmp_path, 50)
    assert rc == 0, err

    # The operator rewrites event 10 and re-signs everything with the real key: a new ledger
    # built from the same key and origin, with one event different.
    forged = tmp_path / "forged"
    shutil.copytree(home.root, forged)
    fh = Home(forged)
    for p in fh.ledger_dir.glob("ledger.db*"):
        p.unlink()
    from mamori.ledger.store import connect_writer

    connect_writer(fh.ledger_db).close()
    from mamori.ledger.entries import prepare_value
    from mamori.ledger.writer import Sequencer
    from tests.ledger.ledgerutil import sample_event

    with Sequencer(fh) as seq:
        events = [sample_event(i) for i in range(100)]
        events[10] = {**events[10], "message": "nothing happened here"}
        seq.commit([prepare_value(e) for e in events])
    with Reader(fh.ledger_db) as r:
        assert r.tree_size() == 100
    rc, out, err = step(fh, wdir, tmp_path, 80)
    assert rc == 1
    assert b"history was rewritten" in err
    assert out == b""
    # Still the honest log is accepted afterwards: the refusal changed nothing.
    fill(home, [20])
    rc, out, err = step(home, wdir, tmp_path, 80)
    assert rc == 0, err


def test_witness_usage_errors(tmp_path: Path) -> None:
    proc = run(["ledger", "witness", "--state", str(tmp_path)])
    assert proc.returncode == 2
    assert b"needs --state WDIR --log-key FILE --checkpoint FILE" in proc.stderr
    proc = run(
        [
            "ledger",
            "witness",
            "--state",
            str(tmp_path / "w"),
            "--log-key",
            str(tmp_path / "x"),
            "--checkpoint",
            str(tmp_path / "y"),
        ]
    )
    assert proc.returncode == 2
    assert b"cannot read" in proc.stderr


def test_garbled_checkpoint_note_is_a_bad_signature(home: Home) -> None:
    # A checkpoint note replaced by garbage is reported, not skipped.
    fill(home, [5])
    tamper(home, ("UPDATE checkpoints SET note = 'x' WHERE tree_size = 5", ()))
    proc = run(["ledger", "verify", "--home", str(home.root), "--json"])
    assert proc.returncode == 1
    assert orjson.loads(proc.stdout)["problems"][0]["kind"] == "bad-signature"


def test_forged_stored_cosignature_is_reported(home: Home, tmp_path: Path) -> None:
    wdir = tmp_path / "w"
    init = run(["ledger", "witness", "init", "--state", str(wdir), "--name", "w.example/1"])
    (tmp_path / "w.pub").write_bytes(init.stdout)
    fill(home, [10])
    rc, out, err = step(home, wdir, tmp_path, None)
    assert rc == 0, err
    (tmp_path / "c.txt").write_bytes(out)
    run(
        [
            "ledger",
            "cosignature",
            "add",
            "--home",
            str(home.root),
            "--witness-key",
            str(tmp_path / "w.pub"),
            str(tmp_path / "c.txt"),
        ]
    )
    with Reader(home.ledger_db) as r:
        line = r.cosignatures(10)[0]
    head, sig = line.rsplit(" ", 1)
    import base64

    raw = bytearray(base64.b64decode(sig))
    raw[-1] ^= 1
    forged = head + " " + base64.b64encode(bytes(raw)).decode()
    tamper(home, ("UPDATE cosignatures SET line = ? WHERE tree_size = 10", (forged,)))
    v = run(
        [
            "ledger",
            "verify",
            "--home",
            str(home.root),
            "--json",
            "--witness-key",
            str(tmp_path / "w.pub"),
        ]
    )
    assert v.returncode == 1
    assert [p["kind"] for p in orjson.loads(v.stdout)["problems"]] == ["bad-cosignature"]
