"""A witness: cosigns a log's checkpoints only while the log stays append-only.

The witness keeps, per log (by origin), the last checkpoint it accepted. It cosigns a new
checkpoint (C2SP tlog-cosignature, cosignature/v1) only if a consistency proof (RFC 9162
§2.1.4) shows the new tree extends the accepted one. A log operator who rewrites history -- even
one who signs the rewritten tree with the real log key -- cannot produce such a proof, so the
witness refuses, and the missing cosignature is the alarm.

The pure core is :func:`decide`; :class:`WitnessState` is the thin file-backed edge. Semantics
follow C2SP tlog-witness (add-checkpoint), without its HTTP transport.

State directory layout (all created by :meth:`WitnessState.init`)::

    WDIR/                     0700
      witness.key             0600  Ed25519 private key, PEM PKCS#8
      witness.pub             0644  the witness's cosignature verifier key (vkey), one line
      logs/                   0700
        <sha256(origin)>.json 0600  {"origin", "log_key", "checkpoint" (signed note), "size"}
      .lock                   0600  flock'd while a checkpoint is checked and recorded
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hashlib
import json
import os
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from mamori.fsutil import fsync_dir, write_atomic, write_new
from mamori.ledger import note
from mamori.ledger.checkpoint import HASH_SIZE, Checkpoint, open_checkpoint
from mamori.ledger.errors import LedgerError, NoteError
from mamori.ledger.merkle import verify_consistency as _merkle_verify_consistency

__all__ = [
    "MAX_PROOF_HASHES",
    "Accept",
    "ConsistencyVerifier",
    "Decision",
    "ProofFile",
    "Refuse",
    "WitnessRefused",
    "WitnessState",
    "WitnessStateError",
    "decide",
    "format_proof",
    "parse_proof",
]

ConsistencyVerifier = Callable[[int, int, bytes, bytes, Sequence[bytes]], bool]
"""``verify_consistency(old_size, new_size, old_root, new_root, proof) -> bool`` (RFC 9162)."""

MAX_PROOF_HASHES = 128
"""Most hashes accepted in a consistency proof (a 2^64-leaf tree needs fewer than 2*64)."""


class WitnessRefused(LedgerError):
    """The witness will not cosign this checkpoint; the message says why. State is unchanged."""


class WitnessStateError(LedgerError):
    """The witness state directory is missing, unreadable, or not as the witness left it."""


# --------------------------------------------------------------------------------------------
# Pure core
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Accept:
    """Cosign the checkpoint."""

    reason: str
    advances: bool
    """Whether the new checkpoint replaces the accepted one (False when it is the same one)."""


@dataclass(frozen=True, slots=True)
class Refuse:
    """Do not cosign; ``reason`` is a sentence for the operator."""

    reason: str


Decision = Accept | Refuse


def decide(
    state_last: Checkpoint | None,
    new: Checkpoint,
    proof: Sequence[bytes],
    verify_consistency: ConsistencyVerifier,
) -> Decision:
    """Whether a witness that last accepted ``state_last`` may cosign ``new``.

    Both checkpoints must already be verified as signed by the log. Rules (C2SP tlog-witness):

    * no accepted checkpoint yet: accept (trust on first use -- the first checkpoint a witness
      sees is the baseline; only later rewrites of it can be caught, so start the witness early
      and compare its first checkpoint with the log out of band);
    * a different origin: refuse (the state belongs to another log);
    * smaller size: refuse (rollback);
    * same size: accept only if the root hash is the same (otherwise the log forked);
    * larger size: accept only if ``proof`` is a valid consistency proof from the accepted tree
      to the new one; a log that rewrote history cannot produce one.
    """
    if state_last is None:
        return Accept("first checkpoint seen for this log (trust on first use)", advances=True)
    if state_last.origin != new.origin:
        return Refuse(
            f"the checkpoint is for the log {new.origin!r} but the accepted state is for"
            f" {state_last.origin!r}"
        )
    old_size, new_size = state_last.size, new.size
    if new_size < old_size:
        return Refuse(
            f"checkpoint of size {new_size} is smaller than the accepted checkpoint of size"
            f" {old_size}: the log was rolled back or history was rewritten"
        )
    if new_size == old_size:
        if new.root_hash == state_last.root_hash:
            return Accept(f"same tree as the accepted checkpoint of size {old_size}", False)
        return Refuse(
            f"checkpoint of size {new_size} has a different root hash from the accepted"
            f" checkpoint of the same size: the log forked and history was rewritten"
        )
    for i, h in enumerate(proof):
        if not isinstance(h, bytes) or len(h) != HASH_SIZE:
            return Refuse(f"hash {i + 1} of the consistency proof is not {HASH_SIZE} bytes")
    if len(proof) > MAX_PROOF_HASHES:
        return Refuse(f"the consistency proof has {len(proof)} hashes; at most {MAX_PROOF_HASHES}")
    try:
        consistent = verify_consistency(
            old_size, new_size, state_last.root_hash, new.root_hash, list(proof)
        )
    except LedgerError as e:
        consistent = False
        detail = f" ({e.message})"
    else:
        detail = ""
    if not consistent:
        return Refuse(
            f"checkpoint of size {new_size} is not consistent with the accepted checkpoint of"
            f" size {old_size}: the consistency proof does not verify{detail}, so history was"
            f" rewritten (or the proof is not a proof from size {old_size} to size {new_size})"
        )
    return Accept(f"consistent with the accepted checkpoint of size {old_size}", advances=True)


@dataclass(frozen=True, slots=True)
class ProofFile:
    """A consistency proof as read from a file: the hashes and, if the file says, the sizes."""

    old_size: int | None
    """The tree size the proof starts from (``old N`` line / JSON ``from``), if given."""
    hashes: tuple[bytes, ...]
    new_size: int | None = None
    """The tree size the proof leads to (JSON ``to``), if given."""


def format_proof(old_size: int | None, hashes: Sequence[bytes]) -> str:
    """A proof file: optional ``old <size>`` line, then one base64 hash per line.

    The layout is the head of a C2SP tlog-witness add-checkpoint request body.
    """
    lines = [] if old_size is None else [f"old {old_size}"]
    for h in hashes:
        if not isinstance(h, bytes) or len(h) != HASH_SIZE:
            raise NoteError(f"a proof hash must be {HASH_SIZE} bytes")
        lines.append(base64.b64encode(h).decode("ascii"))
    return "".join(line + "\n" for line in lines)


_HEX = frozenset("0123456789abcdefABCDEF")


def _json_size(record: dict[str, object], key: str) -> int:
    value = record.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise NoteError(f"the proof's {key!r} is not a tree size: {value!r}")
    return value


def _parse_json_proof(text: str) -> ProofFile:
    """The JSON printed by ``mamori ledger prove --from A --to B``: from, to, hex hashes."""
    try:
        record = json.loads(text)
    except ValueError as e:
        raise NoteError(f"the proof file is not valid JSON: {e}") from e
    if not isinstance(record, dict) or set(record) != {"from", "to", "hashes"}:
        raise NoteError(
            "the JSON proof must be an object with exactly 'from', 'to' and 'hashes'",
            hint="use the output of 'mamori ledger prove --from A --to B'",
        )
    old, new = _json_size(record, "from"), _json_size(record, "to")
    hexes = record["hashes"]
    if not isinstance(hexes, list) or len(hexes) > MAX_PROOF_HASHES:
        raise NoteError(f"the proof's 'hashes' must be a list of at most {MAX_PROOF_HASHES}")
    hashes: list[bytes] = []
    for i, h in enumerate(hexes, start=1):
        if not isinstance(h, str) or len(h) != 2 * HASH_SIZE or not set(h) <= _HEX:
            raise NoteError(f"hash {i} of the proof is not {2 * HASH_SIZE} hex digits")
        hashes.append(bytes.fromhex(h))
    return ProofFile(old, tuple(hashes), new)


def parse_proof(text: str | bytes) -> ProofFile:
    """Parse a proof file; raise NoteError saying what is wrong.

    Two layouts are accepted: the JSON of ``mamori ledger prove --from A --to B``
    (``{"from": A, "to": B, "hashes": [hex, ...]}``), and the text of :func:`format_proof`
    (optional ``old <size>`` line, then one base64 hash per line).
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError as e:
            raise NoteError("the proof file is not ASCII text") from e
    if not isinstance(text, str):
        raise NoteError(f"a proof file is text, got {type(text).__name__}")
    if text.lstrip().startswith("{"):
        return _parse_json_proof(text)
    if text and not text.endswith("\n"):
        text += "\n"  # tolerate a missing final newline; nothing else is ambiguous
    lines = text[:-1].split("\n") if text else []
    old_size: int | None = None
    if lines and lines[0].startswith("old "):
        digits = lines[0][4:]
        ok = digits.isascii() and digits.isdigit() and (digits == "0" or digits[0] != "0")
        if not ok or len(digits) > 20:
            raise NoteError(f"line 1 of the proof file, {lines[0][:40]!r}, is not 'old <size>'")
        old_size = int(digits)
        lines = lines[1:]
    if len(lines) > MAX_PROOF_HASHES:
        raise NoteError(f"the proof file has {len(lines)} hashes; at most {MAX_PROOF_HASHES}")
    first = 1 if old_size is None else 2
    hashes: list[bytes] = []
    for number, line in enumerate(lines, start=first):
        try:
            raw = base64.b64decode(line.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raw = b""
        if len(raw) != HASH_SIZE or base64.b64encode(raw).decode("ascii") != line:
            raise NoteError(
                f"line {number} of the proof file, {line[:60]!r}, is not a base64 32-byte hash",
                hint="a proof file holds one base64 hash per line, optionally after 'old <size>'",
            )
        hashes.append(raw)
    return ProofFile(old_size, tuple(hashes))


# --------------------------------------------------------------------------------------------
# File-backed edge
# --------------------------------------------------------------------------------------------

_KEY_FILE = "witness.key"
_PUB_FILE = "witness.pub"
_LOGS_DIR = "logs"
_LOCK_FILE = ".lock"


class WitnessState:
    """A witness's key and per-log accepted checkpoints, kept in a directory (see module doc)."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        verify_consistency: ConsistencyVerifier = _merkle_verify_consistency,
    ) -> None:
        self.dir = Path(directory)
        self._verify_consistency = verify_consistency

    # -- setup ---------------------------------------------------------------------------

    def init(self, name: str) -> str:
        """Create the state directory and a new witness key named ``name``; return its vkey.

        Refuses to overwrite an existing witness key.
        """
        cosigner = note.generate_cosignature_signer(name)
        key_path, pub_path = self.dir / _KEY_FILE, self.dir / _PUB_FILE
        try:
            self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            if key_path.exists() or key_path.is_symlink() or pub_path.exists():
                raise WitnessStateError(
                    f"a witness already exists in {self.dir}; refusing to overwrite its key",
                    hint="use another --state directory, or remove the old one deliberately",
                )
            self.dir.chmod(0o700)
            (self.dir / _LOGS_DIR).mkdir(mode=0o700, exist_ok=True)
            (self.dir / _LOGS_DIR).chmod(0o700)
            write_new(key_path, note.signer_to_pem(cosigner), 0o600)
            write_new(pub_path, (cosigner.vkey + "\n").encode("ascii"), 0o644)
            fsync_dir(self.dir)
        except FileExistsError as e:
            raise WitnessStateError(
                f"a witness already exists in {self.dir}; refusing to overwrite its key"
            ) from e
        except OSError as e:
            raise WitnessStateError(
                f"cannot create the witness state in {self.dir}: {e.strerror or e}"
            ) from e
        return cosigner.vkey

    # -- keys ----------------------------------------------------------------------------

    def verifier(self) -> note.CosignatureVerifier:
        """The witness's public cosignature key, for the ledger and auditors."""
        pub_path = self.dir / _PUB_FILE
        try:
            text = pub_path.read_text(encoding="ascii")
        except FileNotFoundError as e:
            raise WitnessStateError(
                f"no witness in {self.dir} ({pub_path.name} is missing)",
                hint="create one with 'mamori ledger witness init --state DIR --name NAME'",
            ) from e
        except (OSError, UnicodeDecodeError) as e:
            raise WitnessStateError(f"cannot read {pub_path}: {e}") from e
        try:
            return note.CosignatureVerifier.parse(text)
        except NoteError as e:
            raise WitnessStateError(f"{pub_path} is corrupt: {e.message}") from e

    def vkey(self) -> str:
        """The witness's verifier key string ``name+keyid+base64(0x04||pubkey)``."""
        return self.verifier().vkey

    def _signer(self) -> note.CosignatureSigner:
        verifier = self.verifier()
        key_path = self.dir / _KEY_FILE
        try:
            fd = os.open(key_path, os.O_RDONLY | os.O_NOFOLLOW)
            try:
                mode = os.fstat(fd).st_mode
                if stat.S_IMODE(mode) & 0o077:
                    raise WitnessStateError(
                        f"{key_path} is readable by other users (mode {stat.S_IMODE(mode):04o})",
                        hint=f"chmod 600 {key_path}",
                    )
                with os.fdopen(os.dup(fd), "rb") as f:
                    pem = f.read()
            finally:
                os.close(fd)
        except OSError as e:
            raise WitnessStateError(f"cannot read the witness key {key_path}: {e}") from e
        try:
            signer = note.cosignature_signer_from_pem(verifier.name, pem)
        except NoteError as e:
            raise WitnessStateError(f"{key_path} is not usable: {e.message}") from e
        if signer.verifier != verifier:
            raise WitnessStateError(
                f"{key_path} does not match {self.dir / _PUB_FILE}",
                hint="the state directory was altered; restore both files from the same backup",
            )
        return signer

    # -- per-log state -------------------------------------------------------------------

    def _log_path(self, origin: str) -> Path:
        # Origins contain '/' and arbitrary text; a hash gives a safe, fixed-length file name.
        digest = hashlib.sha256(origin.encode("utf-8")).hexdigest()
        return self.dir / _LOGS_DIR / f"{digest}.json"

    def _load(self, origin: str) -> tuple[Checkpoint, str] | None:
        """The accepted checkpoint for ``origin`` and the pinned log vkey, re-verified."""
        path = self._log_path(origin)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise WitnessStateError(f"cannot read {path}: {e}") from e
        try:
            record = json.loads(raw)
            pinned = record["log_key"]
            stored_note = record["checkpoint"]
            if not isinstance(pinned, str) or not isinstance(stored_note, str):
                raise TypeError("log_key and checkpoint must be strings")
            cp = open_checkpoint(stored_note, note.Verifier.parse(pinned))
        except (ValueError, KeyError, TypeError, NoteError) as e:
            raise WitnessStateError(
                f"the witness state {path} is corrupt: {e}",
                hint="restore it from backup; deleting it makes the witness trust the log anew",
            ) from e
        if cp.origin != origin:
            raise WitnessStateError(f"the witness state {path} is for another log ({cp.origin!r})")
        return cp, pinned

    def last_accepted(self, origin: str) -> Checkpoint | None:
        """The last checkpoint this witness accepted for the log ``origin``, if any."""
        loaded = self._load(origin)
        return None if loaded is None else loaded[0]

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # C2SP tlog-witness: checking against the stored checkpoint and persisting the new one
        # must be atomic, or two concurrent requests could roll the state back.
        try:
            fd = os.open(self.dir / _LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as e:
            raise WitnessStateError(f"cannot lock the witness state in {self.dir}: {e}") from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    # -- the operation -------------------------------------------------------------------

    def cosign(
        self,
        log_vkey_text: str,
        note_text: str | bytes,
        proof_hashes: Sequence[bytes],
        *,
        old_size: int | None = None,
        new_size: int | None = None,
        now: int | None = None,
    ) -> str:
        """Check a checkpoint note from the log and, if it is safe, return it cosigned.

        ``log_vkey_text`` is the log's verifier key (the content of ``ledger.pub``);
        ``proof_hashes`` is a consistency proof from the witness's last accepted size for this
        log to the new size; ``old_size`` and ``new_size``, if given, are the sizes the proof
        claims to join (from :class:`ProofFile`); ``now`` is the cosignature time (POSIX
        seconds; default: the clock).

        Returns the note with this witness's cosignature line appended. Raises
        :class:`WitnessRefused` saying why if the checkpoint is not signed by the log key, is
        malformed, rolls back, forks, or is not proven consistent. A refusal changes nothing on
        disk; an acceptance records the new checkpoint before returning.
        """
        log_verifier = note.Verifier.parse(log_vkey_text)
        signer = self._signer()
        try:
            cp = open_checkpoint(note_text, log_verifier)
        except NoteError as e:
            raise WitnessRefused(f"refusing to cosign: {e.message}", hint=e.hint) from e
        if new_size is not None and new_size != cp.size:
            raise WitnessRefused(
                f"refusing to cosign: the proof leads to size {new_size}, but the checkpoint has"
                f" size {cp.size}",
                hint="send the consistency proof that ends at the checkpoint's size",
            )
        logs = self.dir / _LOGS_DIR
        with self._locked():
            loaded = self._load(cp.origin)
            last = None
            if loaded is not None:
                last, pinned = loaded
                if note.Verifier.parse(pinned) != log_verifier:
                    raise WitnessRefused(
                        f"refusing to cosign: the witness trusts the key {pinned} for the log"
                        f" {cp.origin!r}, not {log_verifier.vkey}",
                        hint="if the log's key was rotated on purpose, start a new witness state"
                        " for it; otherwise someone is impersonating the log",
                    )
                if old_size is not None and old_size != last.size:
                    raise WitnessRefused(
                        f"refusing to cosign: the proof starts from size {old_size}, but the"
                        f" witness last accepted size {last.size} for this log",
                        hint=f"send a consistency proof from size {last.size} to size {cp.size}",
                    )
            decision = decide(last, cp, proof_hashes, self._verify_consistency)
            if isinstance(decision, Refuse):
                raise WitnessRefused(f"refusing to cosign: {decision.reason}")
            if decision.advances:
                record = {
                    "origin": cp.origin,
                    "size": cp.size,
                    "log_key": log_verifier.vkey,
                    "checkpoint": note.parse_note(note_text).text
                    + "\n"
                    + note.signature_line(
                        log_verifier.name,
                        log_verifier.key_id,
                        _log_signature(note_text, log_verifier),
                    ),
                }
                data = json.dumps(record, sort_keys=True, indent=1).encode("utf-8") + b"\n"
                try:
                    logs.mkdir(mode=0o700, exist_ok=True)
                    write_atomic(self._log_path(cp.origin), data, 0o600)
                except OSError as e:
                    raise WitnessStateError(
                        f"cannot record the accepted checkpoint in {logs}: {e}"
                    ) from e
        timestamp = int(time.time()) if now is None else now
        return note.cosign(note_text, signer, timestamp)


def _log_signature(note_text: str | bytes, log_verifier: note.Verifier) -> bytes:
    """The log's own (already verified) signature bytes on the note."""
    for sig in note.parse_note(note_text).signatures:
        if (sig.name, sig.key_id) == (log_verifier.name, log_verifier.key_id):
            return sig.signature
    raise NoteError("the note carries no signature by the log key")  # open_checkpoint checked
