"""mamori.ledger.merkle against RFC 9162 §2.1: an independent naive model and known answers."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mamori.ledger.errors import LedgerError, ProofError
from mamori.ledger.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    CompactRange,
    consistency_proof,
    fold_right,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    root_from_inclusion,
    subtree_coords,
    verify_consistency,
    verify_inclusion,
)
from tests.ledger.naive_rfc9162 import NaiveTree, largest_power_of_two_below

# --- An independent, naive RFC 9162 §2.1 model, straight from the definitions. ------------
# It works on the entries themselves (not on leaf hashes) and on slices D[lo:hi] of one fixed
# list, memoised so hypothesis can afford many examples.

MAX_SIZE = 2100
_rng = random.Random(9162)
# Distinct entries (a duplicated leaf could legitimately verify at the other index), one empty.
DATA: list[bytes] = [
    b"" if i == 3 else b"%d:" % i + _rng.randbytes(_rng.randrange(0, 40)) for i in range(MAX_SIZE)
]


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


NAIVE = NaiveTree([_h(b"\x00" + d) for d in DATA])
mth = NAIVE.mth
path = NAIVE.path
subproof = NAIVE.subproof
naive_proof = NAIVE.proof


def naive_leaf(i: int) -> bytes:
    return mth(i, i + 1)


class NaiveReader:
    """A NodeReader over DATA that records what it is asked for."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.calls: list[list[tuple[int, int]]] = []

    def nodes(self, coords: Sequence[tuple[int, int]]) -> list[bytes]:
        self.calls.append(list(coords))
        out = []
        for level, index in coords:
            lo, hi = index << level, (index + 1) << level
            assert hi <= self.size, f"read of node {(level, index)} outside size {self.size}"
            out.append(mth(lo, hi))
        return out


class NoReads:
    def nodes(self, coords: Sequence[tuple[int, int]]) -> list[bytes]:
        raise AssertionError("no node should be read")


def flip(h: bytes, bit: int) -> bytes:
    b = bytearray(h)
    b[bit // 8] ^= 1 << (bit % 8)
    return bytes(b)


# --- Known answers: the RFC 6962 test data of Certificate Transparency ----------------------
# (transparency-dev/merkle testonly/constants.go and proof/verify_test.go).

KAT_LEAVES = [
    bytes.fromhex(x)
    for x in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
              "606162636465666768696a6b6c6d6e6f"]
]  # fmt: skip
KAT_NODES = [
    [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    [
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    [
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    ["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
]
KAT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (index, size, proof); the Go vectors number leaves from 1, these from 0.
KAT_INCLUSION: list[tuple[int, int, list[str]]] = [
    (0, 1, []),
    (0, 8, [KAT_NODES[0][1], KAT_NODES[1][1], KAT_NODES[2][1]]),
    (5, 8, [KAT_NODES[0][4], KAT_NODES[1][3], KAT_NODES[2][0]]),
    (2, 3, [KAT_NODES[1][0]]),
    (1, 5, [KAT_NODES[0][0], KAT_NODES[1][1], KAT_NODES[0][4]]),
]
KAT_CONSISTENCY: list[tuple[int, int, list[str]]] = [
    (1, 1, []),
    (1, 8, [KAT_NODES[0][1], KAT_NODES[1][1], KAT_NODES[2][1]]),
    (6, 8, [KAT_NODES[1][2], KAT_NODES[1][3], KAT_NODES[2][0]]),
    (2, 5, [KAT_NODES[1][1], KAT_NODES[0][4]]),
    (6, 7, [KAT_NODES[1][2], KAT_NODES[0][6], KAT_NODES[2][0]]),
]
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


class KatReader:
    """A NodeReader serving the known node hashes of the 8-leaf tree."""

    def nodes(self, coords: Sequence[tuple[int, int]]) -> list[bytes]:
        return [bytes.fromhex(KAT_NODES[level][index]) for level, index in coords]


def test_empty_root_is_sha256_of_nothing() -> None:
    assert bytes.fromhex(KAT_ROOTS[0]) == EMPTY_ROOT
    assert root(0, NoReads()) == EMPTY_ROOT
    assert fold_right([]) == EMPTY_ROOT
    assert CompactRange().root() == EMPTY_ROOT
    assert HASH_SIZE == 32


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    assert leaf_hash(b"") == bytes.fromhex(KAT_NODES[0][0])
    assert leaf_hash(b"") != hashlib.sha256(b"").digest()
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    assert node_hash(a, b) == hashlib.sha256(b"\x01" + a + b).digest()
    assert node_hash(a, b) != node_hash(b, a)


def test_known_node_hashes_agree_with_the_naive_model() -> None:
    for level, row in enumerate(KAT_NODES):
        for index, hexhash in enumerate(row):
            lo, hi = index << level, (index + 1) << level
            assert _kat_mth(KAT_LEAVES[lo:hi]) == bytes.fromhex(hexhash)


def _kat_mth(d: list[bytes]) -> bytes:
    if not d:
        return _h(b"")
    if len(d) == 1:
        return _h(b"\x00" + d[0])
    k = largest_power_of_two_below(len(d))
    return _h(b"\x01" + _kat_mth(d[:k]) + _kat_mth(d[k:]))


@pytest.mark.parametrize("size", range(9))
def test_known_roots(size: int) -> None:
    expected = bytes.fromhex(KAT_ROOTS[size])
    assert root(size, KatReader()) == expected
    assert _kat_mth(KAT_LEAVES[:size]) == expected
    cr = CompactRange()
    cr.extend(leaf_hash(x) for x in KAT_LEAVES[:size])
    assert cr.root() == expected


def test_known_compact_ranges() -> None:
    # testonly.CompactTrees: the right edge after each size.
    n = KAT_NODES
    edges = [[], [n[0][0]], [n[1][0]], [n[1][0], n[0][2]], [n[2][0]], [n[2][0], n[0][4]],
             [n[2][0], n[1][2]], [n[2][0], n[1][2], n[0][6]], [n[3][0]]]  # fmt: skip
    cr = CompactRange()
    for size, edge in enumerate(edges):
        assert cr.size == size
        assert cr.hashes == tuple(bytes.fromhex(h) for h in edge)
        assert CompactRange.from_reader(size, KatReader()).hashes == cr.hashes
        if size < len(KAT_LEAVES):
            cr.append(leaf_hash(KAT_LEAVES[size]))


@pytest.mark.parametrize(("index", "size", "expected"), KAT_INCLUSION)
def test_known_inclusion_proofs(index: int, size: int, expected: list[str]) -> None:
    proof = inclusion_proof(index, size, KatReader())
    assert proof == [bytes.fromhex(h) for h in expected]
    leaf = leaf_hash(KAT_LEAVES[index])
    rt = bytes.fromhex(KAT_ROOTS[size])
    assert verify_inclusion(leaf, index, size, proof, rt)
    assert root_from_inclusion(leaf, index, size, proof) == rt
    # The corruptions of transparency-dev/merkle's verifierCheck, all of which must fail.
    probes: list[tuple[int, int, bytes, list[bytes], bytes]] = [
        (index - 1, size, rt, proof, leaf),
        (index + 1, size, rt, proof, leaf),
        (index ^ 2, size, rt, proof, leaf),
        (index, size * 2, rt, proof, leaf),
        (index, size // 2, rt, proof, leaf),
        (index, size, rt, proof, leaf_hash(b"WrongLeaf")),
        (index, size, EMPTY_ROOT, proof, leaf),
        (index, size, SOME_HASH, proof, leaf),
        (index, size, rt, [*proof, b""], leaf),
        (index, size, rt, [*proof, rt], leaf),
        (index, size, rt, [b"", *proof], leaf),
        (index, size, rt, [rt, *proof], leaf),
    ]
    probes += [(index, size, rt, [*proof[:i], flip(p, 3), *proof[i + 1 :]], leaf)
               for i, p in enumerate(proof)]  # fmt: skip
    if proof:
        probes.append((index, size, rt, proof[:-1], leaf))
    if len(proof) > 1:
        probes.append((index, size, rt, [proof[0], SOME_HASH, *proof[1:]], leaf))
    for i, s, r, p, lf in probes:
        assert not verify_inclusion(lf, i, s, p, r), (i, s, len(p))


@pytest.mark.parametrize(("old", "new", "expected"), KAT_CONSISTENCY)
def test_known_consistency_proofs(old: int, new: int, expected: list[str]) -> None:
    proof = consistency_proof(old, new, KatReader())
    assert proof == [bytes.fromhex(h) for h in expected]
    r1, r2 = bytes.fromhex(KAT_ROOTS[old]), bytes.fromhex(KAT_ROOTS[new])
    assert verify_consistency(old, new, r1, r2, proof)
    if not proof:
        return
    # The corruptions of transparency-dev/merkle's verifierConsistencyCheck.
    probes: list[tuple[int, int, bytes, bytes, list[bytes]]] = [
        (old - 1, new, r1, r2, proof),
        (old + 1, new, r1, r2, proof),
        (old ^ 2, new, r1, r2, proof),
        (old, new * 2, r1, r2, proof),
        (old, new // 2, r1, r2, proof),
        (old, new, b"WrongRoot", r2, proof),
        (old, new, r1, b"WrongRoot", proof),
        (old, new, r2, r1, proof),
        (old, new, r1, r2, []),
        (old, new, r1, r2, [*proof, b""]),
        (old, new, r1, r2, [*proof, r1]),
        (old, new, r1, r2, [*proof, r2]),
        (old, new, r1, r2, [b"", *proof]),
        (old, new, r1, r2, [r1, *proof]),
        (old, new, r1, r2, [r2, *proof]),
        (old, new, r1, r2, [proof[0], *proof]),
        (old, new, r1, r2, proof[:-1]),
    ]
    probes += [(old, new, r1, r2, [*proof[:i], flip(p, 4), *proof[i + 1 :]])
               for i, p in enumerate(proof)]  # fmt: skip
    for o, n, a, b, p in probes:
        assert not verify_consistency(o, n, a, b, p), (o, n)


def test_verify_consistency_trivial_cases() -> None:
    # transparency-dev/merkle TestVerifyConsistency, with our stricter empty-tree rule.
    r1, r2 = SOME_HASH, leaf_hash(b"x")
    assert not verify_consistency(0, 0, r1, r2, [])
    assert not verify_consistency(1, 1, r1, r2, [])
    assert verify_consistency(1, 1, r2, r2, [])
    assert not verify_consistency(1, 1, r2, r2, [EMPTY_ROOT])
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert not verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT])
    assert verify_consistency(0, 5, EMPTY_ROOT, r2, [])
    assert not verify_consistency(0, 5, r1, r2, [])  # an empty tree has the empty root
    assert not verify_consistency(0, 5, EMPTY_ROOT, r2, [r2])
    assert not verify_consistency(1, 0, r1, r2, [])
    assert not verify_consistency(2, 1, r1, r2, [])
    assert not verify_consistency(1, 2, r1, r2, [])


def test_verify_inclusion_single_entry() -> None:
    h = leaf_hash(b"data")
    assert verify_inclusion(h, 0, 1, [], h)
    assert not verify_inclusion(h, 0, 1, [], b"")
    assert not verify_inclusion(b"", 0, 1, [], h)
    assert not verify_inclusion(b"", 0, 1, [], b"")
    for index, size in [(0, 0), (1, 0), (2, 1), (1, 1)]:
        assert not verify_inclusion(SOME_HASH, index, size, [], EMPTY_ROOT)
        assert root_from_inclusion(SOME_HASH, index, size, []) is None


@pytest.mark.parametrize(
    "args",
    [
        (1, 1, [], bytes(32)),
        ("0", 1, [], bytes(32)),
        (-1, 1, [], bytes(32)),
        (0, -1, [], bytes(32)),
        (0, 2, [bytes(31)], bytes(32)),
        (0, 2, [bytes(33)], bytes(32)),
        (0, 2, ["00" * 32], bytes(32)),
        (0, 2, None, bytes(32)),
        (0, 2, [bytes(32)], None),
        (True, 2, [bytes(32)], bytes(32)),
        (0, 2.0, [bytes(32)], bytes(32)),
    ],
)
def test_verify_inclusion_rejects_malformed_input_without_raising(args: tuple[Any, ...]) -> None:
    assert verify_inclusion(leaf_hash(b"x"), *args) is False


@pytest.mark.parametrize(
    "args",
    [
        (-1, 2, bytes(32), bytes(32), [bytes(32)]),
        (1, 2, bytes(31), bytes(32), [bytes(32)]),
        (1, 2, bytes(32), None, [bytes(32)]),
        (1, 2, bytes(32), bytes(32), [bytes(32), 5]),
        (1, 2, bytes(32), bytes(32), None),
        ("1", 2, bytes(32), bytes(32), [bytes(32)]),
        (1, 2.5, bytes(32), bytes(32), [bytes(32)]),
    ],
)
def test_verify_consistency_rejects_malformed_input_without_raising(
    args: tuple[Any, ...],
) -> None:
    assert verify_consistency(*args) is False


# --- Generation errors ----------------------------------------------------------------------


@pytest.mark.parametrize(("index", "size"), [(0, 0), (5, 5), (6, 5), (-1, 5), (0, -1)])
def test_inclusion_proof_out_of_range(index: int, size: int) -> None:
    with pytest.raises(ProofError) as exc:
        inclusion_proof(index, size, NoReads())
    assert str(size) in exc.value.message or str(index) in exc.value.message


@pytest.mark.parametrize(("old", "new"), [(0, 0), (0, 5), (6, 5), (2, 1), (-1, 3), (1, -1)])
def test_consistency_proof_bad_sizes(old: int, new: int) -> None:
    with pytest.raises(ProofError) as exc:
        consistency_proof(old, new, NoReads())
    assert exc.value.hint or "integer" in exc.value.message


def test_proofs_reject_non_integers() -> None:
    with pytest.raises(ProofError):
        inclusion_proof(cast(Any, True), 2, NoReads())
    with pytest.raises(ProofError):
        root(cast(Any, 1.0), NoReads())


def test_proof_error_is_a_ledger_error() -> None:
    with pytest.raises(LedgerError):
        inclusion_proof(3, 3, NoReads())


def test_a_short_reader_answer_is_reported() -> None:
    class Short:
        def nodes(self, coords: Sequence[tuple[int, int]]) -> list[bytes]:
            return [bytes(32)] * (len(coords) - 1)

    with pytest.raises(LedgerError, match="returned"):
        root(3, Short())


def test_subtree_coords() -> None:
    assert subtree_coords(0, 0) == []
    assert subtree_coords(0, 13) == [(3, 0), (2, 2), (0, 12)]
    assert subtree_coords(8, 13) == [(2, 2), (0, 12)]
    assert subtree_coords(16, 32) == [(4, 1)]
    with pytest.raises(ProofError):
        subtree_coords(2, 6)  # [2, 6) would need a level-2 node at leaf 2
    with pytest.raises(ProofError):
        subtree_coords(5, 4)


@given(st.integers(0, 5000), st.integers(0, 5000))
def test_subtree_coords_tile_the_range(a: int, b: int) -> None:
    lo, hi = min(a, b), max(a, b)
    # Align lo the way RFC 9162 nodes are aligned: to a power of two >= the width.
    width = hi - lo
    align = 1 << max(0, (width - 1).bit_length()) if width else 1
    lo = lo // align * align
    hi = lo + width
    pos = lo
    coords = subtree_coords(lo, hi)
    for level, index in coords:
        assert index << level == pos
        pos += 1 << level
    assert pos == hi
    assert len(coords) == width.bit_count()
    assert [c[0] for c in coords] == sorted((c[0] for c in coords), reverse=True)


# --- Property tests against the naive model -------------------------------------------------

sizes = st.integers(1, MAX_SIZE)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, MAX_SIZE))
def test_root_matches_naive(size: int) -> None:
    reader = NaiveReader(size)
    assert root(size, reader) == mth(0, size)
    assert len(reader.calls) == (1 if size else 0)
    assert all(len(c) == size.bit_count() for c in reader.calls)


@settings(max_examples=250, deadline=None)
@given(st.data())
def test_inclusion_proof_matches_naive_and_verifies(data: st.DataObject) -> None:
    size = data.draw(sizes, label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    reader = NaiveReader(size)
    proof = inclusion_proof(index, size, reader)
    assert proof == path(index, 0, size)
    # One batched read of O(log n) perfect subtrees.
    assert len(reader.calls) == (1 if proof else 0)
    assert sum(map(len, reader.calls)) <= 2 * size.bit_length()

    leaf, rt = naive_leaf(index), mth(0, size)
    assert verify_inclusion(leaf, index, size, proof, rt)
    assert root_from_inclusion(leaf, index, size, proof) == rt

    # Any single flipped bit of any proof hash is caught.
    for i, p in enumerate(proof):
        bit = data.draw(st.integers(0, 8 * HASH_SIZE - 1), label=f"bit{i}")
        bad = [*proof[:i], flip(p, bit), *proof[i + 1 :]]
        assert not verify_inclusion(leaf, index, size, bad, rt)
    # So are a flipped leaf or root, a truncated or an extended proof.
    assert not verify_inclusion(flip(leaf, 0), index, size, proof, rt)
    assert not verify_inclusion(leaf, index, size, proof, flip(rt, 255))
    if proof:
        assert not verify_inclusion(leaf, index, size, proof[:-1], rt)
        assert not verify_inclusion(leaf, index, size, proof[1:], rt)
    assert not verify_inclusion(leaf, index, size, [*proof, rt], rt)
    assert not verify_inclusion(leaf, index, size, [rt, *proof], rt)
    assert not verify_inclusion(leaf, index, size, [*proof, leaf], rt)

    # Another index (same leaf hash, proof and root) never verifies.
    other = data.draw(st.integers(0, size).filter(lambda i: i != index), label="other index")
    assert not verify_inclusion(leaf, other, size, proof, rt)

    # Another size, even with that size's true root, verifies exactly when the true proof
    # for it is the same list of hashes (an audit path does not commit to the size itself).
    size2 = data.draw(st.integers(index + 1, MAX_SIZE).filter(lambda s: s != size), label="s2")
    same = path(index, 0, size2) == proof
    assert verify_inclusion(leaf, index, size2, proof, mth(0, size2)) == same


@settings(max_examples=250, deadline=None)
@given(st.data())
def test_consistency_proof_matches_naive_and_verifies(data: st.DataObject) -> None:
    new = data.draw(sizes, label="new")
    old = data.draw(st.integers(1, new), label="old")
    reader = NaiveReader(new)
    proof = consistency_proof(old, new, reader)
    assert proof == naive_proof(old, new)
    assert len(reader.calls) == (1 if proof else 0)
    assert sum(map(len, reader.calls)) <= 2 * new.bit_length() + 1

    r1, r2 = mth(0, old), mth(0, new)
    assert verify_consistency(old, new, r1, r2, proof)
    if old == new:
        assert proof == []
        return

    for i, p in enumerate(proof):
        bit = data.draw(st.integers(0, 8 * HASH_SIZE - 1), label=f"bit{i}")
        bad = [*proof[:i], flip(p, bit), *proof[i + 1 :]]
        assert not verify_consistency(old, new, r1, r2, bad)
    assert not verify_consistency(old, new, flip(r1, 7), r2, proof)
    assert not verify_consistency(old, new, r1, flip(r2, 7), proof)
    assert not verify_consistency(old, new, r2, r1, proof)
    assert not verify_consistency(old, new, r1, r2, proof[:-1])
    assert not verify_consistency(old, new, r1, r2, proof[1:])
    assert not verify_consistency(old, new, r1, r2, [*proof, r2])
    assert not verify_consistency(old, new, r1, r2, [r1, *proof])
    assert not verify_consistency(old, new, r1, r2, [])

    # Other sizes, even with their true roots, verify exactly when their true proof is
    # this same list of hashes.
    old2 = data.draw(st.integers(1, MAX_SIZE), label="old2")
    new2 = data.draw(st.integers(old2, MAX_SIZE), label="new2")
    if (old2, new2) != (old, new):
        same = naive_proof(old2, new2) == proof
        assert verify_consistency(old2, new2, mth(0, old2), mth(0, new2), proof) == same


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_inclusion_then_consistency_chain(data: st.DataObject) -> None:
    # A leaf proven in an old tree stays provable in the new one, and the two agree.
    new = data.draw(st.integers(2, MAX_SIZE), label="new")
    old = data.draw(st.integers(1, new - 1), label="old")
    index = data.draw(st.integers(0, old - 1), label="index")
    r_old, r_new = mth(0, old), mth(0, new)
    p_old = inclusion_proof(index, old, NaiveReader(old))
    p_new = inclusion_proof(index, new, NaiveReader(new))
    p_con = consistency_proof(old, new, NaiveReader(new))
    assert verify_inclusion(naive_leaf(index), index, old, p_old, r_old)
    assert verify_inclusion(naive_leaf(index), index, new, p_new, r_new)
    assert verify_consistency(old, new, r_old, r_new, p_con)


def test_consistency_from_powers_of_two_and_to_them() -> None:
    # The RFC's "prepend first_hash" branch and its neighbours, exhaustively for small trees.
    for new in range(1, 70):
        reader = NaiveReader(new)
        for old in range(1, new + 1):
            proof = consistency_proof(old, new, reader)
            assert proof == naive_proof(old, new), (old, new)
            assert verify_consistency(old, new, mth(0, old), mth(0, new), proof), (old, new)
        for index in range(new):
            proof = inclusion_proof(index, new, reader)
            assert proof == path(index, 0, new), (index, new)
            assert verify_inclusion(naive_leaf(index), index, new, proof, mth(0, new))


# --- CompactRange ---------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 300), max_size=12))
def test_compact_range_matches_naive(batches: list[int]) -> None:
    cr = CompactRange()
    size = 0
    for b in batches:
        b = min(b, MAX_SIZE - size)
        cr.extend(naive_leaf(i) for i in range(size, size + b))
        size += b
        assert cr.size == size
        assert cr.root() == mth(0, size)
        assert list(cr.hashes) == [mth(i << h, (i + 1) << h) for h, i in subtree_coords(0, size)]
        copy = CompactRange.from_reader(size, NaiveReader(size))
        assert copy.hashes == cr.hashes
        assert CompactRange(size, cr.hashes).root() == cr.root()


def test_compact_range_rejects_bad_state() -> None:
    with pytest.raises(LedgerError):
        CompactRange(3, [bytes(32)])  # size 3 has two right-edge subtrees
    with pytest.raises(LedgerError):
        CompactRange(1, [bytes(31)])
    with pytest.raises(ProofError):
        CompactRange(-1, [])
    cr = CompactRange()
    with pytest.raises(LedgerError):
        cr.append(b"short")
    assert cr.size == 0
