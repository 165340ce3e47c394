"""The tamper-evident ledger: RFC 9162 Merkle tree, signed checkpoints, proofs, search."""
