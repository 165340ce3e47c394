"""The ledger's Merkle tree, exactly as RFC 9162 §2.1 defines it (pure: no I/O).

A tree of ``size`` leaves is read through a :class:`NodeReader`, which only knows *perfect*
subtrees: the subtree at ``(level, index)`` covers the leaves
``[index * 2**level, (index + 1) * 2**level)``. Every RFC 9162 node of a tree is either such a
perfect subtree or lies on the tree's right edge, where it is the fold of the perfect subtrees
of the binary decomposition of its width. Roots and proofs therefore need only O(log n) perfect
subtree hashes, which each function asks for in ONE :meth:`NodeReader.nodes` call.

The verifiers take bytes and ints and return a verdict; they never raise on a bad proof.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Protocol

from mamori.ledger.errors import LedgerError, ProofError

HASH_SIZE = 32
"""Size in bytes of every hash in the tree (SHA-256)."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH({}) = SHA-256 of the empty string (RFC 9162 §2.1.1)."""

Coord = tuple[int, int]
"""A perfect subtree: (level, index) covers leaves [index * 2**level, (index + 1) * 2**level)."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(entry: bytes) -> bytes:
    """MTH({d0}) = SHA-256(0x00 || d0), the hash of one leaf entry (RFC 9162 §2.1.1)."""
    return hashlib.sha256(_LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right), the hash of an interior node (RFC 9162 §2.1.1)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


class NodeReader(Protocol):
    """Where the hashes of a tree's perfect subtrees come from."""

    def nodes(self, coords: Sequence[tuple[int, int]]) -> list[bytes]:
        """The hashes of the perfect subtrees at `coords`, in the same order."""
        ...


def subtree_coords(start: int, end: int) -> list[Coord]:
    """The perfect subtrees that make up the leaves [start, end), largest (leftmost) first.

    `start` must be a multiple of the largest of them, which holds for every node of an
    RFC 9162 tree (and for start == 0). The hash of the range is :func:`fold_right` of their
    hashes.
    """
    if not 0 <= start <= end:
        raise ProofError(f"the leaf range [{start}, {end}) is empty or reversed")
    coords: list[Coord] = []
    pos = start
    width = end - start
    for level in range(width.bit_length() - 1, -1, -1):
        if width >> level & 1:
            if pos & ((1 << level) - 1):
                raise ProofError(
                    f"the leaf range [{start}, {end}) is not a node of an RFC 9162 tree"
                )
            coords.append((level, pos >> level))
            pos += 1 << level
    return coords


def fold_right(hashes: Sequence[bytes]) -> bytes:
    """MTH of consecutive perfect subtrees given largest first (see :func:`subtree_coords`).

    RFC 9162 §2.1.1 splits at the largest power of two below the width, which is the first
    subtree, so the hash of the rest nests to the right.
    """
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def _split(width: int) -> int:
    """k: the largest power of two smaller than `width` (RFC 9162 §2.1.1), for width >= 2."""
    return 1 << ((width - 1).bit_length() - 1)


def _check_int(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProofError(f"{name} must be a non-negative integer, not {value!r}")


def _read_ranges(ranges: Sequence[tuple[int, int]], reader: NodeReader) -> list[bytes]:
    """MTH of each leaf range, reading all the perfect subtrees involved in one call."""
    plans = [subtree_coords(lo, hi) for lo, hi in ranges]
    coords = [c for plan in plans for c in plan]
    hashes = reader.nodes(coords) if coords else []
    if len(hashes) != len(coords) or any(len(h) != HASH_SIZE for h in hashes):
        raise LedgerError(
            f"the node reader returned {len(hashes)} hashes for {len(coords)} nodes "
            f"(or a hash that is not {HASH_SIZE} bytes)",
            hint="the tile store is damaged: run `mamori ledger verify`",
        )
    out: list[bytes] = []
    pos = 0
    for plan in plans:
        out.append(fold_right(hashes[pos : pos + len(plan)]))
        pos += len(plan)
    return out


def root(size: int, reader: NodeReader) -> bytes:
    """MTH(D[0:size]) from the perfect subtrees of the binary decomposition of `size`."""
    _check_int("the tree size", size)
    if size == 0:
        return EMPTY_ROOT
    return _read_ranges([(0, size)], reader)[0]


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose MTHs form PATH(index, D[0:size]), leaf end first."""
    # RFC 9162 §2.1.3.1: PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n]) for m < k,
    # and PATH(m - k, D[k:n]) : MTH(D[0:k]) otherwise; PATH(0, {d0}) = {}.
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        mid = lo + _split(hi - lo)
        if index < mid:
            ranges.append((mid, hi))
            hi = mid
        else:
            ranges.append((lo, mid))
            lo = mid
    ranges.reverse()
    return ranges


def _consistency_ranges(old: int, new: int) -> list[tuple[int, int]]:
    """The leaf ranges whose MTHs form PROOF(old, D[0:new]), deepest first."""
    # RFC 9162 §2.1.4.1: SUBPROOF(m, D[m], true) = {}; SUBPROOF(m, D[m], false) = {MTH(D[m])};
    # for m < n: m <= k gives SUBPROOF(m, D[0:k], b) : MTH(D[k:n]),
    # m > k gives SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k]).
    ranges: list[tuple[int, int]] = []
    lo, hi, whole = 0, new, True
    while old != hi:
        mid = lo + _split(hi - lo)
        if old <= mid:
            ranges.append((mid, hi))
            hi = mid
        else:
            ranges.append((lo, mid))
            lo = mid
            whole = False
    if not whole:
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


def inclusion_proof(index: int, size: int, reader: NodeReader) -> list[bytes]:
    """PATH(index, D[0:size]), the audit path of leaf `index` (RFC 9162 §2.1.3.1)."""
    _check_int("the leaf index", index)
    _check_int("the tree size", size)
    if index >= size:
        raise ProofError(
            f"leaf {index} is not in a tree of size {size}",
            hint="an inclusion proof needs 0 <= index < tree size"
            + (f" (0..{size - 1})" if size else "; the tree is empty"),
        )
    return _read_ranges(_inclusion_ranges(index, size), reader)


def consistency_proof(old: int, new: int, reader: NodeReader) -> list[bytes]:
    """PROOF(old, D[0:new]) between tree sizes 0 < old <= new (RFC 9162 §2.1.4.1).

    old == new gives the empty proof.
    """
    _check_int("the old tree size", old)
    _check_int("the new tree size", new)
    if old == 0:
        raise ProofError(
            "there is no consistency proof from the empty tree",
            hint="every tree extends the empty tree; ask for a proof from a size of at least 1",
        )
    if old > new:
        raise ProofError(
            f"no consistency proof from tree size {old} to the smaller size {new}",
            hint="give the older (smaller) tree size first",
        )
    return _read_ranges(_consistency_ranges(old, new), reader)


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def root_from_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]
) -> bytes | None:
    """The root that `proof` proves leaf `index` of a tree of `size` under, or None.

    None when the proof cannot be an audit path for (index, size): wrong length, a hash of the
    wrong size, index out of range. RFC 9162 §2.1.3.2, steps 1-5 without the final comparison.
    """
    if not (_is_size(index) and _is_size(size) and index < size and _is_hash(leaf_hash)):
        return None
    if not isinstance(proof, Sequence) or not all(_is_hash(p) for p in proof):
        return None
    fn, sn = index, size - 1
    r = leaf_hash
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            # Skip the levels where this node is its level's last and has no sibling.
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        return None
    return r


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether `proof` shows leaf `index` with `leaf_hash` is in the tree (size, root).

    RFC 9162 §2.1.3.2. Never raises on a bad proof: it is just False.
    """
    computed = root_from_inclusion(leaf_hash, index, size, proof)
    return computed is not None and _is_hash(root) and computed == root


def verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether `proof` shows the tree (new, new_root) extends the tree (old, old_root).

    RFC 9162 §2.1.4.2 for 0 < old < new. Beyond the RFC: old == new holds iff the roots are
    equal and the proof is empty, and old == 0 holds iff old_root is the empty root and the
    proof is empty (every tree extends the empty tree). Never raises on a bad proof.
    """
    if not (_is_size(old) and _is_size(new) and old <= new):
        return False
    if not (_is_hash(old_root) and _is_hash(new_root)):
        return False
    if not isinstance(proof, Sequence) or not all(_is_hash(p) for p in proof):
        return False
    if old == 0:
        return not proof and old_root == EMPTY_ROOT and (new > 0 or new_root == EMPTY_ROOT)
    if old == new:
        return not proof and old_root == new_root
    # 1. An empty proof fails.
    if not proof:
        return False
    path = list(proof)
    # 2. If first is an exact power of 2, prepend first_hash.
    if old & (old - 1) == 0:
        path.insert(0, old_root)
    # 3.-4. fn = first - 1, sn = second - 1, shifted right past the set low bits of fn.
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5. fr = sr = the first value of the path.
    fr = sr = path[0]
    # 6. Fold in every subsequent value.
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    # 7. Both roots reproduced and the whole second tree covered.
    return fr == old_root and sr == new_root and sn == 0


class CompactRange:
    """The right edge of a growing tree: one hash per set bit of its size, largest first.

    Enough to append leaves and compute the root in O(log n), without the rest of the tree.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        """A range for a tree of `size` leaves from its right-edge subtree hashes.

        `hashes` are the perfect subtrees of :func:`subtree_coords`(0, size), largest first.
        """
        _check_int("the tree size", size)
        if len(hashes) != size.bit_count() or not all(_is_hash(h) for h in hashes):
            raise LedgerError(
                f"a tree of size {size} has {size.bit_count()} right-edge hashes of "
                f"{HASH_SIZE} bytes, not the {len(hashes)} given",
                hint="read them with CompactRange.from_reader(size, reader)",
            )
        self._size = size
        self._hashes = list(hashes)

    @classmethod
    def from_reader(cls, size: int, reader: NodeReader) -> CompactRange:
        """The right edge of the tree of `size` leaves, read in one call."""
        _check_int("the tree size", size)
        coords = subtree_coords(0, size)
        return cls(size, reader.nodes(coords) if coords else [])

    @property
    def size(self) -> int:
        """The number of leaves appended so far."""
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """The right-edge perfect subtree hashes, largest first."""
        return tuple(self._hashes)

    def append(self, leaf: bytes) -> None:
        """Append one leaf hash."""
        if not _is_hash(leaf):
            raise LedgerError(f"a leaf hash is {HASH_SIZE} bytes, not {len(leaf)}")
        self._push(leaf)

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Append leaf hashes in order."""
        for leaf in leaves:
            self.append(leaf)

    def _push(self, h: bytes) -> None:
        # Binary increment: every trailing set bit of size is a subtree the new leaf completes.
        size = self._size
        stack = self._hashes
        while size & 1:
            h = node_hash(stack.pop(), h)
            size >>= 1
        stack.append(h)
        self._size += 1

    def root(self) -> bytes:
        """MTH of the leaves appended so far."""
        return fold_right(self._hashes)
