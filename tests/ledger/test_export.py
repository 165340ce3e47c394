"""Export with a range proof: complete and authentic, checked with only the public key."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mamori.home import Home
from mamori.ledger.export import _right_coords, verify_range
from mamori.ledger.merkle import leaf_hash, subtree_coords
from tests.conftest import run
from tests.ledger.ledgerutil import fill


def export(home: Home, out: Path, *extra: str) -> dict[str, int]:
    proc = run(["ledger", "export", "--home", str(home.root), "--out", str(out), *extra])
    assert proc.returncode == 0, proc.stderr
    return dict(orjson.loads(proc.stdout))


def check(manifest: Path, home: Home) -> tuple[int, dict[str, object]]:
    proc = run(["ledger", "check-export", str(manifest), "--log-key", str(home.pub_path)])
    return proc.returncode, dict(orjson.loads(proc.stdout)) if proc.stdout else {}


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_full_export_checks(home: Home, tmp_path: Path, fmt: str) -> None:
    fill(home, [100, 157])
    out = tmp_path / f"all.{fmt}"
    res = export(home, out, "--format", fmt)
    assert res["count"] == 257
    rc, doc = check(tmp_path / f"all.{fmt}.manifest.json", home)
    assert rc == 0 and doc["ok"] is True and doc["count"] == 257


def test_time_range_export(home: Home, tmp_path: Path) -> None:
    fill(home, [50])
    time.sleep(0.05)
    mid = time.time()
    time.sleep(0.05)
    fill(home, [30])
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(mid)) + f".{int(mid % 1 * 1e6):06d}Z"
    res = export(home, tmp_path / "late.jsonl", "--since", since)
    assert (res["first"], res["end"], res["count"]) == (50, 80, 30)
    rc, doc = check(tmp_path / "late.jsonl.manifest.json", home)
    assert rc == 0, doc
    res = export(home, tmp_path / "early.jsonl", "--until", since)
    assert (res["first"], res["end"]) == (0, 50)
    assert check(tmp_path / "early.jsonl.manifest.json", home)[0] == 0


def test_dropped_or_changed_line_is_caught(home: Home, tmp_path: Path) -> None:
    fill(home, [40])
    out = tmp_path / "x.jsonl"
    export(home, out)
    manifest = tmp_path / "x.jsonl.manifest.json"
    lines = out.read_bytes().splitlines(keepends=True)
    # Drop one line and fix up the manifest's file hash and count, as a careful forger would.
    import hashlib

    forged = b"".join(lines[:10] + lines[11:])
    out.write_bytes(forged)
    m = orjson.loads(manifest.read_bytes())
    m["sha256"] = hashlib.sha256(forged).hexdigest()
    m["end"] = m["end"] - 1
    m["count"] = m["count"] - 1
    manifest.write_bytes(orjson.dumps(m))
    rc, doc = check(manifest, home)
    assert rc == 1
    problems = doc["problems"]
    assert isinstance(problems, list)
    assert any("signed root" in p for p in problems)


def test_bad_format_and_bad_time(home: Home, tmp_path: Path) -> None:
    fill(home, [3])
    proc = run(
        [
            "ledger",
            "export",
            "--home",
            str(home.root),
            "--out",
            str(tmp_path / "o"),
            "--format",
            "xml",
        ]
    )
    assert proc.returncode == 2 and b"unknown export format" in proc.stderr
    proc = run(
        [
            "ledger",
            "export",
            "--home",
            str(home.root),
            "--out",
            str(tmp_path / "o"),
            "--since",
            "yesterday-ish",
        ]
    )
    assert proc.returncode == 2 and b"is not a time" in proc.stderr


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 600), st.data())
def test_range_proof_property(size: int, data: st.DataObject) -> None:
    first = data.draw(st.integers(0, size))
    end = data.draw(st.integers(first, size))
    leaves = [leaf_hash(str(i).encode()) for i in range(size)]

    from mamori.ledger.tiles import MemoryTileSource, TileBuilder, TileNodeReader

    b = TileBuilder()
    b.append(leaves)
    src = MemoryTileSource()
    src.write_tiles(b.dirty_tiles())
    nodes = TileNodeReader(src, size)
    left = nodes.nodes(subtree_coords(0, first)) if first else []
    right = nodes.nodes(_right_coords(end, size)) if end < size else []
    root = b.root()
    assert verify_range(first, leaves[first:end], left, right, size, root)
    if end > first:
        assert not verify_range(first, leaves[first : end - 1], left, right, size, root)
        swapped = list(leaves[first:end])
        swapped[0] = leaf_hash(b"forged")
        assert not verify_range(first, swapped, left, right, size, root)


@settings(max_examples=150, deadline=None)
@given(
    st.binary(max_size=400)
    | st.dictionaries(
        st.sampled_from(["format", "file", "first", "end", "range_proof", "checkpoint", "sha256"]),
        st.none()
        | st.integers(-5, 5)
        | st.text(max_size=10)
        | st.lists(st.text(max_size=5), max_size=2),
        max_size=7,
    ).map(orjson.dumps)
)
def test_check_export_never_crashes_on_a_bad_manifest(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    from mamori.ledger.errors import LedgerError
    from mamori.ledger.export import check_export
    from mamori.ledger.note import generate_signer

    d = tmp_path_factory.mktemp("m")
    manifest = d / "x.manifest.json"
    manifest.write_bytes(data)
    try:
        check_export(manifest, generate_signer("t.example/m").verifier)
    except LedgerError as e:
        assert e.message
