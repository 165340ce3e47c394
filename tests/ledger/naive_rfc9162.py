"""An independent, naive RFC 9162 Merkle tree, straight from the RFC's recursive definitions.

Tests compare mamori's tile-based, iterative code against this. It is written for clarity, not
speed, and shares no code with `mamori.ledger.merkle`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cache


def largest_power_of_two_below(n: int) -> int:
    """k: the largest power of two smaller than n (n > 1), RFC 9162 §2.1.1."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


class NaiveTree:
    """MTH, PATH and PROOF over a fixed list of leaf hashes (RFC 9162 §2.1.1, §2.1.3.1, §2.1.4.1)."""

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        self.leaves = list(leaf_hashes)
        self.mth = cache(self._mth)

    def _mth(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi])."""
        n = hi - lo
        if n == 0:
            return hashlib.sha256(b"").digest()
        if n == 1:
            return self.leaves[lo]
        k = largest_power_of_two_below(n)
        return hashlib.sha256(b"\x01" + self.mth(lo, lo + k) + self.mth(lo + k, hi)).digest()

    def path(self, m: int, lo: int, hi: int) -> list[bytes]:
        """PATH(m, D[lo:hi]), m relative to lo."""
        n = hi - lo
        if n == 1:
            return []
        k = largest_power_of_two_below(n)
        if m < k:
            return [*self.path(m, lo, lo + k), self.mth(lo + k, hi)]
        return [*self.path(m - k, lo + k, hi), self.mth(lo, lo + k)]

    def subproof(self, m: int, lo: int, hi: int, b: bool) -> list[bytes]:
        """SUBPROOF(m, D[lo:hi], b), m relative to lo."""
        n = hi - lo
        if m == n:
            return [] if b else [self.mth(lo, hi)]
        k = largest_power_of_two_below(n)
        if m <= k:
            return [*self.subproof(m, lo, lo + k, b), self.mth(lo + k, hi)]
        return [*self.subproof(m - k, lo + k, hi, False), self.mth(lo, lo + k)]

    def proof(self, m: int, n: int) -> list[bytes]:
        """PROOF(m, D[n]) = SUBPROOF(m, D[n], true)."""
        return self.subproof(m, 0, n, True)
