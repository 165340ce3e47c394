"""Tests for mamori.ledger.witness: the decision core and the file-backed witness state."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import stat
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mamori.ledger import merkle, note
from mamori.ledger.checkpoint import Checkpoint, extract_cosignatures, sign_checkpoint
from mamori.ledger.errors import LedgerError, NoteError, ProofError
from mamori.ledger.proofs import ConsistencyProof
from mamori.ledger.witness import (
    Accept,
    ProofFile,
    Refuse,
    WitnessRefused,
    WitnessState,
    WitnessStateError,
    decide,
    format_proof,
    parse_proof,
)

ORIGIN = "host.example/mamori/1a2b3c4d"

# ------------------------------------------------------------------------------------------
# A tiny naive RFC 9162 Merkle tree, independent of mamori.ledger.merkle.
# ------------------------------------------------------------------------------------------


def _leaf(d: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + d).digest()  # RFC 9162 §2.1.1


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()  # RFC 9162 §2.1.1


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k  # the largest power of two smaller than n


def mth(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]), RFC 9162 §2.1.1."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return _leaf(leaves[0])
    k = _split(len(leaves))
    return _node(mth(leaves[:k]), mth(leaves[k:]))


def _subproof(m: int, leaves: Sequence[bytes], complete: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b), RFC 9162 §2.1.4.1."""
    n = len(leaves)
    if m == n:
        return [] if complete else [mth(leaves)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], complete), mth(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), mth(leaves[:k])]


def consistency_proof(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) for 0 < m <= n, RFC 9162 §2.1.4.1."""
    return _subproof(m, leaves, True)


def naive_verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2, plus: old == 0 (empty tree) needs an empty proof."""
    if old > new:
        return False
    if old == new:
        return not proof and old_root == new_root
    if old == 0:
        return not proof
    path = list(proof)
    if old & (old - 1) == 0:
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = _node(c, fr), _node(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = _node(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0


class Log:
    """A toy log: leaves in memory, checkpoints signed with a real note key."""

    def __init__(self, signer: note.Signer, leaves: Sequence[bytes] = ()) -> None:
        self.signer = signer
        self.leaves = list(leaves)

    def append(self, count: int, tag: str = "") -> None:
        start = len(self.leaves)
        self.leaves.extend(f"entry {i}{tag}".encode() for i in range(start, start + count))

    def checkpoint(self) -> Checkpoint:
        return Checkpoint(self.signer.name, len(self.leaves), mth(self.leaves))

    def note(self) -> str:
        return sign_checkpoint(self.checkpoint(), self.signer)

    def proof_from(self, old: int) -> list[bytes]:
        if old == 0 or old == len(self.leaves):
            return []
        return consistency_proof(old, self.leaves)


def test_naive_tree_agrees_with_mamori_merkle() -> None:
    # Ties the test oracle to the production verifier used by WitnessState by default.
    leaves = [f"leaf {i}".encode() for i in range(40)]
    for n in range(1, 41):
        for m in range(1, n + 1):
            proof = consistency_proof(m, leaves[:n])
            old_root, new_root = mth(leaves[:m]), mth(leaves[:n])
            assert naive_verify_consistency(m, n, old_root, new_root, proof)
            assert merkle.verify_consistency(m, n, old_root, new_root, proof)
            if proof:
                bad = [*proof[:-1], hashlib.sha256(proof[-1]).digest()]
                assert not naive_verify_consistency(m, n, old_root, new_root, bad)
                assert not merkle.verify_consistency(m, n, old_root, new_root, bad)


# ------------------------------------------------------------------------------------------
# decide(): the pure core
# ------------------------------------------------------------------------------------------

LEAVES = [f"e{i}".encode() for i in range(200)]


def cp(n: int, leaves: Sequence[bytes] = LEAVES, origin: str = ORIGIN) -> Checkpoint:
    return Checkpoint(origin, n, mth(leaves[:n]))


def test_decide_first_checkpoint_is_trusted_on_first_use() -> None:
    d = decide(None, cp(5), [], naive_verify_consistency)
    assert isinstance(d, Accept) and d.advances
    assert "trust on first use" in d.reason


def test_decide_accepts_a_growing_chain() -> None:
    last: Checkpoint | None = None
    for n in (1, 2, 3, 4, 7, 8, 9, 16, 17, 100, 120, 200):
        new = cp(n)
        proof = [] if last is None else consistency_proof(last.size, LEAVES[:n])
        d = decide(last, new, proof, naive_verify_consistency)
        assert isinstance(d, Accept) and d.advances, (last, n, d)
        last = new


def test_decide_same_size_same_root_is_accepted_without_advancing() -> None:
    d = decide(cp(9), cp(9), [], naive_verify_consistency)
    assert d == Accept("same tree as the accepted checkpoint of size 9", advances=False)


def test_decide_same_size_other_root_is_refused() -> None:
    forked = Checkpoint(ORIGIN, 9, mth([b"x", *LEAVES[1:9]]))
    d = decide(cp(9), forked, [], naive_verify_consistency)
    assert isinstance(d, Refuse)
    assert "different root hash" in d.reason and "forked" in d.reason


def test_decide_refuses_rollback() -> None:
    d = decide(cp(120), cp(90), [], naive_verify_consistency)
    assert d == Refuse(
        "checkpoint of size 90 is smaller than the accepted checkpoint of size 120:"
        " the log was rolled back or history was rewritten"
    )


def test_decide_refuses_rewritten_history() -> None:
    rewritten = [*LEAVES[:3], b"forged", *LEAVES[4:150]]
    new = Checkpoint(ORIGIN, 150, mth(rewritten))
    # The best the rewriter can offer: a valid proof inside the rewritten tree.
    proof = consistency_proof(120, rewritten)
    d = decide(cp(120), new, proof, naive_verify_consistency)
    assert isinstance(d, Refuse)
    assert d.reason.startswith(
        "checkpoint of size 150 is not consistent with the accepted checkpoint of size 120"
    )
    assert "history was rewritten" in d.reason


def test_decide_refuses_missing_or_wrong_proof() -> None:
    assert isinstance(decide(cp(5), cp(9), [], naive_verify_consistency), Refuse)
    wrong_from = consistency_proof(4, LEAVES[:9])  # a proof from the wrong old size
    assert isinstance(decide(cp(5), cp(9), wrong_from, naive_verify_consistency), Refuse)
    d = decide(cp(5), cp(9), [b"short"], naive_verify_consistency)
    assert d == Refuse("hash 1 of the consistency proof is not 32 bytes")
    d = decide(cp(5), cp(9), [bytes(32)] * 129, naive_verify_consistency)
    assert isinstance(d, Refuse) and "at most 128" in d.reason


def test_decide_refuses_other_origin() -> None:
    d = decide(cp(5), cp(9, origin="other.example/log"), [], naive_verify_consistency)
    assert isinstance(d, Refuse) and "other.example/log" in d.reason


def test_decide_passes_sizes_and_roots_to_the_verifier() -> None:
    calls: list[tuple[int, int, bytes, bytes, list[bytes]]] = []

    def spy(old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
        calls.append((old, new, old_root, new_root, list(proof)))
        return True

    proof = consistency_proof(5, LEAVES[:9])
    assert isinstance(decide(cp(5), cp(9), proof, spy), Accept)
    assert calls == [(5, 9, cp(5).root_hash, cp(9).root_hash, proof)]


def test_decide_turns_verifier_errors_into_refusals() -> None:
    def raising(old: int, new: int, old_root: bytes, new_root: bytes, p: Sequence[bytes]) -> bool:
        raise ProofError("sizes out of order")

    d = decide(cp(5), cp(9), [], raising)
    assert isinstance(d, Refuse) and "sizes out of order" in d.reason


def test_decide_from_empty_tree() -> None:
    empty = Checkpoint(ORIGIN, 0, hashlib.sha256(b"").digest())
    assert isinstance(decide(empty, cp(9), [], merkle.verify_consistency), Accept)
    assert isinstance(decide(empty, cp(9), [bytes(32)], merkle.verify_consistency), Refuse)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_property_consistent_accepted_rewritten_refused(data: st.DataObject) -> None:
    n = data.draw(st.integers(min_value=2, max_value=70), label="n")
    m = data.draw(st.integers(min_value=1, max_value=n - 1), label="m")
    leaves = LEAVES[:n]
    good = decide(cp(m), cp(n), consistency_proof(m, leaves), naive_verify_consistency)
    assert isinstance(good, Accept)
    # Rewrite one leaf the witness already covered, and prove within the rewritten tree.
    i = data.draw(st.integers(min_value=0, max_value=m - 1), label="i")
    rewritten = [*leaves[:i], b"rewritten", *leaves[i + 1 :]]
    forged = Checkpoint(ORIGIN, n, mth(rewritten))
    bad = decide(cp(m), forged, consistency_proof(m, rewritten), naive_verify_consistency)
    assert isinstance(bad, Refuse)
    assert isinstance(
        decide(cp(m), forged, consistency_proof(m, rewritten), merkle.verify_consistency), Refuse
    )


# ------------------------------------------------------------------------------------------
# Proof files
# ------------------------------------------------------------------------------------------


def test_proof_file_round_trip() -> None:
    hashes = consistency_proof(5, LEAVES[:9])
    text = format_proof(5, hashes)
    assert text.startswith("old 5\n")
    assert text.count("\n") == 1 + len(hashes)
    assert parse_proof(text) == ProofFile(5, tuple(hashes))
    assert parse_proof(format_proof(None, hashes)) == ProofFile(None, tuple(hashes))
    assert parse_proof(text.encode()) == ProofFile(5, tuple(hashes))
    assert parse_proof("") == ProofFile(None, ())
    assert parse_proof(text.rstrip("\n")) == ProofFile(5, tuple(hashes))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("old 05\n", "not 'old <size>'"),
        ("old -1\n", "not 'old <size>'"),
        ("old\n", "line 1 .* not a base64 32-byte hash"),
        ("AAAA\n", "line 1 .* not a base64 32-byte hash"),
        (f"old 1\n{base64.b64encode(bytes(32)).decode()}\n\n", "line 3"),
        (f"{base64.b64encode(bytes(32)).decode()} \n", "line 1"),
        ("\u00e9\n", "line 1"),
    ],
)
def test_proof_file_errors(text: str, match: str) -> None:
    with pytest.raises(NoteError, match=match):
        parse_proof(text)
    with pytest.raises(NoteError, match="not ASCII"):
        parse_proof(b"\xff")


def test_proof_file_accepts_mamori_ledger_prove_json() -> None:
    hashes = consistency_proof(5, LEAVES[:9])
    text = json.dumps(ConsistencyProof(5, 9, hashes).as_json(), indent=2)
    assert parse_proof(text) == ProofFile(5, tuple(hashes), 9)
    assert parse_proof(text.encode()) == ProofFile(5, tuple(hashes), 9)


@pytest.mark.parametrize(
    ("record", "match"),
    [
        ({"from": 1, "to": 2}, "exactly 'from', 'to' and 'hashes'"),
        ({"from": 1, "to": 2, "hashes": [], "x": 1}, "exactly"),
        ({"from": -1, "to": 2, "hashes": []}, "'from' is not a tree size"),
        ({"from": True, "to": 2, "hashes": []}, "'from' is not a tree size"),
        ({"from": 1, "to": "2", "hashes": []}, "'to' is not a tree size"),
        ({"from": 1, "to": 2, "hashes": "ab"}, "must be a list"),
        ({"from": 1, "to": 2, "hashes": ["ab"]}, "hash 1 of the proof is not 64 hex digits"),
        ({"from": 1, "to": 2, "hashes": ["zz" * 32]}, "hash 1"),
        ({"from": 1, "to": 2, "hashes": [" a" * 32]}, "hash 1"),
    ],
)
def test_json_proof_errors(record: dict[str, object], match: str) -> None:
    with pytest.raises(NoteError, match=match):
        parse_proof(json.dumps(record))
    with pytest.raises(NoteError, match="not valid JSON"):
        parse_proof("{")


@settings(max_examples=200)
@given(st.text())
def test_fuzz_parse_proof_raises_only_note_error(s: str) -> None:
    with contextlib.suppress(NoteError):
        parse_proof(s)


# ------------------------------------------------------------------------------------------
# WitnessState: the file-backed edge
# ------------------------------------------------------------------------------------------


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.fixture
def wdir(tmp_path: Path) -> Path:
    return tmp_path / "witness"


@pytest.fixture
def log() -> Log:
    return Log(note.generate_signer(ORIGIN))


def snapshot(directory: Path) -> dict[str, tuple[bytes, int]]:
    """Every file's bytes and mtime (ns) under ``directory``, except the lock file."""
    return {
        str(p.relative_to(directory)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def test_init_creates_tight_modes_and_returns_vkey(wdir: Path) -> None:
    vkey = WitnessState(wdir).init("witness.example/w1")
    assert mode(wdir) == 0o700
    assert mode(wdir / "witness.key") == 0o600
    assert mode(wdir / "logs") == 0o700
    assert (wdir / "witness.pub").read_text() == vkey + "\n"
    v = note.CosignatureVerifier.parse(vkey)
    assert v.name == "witness.example/w1"
    assert WitnessState(wdir).vkey() == vkey
    assert WitnessState(wdir).verifier() == v
    assert (wdir / "witness.key").read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")


def test_init_modes_ignore_a_permissive_umask(wdir: Path) -> None:
    old = os.umask(0)
    try:
        WitnessState(wdir).init("witness.example/w1")
    finally:
        os.umask(old)
    assert mode(wdir) == 0o700
    assert mode(wdir / "witness.key") == 0o600


def test_init_refuses_to_overwrite(wdir: Path) -> None:
    state = WitnessState(wdir)
    first = state.init("witness.example/w1")
    key_bytes = (wdir / "witness.key").read_bytes()
    with pytest.raises(WitnessStateError, match="refusing to overwrite"):
        state.init("witness.example/w2")
    assert (wdir / "witness.key").read_bytes() == key_bytes
    assert state.vkey() == first


def test_init_refuses_a_bad_name(wdir: Path) -> None:
    with pytest.raises(NoteError, match="not valid"):
        WitnessState(wdir).init("bad name")
    assert not wdir.exists()


def test_uninitialised_state_is_reported(wdir: Path, log: Log) -> None:
    log.append(3)
    with pytest.raises(WitnessStateError, match="no witness") as info:
        WitnessState(wdir).cosign(log.signer.vkey, log.note(), [])
    assert info.value.hint is not None and "witness init" in info.value.hint


def test_cosign_chain_of_growing_checkpoints(wdir: Path, log: Log) -> None:
    state = WitnessState(wdir)
    vkey = state.init("witness.example/w1")
    witness = note.CosignatureVerifier.parse(vkey)
    accepted = 0
    for step, count in enumerate((1, 1, 2, 3, 9, 16, 1, 100)):
        log.append(count)
        out = state.cosign(log.signer.vkey, log.note(), log.proof_from(accepted), now=1000 + step)
        # The output is the log's note plus one cosignature line by this witness.
        assert out.startswith(log.note())
        cos = extract_cosignatures(out, [witness])
        assert [(c.name, c.timestamp) for c in cos] == [("witness.example/w1", 1000 + step)]
        assert note.open(out, [log.signer.verifier, witness]).signatures_verified == (
            ORIGIN,
            "witness.example/w1",
        )
        accepted = len(log.leaves)
        assert state.last_accepted(ORIGIN) == log.checkpoint()
    files = list((wdir / "logs").iterdir())
    assert len(files) == 1 and mode(files[0]) == 0o600


def test_cosign_same_checkpoint_again(wdir: Path, log: Log) -> None:
    state = WitnessState(wdir)
    state.init("witness.example/w1")
    log.append(5)
    state.cosign(log.signer.vkey, log.note(), [], now=1)
    before = snapshot(wdir)
    out = state.cosign(log.signer.vkey, log.note(), [], now=2)
    assert out.startswith(log.note())
    assert snapshot(wdir) == before


def test_refuse_rollback_and_state_untouched(wdir: Path, log: Log) -> None:
    state = WitnessState(wdir)
    state.init("witness.example/w1")
    log.append(120)
    state.cosign(log.signer.vkey, log.note(), [])
    old = Log(log.signer, log.leaves[:90])
    before = snapshot(wdir)
    with pytest.raises(WitnessRefused) as info:
        state.cosign(log.signer.vkey, old.note(), [])
    assert "checkpoint of size 90 is smaller than the accepted checkpoint of size 120" in str(
        info.value
    )
    assert snapshot(wdir) == before
    assert state.last_accepted(ORIGIN) == log.checkpoint()


def test_rewrite_history_with_the_real_key_is_refused(wdir: Path, log: Log) -> None:
    """The issue's required test: the operator rewrites history with the real log key."""
    state = WitnessState(wdir)
    state.init("witness.example/w1")
    log.append(120)
    state.cosign(log.signer.vkey, log.note(), [])
    honest = log.checkpoint()

    # The operator, holding the real key, replaces entry 42 and keeps appending.
    rewritten = Log(log.signer, log.leaves)
    rewritten.leaves[42] = b"nothing to see here"
    rewritten.append(30, tag=" after rewrite")
    forged_note = rewritten.note()
    # The forged checkpoint is genuinely signed by the log key ...
    assert note.open(forged_note, [log.signer.verifier]).signatures_verified == (ORIGIN,)
    # ... and the operator supplies the best proof it can make: one within the rewritten tree.
    forged_proof = rewritten.proof_from(120)
    assert merkle.verify_consistency(
        120, 150, mth(rewritten.leaves[:120]), mth(rewritten.leaves), forged_proof
    )

    before = snapshot(wdir)
    with pytest.raises(WitnessRefused) as info:
        state.cosign(log.signer.vkey, forged_note, forged_proof, old_size=120)
    message = str(info.value)
    assert message.startswith("refusing to cosign: checkpoint of size 150 is not consistent")
    assert "accepted checkpoint of size 120" in message
    assert "history was rewritten" in message
    assert snapshot(wdir) == before
    assert state.last_accepted(ORIGIN) == honest

    # The honest continuation is still accepted afterwards.
    log.append(30)
    out = state.cosign(log.signer.vkey, log.note(), log.proof_from(120))
    assert out.startswith(log.note())


def test_refuse_fork_at_same_size(wdir: Path, log: Log) -> None:
    state = WitnessState(wdir)
    state.init("witness.example/w1")
    log.append(10)
    state.cosign(log.signer.vkey, log.note(), [])
    fork = Log(log.signer, [b"other", *log.leaves[1:]])
    before = snapshot(wdir)
    with pytest.raises(WitnessRefused, match="forked"):
        state.cosign(log.signer.vkey, fork.note(), [])
    assert snapshot(wdir) == before


def test_refuse_checkpoint_not_signed_by_log_key(wdir: Path, log: Log) -> None:
    state = WitnessState(wdir)
    state.init("witness.example/w1")
    log.append(3)
    impostor = Log(note.generate_signer(ORIGIN), log.leaves)
    with pytest.raises(WitnessRefused, match="not signed by any trusted key"):
        state.cosign(log.signer.vkey, impostor.note(), [])
    tampered = log.note().replace("\n3\n", "\n4\n", 1)
    with pytest.raises(WitnessRefused, match="does not verify") as info:
        state.cosign(log.signer.vkey, tampered, [])
    assert isinstance(info.value.__cause__, note.BadSignatureError)
    with pytest.raises(WitnessRefused, match="no blank line"):
        state.cosign(log.signer.vkey, "garbage", [])
    assert state.last_accepted(ORIGIN) is None
    assert list((wdir / "logs").iterdir()) == []


def test_refuse_a_different_log_key_for_a_known_origin(wdir: Path, log: Log) -> None:
    state = WitnessState(wdir)
    state.init("witness.example/w1")
    log.append(3)
    state.cosign(log.signer.vkey, log.note(), [])
    # Someone with another key (same origin name) presents both key and checkpoint.
    other = Log(note.generate_signer(ORIGIN), log.leaves)
    other.append(2)
    before = snapshot(wdir)
    with pytest.raises(WitnessRefused, match="the witness trusts the key"):
        state.cosign(other.signer.vkey, other.note(), other.proof_from(3))
    assert snapshot(wdir) == before


def test_refuse_proof_from_the_wrong_old_size(wdir: Path, log: Log) -> None:
    state = WitnessState(wdir)
    state.init("witness.example/w1")
    log.append(5)
    state.cosign(log.signer.vkey, log.note(), [])
    log.append(4)
    with pytest.raises(WitnessRefused, match="starts from size 4, but the witness") as info:
        state.cosign(log.signer.vkey, log.note(), log.proof_from(4), old_size=4)
    assert info.value.hint == "send a consistency proof from size 5 to size 9"
    out = state.cosign(log.signer.vkey, log.note(), log.proof_from(5), old_size=5)
    assert out.startswith(log.note())


def test_cosign_with_a_json_proof_file(wdir: Path, log: Log) -> None:
    state = WitnessState(wdir)
    state.init("witness.example/w1")
    log.append(5)
    state.cosign(log.signer.vkey, log.note(), [])
    log.append(4)
    pf = parse_proof(json.dumps(ConsistencyProof(5, 9, log.proof_from(5)).as_json()))
    out = state.cosign(
        log.signer.vkey, log.note(), pf.hashes, old_size=pf.old_size, new_size=pf.new_size
    )
    assert out.startswith(log.note())
    assert state.last_accepted(ORIGIN) == log.checkpoint()


def test_refuse_proof_to_the_wrong_new_size(wdir: Path, log: Log) -> None:
    state = WitnessState(wdir)
    state.init("witness.example/w1")
    log.append(5)
    state.cosign(log.signer.vkey, log.note(), [])
    log.append(4)
    before = snapshot(wdir)
    with pytest.raises(WitnessRefused, match="leads to size 8, but the checkpoint has size 9"):
        state.cosign(log.signer.vkey, log.note(), log.proof_from(5), old_size=5, new_size=8)
    assert snapshot(wdir) == before


def test_logs_are_kept_apart_by_origin(wdir: Path) -> None:
    state = WitnessState(wdir)
    state.init("witness.example/w1")
    a, b = Log(note.generate_signer("a.example/log")), Log(note.generate_signer("b.example/log"))
    a.append(10)
    b.append(3)
    state.cosign(a.signer.vkey, a.note(), [])
    state.cosign(b.signer.vkey, b.note(), [])
    a_cp, b_cp = a.checkpoint(), b.checkpoint()
    assert state.last_accepted("a.example/log") == a_cp
    assert state.last_accepted("b.example/log") == b_cp
    assert len(list((wdir / "logs").iterdir())) == 2


def test_loose_key_file_mode_is_refused(wdir: Path, log: Log) -> None:
    state = WitnessState(wdir)
    state.init("witness.example/w1")
    (wdir / "witness.key").chmod(0o644)
    log.append(1)
    with pytest.raises(WitnessStateError, match="readable by other users") as info:
        state.cosign(log.signer.vkey, log.note(), [])
    assert info.value.hint == f"chmod 600 {wdir / 'witness.key'}"


def test_mismatched_key_and_pub_is_refused(wdir: Path, log: Log) -> None:
    state = WitnessState(wdir)
    state.init("witness.example/w1")
    other = note.generate_cosignature_signer("witness.example/w1")
    (wdir / "witness.pub").write_text(other.vkey + "\n")
    log.append(1)
    with pytest.raises(WitnessStateError, match="does not match"):
        state.cosign(log.signer.vkey, log.note(), [])


def test_corrupt_or_forged_state_is_reported(wdir: Path, log: Log) -> None:
    state = WitnessState(wdir)
    state.init("witness.example/w1")
    log.append(10)
    state.cosign(log.signer.vkey, log.note(), [])
    (path,) = (wdir / "logs").iterdir()
    good = path.read_text()
    path.write_text("{not json")
    with pytest.raises(WitnessStateError, match="corrupt"):
        state.last_accepted(ORIGIN)
    # Editing the recorded size without the log key breaks the stored signature.
    forged = good.replace("\\n10\\n", "\\n1\\n")
    assert forged != good
    path.write_text(forged)
    with pytest.raises(WitnessStateError, match=r"corrupt: the signature .* does not verify"):
        state.cosign(log.signer.vkey, log.note(), [])


def test_malformed_log_key_is_a_note_error(wdir: Path, log: Log) -> None:
    state = WitnessState(wdir)
    state.init("witness.example/w1")
    log.append(1)
    with pytest.raises(NoteError, match="malformed"):
        state.cosign("not a key", log.note(), [])
    cos_key = note.generate_cosignature_signer(ORIGIN).vkey
    with pytest.raises(NoteError, match="not a log signing key"):
        state.cosign(cos_key, log.note(), [])


def test_refusals_are_ledger_errors() -> None:
    assert issubclass(WitnessRefused, LedgerError)
    assert issubclass(WitnessStateError, LedgerError)


def test_injected_verifier_is_used(wdir: Path, log: Log) -> None:
    state = WitnessState(wdir, verify_consistency=lambda *args: False)
    state.init("witness.example/w1")
    log.append(2)
    state.cosign(log.signer.vkey, log.note(), [])
    log.append(2)
    with pytest.raises(WitnessRefused, match="not consistent"):
        state.cosign(log.signer.vkey, log.note(), log.proof_from(2))
