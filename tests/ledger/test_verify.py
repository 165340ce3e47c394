"""Tampering: each kind of change made directly in the SQLite file is found, named, located."""

from __future__ import annotations

import base64

import orjson
import pytest

from mamori.home import Home
from mamori.ledger.note import Verifier
from mamori.ledger.store import Reader
from mamori.ledger.verify import KINDS, Report, verify
from tests.conftest import run
from tests.ledger.ledgerutil import fill, tamper

BATCHES = [100, 300, 1, 250, 349]  # 1000 events, 5 checkpoints, several tiles
SIZE = sum(BATCHES)


def check(home: Home) -> Report:
    with Reader(home.ledger_db) as r:
        return verify(r, Verifier.parse(home.public_key_text()))


def kinds(report: Report) -> list[tuple[int | None, str]]:
    return [(p.index, p.kind) for p in report.problems]


@pytest.fixture
def filled(home: Home) -> Home:
    fill(home, BATCHES)
    return home


def test_intact_ledger_verifies(filled: Home) -> None:
    report = check(filled)
    assert report.ok, report.problems
    assert report.tree_size == SIZE
    assert report.leaves_hashed == SIZE
    assert report.signatures == len(BATCHES)
    assert report.consistency_pairs == len(BATCHES) - 1


def test_modified_body(filled: Home) -> None:
    tamper(
        filled,
        (
            "UPDATE events SET body = replace(body, 'login attempt', 'LOGIN attempt') WHERE idx = ?",
            (417,),
        ),
    )
    assert kinds(check(filled)) == [(417, "modified")]


def test_modified_body_keeping_its_index(filled: Home) -> None:
    tamper(
        filled,
        ("UPDATE events SET body = replace(body, 'failure', 'success') WHERE idx = ?", (400,)),
    )
    assert kinds(check(filled)) == [(400, "modified")]


def test_deleted_row(filled: Home) -> None:
    tamper(filled, ("DELETE FROM events WHERE idx = ?", (10,)))
    assert kinds(check(filled)) == [(10, "missing")]


def test_deleted_row_and_renumbered(filled: Home) -> None:
    tamper(
        filled,
        ("DELETE FROM events WHERE idx = ?", (600,)),
        ("UPDATE events SET idx = -idx WHERE idx > ?", (600,)),
        ("UPDATE events SET idx = -idx - 1 WHERE idx < 0", ()),
    )
    assert kinds(check(filled)) == [(600, "missing")]


def test_row_inserted_at_the_end(filled: Home) -> None:
    tamper(
        filled,
        ("INSERT INTO events(idx, received, body) VALUES (?, 0, ?)", (SIZE, b'{"event":{}}')),
    )
    assert kinds(check(filled)) == [(SIZE, "inserted")]


def test_row_inserted_in_the_middle_and_renumbered(filled: Home) -> None:
    forged = b'{"event":{"message":"forged"},"index":250,"received":"2026-11-27T00:00:00.000000Z"}'
    tamper(
        filled,
        ("UPDATE events SET idx = -idx WHERE idx >= ?", (250,)),
        ("UPDATE events SET idx = -idx + 1 WHERE idx < 0 OR idx = 0 AND body IS NULL", ()),
        ("INSERT INTO events(idx, received, body) VALUES (?, 0, ?)", (250, forged)),
    )
    assert kinds(check(filled)) == [(250, "inserted")]


def test_two_rows_swapped(filled: Home) -> None:
    tamper(
        filled,
        ("UPDATE events SET idx = -1 WHERE idx = ?", (5,)),
        ("UPDATE events SET idx = 5 WHERE idx = ?", (900,)),
        ("UPDATE events SET idx = 900 WHERE idx = -1", ()),
    )
    assert kinds(check(filled)) == [(5, "reordered"), (900, "reordered")]


def test_adjacent_rows_swapped(filled: Home) -> None:
    tamper(
        filled,
        ("UPDATE events SET idx = -1 WHERE idx = ?", (41,)),
        ("UPDATE events SET idx = 41 WHERE idx = ?", (42,)),
        ("UPDATE events SET idx = 42 WHERE idx = -1", ()),
    )
    assert kinds(check(filled)) == [(41, "reordered"), (42, "reordered")]


def test_truncated(filled: Home) -> None:
    tamper(filled, ("DELETE FROM events WHERE idx >= ?", (970,)))
    assert kinds(check(filled)) == [(970, "truncated")]


def test_checkpoint_signature_altered(filled: Home) -> None:
    with Reader(filled.ledger_db) as r:
        cp = r.checkpoint(400)
    assert cp is not None
    head, sig = cp.note.rsplit(" ", 1)
    raw = bytearray(base64.b64decode(sig))
    raw[10] ^= 1
    forged = head + " " + base64.b64encode(bytes(raw)).decode() + "\n"
    tamper(filled, ("UPDATE checkpoints SET note = ? WHERE tree_size = ?", (forged, 400)))
    assert kinds(check(filled)) == [(None, "bad-signature")]


def test_checkpoint_root_altered(filled: Home) -> None:
    tamper(filled, ("UPDATE checkpoints SET root = zeroblob(32) WHERE tree_size = ?", (401,)))
    report = check(filled)
    assert {k for _, k in kinds(report)} == {"checkpoint-mismatch"}
    assert any("401" in p.detail for p in report.problems)


def test_body_and_its_leaf_hash_both_changed_are_caught_by_the_signed_roots(filled: Home) -> None:
    # An attacker who rewrites a body AND its stored leaf hash: the signed roots no longer match.
    with Reader(filled.ledger_db) as r:
        tile = r.read_tiles([(0, 1)])[(0, 1)]
    forged_tile = tile[:32] + bytes(32) + tile[64:]
    tamper(filled, ("UPDATE tiles SET hashes = ? WHERE level = 0 AND number = 1", (forged_tile,)))
    report = check(filled)
    assert not report.ok
    found = {k for _, k in kinds(report)}
    assert "checkpoint-mismatch" in found and "modified" in found
    assert (257, "modified") in kinds(report)


def test_every_kind_is_documented() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "ledger-format.md").read_text()
    for kind in KINDS:
        assert f"`{kind}`" in doc, kind


def test_cli_exit_codes_and_json(filled: Home) -> None:
    ok = run(["ledger", "verify", "--home", str(filled.root), "--json"])
    assert ok.returncode == 0
    assert orjson.loads(ok.stdout)["ok"] is True
    tamper(filled, ("DELETE FROM events WHERE idx = ?", (3,)))
    bad = run(["ledger", "verify", "--home", str(filled.root), "--json"])
    assert bad.returncode == 1
    doc = orjson.loads(bad.stdout)
    assert doc["ok"] is False
    assert doc["problems"] == [{"index": 3, "kind": "missing", "detail": "event 3 was deleted"}]
    text = run(["ledger", "verify", "--home", str(filled.root)])
    assert text.returncode == 1
    assert b"OK" not in text.stdout
    assert b"missing" in text.stdout
    missing = run(["ledger", "verify", "--home", str(filled.root / "nope")])
    assert missing.returncode == 2
    assert b"does not exist" in missing.stderr


def test_parallel_body_check_finds_the_same(filled: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    # Large ledgers check bodies in a second process; force that path on a small one.
    import mamori.ledger.verify as verify_mod

    monkeypatch.setattr(verify_mod, "PARALLEL_MIN", 1)
    assert check(filled).ok
    tamper(
        filled,
        ("UPDATE events SET body = replace(body, 'failure', 'success') WHERE idx = ?", (400,)),
        ("DELETE FROM events WHERE idx = ?", (10,)),
    )
    report = check(filled)
    assert kinds(report) == [(10, "missing"), (400, "modified")]
    assert report.leaves_hashed == SIZE - 1


def test_interior_tile_altered_or_deleted_is_a_tile_mismatch(home: Home) -> None:
    # Tiles above level 0 are derived; a damaged one would make proofs fail, so verify says so.
    fill(home, [70_000])  # level-1 tiles exist from 65,536 leaves on
    with Reader(home.ledger_db) as r:
        tile = r.read_tiles([(1, 0)])[(1, 0)]
    tamper(
        home,
        ("UPDATE tiles SET hashes = ? WHERE level = 1 AND number = 0", (bytes(32) + tile[32:],)),
    )
    assert kinds(check(home)) == [(None, "tile-mismatch")]
    tamper(home, ("DELETE FROM tiles WHERE level = 1 AND number = 0", ()))
    report = check(home)
    assert kinds(report) == [(None, "tile-mismatch")]
    assert "missing" in report.problems[0].detail
