"""`mamori ledger prove`: proofs that check against a checkpoint with only the public key."""

from __future__ import annotations

import hashlib

import orjson

from mamori.home import Home
from mamori.ledger.checkpoint import open_checkpoint
from mamori.ledger.merkle import verify_consistency, verify_inclusion
from mamori.ledger.note import Verifier
from mamori.ledger.store import Reader
from tests.conftest import run
from tests.ledger.ledgerutil import fill


def test_inclusion_and_consistency_proofs_verify_offline(home: Home) -> None:
    fill(home, [7, 300, 1, 600])
    key = Verifier.parse(home.public_key_text())
    latest = run(["ledger", "checkpoint", "--home", str(home.root)])
    cp = open_checkpoint(latest.stdout.decode(), key)
    assert cp.size == 908
    with Reader(home.ledger_db) as r:
        for index in (0, 6, 7, 511, 907):
            proof = orjson.loads(
                run(["ledger", "prove", "--home", str(home.root), "--index", str(index)]).stdout
            )
            entry = r.entry(index)
            assert entry is not None and entry[1] is not None
            leaf = hashlib.sha256(b"\x00" + entry[1]).digest()
            assert proof["leaf_hash"] == leaf.hex()
            hashes = [bytes.fromhex(h) for h in proof["hashes"]]
            assert verify_inclusion(leaf, index, 908, hashes, cp.root_hash)
            assert not verify_inclusion(leaf, index ^ 1, 908, hashes, cp.root_hash)
        old = r.checkpoint(307)
        assert old is not None
    # Against an older checkpoint, by size.
    p = orjson.loads(
        run(
            ["ledger", "prove", "--home", str(home.root), "--index", "3", "--tree-size", "307"]
        ).stdout
    )
    assert p["tree_size"] == 307
    c = orjson.loads(
        run(["ledger", "prove", "--home", str(home.root), "--from", "307", "--to", "908"]).stdout
    )
    assert (c["from"], c["to"]) == (307, 908)
    hashes = [bytes.fromhex(h) for h in c["hashes"]]
    assert verify_consistency(307, 908, old.root, cp.root_hash, hashes)


def test_bad_proof_requests_are_explained(home: Home) -> None:
    fill(home, [10])
    cases = [
        (["--index", "10"], b"not in a tree of size 10"),
        (["--index", "1", "--tree-size", "5"], b"no checkpoint of tree size 5"),
        (["--from", "0", "--to", "10"], b"0 < FROM <= TO"),
        ([], b"nothing to prove"),
        (["--index", "1", "--from", "1", "--to", "2"], b"not both"),
    ]
    for args, message in cases:
        proc = run(["ledger", "prove", "--home", str(home.root), *args])
        assert proc.returncode == 2, args
        assert message in proc.stderr, (args, proc.stderr)


def test_empty_ledger_has_no_checkpoint(home: Home) -> None:
    proc = run(["ledger", "checkpoint", "--home", str(home.root)])
    assert proc.returncode == 2
    assert b"empty" in proc.stderr
