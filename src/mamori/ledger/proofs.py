"""Proofs served from a stored ledger: the I/O edge around the pure Merkle maths."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mamori.ledger.errors import ProofError
from mamori.ledger.merkle import consistency_proof, inclusion_proof
from mamori.ledger.store import Reader, StoredCheckpoint
from mamori.ledger.tiles import TileNodeReader


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """RFC 9162 §2.1.3 inclusion proof of one leaf in a tree of `tree_size`."""

    index: int
    tree_size: int
    leaf_hash: bytes
    hashes: list[bytes]

    def as_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "tree_size": self.tree_size,
            "leaf_hash": self.leaf_hash.hex(),
            "hashes": [h.hex() for h in self.hashes],
        }


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    """RFC 9162 §2.1.4 consistency proof between two tree sizes."""

    first: int
    second: int
    hashes: list[bytes]

    def as_json(self) -> dict[str, Any]:
        return {"from": self.first, "to": self.second, "hashes": [h.hex() for h in self.hashes]}


def checkpoint_for(reader: Reader, tree_size: int | None) -> StoredCheckpoint:
    """The latest checkpoint, or the one of exactly `tree_size`."""
    if tree_size is None:
        cp = reader.latest_checkpoint()
        if cp is None:
            raise ProofError(
                "the ledger is empty: there is no checkpoint to prove against",
                hint="append events first (`mamori ledger append`)",
            )
        return cp
    cp = reader.checkpoint(tree_size)
    if cp is None:
        latest = reader.tree_size()
        raise ProofError(
            f"there is no checkpoint of tree size {tree_size}",
            hint=f"use the size of a signed checkpoint (the latest is {latest}); "
            "`mamori ledger checkpoint --all` lists them",
        )
    return cp


def prove_inclusion(reader: Reader, index: int, tree_size: int | None = None) -> InclusionProof:
    """Inclusion proof of event `index` against the checkpoint of `tree_size` (default latest)."""
    cp = checkpoint_for(reader, tree_size)
    if not 0 <= index < cp.tree_size:
        raise ProofError(
            f"index {index} is not in a tree of size {cp.tree_size}",
            hint=f"use an index from 0 to {cp.tree_size - 1}",
        )
    nodes = TileNodeReader(reader, cp.tree_size)
    leaf = nodes.nodes([(0, index)])[0]
    return InclusionProof(index, cp.tree_size, leaf, inclusion_proof(index, cp.tree_size, nodes))


def prove_consistency(reader: Reader, first: int, second: int) -> ConsistencyProof:
    """Consistency proof between the checkpoints of sizes `first` and `second`."""
    if not 0 < first <= second:
        raise ProofError(
            f"no consistency proof from {first} to {second}",
            hint="give two tree sizes with 0 < FROM <= TO",
        )
    checkpoint_for(reader, first)
    cp = checkpoint_for(reader, second)
    nodes = TileNodeReader(reader, cp.tree_size)
    return ConsistencyProof(first, second, consistency_proof(first, second, nodes))
