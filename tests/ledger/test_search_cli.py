"""`mamori ledger search` and `reindex` as a user runs them."""

from __future__ import annotations

import orjson

from mamori.home import Home
from mamori.ledger.checkpoint import open_checkpoint
from mamori.ledger.merkle import verify_inclusion
from mamori.ledger.note import Verifier
from tests.conftest import run
from tests.ledger.ledgerutil import fill


def test_search_json_with_proofs_that_verify(home: Home) -> None:
    fill(home, [40, 20])
    proc = run(
        [
            "ledger",
            "search",
            "--home",
            str(home.root),
            "outcome:failure user:user0",
            "--json",
            "--with-proof",
        ]
    )
    assert proc.returncode == 0, proc.stderr
    hits = [orjson.loads(line) for line in proc.stdout.splitlines()]
    # sample_event: failure when i % 4 == 0, user{i % 5}: i in {0, 20, 40}
    assert [h["index"] for h in hits] == [40, 20, 0]
    cp = open_checkpoint(
        run(["ledger", "checkpoint", "--home", str(home.root)]).stdout.decode(),
        Verifier.parse(home.public_key_text()),
    )
    for h in hits:
        assert h["event"]["user"]["name"] == "user0"
        proof = h["proof"]
        assert proof["tree_size"] == cp.size == 60
        assert verify_inclusion(
            bytes.fromhex(proof["leaf_hash"]),
            h["index"],
            cp.size,
            [bytes.fromhex(x) for x in proof["hashes"]],
            cp.root_hash,
        )
    # The leaf hash is that of the stored entry: recompute it from the exported line.
    out = run(["ledger", "prove", "--home", str(home.root), "--index", "40"])
    assert orjson.loads(out.stdout)["leaf_hash"] == hits[0]["proof"]["leaf_hash"]


def test_search_text_fields_limit_and_japanese(home: Home) -> None:
    fill(home, [30])
    proc = run(
        [
            "ledger",
            "search",
            "--home",
            str(home.root),
            "ログイン",
            "--field",
            "host.name=web-01",
            "--limit",
            "2",
        ]
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.decode().splitlines()
    assert len(lines) == 2
    assert all("ログイン" in line for line in lines)
    assert (
        lines[0].split()[0] == "28" and lines[1].split()[0] == "25"
    )  # web-01: i % 3 == 1, newest first


def test_search_errors_are_explained(home: Home) -> None:
    fill(home, [3])
    bad = run(["ledger", "search", "--home", str(home.root), '"unclosed'])
    assert bad.returncode == 2 and b"column" in bad.stderr
    bad = run(["ledger", "search", "--home", str(home.root), "x", "--field", "novalue"])
    assert bad.returncode == 2 and b"K=V" in bad.stderr
    bad = run(["ledger", "search", "--home", str(home.root), "x", "--since", "2026-13-45"])
    assert bad.returncode == 2 and b"is not a time" in bad.stderr
    none = run(["ledger", "search", "--home", str(home.root), "nothing-matches-this"])
    assert none.returncode == 0 and b"no events match" in none.stderr


def test_reindex_rebuilds_the_same_results(home: Home) -> None:
    fill(home, [50])
    before = run(
        ["ledger", "search", "--home", str(home.root), "login", "--json", "--limit", "100"]
    ).stdout
    (home.index_dir / "search.db").unlink()
    r = run(["ledger", "reindex", "--home", str(home.root)])
    assert r.returncode == 0, r.stderr
    assert orjson.loads(r.stdout)["indexed"] == 50
    after = run(
        ["ledger", "search", "--home", str(home.root), "login", "--json", "--limit", "100"]
    ).stdout
    assert before == after and len(before.splitlines()) == 50
