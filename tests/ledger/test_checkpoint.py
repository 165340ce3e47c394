"""Tests for mamori.ledger.checkpoint: C2SP tlog-checkpoint bodies, signing, cosignatures."""

from __future__ import annotations

import base64
import contextlib
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mamori.ledger import note
from mamori.ledger.checkpoint import (
    MAX_TREE_SIZE,
    Checkpoint,
    Cosignature,
    extract_cosignatures,
    open_checkpoint,
    sign_checkpoint,
)
from mamori.ledger.errors import NoteError

ORIGIN = "host.example/mamori/1a2b3c4d"
ROOT = hashlib.sha256(b"root").digest()
ROOT_B64 = base64.b64encode(ROOT).decode()

# The example body from C2SP tlog-checkpoint.
SPEC_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"


def test_body_format_is_exact() -> None:
    cp = Checkpoint(ORIGIN, 42, ROOT)
    assert cp.body() == f"{ORIGIN}\n42\n{ROOT_B64}\n"
    ext = Checkpoint(ORIGIN, 0, ROOT, ("ext one", "— two"))
    assert ext.body() == f"{ORIGIN}\n0\n{ROOT_B64}\next one\n— two\n"


def test_parse_spec_example() -> None:
    cp = Checkpoint.parse(SPEC_BODY)
    assert cp.origin == "example.com/behind-the-sofa"
    assert cp.size == 20852163
    assert cp.root_hash == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert cp.extensions == ()
    assert cp.body() == SPEC_BODY


def test_parse_round_trip_with_extensions() -> None:
    cp = Checkpoint(ORIGIN, MAX_TREE_SIZE, ROOT, ("a", "b c"))
    assert Checkpoint.parse(cp.body()) == cp


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (f"{ORIGIN}\n042\n{ROOT_B64}\n", "leading zeroes"),
        (f"{ORIGIN}\n00\n{ROOT_B64}\n", "leading zeroes"),
        (f"{ORIGIN}\n+42\n{ROOT_B64}\n", "not a tree size"),
        (f"{ORIGIN}\n-1\n{ROOT_B64}\n", "not a tree size"),
        (f"{ORIGIN}\n 42\n{ROOT_B64}\n", "not a tree size"),
        (f"{ORIGIN}\n4_2\n{ROOT_B64}\n", "not a tree size"),
        (f"{ORIGIN}\n\u0664\u0662\n{ROOT_B64}\n", "not a tree size"),  # Arabic-Indic digits
        (f"{ORIGIN}\n{1 << 64}\n{ROOT_B64}\n", "64 bits"),
        (f"{ORIGIN}\n{'9' * 30}\n{ROOT_B64}\n", "not a tree size"),
        (f"{ORIGIN}\n42\n{base64.b64encode(ROOT[:31]).decode()}\n", "31 bytes"),
        (f"{ORIGIN}\n42\n{ROOT_B64.rstrip('=')}\n", "base64"),
        (f"{ORIGIN}\n42\n{ROOT_B64[:-2]}9=\n", "canonical"),
        (f"{ORIGIN}\n42\n{ROOT_B64}", "newline"),
        (f"{ORIGIN}\n42\n", "at least three"),
        (f"\n42\n{ROOT_B64}\n", "line 1 of the checkpoint is empty"),
        (f"{ORIGIN}\n42\n{ROOT_B64}\n\next\n", "line 4 of the checkpoint is empty"),
        (f"{ORIGIN}\r\n42\n{ROOT_B64}\n", "control character U\\+000D"),
        ("", "newline"),
    ],
)
def test_parse_is_strict(body: str, match: str) -> None:
    with pytest.raises(NoteError, match=match):
        Checkpoint.parse(body)


def test_root_with_spare_bits_is_refused() -> None:
    # 32 bytes take 43 base64 characters; the last one carries 4 data bits and 2 spare bits
    # that must be zero. Setting a spare bit decodes to the same bytes but is not canonical.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet[alphabet.index(ROOT_B64[42]) ^ 1]
    sloppy = ROOT_B64[:42] + last + "="
    assert base64.b64decode(sloppy) == ROOT
    with pytest.raises(NoteError, match="canonical"):
        Checkpoint.parse(f"{ORIGIN}\n1\n{sloppy}\n")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"origin": ""}, "origin is empty"),
        ({"origin": "a\nb"}, "control character"),
        ({"size": -1}, "between 0 and 2\\^64-1"),
        ({"size": 1 << 64}, "between 0 and 2\\^64-1"),
        ({"size": True}, "integer"),
        ({"root_hash": ROOT[:31]}, "32 bytes, got 31 bytes"),
        ({"root_hash": "x" * 32}, "32 bytes, got str"),
        ({"extensions": ("",)}, "extension line is empty"),
        ({"extensions": ("a\nb",)}, "control character"),
        ({"extensions": ["a"]}, "tuple"),
    ],
)
def test_constructor_validates(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"origin": ORIGIN, "size": 1, "root_hash": ROOT, "extensions": ()}
    args.update(kwargs)
    with pytest.raises(NoteError, match=match):
        Checkpoint(**args)  # type: ignore[arg-type]


def test_sign_and_open_round_trip() -> None:
    log = note.generate_signer(ORIGIN)
    cp = Checkpoint(ORIGIN, 7, ROOT)
    signed = sign_checkpoint(cp, log)
    assert signed.startswith(cp.body() + "\n— " + ORIGIN + " ")
    assert open_checkpoint(signed, log.verifier) == cp
    assert open_checkpoint(signed.encode(), log.verifier) == cp


def test_sign_requires_key_named_after_origin() -> None:
    with pytest.raises(NoteError, match="named after its origin"):
        sign_checkpoint(Checkpoint(ORIGIN, 7, ROOT), note.generate_signer("other.example/log"))


def test_open_tampered_size_is_bad_signature() -> None:
    log = note.generate_signer(ORIGIN)
    signed = sign_checkpoint(Checkpoint(ORIGIN, 7, ROOT), log)
    with pytest.raises(note.BadSignatureError):
        open_checkpoint(signed.replace("\n7\n", "\n8\n", 1), log.verifier)


def test_open_not_signed_by_log_key() -> None:
    log, impostor = note.generate_signer(ORIGIN), note.generate_signer(ORIGIN)
    signed = sign_checkpoint(Checkpoint(ORIGIN, 7, ROOT), impostor)
    with pytest.raises(note.UnverifiedNoteError):
        open_checkpoint(signed, log.verifier)


def test_open_checkpoint_for_another_origin() -> None:
    log = note.generate_signer(ORIGIN)
    # Signed by the log key, but the body names another log.
    signed = note.sign(Checkpoint("evil.example/log", 7, ROOT).body(), [log])
    with pytest.raises(NoteError, match=r"for the log 'evil\.example/log'") as info:
        open_checkpoint(signed, log.verifier)
    assert not isinstance(info.value, note.BadSignatureError | note.UnverifiedNoteError)


def test_open_malformed_body() -> None:
    log = note.generate_signer(ORIGIN)
    signed = note.sign(f"{ORIGIN}\n07\n{ROOT_B64}\n", [log])
    with pytest.raises(NoteError, match="leading zeroes"):
        open_checkpoint(signed, log.verifier)


def test_extract_cosignatures() -> None:
    log = note.generate_signer(ORIGIN)
    w1 = note.generate_cosignature_signer("w1.example/w")
    w2 = note.generate_cosignature_signer("w2.example/w")
    stranger = note.generate_cosignature_signer("w3.example/w")
    signed = sign_checkpoint(Checkpoint(ORIGIN, 7, ROOT), log)
    cosigned = note.cosign(note.cosign(note.cosign(signed, w1, 111), stranger, 222), w2, 333)
    found = extract_cosignatures(cosigned, [w1.verifier, w2.verifier])
    assert found == (
        Cosignature("w1.example/w", w1.key_id, 111),
        Cosignature("w2.example/w", w2.key_id, 333),
    )
    assert extract_cosignatures(signed, [w1.verifier]) == ()
    # The log's plain signature is not mistaken for anything.
    assert extract_cosignatures(cosigned, []) == ()


def test_extract_cosignatures_bad_cosignature() -> None:
    log = note.generate_signer(ORIGIN)
    w1 = note.generate_cosignature_signer("w1.example/w")
    cosigned = note.cosign(sign_checkpoint(Checkpoint(ORIGIN, 7, ROOT), log), w1, 111)
    # The witness cosigned size 7; presenting its line under size 8 must fail.
    moved = cosigned.replace("\n7\n", "\n8\n", 1)
    with pytest.raises(note.BadSignatureError, match=r"w1\.example/w"):
        extract_cosignatures(moved, [w1.verifier])


def test_extract_cosignatures_requires_a_checkpoint() -> None:
    w1 = note.generate_cosignature_signer("w1.example/w")
    signed = note.sign("a\nb\nc\n", [note.generate_signer("x")])
    with pytest.raises(NoteError, match="not a tree size"):
        extract_cosignatures(signed, [w1.verifier])


# ------------------------------------------------------------------------------- property

_line = st.text(alphabet=st.characters(min_codepoint=0x20, codec="utf-8"), min_size=1, max_size=30)


@settings(max_examples=200)
@given(
    _line,
    st.integers(min_value=0, max_value=MAX_TREE_SIZE),
    st.binary(min_size=32, max_size=32),
    st.lists(_line, max_size=3).map(tuple),
)
def test_property_round_trip(origin: str, size: int, root: bytes, ext: tuple[str, ...]) -> None:
    cp = Checkpoint(origin, size, root, ext)
    assert Checkpoint.parse(cp.body()) == cp


@settings(max_examples=300)
@given(st.text())
def test_fuzz_parse_raises_only_note_error(s: str) -> None:
    with contextlib.suppress(NoteError):
        Checkpoint.parse(s)


_LOG = note.generate_signer(ORIGIN)
_SIGNED = sign_checkpoint(Checkpoint(ORIGIN, 7, ROOT), _LOG)


@settings(max_examples=300)
@given(
    st.integers(min_value=0, max_value=len(_SIGNED)),
    st.integers(min_value=0, max_value=6),
    st.text(max_size=3),
)
def test_fuzz_open_mutated_checkpoint(pos: int, cut: int, insert: str) -> None:
    mutated = _SIGNED[:pos] + insert + _SIGNED[pos + cut :]
    try:
        cp = open_checkpoint(mutated, _LOG.verifier)
    except NoteError:
        return
    assert cp == Checkpoint(ORIGIN, 7, ROOT)
