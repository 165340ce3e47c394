"""The ledger's error base."""

from __future__ import annotations

from mamori.errors import MamoriError


class LedgerError(MamoriError):
    """Something the ledger could not do, with what to do about it."""


class ProofError(LedgerError):
    """A proof was asked for that cannot exist (index out of range, sizes out of order)."""


class NoteError(LedgerError):
    """A signed note, key or checkpoint that cannot be parsed or does not verify."""
