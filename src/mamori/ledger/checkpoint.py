"""Transparency-log checkpoints (C2SP tlog-checkpoint): the signed statement of a tree head.

A checkpoint body is three or more newline-terminated lines::

    <origin>
    <tree size, decimal, no leading zeroes>
    <base64 of the 32-byte RFC 9162 root hash>
    [<extension line>...]

signed as a note (C2SP signed-note) by the log's key, whose name is the origin. Witnesses add
cosignature/v1 lines (C2SP tlog-cosignature) to the same note. Everything here is pure.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass

from mamori.ledger import note
from mamori.ledger.errors import NoteError

__all__ = [
    "HASH_SIZE",
    "MAX_TREE_SIZE",
    "Checkpoint",
    "Cosignature",
    "extract_cosignatures",
    "open_checkpoint",
    "sign_checkpoint",
]

HASH_SIZE = 32
"""Bytes in a root hash (SHA-256, RFC 9162 §2.1)."""

MAX_TREE_SIZE = (1 << 64) - 1
"""Largest tree size: sizes are unsigned 64-bit integers (RFC 9162 §4.10, uint64 tree_size)."""

_MAX_SIZE_DIGITS = len(str(MAX_TREE_SIZE))


def _shorten(line: str) -> str:
    return line if len(line) <= 80 else line[:77] + "..."


def _check_line(value: object, what: str) -> str:
    """A checkpoint line: a non-empty string with no newline or other control character."""
    if not isinstance(value, str):
        raise NoteError(f"the checkpoint {what} must be a string, got {type(value).__name__}")
    if not value:
        raise NoteError(f"the checkpoint {what} is empty")
    for c in value:
        if c < " ":
            raise NoteError(
                f"the checkpoint {what} {_shorten(value)!r} contains the control"
                f" character U+{ord(c):04X}"
            )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise NoteError(f"the checkpoint {what} is not valid UTF-8") from e
    return value


def _parse_size(line: str) -> int:
    # C2SP tlog-checkpoint: "the ASCII decimal representation ... with no leading zeroes (unless
    # the tree is empty, in which case the tree size is 0)". int() alone would also accept '+5',
    # ' 5', '5_0' and non-ASCII digits.
    digits_ok = 0 < len(line) <= _MAX_SIZE_DIGITS and all("0" <= c <= "9" for c in line)
    if not digits_ok or (len(line) > 1 and line[0] == "0"):
        raise NoteError(
            f"line 2 of the checkpoint, {_shorten(line)!r}, is not a tree size:"
            " expected a decimal number with no sign, spaces or leading zeroes"
        )
    size = int(line)
    if size > MAX_TREE_SIZE:
        raise NoteError(f"the checkpoint's tree size {size} does not fit in 64 bits")
    return size


def _parse_root(line: str) -> bytes:
    try:
        raw = base64.b64decode(line.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raw = None
    if raw is None or base64.b64encode(raw).decode("ascii") != line:
        raise NoteError(
            f"line 3 of the checkpoint, {_shorten(line)!r}, is not canonical standard base64"
        )
    if len(raw) != HASH_SIZE:
        raise NoteError(
            f"line 3 of the checkpoint decodes to {len(raw)} bytes; a root hash is {HASH_SIZE}"
        )
    return raw


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A log's tree head: origin, tree size, RFC 9162 root hash, and optional extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, "origin")
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise NoteError(f"the tree size must be an integer, got {type(self.size).__name__}")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise NoteError(f"the tree size {self.size} is not between 0 and 2^64-1")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != HASH_SIZE:
            got = (
                f"{len(self.root_hash)} bytes"
                if isinstance(self.root_hash, bytes)
                else type(self.root_hash).__name__
            )
            raise NoteError(f"the root hash must be {HASH_SIZE} bytes, got {got}")
        if not isinstance(self.extensions, tuple):
            raise NoteError("checkpoint extension lines must be a tuple of strings")
        for ext in self.extensions:
            # C2SP tlog-checkpoint: "Extension lines, if any, MUST be non-empty."
            _check_line(ext, "extension line")

    def body(self) -> str:
        """The note text: origin, size, base64 root, extension lines, each ending in a newline."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode("ascii")]
        lines.extend(self.extensions)
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, body: str) -> Checkpoint:
        """Parse a checkpoint body strictly; raise NoteError saying what is wrong."""
        if not isinstance(body, str):
            raise NoteError(f"a checkpoint body is text, got {type(body).__name__}")
        if not body.endswith("\n"):
            raise NoteError("the checkpoint body does not end with a newline")
        lines = body[:-1].split("\n")
        if len(lines) < 3:
            raise NoteError(
                f"the checkpoint has {len(lines)} line(s); it needs at least three:"
                " origin, tree size and root hash"
            )
        for number, line in enumerate(lines, start=1):
            if not line:
                raise NoteError(f"line {number} of the checkpoint is empty")
        origin = _check_line(lines[0], "origin")
        size = _parse_size(lines[1])
        root = _parse_root(lines[2])
        extensions = tuple(_check_line(ext, "extension line") for ext in lines[3:])
        return cls(origin, size, root, extensions)


def sign_checkpoint(cp: Checkpoint, signer: note.Signer) -> str:
    """The checkpoint as a signed note, signed by the log key ``signer``.

    The key name must equal the origin (C2SP tlog-checkpoint: it SHOULD match; mamori requires
    it, so a witness can find the log's key from the origin alone).
    """
    if signer.name != cp.origin:
        raise NoteError(
            f"the signing key is named {signer.name!r} but the checkpoint origin is"
            f" {cp.origin!r}; a log signs with a key named after its origin"
        )
    return note.sign(cp.body(), [signer])


def open_checkpoint(note_text: str | bytes, log_verifier: note.Verifier) -> Checkpoint:
    """Verify a checkpoint note against the log's key and return the checkpoint.

    Raises :class:`~mamori.ledger.note.BadSignatureError` if the log key's signature does not
    verify, :class:`~mamori.ledger.note.UnverifiedNoteError` if the note is not signed by the
    log key, and :class:`NoteError` if the note or checkpoint is malformed or names another log.
    Other signatures (witness cosignatures) are ignored here; see :func:`extract_cosignatures`.
    """
    opened = note.open(note_text, [log_verifier])
    cp = Checkpoint.parse(opened.text)
    if cp.origin != log_verifier.name:
        raise NoteError(
            f"the checkpoint is for the log {cp.origin!r},"
            f" but the key is for {log_verifier.name!r}",
            hint="check that the checkpoint and the log key belong to the same ledger",
        )
    return cp


@dataclass(frozen=True, slots=True)
class Cosignature:
    """A verified witness cosignature on a checkpoint: who, with which key, and when."""

    name: str
    key_id: int
    timestamp: int
    """When the witness cosigned, POSIX seconds (C2SP tlog-cosignature)."""


def extract_cosignatures(
    note_text: str | bytes, witnesses: Iterable[note.CosignatureVerifier]
) -> tuple[Cosignature, ...]:
    """The cosignatures on a checkpoint note by the given witnesses, each one verified.

    Lines by other keys (the log's own signature, unknown witnesses) are ignored. A line by one of
    the ``witnesses`` (same name and key ID) that does not verify raises
    :class:`~mamori.ledger.note.BadSignatureError`. The body must be a well-formed checkpoint.
    This does not check the log's signature; use :func:`open_checkpoint` for that.
    """
    parsed = note.parse_note(note_text)
    Checkpoint.parse(parsed.text)
    known = {(w.name, w.key_id): w for w in witnesses}
    msg = parsed.text.encode("utf-8")
    found: list[Cosignature] = []
    for sig in parsed.signatures:
        w = known.get((sig.name, sig.key_id))
        if w is None:
            continue
        if not w.verify(msg, sig.signature):
            raise note.BadSignatureError(sig.name, sig.key_id)
        cos = Cosignature(sig.name, sig.key_id, note.cosignature_timestamp(sig.signature))
        if cos not in found:
            found.append(cos)
    return tuple(found)
