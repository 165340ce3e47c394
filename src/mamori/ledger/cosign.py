"""Keeping witnesses' cosignatures with the checkpoints they sign."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from mamori.home import Home
from mamori.ledger.checkpoint import extract_cosignatures, open_checkpoint
from mamori.ledger.errors import LedgerError
from mamori.ledger.note import CosignatureVerifier, Verifier, parse_note
from mamori.ledger.store import Reader, wrap_sqlite
from mamori.ledger.writer import Sequencer


@dataclass(frozen=True, slots=True)
class StoredCosignature:
    """A cosignature accepted into the ledger's store."""

    tree_size: int
    witness: str
    timestamp: int


def add_cosignature(home: Home, cosigned_note: str, witness_vkey: str) -> StoredCosignature:
    """Check a cosigned checkpoint (log signature, our stored root, the witness's cosignature)
    and store the witness's signature line."""
    log = Verifier.parse(home.public_key_text())
    witness = CosignatureVerifier.parse(witness_vkey)
    cp = open_checkpoint(cosigned_note, log)
    with Reader(home.ledger_db) as r:
        stored = r.checkpoint(cp.size)
    if stored is None or stored.root != cp.root_hash:
        raise LedgerError(
            f"the cosigned checkpoint of size {cp.size} is not one this ledger signed",
            hint="cosignatures are stored only for this ledger's own checkpoints",
        )
    found = extract_cosignatures(cosigned_note, [witness])
    if not found:
        raise LedgerError(
            f"the checkpoint carries no valid cosignature by {witness.name}",
            hint="check that the witness key file belongs to the witness that cosigned it",
        )
    line = next(
        s.line
        for s in parse_note(cosigned_note).signatures
        if s.name == witness.name and s.key_id == witness.key_id
    )
    with Sequencer(home) as seq:
        try:
            seq.conn.execute(
                "INSERT OR REPLACE INTO cosignatures(tree_size, witness, line) VALUES (?, ?, ?)",
                (cp.size, witness.name, line.rstrip("\n")),
            )
        except sqlite3.Error as e:
            raise wrap_sqlite(e, home.ledger_db) from e
    return StoredCosignature(cp.size, witness.name, found[0].timestamp)
