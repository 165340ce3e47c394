"""Signed notes (C2SP signed-note), Ed25519 keys, and witness cosignatures (C2SP tlog-cosignature).

A signed note is text ending in a newline, a blank line, and one or more signature lines::

    <text, ending in \\n>
    <blank line>
    — <key name> base64(key ID (4 bytes, big-endian) || signature)

Everything here is pure: functions take strings, bytes and keys and return values. Reading and
writing key files is the caller's job (see :func:`signer_to_pem` / :func:`signer_from_pem`).

Byte formats follow c2sp.org/signed-note, c2sp.org/tlog-cosignature (cosignature/v1, the
timestamped Ed25519 type 0x04) and Go's golang.org/x/mod/sumdb/note, whose published example key
(``PeterNeumann+c74f20a3+…``) the tests reproduce bit for bit.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from mamori.ledger.errors import NoteError

__all__ = [
    "ALG_COSIGNATURE_V1",
    "ALG_ED25519",
    "MAX_NOTE_BYTES",
    "MAX_SIGNATURES",
    "MAX_TIMESTAMP",
    "BadSignatureError",
    "CosignatureSigner",
    "CosignatureVerifier",
    "NoteSignature",
    "NoteSigner",
    "NoteVerifier",
    "Opened",
    "ParsedNote",
    "Signer",
    "UnverifiedNoteError",
    "Verifier",
    "cosign",
    "cosignature_message",
    "cosignature_signer_from_pem",
    "cosignature_timestamp",
    "generate_cosignature_signer",
    "generate_signer",
    "is_valid_name",
    "key_id",
    "open",
    "parse_note",
    "parse_verifier_key",
    "sign",
    "signature_line",
    "signer_from_pem",
    "signer_to_pem",
]

ALG_ED25519 = 0x01
"""Signature type byte of plain Ed25519 note signatures (C2SP signed-note, "Signature types")."""

ALG_COSIGNATURE_V1 = 0x04
"""Signature type byte of timestamped Ed25519 witness cosignatures (C2SP tlog-cosignature)."""

MAX_SIGNATURES = 100
"""Most signature lines a note may carry (the spec requires accepting at least 16; Go uses 100)."""

MAX_NOTE_BYTES = 1 << 20
"""Largest note accepted, in UTF-8 bytes. Checkpoints are a few hundred bytes."""

MAX_TIMESTAMP = (1 << 63) - 1
"""Largest cosignature timestamp (C2SP tlog-cosignature: it MUST NOT exceed 2^63 - 1)."""

_EM_DASH_PREFIX = "\u2014 "  # C2SP signed-note: em dash (U+2014), space (U+0020)
_ED25519_KEY_SIZE = 32
_ED25519_SIG_SIZE = 64
_TIMESTAMP_SIZE = 8
_COSIGNATURE_HEADER = "cosignature/v1\n"

# Unicode White_Space, the set Go's unicode.IsSpace tests; C2SP signed-note forbids "Unicode
# spaces" in key names. Spelled out because str.isspace() differs (it also matches U+001C..U+001F).
_UNICODE_SPACES = frozenset(
    "\t\n\v\f\r \u0085\u00a0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


# --------------------------------------------------------------------------------------------
# Names, key IDs, base64
# --------------------------------------------------------------------------------------------


def is_valid_name(name: str) -> bool:
    """Whether ``name`` may be a key name: non-empty, UTF-8, no Unicode spaces, no ``+``.

    Control characters are also refused: a signed note may not contain them, so a key with such a
    name could never sign anything.
    """
    if not name or "+" in name:
        return False
    if any(c in _UNICODE_SPACES or c < " " for c in name):
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        return False
    return True


def _require_name(name: object, what: str = "key name") -> str:
    if not isinstance(name, str) or not is_valid_name(name):
        raise NoteError(
            f"{what} {name!r} is not valid",
            hint="key names must be non-empty and contain no spaces, control characters or '+'"
            " (for example 'host.example/mamori/1a2b3c4d')",
        )
    return name


def key_id(name: str, alg: int, public_key: bytes) -> int:
    """The 32-bit key ID: the first 4 bytes, big-endian, of SHA-256(name || 0x0A || alg || key)."""
    # C2SP signed-note, "Signatures": key ID = SHA-256(key name || 0x0A || type || public key)[:4]
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([alg]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def _b64decode_strict(text: str) -> bytes | None:
    """Standard base64 (RFC 4648 §4) in its one canonical spelling, or None."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None
    # Refuse non-canonical spellings (stray trailing bits) so each signature has one encoding.
    if base64.b64encode(raw).decode("ascii") != text:
        return None
    return raw


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _raw_public_key(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def _ed25519_verify(public_key: bytes, msg: bytes, sig: bytes) -> bool:
    if len(sig) != _ED25519_SIG_SIZE:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(sig, msg)
    except (InvalidSignature, ValueError):
        return False
    return True


def _check_public_key(public_key: object) -> bytes:
    if not isinstance(public_key, bytes) or len(public_key) != _ED25519_KEY_SIZE:
        size = len(public_key) if isinstance(public_key, bytes) else type(public_key).__name__
        raise NoteError(f"an Ed25519 public key is 32 bytes, got {size}")
    try:
        Ed25519PublicKey.from_public_bytes(public_key)
    except ValueError as e:
        raise NoteError(f"not a usable Ed25519 public key: {e}") from e
    return public_key


def _check_key_id(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFFFFFFFF:
        raise NoteError(f"a key ID is an unsigned 32-bit integer, got {value!r}")
    return value


def _format_vkey(name: str, kid: int, alg: int, public_key: bytes) -> str:
    # C2SP signed-note verifier keys / Go note.NewVerifier: <name>+<%08x key ID>+base64(type||key)
    return f"{name}+{kid:08x}+{_b64(bytes([alg]) + public_key)}"


def _split_vkey(vkey: str) -> tuple[str, int, int, bytes]:
    """Split ``name+hexid+base64(alg||key)`` into (name, key ID, alg, key), checking the ID."""
    if not isinstance(vkey, str):
        raise NoteError(f"a verifier key is a string, got {type(vkey).__name__}")
    # Go note.NewVerifier chops at the first two '+' (the base64 part may itself contain '+').
    name, sep1, rest = vkey.partition("+")
    hex_id, sep2, key64 = rest.partition("+")
    shown = vkey if len(vkey) <= 120 else vkey[:117] + "..."
    if not sep1 or not sep2:
        raise NoteError(
            f"verifier key {shown!r} is malformed: expected <name>+<8 hex digits>+<base64 key>"
        )
    _require_name(name, "the verifier key's name")
    if len(hex_id) != 8 or any(c not in "0123456789abcdefABCDEF" for c in hex_id):
        raise NoteError(
            f"verifier key {shown!r} is malformed: the key ID {hex_id!r} is not 8 hex digits"
        )
    raw = _b64decode_strict(key64)
    if raw is None or len(raw) < 2:
        raise NoteError(f"verifier key {shown!r} is malformed: the key is not valid base64")
    declared = int(hex_id, 16)
    alg, key = raw[0], raw[1:]
    if len(key) != _ED25519_KEY_SIZE or alg not in (ALG_ED25519, ALG_COSIGNATURE_V1):
        raise NoteError(
            f"verifier key {shown!r} has signature type 0x{alg:02x} and a {len(key)}-byte key;"
            " only Ed25519 (type 0x01) and Ed25519 cosignature/v1 (type 0x04) keys with 32-byte"
            " public keys are supported"
        )
    expected = key_id(name, alg, key)
    if declared != expected:
        raise NoteError(
            f"verifier key {shown!r} is inconsistent: its key ID {declared:08x} does not match"
            f" the name and key (expected {expected:08x})",
            hint="the key was mistyped or altered; copy it again from its source",
        )
    return name, declared, alg, _check_public_key(key)


# --------------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------------


class NoteSigner(Protocol):
    """Anything that can put a plain signature line on a note (see :func:`sign`)."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> int: ...

    def sign(self, msg: bytes) -> bytes:
        """The signature bytes (after the key ID) over ``msg``, the note text."""
        ...


class NoteVerifier(Protocol):
    """Anything that can check a signature line on a note (see :func:`open`)."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> int: ...

    def verify(self, msg: bytes, signature: bytes) -> bool:
        """Whether ``signature`` (the bytes after the key ID) is valid over the note text."""
        ...


@dataclass(frozen=True, slots=True)
class Verifier:
    """An Ed25519 note verifier key (signature type 0x01): a log's public key."""

    name: str
    key_id: int
    public_key: bytes
    """The raw 32-byte Ed25519 public key."""

    def __post_init__(self) -> None:
        _require_name(self.name)
        _check_key_id(self.key_id)
        _check_public_key(self.public_key)
        expected = key_id(self.name, ALG_ED25519, self.public_key)
        if self.key_id != expected:
            raise NoteError(
                f"key ID {self.key_id:08x} does not match the name {self.name!r} and the key"
                f" (expected {expected:08x})"
            )

    @classmethod
    def from_public_key(cls, name: str, public_key: bytes) -> Verifier:
        """The verifier for ``name`` and a raw 32-byte key, computing the key ID."""
        _require_name(name)
        return cls(name, key_id(name, ALG_ED25519, _check_public_key(public_key)), public_key)

    @classmethod
    def parse(cls, vkey: str) -> Verifier:
        """Parse ``name+hexkeyid+base64(0x01||pubkey)``; surrounding whitespace is ignored."""
        name, kid, alg, key = _split_vkey(vkey.strip() if isinstance(vkey, str) else vkey)
        if alg != ALG_ED25519:
            raise NoteError(
                f"verifier key for {name!r} is a cosignature key (type 0x{alg:02x}), not a log"
                " signing key (type 0x01)",
                hint="use CosignatureVerifier.parse for witness keys",
            )
        return cls(name, kid, key)

    @property
    def vkey(self) -> str:
        """The verifier key string ``name+hexkeyid+base64(0x01||pubkey)``."""
        return _format_vkey(self.name, self.key_id, ALG_ED25519, self.public_key)

    def verify(self, msg: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is this key's Ed25519 signature over ``msg`` (RFC 8032)."""
        return _ed25519_verify(self.public_key, msg, signature)


@dataclass(frozen=True, slots=True)
class Signer:
    """An Ed25519 note signing key (signature type 0x01): a log's private key, with its name."""

    name: str
    private_key: Ed25519PrivateKey = field(repr=False, compare=False)
    key_id: int = field(init=False)
    public_key: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        _require_name(self.name)
        if not isinstance(self.private_key, Ed25519PrivateKey):
            raise NoteError(
                f"a note signer needs an Ed25519 private key, got {type(self.private_key).__name__}"
            )
        public_key = _raw_public_key(self.private_key)
        object.__setattr__(self, "public_key", public_key)
        object.__setattr__(self, "key_id", key_id(self.name, ALG_ED25519, public_key))

    @property
    def verifier(self) -> Verifier:
        """The matching public verifier."""
        return Verifier(self.name, self.key_id, self.public_key)

    @property
    def vkey(self) -> str:
        """The public verifier key string (safe to publish, e.g. as ``ledger.pub``)."""
        return self.verifier.vkey

    def sign(self, msg: bytes) -> bytes:
        """The 64-byte Ed25519 signature over ``msg``."""
        return self.private_key.sign(msg)


def cosignature_message(text: str, timestamp: int) -> bytes:
    """The bytes a cosignature/v1 signs: the header line, the time line, then the note text."""
    # C2SP tlog-cosignature, "Ed25519 signed message":
    #   cosignature/v1\ntime <POSIX seconds, decimal, no leading zeroes>\n<checkpoint body>
    return f"{_COSIGNATURE_HEADER}time {timestamp}\n{text}".encode()


def _check_timestamp(timestamp: object) -> int:
    if (
        isinstance(timestamp, bool)
        or not isinstance(timestamp, int)
        or not 0 <= timestamp <= MAX_TIMESTAMP
    ):
        raise NoteError(
            f"a cosignature timestamp is POSIX seconds between 0 and 2^63-1, got {timestamp!r}"
        )
    return timestamp


def _check_cosigned_text(text: str) -> None:
    # C2SP tlog-cosignature: the message ends with "the whole note body of the cosigned
    # checkpoint"; a checkpoint body has at least three newline-terminated lines.
    if text.count("\n") < 3 or not text.endswith("\n"):
        raise NoteError("only checkpoints (at least three lines of text) can be cosigned")


@dataclass(frozen=True, slots=True)
class CosignatureVerifier:
    """A witness's public key for cosignature/v1 (timestamped Ed25519, signature type 0x04)."""

    name: str
    key_id: int
    public_key: bytes

    def __post_init__(self) -> None:
        _require_name(self.name, "witness name")
        _check_key_id(self.key_id)
        _check_public_key(self.public_key)
        expected = key_id(self.name, ALG_COSIGNATURE_V1, self.public_key)
        if self.key_id != expected:
            raise NoteError(
                f"cosigner key ID {self.key_id:08x} does not match the name {self.name!r} and"
                f" the key (expected {expected:08x} for signature type 0x04)"
            )

    @classmethod
    def from_public_key(cls, name: str, public_key: bytes) -> CosignatureVerifier:
        """The cosignature verifier for ``name`` and a raw 32-byte key."""
        _require_name(name, "witness name")
        kid = key_id(name, ALG_COSIGNATURE_V1, _check_public_key(public_key))
        return cls(name, kid, public_key)

    @classmethod
    def parse(cls, vkey: str) -> CosignatureVerifier:
        """Parse ``name+hexkeyid+base64(0x04||pubkey)``; surrounding whitespace is ignored."""
        name, kid, alg, key = _split_vkey(vkey.strip() if isinstance(vkey, str) else vkey)
        if alg != ALG_COSIGNATURE_V1:
            raise NoteError(
                f"verifier key for {name!r} is a log signing key (type 0x{alg:02x}), not a"
                " witness cosignature key (type 0x04)",
                hint="use Verifier.parse for log keys; witness keys are printed by"
                " 'mamori ledger witness init'",
            )
        return cls(name, kid, key)

    @property
    def vkey(self) -> str:
        """The verifier key string ``name+hexkeyid+base64(0x04||pubkey)``."""
        return _format_vkey(self.name, self.key_id, ALG_COSIGNATURE_V1, self.public_key)

    def verify(self, msg: bytes, signature: bytes) -> bool:
        """Whether ``signature`` (timestamp(8) || Ed25519 sig(64)) cosigns the note text ``msg``."""
        # C2SP tlog-cosignature: timestamped_signature = u64 timestamp (big-endian) || signature
        if len(signature) != _TIMESTAMP_SIZE + _ED25519_SIG_SIZE:
            return False
        timestamp = int.from_bytes(signature[:_TIMESTAMP_SIZE], "big")
        if timestamp > MAX_TIMESTAMP:
            return False
        try:
            text = msg.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return _ed25519_verify(
            self.public_key, cosignature_message(text, timestamp), signature[_TIMESTAMP_SIZE:]
        )


@dataclass(frozen=True, slots=True)
class CosignatureSigner:
    """A witness's private key producing cosignature/v1 signatures (type 0x04)."""

    name: str
    private_key: Ed25519PrivateKey = field(repr=False, compare=False)
    key_id: int = field(init=False)
    public_key: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        _require_name(self.name, "witness name")
        if not isinstance(self.private_key, Ed25519PrivateKey):
            raise NoteError(
                f"a cosigner needs an Ed25519 private key, got {type(self.private_key).__name__}"
            )
        public_key = _raw_public_key(self.private_key)
        object.__setattr__(self, "public_key", public_key)
        object.__setattr__(self, "key_id", key_id(self.name, ALG_COSIGNATURE_V1, public_key))

    @property
    def verifier(self) -> CosignatureVerifier:
        """The matching public cosignature verifier."""
        return CosignatureVerifier(self.name, self.key_id, self.public_key)

    @property
    def vkey(self) -> str:
        """The public verifier key string, for whoever checks this witness's cosignatures."""
        return self.verifier.vkey

    def sign(self, msg: bytes, timestamp: int) -> bytes:
        """timestamp(8, big-endian) || Ed25519 signature over the cosignature/v1 message."""
        _check_timestamp(timestamp)
        try:
            text = msg.decode("utf-8")
        except UnicodeDecodeError as e:
            raise NoteError("the text to cosign is not valid UTF-8") from e
        _check_cosigned_text(text)
        sig = self.private_key.sign(cosignature_message(text, timestamp))
        return timestamp.to_bytes(_TIMESTAMP_SIZE, "big") + sig


def cosignature_timestamp(signature: bytes) -> int:
    """The timestamp (POSIX seconds) inside a cosignature/v1 signature (bytes after the key ID)."""
    if len(signature) != _TIMESTAMP_SIZE + _ED25519_SIG_SIZE:
        raise NoteError(
            f"a cosignature/v1 signature is {_TIMESTAMP_SIZE + _ED25519_SIG_SIZE} bytes after the"
            f" key ID, got {len(signature)}"
        )
    return int.from_bytes(signature[:_TIMESTAMP_SIZE], "big")


def generate_signer(name: str) -> Signer:
    """A fresh random Ed25519 note signer named ``name`` (for a log, name = its origin)."""
    return Signer(_require_name(name), Ed25519PrivateKey.generate())


def generate_cosignature_signer(name: str) -> CosignatureSigner:
    """A fresh random witness cosigning key named ``name``."""
    return CosignatureSigner(_require_name(name, "witness name"), Ed25519PrivateKey.generate())


def signer_to_pem(signer: Signer | CosignatureSigner) -> bytes:
    """The private key as unencrypted PEM PKCS#8. Store it in a file of mode 0600."""
    return signer.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _private_key_from_pem(pem: bytes) -> Ed25519PrivateKey:
    if not isinstance(pem, bytes):
        raise NoteError(f"a PEM private key is bytes, got {type(pem).__name__}")
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        # cryptography's messages can be long; ours says what the file must hold.
        raise NoteError(
            "the private key is not an unencrypted PEM PKCS#8 key",
            hint="the key file must be the one mamori wrote ('-----BEGIN PRIVATE KEY-----')",
        ) from e
    if not isinstance(key, Ed25519PrivateKey):
        raise NoteError(
            f"the private key is a {type(key).__name__}, not an Ed25519 key",
            hint="ledger and witness keys are Ed25519",
        )
    return key


def signer_from_pem(name: str, pem: bytes) -> Signer:
    """Load a log :class:`Signer` named ``name`` from PEM PKCS#8 bytes."""
    return Signer(_require_name(name), _private_key_from_pem(pem))


def cosignature_signer_from_pem(name: str, pem: bytes) -> CosignatureSigner:
    """Load a witness :class:`CosignatureSigner` named ``name`` from PEM PKCS#8 bytes."""
    return CosignatureSigner(_require_name(name, "witness name"), _private_key_from_pem(pem))


def parse_verifier_key(vkey: str) -> Verifier | CosignatureVerifier:
    """Parse any supported verifier key, choosing the class by its signature type byte."""
    name, kid, alg, key = _split_vkey(vkey.strip() if isinstance(vkey, str) else vkey)
    if alg == ALG_COSIGNATURE_V1:
        return CosignatureVerifier(name, kid, key)
    return Verifier(name, kid, key)


# --------------------------------------------------------------------------------------------
# Notes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One signature line of a note, parsed but not (yet) verified."""

    name: str
    key_id: int
    signature: bytes
    """The signature bytes after the 4-byte key ID."""

    @property
    def line(self) -> str:
        """The signature line, ``— name base64(keyid||signature)\\n``."""
        return signature_line(self.name, self.key_id, self.signature)


@dataclass(frozen=True, slots=True)
class ParsedNote:
    """A syntactically valid note: its text (with the final newline) and its signature lines."""

    text: str
    signatures: tuple[NoteSignature, ...]


@dataclass(frozen=True, slots=True)
class Opened:
    """A note whose signatures by known keys all verified, at least one of them."""

    text: str
    verified: tuple[NoteSignature, ...]
    """Signatures by known keys that verified (one per key, in note order)."""
    unknown: tuple[NoteSignature, ...]
    """Signatures by keys that were not given; ignored, as C2SP signed-note requires."""

    @property
    def signatures_verified(self) -> tuple[str, ...]:
        """The names of the keys whose signatures verified, in note order."""
        return tuple(s.name for s in self.verified)


class BadSignatureError(NoteError):
    """A signature by a known key (name and key ID match) does not verify.

    The ledger verifier reports this as ``bad-signature``: the text was altered after signing, or
    the signature is forged.
    """

    def __init__(self, name: str, kid: int) -> None:
        super().__init__(
            f"the signature by key {name}+{kid:08x} does not verify:"
            " the note was altered after signing, or the signature is forged",
            hint="do not trust this note; fetch it again from the log and report the mismatch",
        )
        self.name = name
        self.key_id = kid


class UnverifiedNoteError(NoteError):
    """The note parsed, but no signature on it is by any of the trusted keys."""

    def __init__(self, expected: Sequence[str], present: Sequence[str]) -> None:
        want = ", ".join(expected) if expected else "(no keys were given)"
        have = ", ".join(present) if present else "(none)"
        super().__init__(
            f"the note is not signed by any trusted key: expected a signature by {want};"
            f" found signatures by {have}",
            hint="check that the right public key (ledger.pub) is configured for this log",
        )
        self.expected = tuple(expected)
        self.present = tuple(present)


def signature_line(name: str, kid: int, signature: bytes) -> str:
    """Format ``— <name> base64(keyid(4, big-endian) || signature)\\n``."""
    _require_name(name)
    _check_key_id(kid)
    return f"{_EM_DASH_PREFIX}{name} {_b64(kid.to_bytes(4, 'big') + signature)}\n"


def _describe_char(c: str) -> str:
    names = {"\r": "carriage return", "\t": "tab", "\x00": "NUL"}
    return f"U+{ord(c):04X}" + (f" ({names[c]})" if c in names else "")


def _check_note_chars(s: str, what: str) -> None:
    """Size, UTF-8 encodability, and C2SP's "no ASCII control characters other than newline"."""
    try:
        size = len(s.encode("utf-8"))
    except UnicodeEncodeError as e:
        raise NoteError(f"the {what} is not valid UTF-8 (it contains a lone surrogate)") from e
    if size > MAX_NOTE_BYTES:
        raise NoteError(f"the {what} is {size} bytes; notes are limited to {MAX_NOTE_BYTES}")
    for i, c in enumerate(s):
        if c < " " and c != "\n":
            line = s.count("\n", 0, i) + 1
            hint = None
            if c == "\r":
                hint = "the file has Windows (CRLF) line endings; signed notes use LF only"
            raise NoteError(
                f"line {line} of the {what} contains the control character {_describe_char(c)};"
                " signed notes may contain no control characters other than newline",
                hint=hint,
            )


def _as_text(note: str | bytes, what: str) -> str:
    if isinstance(note, bytes):
        if len(note) > MAX_NOTE_BYTES:
            raise NoteError(
                f"the {what} is {len(note)} bytes; notes are limited to {MAX_NOTE_BYTES}"
            )
        try:
            return note.decode("utf-8")
        except UnicodeDecodeError as e:
            raise NoteError(
                f"the {what} is not valid UTF-8 (bad byte at offset {e.start})",
                hint="signed notes are UTF-8 text; the file may be corrupt or in another encoding",
            ) from e
    if not isinstance(note, str):
        raise NoteError(f"a {what} is text, got {type(note).__name__}")
    return note


def parse_note(note: str | bytes) -> ParsedNote:
    """Parse a signed note without verifying anything; raise NoteError saying what is malformed."""
    s = _as_text(note, "note")
    _check_note_chars(s, "note")
    # C2SP signed-note: "the text is separated from the signatures by the last empty line".
    split = s.rfind("\n\n")
    if split < 0:
        raise NoteError(
            "the note has no blank line separating its text from its signature lines",
            hint="a signed note is: text ending in a newline, one empty line, signature lines",
        )
    text, sig_block = s[: split + 1], s[split + 2 :]
    if not sig_block:
        raise NoteError("the note has no signature lines after its last blank line")
    if not sig_block.endswith("\n"):
        raise NoteError("the note's last signature line does not end in a newline")
    first_sig_line = text.count("\n") + 2
    lines = sig_block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(
            f"the note has {len(lines)} signature lines; at most {MAX_SIGNATURES} are accepted"
        )
    signatures: list[NoteSignature] = []
    for offset, line in enumerate(lines):
        lineno = first_sig_line + offset
        if not line.startswith(_EM_DASH_PREFIX):
            raise NoteError(
                f"line {lineno} of the note is not a signature line: signature lines start with"
                " an em dash (U+2014) and a space"
            )
        name, sep, b64 = line[len(_EM_DASH_PREFIX) :].partition(" ")
        if not sep or not is_valid_name(name):
            raise NoteError(
                f"line {lineno} of the note has an invalid key name {name!r}: expected"
                " '— <key name> <base64 signature>'"
            )
        raw = _b64decode_strict(b64)
        if raw is None:
            raise NoteError(
                f"line {lineno} of the note (key {name!r}): the signature is not canonical"
                " standard base64"
            )
        if len(raw) < 5:
            raise NoteError(
                f"line {lineno} of the note (key {name!r}): the signature is {len(raw)} bytes;"
                " it must hold a 4-byte key ID and a signature"
            )
        signatures.append(NoteSignature(name, int.from_bytes(raw[:4], "big"), raw[4:]))
    return ParsedNote(text, tuple(signatures))


def _index_verifiers(verifiers: Iterable[NoteVerifier]) -> dict[tuple[str, int], NoteVerifier]:
    known: dict[tuple[str, int], NoteVerifier] = {}
    for v in verifiers:
        k = (v.name, v.key_id)
        if k in known and known[k] != v:
            # Go note: ambiguousVerifierError. Two different keys under one name and ID means the
            # trust configuration itself is wrong; refuse to guess which one is meant.
            raise NoteError(
                f"two different keys share the name and key ID {v.name}+{v.key_id:08x}",
                hint="remove the duplicate from the trusted keys",
            )
        known[k] = v
    return known


def open(note: str | bytes, verifiers: Iterable[NoteVerifier]) -> Opened:
    """Parse ``note`` and verify it against the trusted ``verifiers``.

    Signatures by unknown keys are ignored (C2SP signed-note: verifiers MUST ignore them). Every
    signature by a known key (same name *and* key ID) must verify, else
    :class:`BadSignatureError`; if none verifies, :class:`UnverifiedNoteError`. Malformed notes
    raise :class:`NoteError` saying what is malformed.
    """
    parsed = parse_note(note)
    known = _index_verifiers(verifiers)
    msg = parsed.text.encode("utf-8")
    verified: list[NoteSignature] = []
    verified_keys: set[tuple[str, int]] = set()
    unknown: list[NoteSignature] = []
    for sig in parsed.signatures:
        k = (sig.name, sig.key_id)
        v = known.get(k)
        if v is None:
            if sig not in unknown:
                unknown.append(sig)
            continue
        # Unlike Go, a repeated line by a known key is verified too: a note carrying one good and
        # one bad signature by the same key is not trustworthy.
        if not v.verify(msg, sig.signature):
            raise BadSignatureError(sig.name, sig.key_id)
        if k not in verified_keys:
            verified_keys.add(k)
            verified.append(sig)
    if not verified:
        raise UnverifiedNoteError(
            [f"{name}+{kid:08x}" for name, kid in known],
            [f"{s.name}+{s.key_id:08x}" for s in parsed.signatures],
        )
    return Opened(parsed.text, tuple(verified), tuple(unknown))


def _check_text(text: str) -> None:
    if not isinstance(text, str):
        raise NoteError(f"note text is a string, got {type(text).__name__}")
    if not text.endswith("\n"):
        raise NoteError("the note text must end with a newline")
    _check_note_chars(text, "note text")


def sign(text: str, signers: Iterable[NoteSigner]) -> str:
    """Sign ``text`` (which must end in a newline) with each signer; return the full note."""
    _check_text(text)
    msg = text.encode("utf-8")
    lines: list[str] = []
    seen: set[tuple[str, int]] = set()
    for signer in signers:
        k = (signer.name, signer.key_id)
        if k in seen:
            raise NoteError(f"key {signer.name}+{signer.key_id:08x} was given twice")
        seen.add(k)
        lines.append(signature_line(signer.name, signer.key_id, signer.sign(msg)))
    if not lines:
        raise NoteError("a note needs at least one signer")
    return text + "\n" + "".join(lines)


def cosign(note: str | bytes, cosigner: CosignatureSigner, timestamp: int) -> str:
    """Append ``cosigner``'s cosignature/v1 line (at ``timestamp``) to a signed checkpoint note.

    Existing signature lines are kept, except an older line by the same cosigner key, which is
    replaced. This does not verify the note: the caller (the witness) must have done so.
    """
    parsed = parse_note(note)
    sig = cosigner.sign(parsed.text.encode("utf-8"), timestamp)
    kept = [
        s.line for s in parsed.signatures if (s.name, s.key_id) != (cosigner.name, cosigner.key_id)
    ]
    new = signature_line(cosigner.name, cosigner.key_id, sig)
    return parsed.text + "\n" + "".join(kept) + new
