"""`mamori ledger verify`: check everything, name every problem, never call a skipped check OK.

Two layers, one pass over the data:

1. The tree. The stored leaf hashes (level-0 tiles) are fed to a fresh :class:`TileBuilder`;
   at every checkpoint size its root must equal the checkpoint's root, the checkpoint's note must
   carry a valid signature by the log key and name that same root, and every rebuilt tile must
   equal the stored one. Consecutive checkpoints are also checked with an RFC 9162 §2.1.4
   consistency proof through the pure verifier. If all that holds, the stored leaf hashes are the
   ones the log signed.
2. The bodies. Each stored entry is hashed and compared with the signed leaf hash at its
   position. A mismatch is classified: an authentic entry of another position (its own index is
   written inside it) is `reordered`, a run of entries shifted by one after a foreign row is
   `inserted`, a run shifted back is `missing`, anything else is `modified`. A body removed by
   retention is lawful only inside a range announced by a signed `ledger.pruned` event.

Rows beyond the latest checkpoint are `inserted`; fewer rows than it covers is `truncated`.
"""

from __future__ import annotations

import hashlib
import itertools
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from mamori.ledger.checkpoint import extract_cosignatures, open_checkpoint
from mamori.ledger.entries import entry_index
from mamori.ledger.errors import LedgerError, NoteError
from mamori.ledger.merkle import verify_consistency
from mamori.ledger.note import CosignatureVerifier, Verifier, parse_note
from mamori.ledger.store import Reader, StoredCheckpoint
from mamori.ledger.tiles import TILE_WIDTH, TileBuilder, TileNodeReader
from mamori.perf import no_cyclic_gc

HASH = 32
PARALLEL_MIN = 200_000
"""From this tree size on, bodies are checked in a second process beside the tree check."""
PARALLEL_SHARE = 0.8
"""The share of the bodies the second process hashes: the first process also rebuilds the tree."""

KINDS = (
    "modified",
    "missing",
    "inserted",
    "reordered",
    "truncated",
    "bad-signature",
    "checkpoint-mismatch",
    "tile-mismatch",
    "bad-prune",
    "bad-cosignature",
)
"""Every kind of problem verify reports (docs/ledger-format.md explains each)."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing found wrong."""

    index: int | None
    kind: str
    detail: str

    def as_json(self) -> dict[str, Any]:
        return {"index": self.index, "kind": self.kind, "detail": self.detail}


@dataclass(slots=True)
class Report:
    """The outcome of a verification: what was checked, and every problem found."""

    tree_size: int = 0
    rows: int = 0
    leaves_hashed: int = 0
    leaves_pruned: int = 0
    checkpoints: int = 0
    signatures: int = 0
    consistency_pairs: int = 0
    tiles: int = 0
    cosignatures: int = 0
    cosignatures_unchecked: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        # An empty ledger is intact, but only because there is nothing to check.
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "tree_size": self.tree_size,
            "problems": [p.as_json() for p in self.problems],
            "checked": {
                "rows": self.rows,
                "leaves_hashed": self.leaves_hashed,
                "leaves_pruned": self.leaves_pruned,
                "checkpoints": self.checkpoints,
                "signatures": self.signatures,
                "consistency_pairs": self.consistency_pairs,
                "tiles": self.tiles,
                "cosignatures": self.cosignatures,
                "cosignatures_unchecked": self.cosignatures_unchecked,
            },
        }


Progress = Callable[[int, int], None]
"""Called with (positions done, positions in all) as verification advances."""


def verify(
    reader: Reader,
    log_key: Verifier,
    *,
    witnesses: Sequence[CosignatureVerifier] = (),
    progress: Progress | None = None,
) -> Report:
    """Verify the whole ledger behind `reader` against the log's public key, and the stored
    cosignatures of the given witnesses."""
    with no_cyclic_gc():
        report = _verify(reader, log_key, progress)
        _check_cosignatures(reader, witnesses, report)
        return report


def _check_cosignatures(
    reader: Reader, witnesses: Sequence[CosignatureVerifier], report: Report
) -> None:
    """Each stored cosignature by a known witness must verify over its checkpoint."""
    known = {(w.name, w.key_id) for w in witnesses}
    for cp in reader.checkpoints_with_cosignatures():
        for line in reader.cosignatures(cp.tree_size):
            text = cp.note + line + "\n"
            try:
                sig = parse_note(text).signatures[-1]
            except NoteError as e:
                report.problems.append(
                    Problem(None, "bad-cosignature", f"checkpoint {cp.tree_size}: {e.message}")
                )
                continue
            if (sig.name, sig.key_id) not in known:
                report.cosignatures_unchecked += 1
                continue
            try:
                extract_cosignatures(text, witnesses)
            except NoteError:
                report.problems.append(
                    Problem(
                        None,
                        "bad-cosignature",
                        f"the stored cosignature of {sig.name} on checkpoint {cp.tree_size} does not verify",
                    )
                )
                continue
            report.cosignatures += 1


def _verify(reader: Reader, log_key: Verifier, progress: Progress | None) -> Report:
    report = Report()
    checkpoints = list(reader.checkpoints())
    report.checkpoints = len(checkpoints)
    size = checkpoints[-1].tree_size if checkpoints else 0
    report.tree_size = size
    rows = reader.stored_rows()
    report.rows = rows

    _check_notes(checkpoints, log_key, report)
    pruned = _pruned_ranges(reader, report.problems)
    if size >= PARALLEL_MIN and (os.cpu_count() or 1) > 1:
        # On two cores: a second process hashes the first PARALLEL_SHARE of the bodies while
        # this one rebuilds the tree, then hashes the rest. Both read consistent snapshots.
        cut = int(size * PARALLEL_SHARE)
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
            future = pool.submit(_scan_bodies_at, str(reader.path), 0, cut, size, pruned)
            _check_tree(reader, checkpoints, size, report, progress)
            _check_consistency(reader, checkpoints, report)
            tail = _scan_bodies(reader, cut, None, size, pruned, progress)
            head = future.result()
        scans = [head, tail]
    else:
        _check_tree(reader, checkpoints, size, report, progress)
        _check_consistency(reader, checkpoints, report)
        scans = [_scan_bodies(reader, 0, None, size, pruned, progress)]
    odd = [r for scan in scans for r in scan.odd]
    report.problems.extend(_classify(odd, size, rows))
    report.leaves_hashed = sum(scan.hashed for scan in scans)
    report.leaves_pruned = sum(scan.pruned for scan in scans)
    if progress is not None:
        progress(size, size)
    report.problems.sort(key=lambda p: (p.index if p.index is not None else -1, p.kind))
    return report


def _check_notes(checkpoints: list[StoredCheckpoint], log_key: Verifier, report: Report) -> None:
    for cp in checkpoints:
        try:
            opened = open_checkpoint(cp.note, log_key)
        except NoteError as e:
            report.problems.append(
                Problem(None, "bad-signature", f"checkpoint of size {cp.tree_size}: {e.message}")
            )
            continue
        report.signatures += 1
        if opened.size != cp.tree_size or opened.root_hash != cp.root:
            report.problems.append(
                Problem(
                    None,
                    "checkpoint-mismatch",
                    f"checkpoint of size {cp.tree_size}: the signed note says size {opened.size}, "
                    f"root {opened.root_hash.hex()[:16]}…, the stored row says root {cp.root.hex()[:16]}…",
                )
            )


class _Leaves:
    """The stored (signed, once the tree check passes) leaf hashes, read a tile at a time.

    Memory stays bounded: only the tiles of the current stretch are kept.
    """

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.cache: dict[int, bytes] = {}

    def tile(self, number: int) -> bytes | None:
        got = self.cache.get(number)
        if got is None:
            got = self.reader.read_tiles([(0, number)]).get((0, number))
            if got is None:
                return None
            if len(self.cache) > 64:
                self.cache.clear()
            self.cache[number] = got
        return got

    def get(self, index: int) -> bytes | None:
        tile = self.tile(index // TILE_WIDTH)
        off = (index % TILE_WIDTH) * HASH
        if tile is None or off + HASH > len(tile):
            return None
        return tile[off : off + HASH]

    def span(self, first: int, end: int) -> bytes | None:
        """The concatenated leaf hashes of [first, end), or None when any is not stored."""
        parts = []
        pos = first
        while pos < end:
            number = pos // TILE_WIDTH
            tile = self.tile(number)
            lo = (pos - number * TILE_WIDTH) * HASH
            hi = (min(end, (number + 1) * TILE_WIDTH) - number * TILE_WIDTH) * HASH
            if tile is None or len(tile) < hi:
                return None
            parts.append(tile[lo:hi])
            pos = (number + 1) * TILE_WIDTH
        return b"".join(parts)


def _check_tree(
    reader: Reader,
    checkpoints: list[StoredCheckpoint],
    size: int,
    report: Report,
    progress: Progress | None,
) -> None:
    """Rebuild the tree from the stored leaf hashes; compare roots and every tile."""
    builder = TileBuilder()
    cps = iter(checkpoints)
    cp = next(cps, None)
    pos = 0
    ntiles = (size + TILE_WIDTH - 1) // TILE_WIDTH
    rebuilt: dict[tuple[int, int], bytes] = {}  # tiles above level 0: about size / 8 bytes
    stored_leaves = reader.tiles_at_level(0)
    for number in range(ntiles):
        width = min(TILE_WIDTH, size - number * TILE_WIDTH)
        got = next(stored_leaves, None)
        stored = got[1] if got is not None and got[0] == number else None
        if stored is None or len(stored) < width * HASH:
            have = 0 if stored is None else len(stored) // HASH
            report.problems.append(
                Problem(
                    number * TILE_WIDTH + have,
                    "truncated",
                    f"the stored leaf hashes stop at {number * TILE_WIDTH + have}, "
                    f"the latest checkpoint covers {size}",
                )
            )
            return
        data = stored[: width * HASH]
        hashes = [data[i : i + HASH] for i in range(0, len(data), HASH)]
        start = 0
        while cp is not None and cp.tree_size <= pos + width:
            take = cp.tree_size - pos - start
            builder.append(hashes[start : start + take])
            start += take
            _compare_root(builder.root(), cp, report)
            cp = next(cps, None)
        builder.append(hashes[start:])
        pos += width
        for level, num, _w, h in builder.dirty_tiles():
            if level:  # level 0 is the input itself, checked through the signed roots
                rebuilt[(level, num)] = h
        if progress is not None:
            progress(pos // 2, size)
    # Every tile above level 0 as rebuilt, against the stored one, in one pass.
    for level, num, stored in reader.tiles_above(0):
        if (level, num) not in rebuilt:
            continue  # beyond the latest checkpoint: covered by no signature yet
        h = rebuilt.pop((level, num))
        report.tiles += 1
        if stored[: len(h)] != h:
            report.problems.append(
                Problem(
                    None,
                    "tile-mismatch",
                    f"stored tile level {level} number {num} differs from the one rebuilt "
                    "from the signed leaf hashes",
                )
            )
    for level, num in sorted(rebuilt):
        report.problems.append(
            Problem(None, "tile-mismatch", f"tile level {level} number {num} is missing")
        )


def _compare_root(root: bytes, cp: StoredCheckpoint, report: Report) -> None:
    if root != cp.root:
        report.problems.append(
            Problem(
                None,
                "checkpoint-mismatch",
                f"the tree rebuilt from the stored leaf hashes has root {root.hex()[:16]}… at "
                f"size {cp.tree_size}; the checkpoint says {cp.root.hex()[:16]}…: a leaf hash "
                f"below {cp.tree_size} was changed",
            )
        )


def _check_consistency(reader: Reader, checkpoints: list[StoredCheckpoint], report: Report) -> None:
    """RFC 9162 §2.1.4.2 between each pair of consecutive checkpoints."""
    if len(checkpoints) < 2:
        return
    nodes = TileNodeReader(reader, checkpoints[-1].tree_size)
    from mamori.ledger.merkle import consistency_proof

    for old, new in itertools.pairwise(checkpoints):
        if old.tree_size == 0:
            continue
        try:
            proof = consistency_proof(old.tree_size, new.tree_size, nodes)
        except LedgerError as e:
            report.problems.append(
                Problem(
                    None,
                    "checkpoint-mismatch",
                    f"no consistency proof {old.tree_size}→{new.tree_size}: {e.message}",
                )
            )
            continue
        report.consistency_pairs += 1
        if not verify_consistency(old.tree_size, new.tree_size, old.root, new.root, proof):
            report.problems.append(
                Problem(
                    None,
                    "checkpoint-mismatch",
                    f"checkpoints {old.tree_size} and {new.tree_size} are not consistent: "
                    "history between them was rewritten",
                )
            )


@dataclass(slots=True)
class _Row:
    index: int
    state: str  # ok | pruned | null | foreign | bogus | gap
    origin: int | None = None  # for foreign: the position the body belongs to


@dataclass(slots=True)
class _Scan:
    """What a scan of stored bodies found: odd rows, and counts of what checked out."""

    odd: list[_Row] = field(default_factory=list)
    hashed: int = 0
    pruned: int = 0


def _scan_bodies_at(
    path: str, start: int, end: int | None, size: int, pruned: list[tuple[int, int]]
) -> _Scan:
    """:func:`_scan_bodies` on its own connection, so it can run in a second process."""
    with no_cyclic_gc(), Reader(Path(path)) as reader:
        return _scan_bodies(reader, start, end, size, pruned, None)


def _scan_bodies(
    reader: Reader,
    start: int,
    end: int | None,
    size: int,
    pruned: list[tuple[int, int]],
    progress: Progress | None,
) -> _Scan:
    """Hash the stored bodies of [start, end) and compare each with the stored leaf hash at
    its position; rows past `size` and gaps are noted too (end None: to the last row)."""
    out = _Scan()
    leaves = _Leaves(reader)
    sha256 = hashlib.sha256
    odd = out.odd
    expected = start
    for chunk in reader.entry_chunks(start, end):
        first = chunk[0][0]
        last = chunk[-1][0]
        if first == expected and last - first + 1 == len(chunk) and last < size:
            # The fast path: a contiguous stretch, every body present and matching. One join
            # and one comparison instead of a lookup per row.
            try:
                hashes = b"".join([sha256(b"\x00" + body).digest() for _, _, body in chunk])  # type: ignore[operator]
            except TypeError:  # a NULL (pruned) or hand-written non-BLOB body: row by row
                hashes = b""
            if hashes and hashes == leaves.span(first, last + 1):
                out.hashed += len(chunk)
                expected = last + 1
                if progress is not None:
                    progress(size // 2 + last // 2, size)
                continue
        for idx, _received, body in chunk:
            while expected < idx:
                odd.append(_Row(expected, "gap"))
                expected += 1
            expected = idx + 1
            if idx >= size:
                odd.append(_Row(idx, "beyond"))
                continue
            if body is None:
                if _covered(pruned, idx):
                    out.pruned += 1
                else:
                    odd.append(_Row(idx, "null"))
                continue
            if type(body) is not bytes:
                # A body of another SQLite type was written by hand (e.g. replace() on a BLOB
                # returns TEXT): its bytes are what the reader would get.
                body = str(body).encode("utf-8", "surrogateescape")
            h = sha256(b"\x00" + body).digest()
            out.hashed += 1
            leaf = leaves.get(idx)
            if h == leaf or leaf is None:
                continue  # None: no stored leaf hash; the tree check reports the truncation
            e = entry_index(body)
            if e is not None and e != idx and e < size and leaves.get(e) == h:
                odd.append(_Row(idx, "foreign", e))
            else:
                odd.append(_Row(idx, "bogus", e))
    stop = size if end is None else min(end, size)
    while expected < stop:
        odd.append(_Row(expected, "gap"))
        expected += 1
    return out


def _classify(odd: list[_Row], size: int, rows: int) -> Iterator[Problem]:
    """Name each odd row; a renumbering (one row inserted or deleted, the rest shifted) is
    reported once, where it happened, not once per shifted row."""
    by_index = {r.index: r for r in odd}
    explained: set[int] = set()
    for r in sorted(odd, key=lambda x: x.index):
        if r.index in explained:
            continue
        explained.add(r.index)
        if r.state == "bogus":
            # Inserted and renumbered: a foreign row here, every later event one place on,
            # the last one past the end of the signed tree.
            run = _run(by_index, r.index + 1, 1)
            tail = by_index.get(size)
            if run and run[-1].index == size - 1 and tail is not None and tail.state == "beyond":
                explained.update(x.index for x in run)
                explained.add(size)
                yield Problem(
                    r.index,
                    "inserted",
                    f"a row not in the signed log was inserted at {r.index}; "
                    f"the {len(run)} events after it were renumbered",
                )
            else:
                yield Problem(
                    r.index, "modified", f"event {r.index} does not match its signed leaf hash"
                )
        elif r.state == "foreign" and r.origin is not None:
            if r.origin == r.index + 1:
                # Deleted and renumbered: every later event one place back, a gap at the end.
                run = _run(by_index, r.index, -1)
                tail = by_index.get(size - 1)
                if run[-1].index == size - 2 and tail is not None and tail.state == "gap":
                    explained.update(x.index for x in run)
                    explained.add(size - 1)
                    yield Problem(
                        r.index,
                        "missing",
                        f"event {r.index} was deleted and the {len(run)} events after it "
                        "renumbered",
                    )
                    continue
            yield Problem(r.index, "reordered", f"position {r.index} holds event {r.origin}")
        elif r.state == "gap":
            if r.index >= rows:
                explained.update(range(r.index, size))
                yield Problem(
                    r.index,
                    "truncated",
                    f"the ledger stops at {rows} rows; the latest checkpoint covers {size}",
                )
            else:
                yield Problem(r.index, "missing", f"event {r.index} was deleted")
        elif r.state == "null":
            yield Problem(
                r.index,
                "missing",
                f"the body of event {r.index} was removed outside a signed retention run",
            )
        else:  # beyond
            yield Problem(
                r.index,
                "inserted",
                f"row {r.index} is beyond the latest signed checkpoint ({size})",
            )


def _run(by_index: dict[int, _Row], start: int, shift: int) -> list[_Row]:
    """The rows from `start` on that each hold the event `shift` places before them."""
    run = []
    i = start
    while (r := by_index.get(i)) is not None and r.state == "foreign" and r.origin == i - shift:
        run.append(r)
        i += 1
    return run


def _pruned_ranges(reader: Reader, problems: list[Problem]) -> list[tuple[int, int]]:
    """Pruned ranges, each checked against the signed ledger.pruned event that announced it."""
    out = []
    for first, last, event_idx in reader.pruned_ranges():
        row = reader.entry(event_idx)
        ok = False
        if row is not None and row[1] is not None:
            try:
                ev = orjson.loads(row[1])["event"]
                info = ev.get("mamori", {}).get("retention", {})
                ok = (
                    ev.get("event", {}).get("action") == "ledger.pruned"
                    and info.get("first") == first
                    and info.get("last") == last
                    and event_idx > last
                )
            except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError):
                ok = False
        if ok:
            out.append((first, last))
        else:
            problems.append(
                Problem(
                    event_idx,
                    "bad-prune",
                    f"pruned range {first}–{last} is not announced by a ledger.pruned event at {event_idx}",
                )
            )
    return out


def _covered(ranges: list[tuple[int, int]], idx: int) -> bool:
    return any(a <= idx <= b for a, b in ranges)
