"""Export (CLD-5, CLD-6): events in a general-purpose format, with proof the range is complete.

`mamori ledger export` writes the events of a time range and, beside them, a manifest holding
the signed checkpoint, the log's public key, the SHA-256 of the exported file, and a RANGE
PROOF: the hashes of the perfect subtrees left of the range and right of it. With them, the
recipient recomputes the checkpoint's root from the exported entries alone
(:func:`verify_range`): an event left out, added, changed or moved makes the root differ.

JSON Lines lines are the entries exactly as hashed, so `SHA-256(0x00 || line)` is each leaf
hash. CSV adds convenient columns and keeps the exact entry in its last column. A pruned event
is exported as its leaf hash only (`{"index": I, "pruned": true, "leaf_hash": HEX}`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from mamori.ledger.checkpoint import open_checkpoint
from mamori.ledger.entries import entry_index
from mamori.ledger.errors import LedgerError
from mamori.ledger.merkle import fold_right, node_hash, subtree_coords
from mamori.ledger.note import Verifier
from mamori.ledger.proofs import checkpoint_for
from mamori.ledger.store import Reader
from mamori.ledger.tiles import TileNodeReader

FORMATS = ("jsonl", "csv")
CSV_COLUMNS = (
    "index",
    "received",
    "timestamp",
    "host",
    "user",
    "action",
    "outcome",
    "message",
    "leaf_hash",
    "entry",
)


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What an export wrote."""

    out: Path
    manifest: Path
    first: int
    end: int
    count: int


def export(
    reader: Reader,
    log_key_text: str,
    *,
    fmt: str,
    out: Path,
    since_us: int | None = None,
    until_us: int | None = None,
) -> ExportResult:
    """Write the events received in [since, until) to `out` and the manifest beside it."""
    if fmt not in FORMATS:
        raise LedgerError(f"unknown export format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}")
    cp = checkpoint_for(reader, None)
    size = cp.tree_size
    first = 0 if since_us is None else min(reader.first_index_at_or_after(since_us), size)
    end = size if until_us is None else min(reader.first_index_at_or_after(until_us), size)
    end = max(end, first)
    nodes = TileNodeReader(reader, size)
    left = nodes.nodes(subtree_coords(0, first)) if first else []
    right = nodes.nodes(_right_coords(end, size)) if end < size else []
    digest = hashlib.sha256()
    manifest_path = out.with_name(out.name + ".manifest.json")
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            for chunk in _render(reader, nodes, fmt, first, end):
                digest.update(chunk)
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(out)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise LedgerError(
            f"cannot write {out}: {e.strerror}", hint="check the path, free space and permissions"
        ) from e
    manifest = {
        "format": fmt,
        "file": out.name,
        "sha256": digest.hexdigest(),
        "first": first,
        "end": end,
        "count": end - first,
        "since": since_us,
        "until": until_us,
        "log_key": log_key_text,
        "checkpoint": cp.note,
        "range_proof": {"left": [h.hex() for h in left], "right": [h.hex() for h in right]},
    }
    try:
        data = orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n"
        fd = os.open(manifest_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            os.fsync(f.fileno())
    except OSError as e:
        raise LedgerError(f"cannot write {manifest_path}: {e.strerror}") from e
    return ExportResult(out, manifest_path, first, end, end - first)


def _right_coords(end: int, size: int) -> list[tuple[int, int]]:
    """Perfect subtrees covering [end, size) that a compact range can absorb left to right."""
    coords = []
    pos = end
    while pos < size:
        # The largest aligned subtree starting at pos that fits before size.
        level = (pos & -pos).bit_length() - 1 if pos else (size - pos).bit_length() - 1
        while pos + (1 << level) > size:
            level -= 1
        coords.append((level, pos >> level))
        pos += 1 << level
    return coords


def _render(
    reader: Reader, nodes: TileNodeReader, fmt: str, first: int, end: int
) -> Iterator[bytes]:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if fmt == "csv":
        writer.writerow(CSV_COLUMNS)
        yield _take(buf)
    for idx, received, body in reader.entries(first, end):
        if body is None:
            leaf = nodes.nodes([(0, idx)])[0]
            if fmt == "jsonl":
                yield orjson.dumps({"index": idx, "pruned": True, "leaf_hash": leaf.hex()}) + b"\n"
            else:
                writer.writerow([idx, received, "", "", "", "", "", "(pruned)", leaf.hex(), ""])
                yield _take(buf)
            continue
        if fmt == "jsonl":
            yield body + b"\n"
            continue
        entry = orjson.loads(body)
        ev = entry["event"]
        writer.writerow(
            [
                idx,
                entry["received"],
                _get(ev, "@timestamp"),
                _get(ev, "host.name"),
                _get(ev, "user.name"),
                _get(ev, "event.action"),
                _get(ev, "event.outcome"),
                _get(ev, "message"),
                hashlib.sha256(b"\x00" + body).hexdigest(),
                body.decode("utf-8"),
            ]
        )
        yield _take(buf)


def _take(buf: io.StringIO) -> bytes:
    data = buf.getvalue().encode("utf-8")
    buf.seek(0)
    buf.truncate()
    return data


def _get(ev: dict[str, Any], dotted: str) -> str:
    if dotted in ev:
        v: Any = ev[dotted]
    else:
        v = ev
        for part in dotted.split("."):
            if not isinstance(v, dict) or part not in v:
                return ""
            v = v[part]
    return v if isinstance(v, str) else orjson.dumps(v).decode("utf-8")


# --- checking an export, for its recipient (pure but for reading the two files) ---------------


def verify_range(
    first: int,
    leaves: Sequence[bytes],
    left: Sequence[bytes],
    right: Sequence[bytes],
    size: int,
    root: bytes,
) -> bool:
    """True when `leaves` are exactly the leaves [first, first+len) of the tree of `root`.

    `left` are the perfect subtrees of [0, first) (largest first, :func:`subtree_coords`) and
    `right` those of [first+len, size) as :func:`_right_coords` orders them.
    """
    end = first + len(leaves)
    if end > size:
        return False
    try:
        lc = subtree_coords(0, first) if first else []
    except LedgerError:
        return False
    rc = _right_coords(end, size)
    if len(lc) != len(left) or len(rc) != len(right):
        return False
    # A compact range: (level, hash) of the right edge, merged as the tree grows.
    stack: list[tuple[int, bytes]] = [(lv, h) for (lv, _), h in zip(lc, left, strict=True)]

    def push(level: int, h: bytes) -> None:
        while stack and stack[-1][0] == level:
            _, left_h = stack.pop()
            h = node_hash(left_h, h)
            level += 1
        stack.append((level, h))

    for leaf in leaves:
        push(0, leaf)
    for (lv, _), h in zip(rc, right, strict=True):
        push(lv, h)
    if not stack:
        return root == hashlib.sha256(b"").digest()
    return fold_right([h for _, h in stack]) == root


@dataclass(frozen=True, slots=True)
class ExportCheck:
    """The outcome of checking an export against its manifest and the log's key."""

    ok: bool
    count: int
    problems: list[str]


def check_export(manifest_path: Path, log_key: Verifier) -> ExportCheck:
    """Check an exported file: its hash, the checkpoint's signature, and the range proof."""
    try:
        manifest = orjson.loads(manifest_path.read_bytes())
        name = str(manifest["file"])
        if not name or Path(name).name != name:
            raise ValueError(f"the file name {name!r} must be a plain name beside the manifest")
        data_path = manifest_path.with_name(name)
        fmt = manifest["format"]
        first = int(manifest["first"])
        end = int(manifest["end"])
        left = [bytes.fromhex(h) for h in manifest["range_proof"]["left"]]
        right = [bytes.fromhex(h) for h in manifest["range_proof"]["right"]]
        note_text = str(manifest["checkpoint"])
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise LedgerError(f"{manifest_path} is not a mamori export manifest ({e})") from e
    problems: list[str] = []
    cp = open_checkpoint(note_text, log_key)
    digest = hashlib.sha256()
    leaves: list[bytes] = []
    try:
        with data_path.open("rb") as f:
            lines = iter(f)
            if fmt == "csv":
                header = next(lines, b"")
                digest.update(header)
                text_rows = csv.reader(
                    io.TextIOWrapper(
                        io.BufferedReader(_Tee(lines, digest)), encoding="utf-8", newline=""
                    )
                )
                for n, row in enumerate(text_rows):
                    if row[-1]:
                        entry = row[-1].encode("utf-8")
                        leaves.append(hashlib.sha256(b"\x00" + entry).digest())
                        if entry_index(entry) != first + n:
                            problems.append(
                                f"row {n + 1} holds event {entry_index(entry)}, expected {first + n}"
                            )
                    else:
                        leaves.append(bytes.fromhex(row[-2]))
            else:
                for n, line in enumerate(lines):
                    digest.update(line)
                    body = line.rstrip(b"\n")
                    if body.startswith(b'{"index"'):
                        leaves.append(bytes.fromhex(orjson.loads(body)["leaf_hash"]))
                        continue
                    leaves.append(hashlib.sha256(b"\x00" + body).digest())
                    if entry_index(body) != first + n:
                        problems.append(
                            f"line {n + 1} holds event {entry_index(body)}, expected {first + n}"
                        )
    except (OSError, ValueError, KeyError, IndexError, orjson.JSONDecodeError) as e:
        raise LedgerError(f"cannot read the exported file {data_path}: {e}") from e
    if digest.hexdigest() != manifest.get("sha256"):
        problems.append("the file's SHA-256 differs from the manifest's")
    if len(leaves) != end - first:
        problems.append(f"the file holds {len(leaves)} events, the manifest says {end - first}")
    if not verify_range(first, leaves, left, right, cp.size, cp.root_hash):
        problems.append(
            f"the events do not recompute the signed root of tree size {cp.size}: "
            "an event was left out, added, changed or moved"
        )
    return ExportCheck(not problems, len(leaves), problems)


class _Tee(io.RawIOBase):
    """Lines read through it are also hashed."""

    def __init__(self, lines: Iterator[bytes], digest: Any) -> None:
        self._lines = lines
        self._digest = digest
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._pending:
            line = next(self._lines, None)
            if line is None:
                return 0
            self._digest.update(line)
            self._pending = line
        n = min(len(b), len(self._pending))
        b[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n
